import { describe, expect, it } from 'vitest';
import { formatSubnet, intToIp, ipToInt, isHostIn, isIPv4, normalizeMac, parseCidr, subnetOf } from '../../../src/site/net.js';
import { suggest } from '../../../src/site/schema.js';

describe('net helpers', () => {
  it('normalises the MAC spellings people paste', () => {
    expect(normalizeMac('52:54:00:AB:cd:EF')).toBe('52:54:00:ab:cd:ef');
    expect(normalizeMac('52-54-00-ab-cd-ef')).toBe('52:54:00:ab:cd:ef');
    expect(normalizeMac('5254.00ab.cdef')).toBe('52:54:00:ab:cd:ef');
    expect(normalizeMac('525400abcdef')).toBe('52:54:00:ab:cd:ef');
    for (const bad of ['52:54:00:ab:cd', '52:54-00:ab:cd:ef', '52:54:00:ab:cd:eg', '52:54:00:ab:cd:ef:01', '']) expect(normalizeMac(bad)).toBeUndefined();
  });
  it('parses IPv4 and CIDR strictly', () => {
    expect(isIPv4('10.0.0.255')).toBe(true);
    for (const bad of ['10.0.0.256', '10.0.0', '010.0.0.1', '10.0.0.1 ', 'a.b.c.d']) expect(isIPv4(bad)).toBe(false);
    expect(parseCidr('10.77.0.1/24')).toEqual({ address: '10.77.0.1', prefix: 24 });
    expect(parseCidr('10.77.0.1/33')).toBeUndefined();
    expect(parseCidr('10.77.0.1')).toBeUndefined();
    expect(intToIp(ipToInt('192.168.1.77'))).toBe('192.168.1.77');
  });
  it('does subnet arithmetic', () => {
    const s = subnetOf('10.77.0.1', 24);
    expect(formatSubnet(s)).toBe('10.77.0.0/24');
    expect(isHostIn('10.77.0.254', s)).toBe(true);
    expect(isHostIn('10.77.0.255', s)).toBe(false);
    expect(isHostIn('10.77.0.0', s)).toBe(false);
    expect(isHostIn('10.77.1.1', s)).toBe(false);
    expect(formatSubnet(subnetOf('172.16.5.9', 22))).toBe('172.16.4.0/22');
  });
  it('suggests close words only', () => {
    expect(suggest('adress', ['address', 'port'])).toBe('address');
    expect(suggest('mcas', ['macs', 'name'])).toBe('macs');
    expect(suggest('dell', ['dell-poweredge', 'hpe-proliant'])).toBe('dell-poweredge');
    expect(suggest('zzzz', ['address', 'port'])).toBeUndefined();
  });
});
