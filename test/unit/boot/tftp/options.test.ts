import { describe, expect, it } from 'vitest';
import { negotiate } from '../../../../src/boot/tftp/options.js';

const limits = { maxBlksize: 65464, maxWindowsize: 64 };

describe('TFTP option negotiation', () => {
  it('no options: RFC 1350 defaults, no OACK', () => {
    const n = negotiate(new Map(), 1000, limits);
    expect(n).toEqual({ blksize: 512, windowsize: 1, oack: new Map() });
  });

  it('answers blksize, tsize (file size), timeout and windowsize in the OACK', () => {
    const n = negotiate(
      new Map([
        ['blksize', '1468'],
        ['tsize', '0'],
        ['timeout', '3'],
        ['windowsize', '16'],
      ]),
      123456,
      limits,
    );
    expect(n.blksize).toBe(1468);
    expect(n.windowsize).toBe(16);
    expect(n.timeoutMs).toBe(3000);
    expect([...n.oack]).toEqual([
      ['blksize', '1468'],
      ['tsize', '123456'],
      ['timeout', '3'],
      ['windowsize', '16'],
    ]);
  });

  it('clamps blksize and windowsize to the server limits (RFC 2348, RFC 7440 allow smaller answers)', () => {
    const n = negotiate(
      new Map([
        ['blksize', '99999'],
        ['windowsize', '65535'],
      ]),
      1,
      { maxBlksize: 1468, maxWindowsize: 8 },
    );
    expect([...n.oack]).toEqual([
      ['blksize', '1468'],
      ['windowsize', '8'],
    ]);
  });

  it('ignores invalid values and unknown options (RFC 2347)', () => {
    const n = negotiate(
      new Map([
        ['blksize', '7'],
        ['timeout', '0'],
        ['windowsize', 'x'],
        ['tsize', '-1'],
        ['multicast', ''],
      ]),
      10,
      limits,
    );
    expect(n.oack.size).toBe(0);
    expect(n.blksize).toBe(512);
  });

  it("ignores a timeout above the server's bound (default 10 s) instead of holding a slot for 255 s per retry", () => {
    expect(negotiate(new Map([['timeout', '255']]), 10, limits).oack.has('timeout')).toBe(false);
    expect(negotiate(new Map([['timeout', '11']]), 10, limits).timeoutMs).toBeUndefined();
    expect(negotiate(new Map([['timeout', '10']]), 10, limits).timeoutMs).toBe(10_000);
    expect(negotiate(new Map([['timeout', '30']]), 10, { ...limits, maxTimeoutS: 30 }).timeoutMs).toBe(30_000);
  });
});
