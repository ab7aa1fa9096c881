/**
 * The lab's static node network (`kseed lab up --static-network`): each
 * node's NICs in an active-backup bond with a fixed address on the lab
 * subnet, and a VLAN on that bond with an IPv4 and an IPv6 address. Where
 * the kernel has 802.1Q, the seed side gets a VLAN sub-interface of the lab
 * bridge, so the seed (and a test in the lab netns) reaches the nodes on the
 * VLAN too; without it (no 8021q module) the nodes still reach each other.
 *
 * active-backup, not 802.3ad: the lab's Linux bridge is no LACP partner.
 * A bridge without vlan_filtering forwards tagged frames as they are, and
 * hands those for its own MAC to its VLAN sub-interfaces.
 */
import { InputError } from '../errors.js';
import type { LabNetwork } from './names.js';

export const LAB_VLAN = 100;
/** The VLAN's subnets: private, and only ever inside the lab netns. */
export const LAB_VLAN_NET4 = { prefix: '192.168.100', len: 24 };
export const LAB_VLAN_NET6 = { prefix: 'fd77:100::', len: 64 };
export const LAB_BOND = 'bond0';
/** Seed-side VLAN interface on the lab bridge (within 15 characters). */
export const labVlanIface = (bridge: string): string => `${bridge}.${LAB_VLAN}`;

export interface LabNodeAddresses {
  /** On the bond, in the lab subnet: CIDR. */
  bond: string;
  /** On the VLAN: CIDR, IPv4 and IPv6. */
  vlan4: string;
  vlan6: string;
}

const toInt = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const toIp = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

/** The seed's own addresses on the VLAN. */
export function seedVlanAddresses(): { v4: string; v6: string } {
  return { v4: `${LAB_VLAN_NET4.prefix}.1/${LAB_VLAN_NET4.len}`, v6: `${LAB_VLAN_NET6.prefix}1/${LAB_VLAN_NET6.len}` };
}

/**
 * Node `index` (0-based) gets host number 11 + index on each network:
 * below the DHCP range, so a lease never takes it.
 */
export function labNodeAddresses(net: LabNetwork, index: number): LabNodeAddresses {
  const host = 11 + index;
  const size = 2 ** (32 - net.prefix);
  const base = Math.floor(toInt(net.ipv4) / size) * size;
  const addr = base + host;
  if (addr >= toInt(net.dhcpRange.start) || host >= size - 1 || addr === toInt(net.ipv4)) {
    throw new InputError(`the lab subnet ${toIp(base)}/${net.prefix} has no room for static node addresses`, [
      { file: '<command line>', path: 'static-network', message: `node ${index + 1} would get ${toIp(addr)}, which is not below the DHCP range ${net.dhcpRange.start}-${net.dhcpRange.end}: use a /24 or larger seed address` },
    ]);
  }
  if (host > 254) throw new InputError('too many nodes for the lab VLAN', [{ file: '<command line>', path: 'nodes', message: 'at most 244 nodes with --static-network' }]);
  return {
    bond: `${toIp(addr)}/${net.prefix}`,
    vlan4: `${LAB_VLAN_NET4.prefix}.${host}/${LAB_VLAN_NET4.len}`,
    vlan6: `${LAB_VLAN_NET6.prefix}${host.toString(16)}/${LAB_VLAN_NET6.len}`,
  };
}

/** The `defaults.network` lines of the lab site file: bond defaults and the VLAN's subnets. */
export function labNetworkDefaultLines(): string[] {
  return [
    '  network:',
    '    bond: { mode: active-backup, mii_monitor_interval: 100 }',
    '    subnets:',
    `      - { name: lab-vlan, cidr: ${LAB_VLAN_NET4.prefix}.0/${LAB_VLAN_NET4.len}, vlan: ${LAB_VLAN} }`,
    `      - { name: lab-vlan6, cidr: "${LAB_VLAN_NET6.prefix}/${LAB_VLAN_NET6.len}", vlan: ${LAB_VLAN} }`,
  ];
}

/** One node's `network:` lines (indented for a node entry). */
export function labNodeNetworkLines(macs: string[], a: LabNodeAddresses): string[] {
  const q = (s: string) => JSON.stringify(s);
  return [
    '    network:',
    '      bonds:',
    `        ${LAB_BOND}: { members: [${macs.map(q).join(', ')}], primary: ${q(macs[0]!)}, addresses: [${a.bond}] }`,
    '      vlans:',
    `        ${LAB_BOND}.${LAB_VLAN}: { id: ${LAB_VLAN}, link: ${LAB_BOND}, addresses: [${a.vlan4}, ${q(a.vlan6)}] }`,
  ];
}
