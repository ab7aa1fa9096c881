import { describe, expect, it } from 'vitest';
import { buildRouterAdvertisement } from '../../../../src/boot/ra.js';

describe('router advertisement (RFC 4861 4.2)', () => {
  it('says "not a default router" and nothing else unless asked', () => {
    const ra = buildRouterAdvertisement(Buffer.from([0x52, 0x54, 0, 1, 2, 3]));
    expect(ra.length).toBe(24);
    expect(ra[0]).toBe(134); // type
    expect(ra[1]).toBe(0); // code
    expect(ra[5]).toBe(0); // no M/O flags: no DHCPv6
    expect(ra.readUInt16BE(6)).toBe(0); // router lifetime 0
    expect([...ra.subarray(16)]).toEqual([1, 1, 0x52, 0x54, 0, 1, 2, 3]); // source link-layer address
  });

  it('adds on-link autonomous prefixes when configured', () => {
    const ra = buildRouterAdvertisement(undefined, [{ prefix: 'fd77::', length: 64 }]);
    expect(ra.length).toBe(16 + 32);
    const p = ra.subarray(16);
    expect([p[0], p[1], p[2], p[3]]).toEqual([3, 4, 64, 0xc0]);
    expect(p.subarray(16, 18).toString('hex')).toBe('fd77');
    expect(p.subarray(18).every((b) => b === 0)).toBe(true);
  });
});
