/**
 * The `network:` key of a node and of `defaults`: the installed OS's
 * addresses, bonds and VLANs, shaped like netplan / cloud-init network
 * config version 2 (what kseed renders from it), with two differences that
 * suit a site file: NICs are named by MAC (kseed knows each node's MACs),
 * and keys use underscores like the rest of the file.
 *
 * Here: the schema, and the resolution (defaults merged, MACs to interface
 * names). Cross-node and cross-field rules are in network-check.ts.
 */
import { z } from '../util/vendor/zod.js';
import { parseIp, parseIpCidr } from './ip.js';
import { normalizeMac } from './net.js';
import {
  BOND_MODES,
  type BondParameters,
  type BondSpec,
  type DnsSpec,
  type EthernetSpec,
  type IfaceConfig,
  type NetworkDefaults,
  type NodeNetwork,
  type RouteSpec,
  type SubnetSpec,
  type VlanSpec,
} from './types.js';

const refined = (what: string, ok: (s: string) => boolean, explain?: string) =>
  z.string().superRefine((s, ctx) => {
    if (!ok(s)) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(s)} is not ${what}${explain ? ` (${explain})` : ''}` });
  });

const family = (f: 4 | 6) => (s: string) => parseIp(s)?.family === f;
export const IpAny = refined('an IP address', (s) => parseIp(s) !== undefined);
const Cidr = refined('an address with prefix length', (s) => parseIpCidr(s) !== undefined, 'e.g. 10.20.0.11/24 or 2001:db8::11/64');
const Gateway4 = refined('an IPv4 address', family(4));
const Gateway6 = refined('an IPv6 address', family(6));
const Mtu = z.number().int().min(576).max(9216);
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/** A MAC here is a string: the check says when it is not the node's. */
const MacRef = z.string().superRefine((s, ctx) => {
  if (!normalizeMac(s)) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(s)} is not a MAC address` });
});

export const VlanId = z.number().superRefine((v, ctx) => {
  if (!Number.isInteger(v) || v < 1 || v > 4094) ctx.addIssue({ code: 'custom', message: `VLAN id ${v} is outside 1-4094 (IEEE 802.1Q: 0 and 4095 are reserved)` });
});

export const Dns = z.strictObject({
  servers: z.array(IpAny).min(1).optional(),
  search: z.array(refined('a DNS domain', (s) => DOMAIN.test(s))).min(1).optional(),
});

export const Route = z.strictObject({
  to: refined('a destination', (s) => s === 'default' || parseIpCidr(s) !== undefined, 'a CIDR such as 10.30.0.0/16, or default'),
  via: IpAny,
  metric: z.number().int().min(0).max(4294967295).optional(),
});

const ifaceKeys = {
  addresses: z.array(Cidr).min(1).optional(),
  gateway4: Gateway4.optional(),
  gateway6: Gateway6.optional(),
  dhcp4: z.boolean().optional(),
  dhcp6: z.boolean().optional(),
  mtu: Mtu.optional(),
  routes: z.array(Route).min(1).optional(),
  dns: Dns.optional(),
};

const ms = z.number().int().min(0).max(3_600_000);
export const bondParameterKeys = {
  mode: z.enum(BOND_MODES),
  lacp_rate: z.enum(['slow', 'fast']),
  mii_monitor_interval: ms,
  min_links: z.number().int().min(0).max(1024),
  transmit_hash_policy: z.enum(['layer2', 'layer3+4', 'layer2+3', 'encap2+3', 'encap3+4']),
  ad_select: z.enum(['stable', 'bandwidth', 'count']),
  up_delay: ms,
  down_delay: ms,
  primary_reselect_policy: z.enum(['always', 'better', 'failure']),
  fail_over_mac_policy: z.enum(['none', 'active', 'follow']),
  gratuitous_arp: z.number().int().min(1).max(255),
};
const optionalParams = Object.fromEntries(Object.entries(bondParameterKeys).map(([k, v]) => [k, v.optional()])) as {
  [K in keyof typeof bondParameterKeys]: z.ZodOptional<(typeof bondParameterKeys)[K]>;
};
export const BOND_PARAMETERS = Object.keys(bondParameterKeys) as (keyof BondParameters)[];

export const Ethernet = z.strictObject({ mac: MacRef, ...ifaceKeys });
export const Bond = z.strictObject({ members: z.array(MacRef).min(1), primary: MacRef.optional(), ...optionalParams, ...ifaceKeys });
export const Vlan = z.strictObject({ id: VlanId, link: z.string().min(1), ...ifaceKeys });

export const NodeNetworkSchema = z.strictObject({
  ethernets: z.record(z.string(), Ethernet).optional(),
  bonds: z.record(z.string(), Bond).optional(),
  vlans: z.record(z.string(), Vlan).optional(),
  dns: Dns.optional(),
});

export const Subnet = z.strictObject({
  name: z.string().min(1).optional(),
  cidr: Cidr,
  vlan: VlanId.optional(),
  gateway: IpAny.optional(),
  mtu: Mtu.optional(),
  routes: z.array(Route).min(1).optional(),
});

export const NetworkDefaultsSchema = z.strictObject({
  dns: Dns.optional(),
  bond: z.strictObject(optionalParams).optional(),
  subnets: z.array(Subnet).min(1).optional(),
});

export type NodeNetworkInput = z.output<typeof NodeNetworkSchema>;

// ---- resolution ----

const compact = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

type IfaceInput = z.output<typeof Ethernet> | z.output<typeof Bond> | z.output<typeof Vlan>;

function l3(i: IfaceInput): IfaceConfig {
  return compact({
    addresses: i.addresses,
    gateway4: i.gateway4,
    gateway6: i.gateway6,
    dhcp4: i.dhcp4,
    dhcp6: i.dhcp6,
    mtu: i.mtu,
    routes: i.routes as RouteSpec[] | undefined,
    dns: i.dns as DnsSpec | undefined,
  });
}

/** The subnet an address falls in, if the defaults declare one. */
export function subnetFor(subnets: readonly SubnetSpec[], address: string): SubnetSpec | undefined {
  const a = parseIpCidr(address);
  if (!a) return undefined;
  return subnets.find((s) => {
    const n = parseIpCidr(s.cidr);
    if (!n || n.family !== a.family) return false;
    const m = ((1n << BigInt(a.family === 4 ? 32 : 128)) - 1n) ^ ((1n << BigInt((a.family === 4 ? 32 : 128) - n.prefix)) - 1n);
    return (a.value & m) === (n.value & m);
  });
}

/** Gateway, MTU and routes from the subnets the interface's addresses are in, where the interface has none. */
function inherit(c: IfaceConfig, subnets: readonly SubnetSpec[]): IfaceConfig {
  const out = { ...c };
  for (const a of c.addresses ?? []) {
    const s = subnetFor(subnets, a);
    if (!s) continue;
    const fam = parseIp(s.gateway ?? '')?.family;
    if (fam === 4 && out.gateway4 === undefined) out.gateway4 = s.gateway;
    if (fam === 6 && out.gateway6 === undefined) out.gateway6 = s.gateway;
    if (s.mtu !== undefined && out.mtu === undefined) out.mtu = s.mtu;
    if (s.routes) out.routes = [...(out.routes ?? []), ...s.routes.filter((r) => !(out.routes ?? []).some((o) => o.to === r.to))];
  }
  return out;
}

/**
 * The interface that carries the PXE NIC untagged in the installed OS: the
 * NIC itself, or the bond it is a member of. Undefined without a network.
 */
export function pxeInterface(n: NodeNetwork | undefined, pxeMac: string | undefined): string | undefined {
  if (!n || !pxeMac) return undefined;
  const nic = Object.entries(n.ethernets).find(([, e]) => e.mac === pxeMac.toLowerCase())?.[0];
  if (!nic) return undefined;
  return Object.entries(n.bonds).find(([, b]) => b.members.includes(nic))?.[0] ?? nic;
}

/** The node's fixed IPv4 address on the provisioning network (on its PXE interface), if its network gives one. */
export function provisioningAddress(n: NodeNetwork | undefined, pxeMac: string | undefined): string | undefined {
  const name = pxeInterface(n, pxeMac);
  if (!name || !n) return undefined;
  const iface = n.bonds[name] ?? n.ethernets[name];
  const a = iface?.addresses?.find((x) => parseIpCidr(x)?.family === 4);
  return a?.split('/')[0];
}

/**
 * The node's network with defaults merged, or undefined when the node has
 * none (the OS then does what its image does by default: cloud-init's
 * fallback is DHCP on the first NIC). Call only on a file the checks passed.
 *
 * NICs get names: the one the site file gives under `ethernets`, else
 * `nic<k>` for the node's k-th MAC. The PXE NIC (the first MAC) gets DHCP
 * when nothing else uses it, so the node still reaches the seed.
 */
export function resolveNetwork(n: NodeNetworkInput | undefined, macs: readonly string[], d: NetworkDefaults | undefined): NodeNetwork | undefined {
  if (!n) return undefined;
  const subnets = d?.subnets ?? [];
  const ethernets: Record<string, EthernetSpec> = {};
  const nameOfMac = new Map<string, string>();
  for (const [name, e] of Object.entries(n.ethernets ?? {})) {
    const mac = normalizeMac(e.mac)!;
    ethernets[name] = { mac, ...inherit(l3(e), subnets) };
    nameOfMac.set(mac, name);
  }
  const nicName = (macText: string): string => {
    const mac = normalizeMac(macText)!;
    let name = nameOfMac.get(mac);
    if (!name) {
      name = `nic${macs.indexOf(mac)}`;
      ethernets[name] = { mac };
      nameOfMac.set(mac, name);
    }
    return name;
  };
  const bonds: Record<string, BondSpec> = {};
  for (const [name, b] of Object.entries(n.bonds ?? {})) {
    const parameters = { ...compact(d?.bond ?? {}), ...compact(Object.fromEntries(BOND_PARAMETERS.map((k) => [k, b[k]]))) } as BondParameters;
    bonds[name] = compact({ members: b.members.map(nicName), primary: b.primary ? nicName(b.primary) : undefined, parameters, ...inherit(l3(b), subnets) });
  }
  const vlans: Record<string, VlanSpec> = {};
  for (const [name, v] of Object.entries(n.vlans ?? {})) {
    const link = normalizeMac(v.link) && !(v.link in ethernets) && !(v.link in bonds) ? nicName(v.link) : v.link;
    vlans[name] = { id: v.id, link, ...inherit(l3(v), subnets) };
  }
  const pxe = macs[0];
  if (pxe && !nameOfMac.has(pxe)) ethernets[`nic0`] = { mac: pxe, dhcp4: true };
  const dns = n.dns ?? d?.dns;
  return compact({ ethernets, bonds, vlans, dns: dns as DnsSpec | undefined });
}
