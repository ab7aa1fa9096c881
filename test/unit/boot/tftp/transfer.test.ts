import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FileSource, MemorySource, normalizeRequestPath, PathRefused, toNetascii } from '../../../../src/boot/tftp/files.js';
import { decode, encodeAck, encodeError, encodeRequest, type Packet } from '../../../../src/boot/tftp/packet.js';
import { Transfer, type TransferOutcome } from '../../../../src/boot/tftp/transfer.js';

/** Drives a Transfer the way a socket would, recording every packet it sends. */
function harness(data: Buffer, o: { blksize?: number; windowsize?: number; oack?: boolean; maxRetries?: number; setupRetries?: number } = {}) {
  const blksize = o.blksize ?? 512;
  const sent: Packet[] = [];
  let outcome: TransferOutcome | undefined;
  const t = new Transfer({
    source: new MemorySource(data, blksize),
    blksize,
    windowsize: o.windowsize ?? 1,
    timeoutMs: 1000,
    maxRetries: o.maxRetries ?? 3,
    ...(o.setupRetries !== undefined ? { setupRetries: o.setupRetries } : {}),
    oack: o.oack ? Buffer.from('\x00\x06tsize\x00' + data.length + '\x00', 'latin1') : undefined,
    send: (parts) => sent.push(decode(Buffer.concat(parts))),
    sendPackets: (buf, count) => {
      for (let i = 0; i < count; i++) sent.push(decode(buf.subarray(i * (blksize + 4), Math.min((i + 1) * (blksize + 4), buf.length))));
    },
    onEnd: (r) => (outcome = r),
  });
  const take = () => sent.splice(0);
  const blocks = (ps: Packet[]) => ps.map((p) => (p.op === 'data' ? p.block : p.op));
  return { t, take, blocks, get outcome() { return outcome; } };
}

/** A client that ACKs every window end and reassembles the file. */
function receive(h: ReturnType<typeof harness>, blksize: number, windowsize: number): Buffer {
  const out: Buffer[] = [];
  let expect16 = 1;
  for (let guard = 0; guard < 1_000_000 && !h.outcome; guard++) {
    const ps = h.take();
    let last = -1;
    for (const p of ps) {
      if (p.op === 'oack') {
        last = 0;
        continue;
      }
      if (p.op !== 'data') throw new Error(`unexpected ${p.op}`);
      if (p.block !== expect16) throw new Error(`block ${p.block}, expected ${expect16}`);
      out.push(p.data);
      last = p.block;
      expect16 = (expect16 + 1) & 0xffff;
      if (p.data.length < blksize) break;
    }
    if (last < 0) throw new Error('nothing sent');
    h.t.onPacket({ op: 'ack', block: last });
  }
  void windowsize;
  return Buffer.concat(out);
}

describe('Transfer state machine', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('lockstep: sends block by block and ends on the ACK of the short final block', () => {
    const data = randomBytes(1300);
    const h = harness(data);
    h.t.start();
    expect(receive(h, 512, 1).equals(data)).toBe(true);
    expect(h.outcome).toMatchObject({ ok: true, reason: 'done', blocks: 3, retransmits: 0 });
  });

  it('a file of exactly N blocks ends with an empty DATA block (RFC 1350 section 6)', () => {
    const h = harness(Buffer.alloc(1024, 7));
    h.t.start();
    const got = receive(h, 512, 1);
    expect(got.length).toBe(1024);
    expect(h.outcome?.blocks).toBe(3);
  });

  it('OACK first; DATA 1 only after ACK 0 (RFC 2347)', () => {
    const h = harness(Buffer.alloc(10), { oack: true });
    h.t.start();
    expect(h.blocks(h.take())).toEqual(['oack']);
    h.t.onPacket({ op: 'ack', block: 5 }); // stale: ignored
    expect(h.take()).toEqual([]);
    h.t.onPacket({ op: 'ack', block: 0 });
    expect(h.blocks(h.take())).toEqual([1]);
  });

  it('duplicate ACKs never trigger a retransmission in lockstep (RFC 1123 4.2.3.1)', () => {
    const h = harness(randomBytes(5000));
    h.t.start();
    expect(h.blocks(h.take())).toEqual([1]);
    h.t.onPacket({ op: 'ack', block: 1 });
    expect(h.blocks(h.take())).toEqual([2]);
    for (let i = 0; i < 5; i++) h.t.onPacket({ op: 'ack', block: 1 });
    expect(h.take()).toEqual([]);
    // Only the timeout resends.
    vi.advanceTimersByTime(1000);
    expect(h.blocks(h.take())).toEqual([2]);
  });

  it('windowsize: sends whole windows, restarts after a mid-window ACK (RFC 7440 section 4)', () => {
    const h = harness(randomBytes(512 * 20 + 3), { windowsize: 4 });
    h.t.start();
    expect(h.blocks(h.take())).toEqual([1, 2, 3, 4]);
    h.t.onPacket({ op: 'ack', block: 4 });
    expect(h.blocks(h.take())).toEqual([5, 6, 7, 8]);
    h.t.onPacket({ op: 'ack', block: 6 }); // 7 was lost
    expect(h.blocks(h.take())).toEqual([7, 8, 9, 10]);
    // A repeated ACK reports a gap once; more copies of it add nothing.
    h.t.onPacket({ op: 'ack', block: 6 });
    expect(h.blocks(h.take())).toEqual([7, 8, 9, 10]);
    h.t.onPacket({ op: 'ack', block: 6 });
    h.t.onPacket({ op: 'ack', block: 6 });
    expect(h.take()).toEqual([]);
  });

  it('windowed transfer reassembles byte-identical', () => {
    const data = randomBytes(100_000);
    const h = harness(data, { windowsize: 16, blksize: 1468, oack: true });
    h.t.start();
    expect(receive(h, 1468, 16).equals(data)).toBe(true);
    expect(h.outcome?.ok).toBe(true);
  });

  it('block numbers roll over past 65535 (blksize 8, 70000 blocks)', () => {
    const data = randomBytes(8 * 70_000 + 5);
    const h = harness(data, { blksize: 8, windowsize: 64 });
    h.t.start();
    expect(receive(h, 8, 64).equals(data)).toBe(true);
    expect(h.outcome).toMatchObject({ ok: true, blocks: 70_001 });
  });

  it('gives up after maxRetries timeouts, each wait twice the last (RFC 1123 4.2.3.2), and sends an ERROR', () => {
    const h = harness(randomBytes(2000), { maxRetries: 3 });
    h.t.start();
    h.take();
    vi.advanceTimersByTime(1000);
    expect(h.blocks(h.take())).toEqual([1]);
    vi.advanceTimersByTime(1999);
    expect(h.take()).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(h.blocks(h.take())).toEqual([1]);
    vi.advanceTimersByTime(4000);
    expect(h.blocks(h.take())).toEqual([1]);
    expect(h.outcome).toBeUndefined();
    vi.advanceTimersByTime(7999);
    expect(h.take()).toEqual([]);
    vi.advanceTimersByTime(1);
    const last = h.take();
    expect(last).toEqual([{ op: 'error', code: 0, message: 'timeout' }]);
    expect(h.outcome).toMatchObject({ ok: false, reason: 'timeout' });
  });

  it('progress resets the backoff; an OACK nobody ACKs is resent after 1 and 2 s and given up after 4 more', () => {
    const h = harness(randomBytes(3000), { maxRetries: 3 });
    h.t.start();
    h.take();
    vi.advanceTimersByTime(1000 + 2000);
    expect(h.blocks(h.take())).toEqual([1, 1]);
    h.t.onPacket({ op: 'ack', block: 1 });
    expect(h.blocks(h.take())).toEqual([2]);
    vi.advanceTimersByTime(1000);
    expect(h.blocks(h.take())).toEqual([2]);

    const o = harness(randomBytes(10), { oack: true, maxRetries: 5, setupRetries: 2 });
    o.t.start();
    expect(o.blocks(o.take())).toEqual(['oack']);
    vi.advanceTimersByTime(1000);
    expect(o.blocks(o.take())).toEqual(['oack']);
    vi.advanceTimersByTime(2000);
    expect(o.blocks(o.take())).toEqual(['oack']);
    vi.advanceTimersByTime(3999);
    expect(o.outcome).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(o.outcome).toMatchObject({ ok: false, reason: 'timeout' });
  });

  it('an ERROR from the client ends the transfer silently; an illegal packet gets ERROR 4', () => {
    const a = harness(randomBytes(2000));
    a.t.start();
    a.take();
    a.t.onPacket(decode(encodeError(0, 'user abort')));
    expect(a.take()).toEqual([]);
    expect(a.outcome).toMatchObject({ ok: false, reason: 'peer-error' });

    const b = harness(randomBytes(2000));
    b.t.start();
    b.take();
    b.t.onPacket(decode(encodeRequest('wrq', 'x', 'octet')));
    expect(b.take()).toMatchObject([{ op: 'error', code: 4 }]);
    expect(b.outcome).toMatchObject({ ok: false, reason: 'illegal-op' });
  });

  it('fuzz: random packets from the peer never throw, and everything sent is a well-formed DATA/OACK/ERROR', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)), fc.integer({ min: 0, max: 70 }).map((n) => encodeAck(n))), { maxLength: 60 }),
        fc.integer({ min: 1, max: 8 }),
        (pkts, ws) => {
          const h = harness(randomBytes(512 * 30), { windowsize: ws, oack: ws % 2 === 0 });
          h.t.start();
          for (const p of pkts) {
            h.t.onPacket(decode(p));
            vi.advanceTimersByTime(300);
          }
          for (const p of h.take()) {
            expect(['data', 'oack', 'error']).toContain(p.op);
            if (p.op === 'data') {
              expect(p.block).toBeGreaterThanOrEqual(1);
              expect(p.block).toBeLessThanOrEqual(31);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('file sources', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'kst-src-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('FileSource lays out the same packets as MemorySource, across chunk boundaries', async () => {
    for (const size of [0, 1, 511, 512, 513, 512 * 10, 512 * 10 + 77]) {
      const data = randomBytes(size);
      const f = path.join(dir, `f${size}`);
      writeFileSync(f, data);
      const fs = new FileSource(await open(f), size, 512, 1024); // 2 blocks per chunk
      const ms = new MemorySource(data, 512);
      expect(fs.total).toBe(ms.total);
      for (let n = 1; n <= ms.total; n++) {
        if (!fs.packets(n, 1)) await fs.load(n);
        expect(fs.packets(n, 1)!.buf.equals(ms.packets(n, 1).buf)).toBe(true);
      }
      await fs.close();
    }
  });

  it('normalizes request paths and refuses "..", control characters and empty names', () => {
    expect(normalizeRequestPath('/pxelinux.0')).toBe('pxelinux.0');
    expect(normalizeRequestPath('boot\\\\x//./y')).toBe('boot/x/y');
    for (const bad of ['../etc/passwd', 'a/../../b', '..\\\\x', 'a\u0001b', '/', '']) {
      expect(() => normalizeRequestPath(bad)).toThrow(PathRefused);
    }
  });

  it('netascii converts LF to CR LF and CR to CR NUL', () => {
    expect(toNetascii(Buffer.from('a\nb\rc'))).toEqual(Buffer.from('a\r\nb\r\0c', 'latin1'));
  });
});
