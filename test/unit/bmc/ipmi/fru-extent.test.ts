/**
 * fruExtent: where identity may stop reading a FRU image (each Read FRU Data
 * is a round trip). The image is the one the ipmi_sim tests serve.
 */
import { describe, expect, it } from 'vitest';
import { fruExtent, parseFru } from '../../../../src/bmc/ipmi/commands.js';
import { makeFru } from '../../../../bench/ipmi-fleet/ipmisim.mjs';

describe('fruExtent', () => {
  const full = makeFru({ serial: 'SN-EXT-1' }) as Buffer;

  it('covers the header and the chassis, board and product areas, and parses to the same inventory', () => {
    const end = fruExtent(full)!;
    const product = full[4]! * 8;
    expect(end).toBe(product + full[product + 1]! * 8);
    expect(end).toBeLessThan(full.length);
    expect(parseFru(full.subarray(0, end))).toEqual(parseFru(full));
  });

  it('is unknown until every area length byte is read, then fixed', () => {
    const product = full[4]! * 8;
    expect(fruExtent(full.subarray(0, 7))).toBeUndefined();
    expect(fruExtent(full.subarray(0, product + 1))).toBeUndefined();
    expect(fruExtent(full.subarray(0, product + 2))).toBe(fruExtent(full));
  });

  it('is unknown for a header that is not FRU format 1 or fails its checksum (the reader reads on; parseFru names it)', () => {
    const bad = Buffer.from(full);
    bad[7] = (bad[7]! + 1) & 0xff;
    expect(fruExtent(bad)).toBeUndefined();
    const v2 = Buffer.from(full);
    v2[0] = 2;
    expect(fruExtent(v2)).toBeUndefined();
  });

  it('an image with no areas ends at its header', () => {
    const hdr = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0xff]);
    expect(fruExtent(hdr)).toBe(8);
  });
});
