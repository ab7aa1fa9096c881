/**
 * IPv4 and MAC helpers for the site file. IPv4 only: PXE provisioning
 * networks are IPv4 (DHCPv4 options 66/67/93), and so are BMC networks.
 */

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4_RE = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

export function isIPv4(s: string): boolean {
  return IPV4_RE.test(s);
}

/** Dotted quad to an unsigned 32-bit number; caller checks isIPv4 first. */
export function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export interface Subnet {
  network: number;
  broadcast: number;
  prefix: number;
}

export function subnetOf(ip: string, prefix: number): Subnet {
  const size = 2 ** (32 - prefix);
  const network = Math.floor(ipToInt(ip) / size) * size;
  return { network, broadcast: network + size - 1, prefix };
}

/** Usable host address: inside the subnet, neither network nor broadcast. */
export function isHostIn(ip: string, s: Subnet): boolean {
  const n = ipToInt(ip);
  return n > s.network && n < s.broadcast;
}

export function formatSubnet(s: Subnet): string {
  return `${intToIp(s.network)}/${s.prefix}`;
}

/** `10.77.0.1/24` -> address and prefix; undefined when malformed. */
export function parseCidr(s: string): { address: string; prefix: number } | undefined {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(s);
  if (!m || !isIPv4(m[1]!)) return undefined;
  const prefix = Number(m[2]);
  if (prefix > 32) return undefined;
  return { address: m[1]!, prefix };
}

// Accept the spellings people paste from BMC web UIs and switch CLIs:
// 52:54:00:AB:CD:EF, 52-54-00-ab-cd-ef, 5254.00ab.cdef, 525400abcdef.
const MAC_RES = [
  /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i,
  /^([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})$/i,
  /^([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i,
];

/** Lower-case colon form, or undefined when not a MAC address. */
export function normalizeMac(s: string): string | undefined {
  for (const re of MAC_RES) {
    const m = re.exec(s.trim());
    if (m) {
      // a mixed separator like 52:54-00... is a typo, not a MAC
      if (re === MAC_RES[0] && new Set(s.replace(/[0-9a-f]/gi, '')).size > 1) return undefined;
      return m.slice(1, 7).join(':').toLowerCase();
    }
  }
  return undefined;
}

/** Multicast bit set (or broadcast): never a NIC's burned-in address. */
export function isMulticastMac(mac: string): boolean {
  return (parseInt(mac.slice(0, 2), 16) & 1) === 1;
}

const HOSTNAME_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** RFC 1123 host name (lower case): node names become host names and Ironic node names. */
export function isHostLabel(s: string): boolean {
  return HOSTNAME_LABEL.test(s);
}

export function isHostname(s: string): boolean {
  return s.length <= 253 && s.split('.').every((l) => HOSTNAME_LABEL.test(l.toLowerCase()));
}
