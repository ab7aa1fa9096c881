/**
 * Seeded fuzzing for decoders: a tiny PRNG (mulberry32) so a failure
 * replays exactly, and byte mutators that start from valid messages so the
 * cases reach past the first length check. No sockets, no clocks.
 */

import { prng } from '../../src/util/random.js';

export { prng };

export class Rand {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = prng(seed);
  }
  float(): number {
    return this.next();
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

const EDGE = [0x00, 0x01, 0x06, 0x07, 0x7f, 0x80, 0xfe, 0xff];

/** One case: random bytes, or a valid message truncated, bit-flipped, overwritten with edge values or spliced. */
export function mutate(r: Rand, valid: readonly Buffer[], maxRandom = 200): Buffer {
  const kind = r.int(6);
  if (kind === 0 || valid.length === 0) return r.bytes(r.int(maxRandom + 1));
  const base = Buffer.from(r.pick(valid));
  switch (kind) {
    case 1:
      return base.subarray(0, r.int(base.length + 1));
    case 2: {
      for (let i = 1 + r.int(4); i > 0 && base.length; i--) base[r.int(base.length)] ^= 1 << r.int(8);
      return base;
    }
    case 3: {
      // length and type fields are where decoders go wrong
      for (let i = 1 + r.int(3); i > 0 && base.length; i--) base[r.int(base.length)] = r.pick(EDGE);
      return base;
    }
    case 4: {
      const other = r.pick(valid);
      return Buffer.concat([base.subarray(0, r.int(base.length + 1)), other.subarray(r.int(other.length + 1))]);
    }
    default:
      return Buffer.concat([base, r.bytes(r.int(40))]);
  }
}

/**
 * Runs `cases` inputs through `decode`; any throw that `typed` does not
 * accept fails with the case's bytes (hex) so it can be replayed.
 * Returns how many inputs decoded without error.
 */
export function fuzzBytes(o: { seed: number; cases: number; valid: readonly Buffer[]; decode: (b: Buffer) => unknown; typed: (err: unknown) => boolean }): number {
  const r = new Rand(o.seed);
  let ok = 0;
  for (let i = 0; i < o.cases; i++) {
    const b = mutate(r, o.valid);
    try {
      o.decode(b);
      ok += 1;
    } catch (err) {
      if (!o.typed(err)) throw new Error(`case ${i} (seed ${o.seed}) ${b.toString('hex')}: ${(err as Error)?.stack ?? String(err)}`);
    }
  }
  return ok;
}
