/**
 * Names, addresses and ports of a virtual lab. Pure functions, so the
 * allocation is the same in every process that looks at a lab (up, down,
 * status, the engine) and can be unit-tested without root.
 */
import { InputError } from '../errors.js';

/** Linux IFNAMSIZ is 16 including the NUL: interface names have at most 15 characters. */
export const IFNAME_MAX = 15;
export const NETNS_PREFIX = 'ksl-';
/** The bridge lives inside the lab's own netns, so every lab can use the same name. */
export const BRIDGE = 'ksl-br0';
/** `ksl-<name>` stays within 15 characters, like an interface name, so tools that print it do not truncate. */
export const LAB_NAME_RE = /^[a-z0-9][a-z0-9-]{0,10}$/;
export const DEFAULT_LAB_NAME = 'lab';
/** virtualbmc's customary first port; tests use 17000+ (BRIEF port table). */
export const DEFAULT_BMC_PORT_BASE = 6230;
export const MAX_NODES = 64;

export function checkLabName(name: string): string {
  if (!LAB_NAME_RE.test(name)) {
    throw new InputError(`bad lab name '${name}'`, [
      { file: '<command line>', path: 'name', message: 'lab name: 1-11 characters a-z 0-9 -, starting with a letter or digit' },
    ]);
  }
  return name;
}

export function netnsName(lab: string): string {
  return `${NETNS_PREFIX}${checkLabName(lab)}`;
}

/** Tap of node `index` (0-based), inside the lab netns. */
export function tapName(index: number): string {
  const n = `ksl-t${index}`;
  if (n.length > IFNAME_MAX) throw new Error(`tap name ${n} too long`);
  return n;
}

/** Tap of the node's NIC `nic` (0 = the PXE NIC, whose tap keeps the one-NIC name). */
export function nicTapName(index: number, nic: number): string {
  if (nic === 0) return tapName(index);
  const n = `ksl-t${index}n${nic}`;
  if (n.length > IFNAME_MAX) throw new Error(`tap name ${n} too long`);
  return n;
}

/** Most NICs a lab node can have. */
export const MAX_NICS = 4;

/** Node names sort naturally and match typical rack hostnames. */
export function nodeName(index: number): string {
  return `node${String(index + 1).padStart(2, '0')}`;
}

/**
 * One byte per lab name, so two labs' MACs differ (52:54:00:77:LL:NN) when a
 * human compares logs; labs are isolated in their own netns anyway. FNV-1a.
 */
export function labByte(lab: string): number {
  let h = 0x811c9dc5;
  for (const c of Buffer.from(lab, 'utf8')) {
    h ^= c;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h & 0xff;
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

/** Nodes the MAC scheme can number: 255 per value of the fourth byte (0x77, then 0x78). */
export const MAX_MAC_NODES = 510;

/** [fourth byte, last byte] of node `index`: 0x77/1..255 for the first 255 nodes (every lab before fleets), then 0x78/1..255. */
function macTail(index: number): [number, number] {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_MAC_NODES) throw new Error(`node index ${index} out of range`);
  return [0x77 + Math.floor(index / 255), (index % 255) + 1];
}

/** QEMU's OUI 52:54:00, then 0x77 for the lab's 10.77/fd77 network (0x78 past node 255), the lab byte and the node number. */
export function nodeMac(lab: string, index: number): string {
  const [hi, lo] = macTail(index);
  return `52:54:00:${hex2(hi)}:${hex2(labByte(lab))}:${hex2(lo)}`;
}

/** MAC of the node's NIC `nic`: the PXE NIC is nodeMac; the others count up in the third byte. */
export function nicMac(lab: string, index: number, nic: number): string {
  if (nic < 0 || nic >= MAX_NICS) throw new Error(`NIC ${nic} out of range 0..${MAX_NICS - 1}`);
  const m = nodeMac(lab, index);
  return nic === 0 ? m : `52:54:${hex2(nic)}:${m.slice(9)}`;
}

/** Shown by `ipmitool lan print 1`; locally administered so it never looks like a real vendor's. */
export function bmcMac(lab: string, index: number): string {
  const [hi, lo] = macTail(index);
  return `02:00:00:${hex2(hi)}:${hex2(labByte(lab))}:${hex2(lo)}`;
}

export function bmcPort(base: number, index: number): number {
  const p = base + index;
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`BMC port ${p} out of range`);
  return p;
}

/**
 * virtio-blk serials are at most 20 bytes: `KSL-<LAB>-<NN>` (<= 18) for the
 * root disk, `KSL-<LAB>-<NN>D<k>` for data disk k (1-9): unique in the lab,
 * and what a root-device hint selects.
 */
export function diskSerial(lab: string, index: number, dataDisk = 0): string {
  if (dataDisk < 0 || dataDisk > 9) throw new Error(`data disk ${dataDisk} out of range 1..9`);
  const s = `KSL-${lab}-${String(index + 1).padStart(2, '0')}${dataDisk ? `D${dataDisk}` : ''}`.toUpperCase();
  if (s.length > 20) throw new Error(`disk serial ${s} longer than 20 bytes`);
  return s;
}

export interface LabNetwork {
  /** The seed's IPv4 address on the bridge and its prefix length. */
  ipv4: string;
  prefix: number;
  /** IPv6 only so dnsmasq/kseed can send router advertisements (iPXE waits 16 s for one otherwise). */
  ipv6: string;
  prefix6: number;
  dhcpRange: { start: string; end: string };
}

export const DEFAULT_NETWORK: LabNetwork = {
  ipv4: '10.77.0.1',
  prefix: 24,
  ipv6: 'fd77::1',
  prefix6: 64,
  dhcpRange: { start: '10.77.0.100', end: '10.77.0.199' },
};

function ipv4ToInt(a: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(a);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return (((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0);
}

function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}

/**
 * `10.77.0.1/24` -> the lab network with a DHCP range in the upper part of
 * the subnet (.100-.199 for a /24, from .100 to the last host for a larger
 * one), the same shape the seed's DHCP uses.
 */
export function parseSeedAddress(cidr: string): LabNetwork {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  const ip = m ? ipv4ToInt(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (!m || ip === undefined || prefix < 8 || prefix > 29) {
    throw new InputError(`bad seed address '${cidr}'`, [
      { file: '<command line>', path: 'address', message: 'expected IPv4/prefix, prefix 8..29, e.g. 10.77.0.1/24' },
    ]);
  }
  const size = 2 ** (32 - prefix);
  const net = (ip & ~(size - 1)) >>> 0;
  const host = ip - net;
  if (host === 0 || host === size - 1) {
    throw new InputError(`bad seed address '${cidr}'`, [
      { file: '<command line>', path: 'address', message: 'the seed address must be a host address, not the network or broadcast address' },
    ]);
  }
  let start: number;
  let end: number;
  if (size === 256) {
    start = net + 100;
    end = net + 199;
  } else if (size > 256) {
    // a subnet larger than a /24 is asked for to hold more nodes (a simulated fleet): the pool runs to its end
    start = net + 100;
    end = net + size - 2;
  } else {
    start = net + Math.floor(size / 2);
    end = net + size - 2;
  }
  // keep the seed's own address out of the pool, on whichever side leaves more
  if (ip >= start && ip <= end) {
    if (ip - start >= end - ip) end = ip - 1;
    else start = ip + 1;
  }
  return { ...DEFAULT_NETWORK, ipv4: intToIpv4(ip), prefix, dhcpRange: { start: intToIpv4(start), end: intToIpv4(end) } };
}

/** Addresses in the network's DHCP pool. */
export function poolSize(n: LabNetwork): number {
  return ipv4ToInt(n.dhcpRange.end)! - ipv4ToInt(n.dhcpRange.start)! + 1;
}

/** The network of a lab too large for the default /24's pool of 100: the same seed address in a /22 (pool 10.77.0.100-10.77.3.254). */
export const FLEET_NETWORK: LabNetwork = parseSeedAddress('10.77.0.1/22');

/**
 * The lab network for `nodes` listed nodes (unlisted ones are never offered
 * an address): `--address` if given, else the existing lab's, else the
 * default, or FLEET_NETWORK when the default's pool is too small. A pool
 * smaller than the nodes would leave some without a lease: refused up front.
 */
export function labNetworkFor(nodes: number, address: string | undefined, prev: LabNetwork | undefined): LabNetwork {
  const net = address ? parseSeedAddress(address) : (prev ?? (nodes > poolSize(DEFAULT_NETWORK) ? FLEET_NETWORK : DEFAULT_NETWORK));
  const pool = poolSize(net);
  if (pool < nodes) {
    throw new InputError(`${nodes} nodes need as many DHCP addresses; the lab network ${net.ipv4}/${net.prefix} pools ${pool} (${net.dhcpRange.start}-${net.dhcpRange.end})`, [
      { file: '<command line>', path: 'address', message: 'a larger subnet, e.g. --address 10.77.0.1/22' },
    ]);
  }
  return net;
}
