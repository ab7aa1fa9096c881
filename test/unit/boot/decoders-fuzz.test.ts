/**
 * Seeded fuzzing of every decoder the boot services expose to the
 * provisioning network (issue 14): DHCP packets, TFTP packets, and the agent
 * API's bodies (inventory JSON, progress and result forms). mulberry32
 * with fixed seeds (cheap enough for 50,000 cases each in about a second on
 * an idle machine; a failure replays exactly, its case index in the message).
 * Properties: nothing but the decoder's own typed error escapes, and valid
 * input round-trips.
 */
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { type DhcpPacket, DhcpDecodeError, decode as dhcpDecode, encode as dhcpEncode, Opt } from '../../../src/boot/dhcp/codec.js';
import { FormError, type Inventory, InventoryError, parseInventory, parseProgress, parseResult } from '../../../src/boot/http/types.js';
import { decode as tftpDecode, encodeAck, encodeData, encodeError, encodeOack, encodeRequest } from '../../../src/boot/tftp/packet.js';
import { prng as mulberry32 } from '../../helpers/fuzz.js';

const RUNS = 50_000;

/** The shared seeded PRNG (test/helpers/fuzz.ts) with the generators these decoders need. */
function prng(seed: number) {
  const next = mulberry32(seed);
  const int = (n: number) => Math.floor(next() * n);
  const bytes = (max: number, min = 0) => {
    const b = Buffer.alloc(min + int(max - min + 1));
    for (let i = 0; i < b.length; i++) b[i] = int(256);
    return b;
  };
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const str = (alphabet: string, max: number, min = 0) => {
    // by code point: a lone surrogate is no text a client can send as UTF-8
    const chars = [...alphabet];
    let s = '';
    for (let n = min + int(max - min + 1); n > 0; n--) s += chars[int(chars.length)];
    return s;
  };
  /** `b` with up to `n` bytes overwritten, then cut at a random length. */
  const mutate = (b: Buffer, n: number) => {
    const c = Buffer.from(b);
    for (let k = int(n + 1); k > 0; k--) c[int(c.length)] = int(256);
    return c.subarray(0, int(c.length + 1));
  };
  return { next, int, bytes, pick, str, mutate };
}
type Rng = ReturnType<typeof prng>;

/** Runs `f` RUNS times with a PRNG from `seed`; a failure names the case. */
function cases(seed: number, f: (r: Rng, i: number) => void): void {
  const r = prng(seed);
  for (let i = 0; i < RUNS; i++) {
    try {
      f(r, i);
    } catch (e) {
      (e as Error).message = `seed ${seed} case ${i}: ${(e as Error).message}`;
      throw e;
    }
  }
}

/** expect(a).toEqual(b), but only built when they differ: 50,000 diffs-in-waiting cost seconds. */
function same(a: unknown, b: unknown): void {
  if (!isDeepStrictEqual(a, b)) expect(a).toEqual(b);
}

/** Only `E` may escape `f`; returns f's value, or undefined when it threw E. */
function onlyThrows<T>(E: new (...a: never[]) => Error, f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof E)) throw e;
    return undefined;
  }
}

/** A packet as plain data, to compare two decodes (options by code: the encoder puts 53 first, RFC-neutral). */
function dhcpShape(p: DhcpPacket): unknown {
  return { ...p, chaddr: p.chaddr.toString('hex'), options: [...p.options].sort(([a], [b]) => a - b).map(([c, d]) => [c, d.toString('hex')]) };
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const PRINTABLE = ` !"#$%&'()*+,-./:;<=>?@[\\]^_\`{|}~${ALNUM}`;
const ANY = `${PRINTABLE}\n\r\t\u0000é€😀&=+%`;

function ip(r: Rng): string {
  return [r.int(256), r.int(256), r.int(256), r.int(256)].join('.');
}

/** Any well-formed packet; option 52 (overload) is left out: it moves options into sname/file. */
function dhcpPacket(r: Rng): DhcpPacket {
  const latin1 = () => Buffer.from(Array.from({ length: r.int(64) }, () => 1 + r.int(255))).toString('latin1');
  const options = new Map<number, Buffer>();
  for (let n = r.int(9); n > 0; n--) {
    const code = 1 + r.int(254);
    if (code !== Opt.OVERLOAD && !options.has(code)) options.set(code, r.bytes(r.next() < 0.1 ? 600 : 40));
  }
  return {
    op: r.pick([1, 2] as const),
    htype: r.int(256),
    hlen: r.int(17),
    hops: r.int(256),
    xid: r.int(2 ** 32),
    secs: r.int(65536),
    flags: r.int(65536),
    ciaddr: ip(r),
    yiaddr: ip(r),
    siaddr: ip(r),
    giaddr: ip(r),
    chaddr: r.bytes(16, 16),
    sname: latin1(),
    file: latin1(),
    options,
  };
}

describe('DHCP codec, seeded fuzz', () => {
  it('random and mutated datagrams: only DhcpDecodeError escapes; what decodes re-encodes to the same packet', () => {
    const valid = dhcpEncode({ op: 1, htype: 1, hlen: 6, hops: 0, xid: 7, secs: 0, flags: 0, ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0', chaddr: Buffer.alloc(16, 0x52), sname: '', file: '', options: new Map([[53, Buffer.from([1])], [93, Buffer.from([0, 7])], [60, Buffer.from('PXEClient')]]) });
    let decoded = 0;
    cases(0x14d1, (r) => {
      const b = r.next() < 0.5 ? r.bytes(700) : r.mutate(valid, 12);
      const p = onlyThrows(DhcpDecodeError, () => dhcpDecode(b));
      if (!p || p.options.has(Opt.OVERLOAD)) return;
      decoded++;
      same(dhcpShape(dhcpDecode(dhcpEncode(p))), dhcpShape(p));
    });
    // the mutated half must reach the round trip, not only the error path
    expect(decoded).toBeGreaterThan(RUNS / 20);
  });

  it('valid packets round-trip: decode(encode(p)) is p, and encoding again gives the same bytes', () => {
    cases(0x14d2, (r) => {
      const p = dhcpPacket(r);
      const wire = dhcpEncode(p);
      const back = dhcpDecode(wire);
      same(dhcpShape(back), dhcpShape(p));
      if (!dhcpEncode(back).equals(wire)) expect(dhcpEncode(back).toString('hex')).toBe(wire.toString('hex'));
    });
  });
});

describe('TFTP packets, seeded fuzz', () => {
  const OPS = ['rrq', 'wrq', 'data', 'ack', 'error', 'oack', 'invalid'];

  it('random and mutated datagrams never throw; every request decoded re-encodes to itself', () => {
    const valid = encodeRequest('rrq', 'undionly.kpxe', 'octet', { blksize: '1468', tsize: '0', windowsize: '8', timeout: '3' });
    let requests = 0;
    cases(0x7f71, (r) => {
      const p = tftpDecode(r.next() < 0.5 ? r.bytes(600) : r.mutate(valid, 8));
      if (!OPS.includes(p.op)) expect(OPS).toContain(p.op);
      if (p.op === 'rrq' || p.op === 'wrq') {
        requests++;
        same(tftpDecode(encodeRequest(p.op, p.filename, p.mode, p.options)), p);
      }
    });
    expect(requests).toBeGreaterThan(RUNS / 100);
  });

  it('valid packets round-trip: requests with options, DATA, ACK, ERROR, OACK', () => {
    cases(0x7f72, (r) => {
      const word = () => r.str(ALNUM, 16, 1);
      const opts = () => {
        const m = new Map<string, string>();
        for (let n = r.int(5); n > 0; n--) {
          const k = word().toLowerCase();
          if (!m.has(k)) m.set(k, word());
        }
        return m;
      };
      switch (r.int(5)) {
        case 0: {
          const op = r.pick(['rrq', 'wrq'] as const);
          const p = { op, filename: r.str(PRINTABLE, 60, 1), mode: r.pick(['octet', 'netascii'] as const), options: opts() };
          same(tftpDecode(encodeRequest(op, p.filename, p.mode, p.options)), p);
          break;
        }
        case 1: {
          const block = r.int(65536);
          const data = r.bytes(512);
          same(tftpDecode(encodeData(block, data)), { op: 'data', block, data });
          break;
        }
        case 2: {
          const block = r.int(65536);
          same(tftpDecode(encodeAck(block)), { op: 'ack', block });
          break;
        }
        case 3: {
          const p = { op: 'error', code: r.int(9), message: r.str(PRINTABLE, 80) };
          same(tftpDecode(encodeError(p.code, p.message)), p);
          break;
        }
        default: {
          const options = opts();
          options.set('blksize', String(8 + r.int(65457)));
          same(tftpDecode(encodeOack(options)), { op: 'oack', options });
        }
      }
    });
  });
});

describe('agent API bodies, seeded fuzz', () => {
  const mac = (r: Rng) => r.bytes(6, 6).toString('hex').match(/../g)!.join(':');
  const inventory = (r: Rng): Inventory => ({
    cpus: r.int(4097),
    memory_mib: r.int(2 ** 30),
    disks: Array.from({ length: r.int(4) }, () => ({
      name: r.str(`${ALNUM}._-`, 64, 1),
      size_bytes: r.int(2 ** 50),
      model: r.str(ANY, 20),
      serial: r.str(ANY, 20),
      wwn: r.str(ANY, 20),
      rotational: r.next() < 0.5,
      hctl: r.str(ANY, 12),
      by_path: r.str(ANY, 40),
    })),
    nics: Array.from({ length: r.int(3) }, () => ({ name: r.str(ALNUM, 15, 1), mac: mac(r), link: r.next() < 0.5 })),
    boot_mode: r.pick(['bios', 'uefi'] as const),
  });
  /** Any JSON value, shallow: what a confused or hostile client might post. */
  const json = (r: Rng, depth = 2): unknown => {
    switch (r.int(depth > 0 ? 8 : 6)) {
      case 0: return null;
      case 1: return r.next() < 0.5;
      case 2: return r.pick([0, -1, 1.5, 2 ** 53, -0, 1e308, 4096]);
      case 3: return r.int(1e6);
      case 4: return r.str(ANY, 20);
      case 5: return r.pick(['', 'bios', 'uefi', 'vda', '52:54:00:00:00:01', '../etc', 'a b']);
      case 6: return Array.from({ length: r.int(4) }, () => json(r, depth - 1));
      default: return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick(['cpus', 'disks', 'nics', 'name', 'mac', 'x', '__proto__']), json(r, depth - 1)]));
    }
  };
  const FIELDS = ['cpus', 'memory_mib', 'disks', 'nics', 'boot_mode', 'disks.0', 'disks.0.name', 'disks.0.size_bytes', 'nics.0.mac', 'nics.0', 'disks.0.rotational', 'nics.0.link'];

  it('inventory JSON: any JSON value, or a valid inventory with one field replaced or dropped, yields InventoryError or an inventory', () => {
    let accepted = 0;
    cases(0xa9e1, (r) => {
      let body: unknown = json(r);
      if (r.next() < 0.7) {
        const o = JSON.parse(JSON.stringify(inventory(r))) as Record<string, unknown>;
        const keys = r.pick(FIELDS).split('.');
        let cur: Record<string, unknown> | undefined = o;
        for (const k of keys.slice(0, -1)) cur = cur?.[k] as Record<string, unknown> | undefined;
        if (cur) {
          if (r.next() < 0.2) delete cur[keys.at(-1)!];
          else cur[keys.at(-1)!] = json(r);
        }
        body = o;
      }
      const inv = onlyThrows(InventoryError, () => parseInventory(JSON.parse(JSON.stringify(body ?? null))));
      if (inv) {
        accepted++;
        same(parseInventory(JSON.parse(JSON.stringify(inv))), inv);
      }
    });
    expect(accepted).toBeGreaterThan(RUNS / 50);
  });

  it('inventory JSON: valid inventories round-trip (MACs lower-cased)', () => {
    cases(0xa9e2, (r) => {
      const inv = inventory(r);
      const sent = r.next() < 0.5 ? { ...inv, nics: inv.nics.map((n) => ({ ...n, mac: n.mac.toUpperCase() })) } : inv;
      same(parseInventory(JSON.parse(JSON.stringify(sent))), inv);
    });
  });

  it('progress and result forms: any form yields FormError or a report; valid reports round-trip', () => {
    const digest = (r: Rng) => `sha256:${r.bytes(32, 32).toString('hex')}`;
    const value = (r: Rng) => r.pick([() => r.str(ANY, 30), () => r.str(`${ALNUM}._-`, 70, 1), () => r.pick(['ok', 'fail', '0', '100', '101', '-1', '-0', '5.5', '1e1', ' 5', '']), () => digest(r), () => digest(r).toUpperCase()])();
    let ok = 0;
    cases(0xa9e3, (r) => {
      const f = r.next() < 0.3 ? new URLSearchParams(r.str(ANY, 120)) : new URLSearchParams(Array.from({ length: r.int(6) }, () => [r.pick(['status', 'stage', 'msg', 'pct', 'digest', 'x']), value(r)]));
      const res = onlyThrows(FormError, () => parseResult(f));
      if (res) {
        ok++;
        same(parseResult(new URLSearchParams({ ...res })), res);
      }
      const p = onlyThrows(FormError, () => parseProgress(f));
      if (p) same(parseProgress(new URLSearchParams({ stage: p.stage, pct: String(p.pct), msg: p.msg })), p);
    });
    expect(ok).toBeGreaterThan(0);
    cases(0xa9e4, (r) => {
      const res = { status: r.pick(['ok', 'fail'] as const), stage: r.str(`${ALNUM}._-`, 64, 1), msg: r.str(ANY, 200), ...(r.next() < 0.5 ? { digest: digest(r) } : {}) };
      same(parseResult(new URLSearchParams(new URLSearchParams(res).toString())), res);
      const prog = { stage: res.stage, pct: r.int(101), msg: r.str(ANY, 200) };
      same(parseProgress(new URLSearchParams(new URLSearchParams({ ...prog, pct: String(prog.pct) }).toString())), prog);
    });
  });
});
