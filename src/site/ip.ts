/**
 * IPv4 and IPv6 addresses as numbers, for the node network configuration:
 * subnet membership, duplicates written two ways (2001:db8::1 and
 * 2001:0db8:0:0::1), prefix checks. IPv6 text form: RFC 4291 section 2.2
 * (no zone ids: a static address in a site file has none).
 */
import { isIPv4 } from './net.js';

export type Family = 4 | 6;

export interface Ip {
  family: Family;
  value: bigint;
}

export interface IpCidr extends Ip {
  prefix: number;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };
const HEXTET = /^[0-9a-f]{1,4}$/i;

function parse6(s: string): bigint | undefined {
  let text = s;
  // an embedded IPv4 tail (::ffff:10.0.0.1) stands for the last two groups
  const cut = text.lastIndexOf(':') + 1;
  const last = text.slice(cut);
  if (last.includes('.')) {
    if (!isIPv4(last)) return undefined;
    const n = last.split('.').reduce((a, o) => a * 256 + Number(o), 0);
    text = `${text.slice(0, cut)}${Math.floor(n / 65536).toString(16)}:${(n % 65536).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  if (![...head, ...rest].every((g) => HEXTET.test(g))) return undefined;
  const given = head.length + rest.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return undefined;
  const all = [...head.map((g) => BigInt(`0x${g}`)), ...Array<bigint>(8 - given).fill(0n), ...rest.map((g) => BigInt(`0x${g}`))];
  return all.reduce((a, g) => (a << 16n) | g, 0n);
}

/** An address of either family, or undefined. */
export function parseIp(s: string): Ip | undefined {
  if (isIPv4(s)) return { family: 4, value: BigInt(s.split('.').reduce((a, o) => a * 256 + Number(o), 0)) };
  if (!s.includes(':')) return undefined;
  const v = parse6(s);
  return v === undefined ? undefined : { family: 6, value: v };
}

/** `10.0.0.5/24` or `2001:db8::5/64`; undefined when malformed or the prefix is too long. */
export function parseIpCidr(s: string): IpCidr | undefined {
  const m = /^([^/\s]+)\/(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const ip = parseIp(m[1]!);
  const prefix = Number(m[2]);
  if (!ip || prefix > BITS[ip.family] || (m[2]!.length > 1 && m[2]!.startsWith('0'))) return undefined;
  return { ...ip, prefix };
}

function mask(family: Family, prefix: number): bigint {
  const bits = BigInt(BITS[family]);
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

/** The network of an address and prefix, as an IpCidr with the host bits cleared. */
export function networkOf(c: IpCidr): IpCidr {
  return { family: c.family, value: c.value & mask(c.family, c.prefix), prefix: c.prefix };
}

export function contains(net: IpCidr, ip: Ip): boolean {
  return net.family === ip.family && (ip.value & mask(net.family, net.prefix)) === networkOf(net).value;
}

/**
 * The address is the subnet's network or (IPv4) broadcast address: not a
 * host's. IPv4 /31 and /32 (RFC 3021) and IPv6 have no such reservation
 * that a static configuration must avoid, except IPv6's all-zero
 * Subnet-Router anycast (RFC 4291 section 2.6.1).
 */
export function reservedIn(net: IpCidr, ip: Ip): 'network' | 'broadcast' | undefined {
  const bits = BITS[net.family];
  if (net.family === 4 && net.prefix >= 31) return undefined;
  if (net.prefix === bits) return undefined;
  const host = ip.value & ((1n << BigInt(bits - net.prefix)) - 1n);
  if (host === 0n) return 'network';
  if (net.family === 4 && host === (1n << BigInt(bits - net.prefix)) - 1n) return 'broadcast';
  return undefined;
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run as ::). */
export function formatIp(ip: Ip): string {
  if (ip.family === 4) return [24n, 16n, 8n, 0n].map((s) => String((ip.value >> s) & 255n)).join('.');
  const g = Array.from({ length: 8 }, (_, i) => Number((ip.value >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export function formatCidr(c: IpCidr): string {
  return `${formatIp(c)}/${c.prefix}`;
}
