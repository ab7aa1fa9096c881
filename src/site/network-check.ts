/**
 * Cross-field rules of the node network configuration (network.ts): what a
 * schema cannot see. Like check.ts they read the raw parsed data and skip
 * what is malformed, so they report even when the schema failed elsewhere.
 *
 * Rules: interface names are valid and unique; a NIC, bond member or VLAN
 * link named by MAC is one of the node's MACs; a MAC is in one bond at
 * most and a bond member has no addresses of its own; a VLAN sits on a NIC
 * or a bond of the node, once per id; every address is a host address,
 * inside its subnet when the subnet is known (the seed subnet for the PXE
 * NIC untagged, a declared subnet of the VLAN or the address), used by one
 * node only; gateways and route next hops are on-link; one default route
 * per family.
 */
import { contains, formatCidr, formatIp, networkOf, parseIp, parseIpCidr, reservedIn, type Ip, type IpCidr } from './ip.js';
import { normalizeMac } from './net.js';
import { formatPath, type Path } from './yaml.js';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const strv = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const entries = (v: unknown): [string, Obj][] => Object.entries(obj(v) ?? {}).flatMap(([k, x]) => (obj(x) ? [[k, obj(x)!] as [string, Obj]] : []));

/** Linux IFNAMSIZ is 16 with the NUL; "." and ".." are not names; "/" and spaces never are. */
const IFNAME = /^[A-Za-z0-9_.:-]{1,15}$/;
const RESERVED = /^nic(\d+)$/;
const KINDS = ['ethernets', 'bonds', 'vlans'] as const;
const LACP_ONLY = ['lacp_rate', 'ad_select'] as const;
const HASH_MODES = ['balance-xor', '802.3ad', 'balance-tlb', 'balance-alb'];

export interface NetworkCheckContext {
  err: (p: Path, m: string) => void;
  warn: (p: Path, m: string) => void;
  /** The seed's provisioning subnet (seed.address), when it parsed. */
  seedNet?: IpCidr;
  /** kseed's authoritative DHCP range, as IPv4 numbers, when it has one. */
  dhcpRange?: [number, number];
  /** Raw defaults.network. */
  defaults: Obj | undefined;
  /** Every address seen so far: canonical text -> who has it. Shared by all nodes. */
  taken: Map<string, { node: number; label: string; where: string }>;
}

interface Subnet {
  net: IpCidr;
  vlan?: number;
  gateway?: Ip;
  mtu?: number;
  where: string;
}

/** defaults.network.subnets: each is a network address, its gateway inside it, none overlap. */
export function checkSubnets(ctx: NetworkCheckContext): Subnet[] {
  const out: Subnet[] = [];
  arr(ctx.defaults?.subnets).forEach((raw, i) => {
    const s = obj(raw);
    const c = parseIpCidr(strv(s?.cidr) ?? '');
    if (!s || !c) return;
    const p: Path = ['defaults', 'network', 'subnets', i];
    const net = networkOf(c);
    if (net.value !== c.value) {
      ctx.err([...p, 'cidr'], `${formatCidr(c)} is not a network address: write ${formatCidr(net)}`);
      return;
    }
    const other = out.find((o) => o.net.family === net.family && (contains(o.net, net) || contains(net, o.net)));
    if (other) ctx.err([...p, 'cidr'], `${formatCidr(net)} overlaps ${formatCidr(other.net)} (${other.where})`);
    const gw = parseIp(strv(s.gateway) ?? '');
    if (gw) {
      if (gw.family !== net.family) ctx.err([...p, 'gateway'], `gateway ${formatIp(gw)} is IPv${gw.family}, the subnet ${formatCidr(net)} IPv${net.family}`);
      else if (!contains(net, gw) || reservedIn(net, gw)) ctx.err([...p, 'gateway'], `gateway ${formatIp(gw)} is not a host address of ${formatCidr(net)}`);
    }
    arr(s.routes).forEach((r, k) => checkVia(ctx, [...p, 'routes', k], obj(r), [net]));
    const vlan = typeof s.vlan === 'number' && Number.isInteger(s.vlan) && s.vlan >= 1 && s.vlan <= 4094 ? s.vlan : undefined;
    const mtu = typeof s.mtu === 'number' ? s.mtu : undefined;
    out.push({ net, ...(vlan !== undefined ? { vlan } : {}), ...(gw && gw.family === net.family ? { gateway: gw } : {}), ...(mtu !== undefined ? { mtu } : {}), where: `defaults.network.subnets[${i}]` });
  });
  return out;
}

function checkVia(ctx: NetworkCheckContext, p: Path, r: Obj | undefined, nets: IpCidr[]): void {
  const via = parseIp(strv(r?.via) ?? '');
  const to = strv(r?.to);
  if (!via || !to) return;
  const toNet = to === 'default' ? undefined : parseIpCidr(to);
  if (toNet && toNet.family !== via.family) {
    ctx.err([...p, 'via'], `next hop ${formatIp(via)} is IPv${via.family}, the destination ${to} IPv${toNet.family}`);
    return;
  }
  if (toNet && networkOf(toNet).value !== toNet.value) ctx.err([...p, 'to'], `${formatCidr(toNet)} is not a network address: write ${formatCidr(networkOf(toNet))}`);
  if (isLinkLocal(via)) return;
  const onLink = nets.filter((n) => n.family === via.family);
  if (onLink.length && !onLink.some((n) => contains(n, via))) {
    ctx.err([...p, 'via'], `next hop ${formatIp(via)} is not on this interface's subnet${onLink.length > 1 ? 's' : ''} (${onLink.map((n) => formatCidr(networkOf(n))).join(', ')})`);
  }
}

const isLinkLocal = (ip: Ip) => ip.family === 6 && ip.value >> 118n === 0x3fan; // fe80::/10

/** One node's `network`. `macs` are the node's, normalised; `label` names it in messages. */
export function checkNodeNetwork(ctx: NetworkCheckContext, subnets: Subnet[], i: number, label: string, macs: string[], raw: unknown): void {
  const net = obj(raw);
  if (!net) return;
  const np: Path = ['nodes', i, 'network'];
  const nodeMacs = new Set(macs);
  const macList = macs.join(', ') || 'none';
  const notOurs = (p: Path, mac: string) => ctx.err(p, `${mac} is not one of this node's MACs (macs: ${macList})`);

  // --- interface names
  const names = new Map<string, string>();
  for (const kind of KINDS) {
    for (const [name, v] of entries(net[kind])) {
      const p: Path = [...np, kind, name];
      if (!IFNAME.test(name) || name === '.' || name === '..') {
        ctx.err(p, `"${name}" is not an interface name (at most 15 characters: letters, digits, - _ . :)`);
        continue;
      }
      const prev = names.get(name);
      if (prev) ctx.err(p, `interface name "${name}" is also used by ${prev}`);
      names.set(name, `${kind}.${name}`);
      const r = RESERVED.exec(name);
      if (r) {
        const k = Number(r[1]);
        const mac = kind === 'ethernets' ? normalizeMac(strv(v.mac) ?? '') : undefined;
        if (mac === undefined || macs[k] !== mac) ctx.err(p, `"${name}" is the name kseed gives the node's MAC number ${k}${macs[k] ? ` (${macs[k]})` : ''}: choose another name`);
      }
    }
  }

  // --- NICs
  const ethByMac = new Map<string, { name: string; hasL3: boolean }>();
  for (const [name, e] of entries(net.ethernets)) {
    const mac = normalizeMac(strv(e.mac) ?? '');
    if (!mac) continue;
    const p: Path = [...np, 'ethernets', name, 'mac'];
    if (!nodeMacs.has(mac)) notOurs(p, mac);
    const prev = ethByMac.get(mac);
    if (prev) ctx.err(p, `${mac} is already ethernets.${prev.name}`);
    else ethByMac.set(mac, { name, hasL3: hasL3(e) });
  }

  // --- bonds
  const memberOf = new Map<string, string>();
  const bondNames = new Set(entries(net.bonds).map(([n]) => n));
  const dbond = obj(ctx.defaults?.bond);
  for (const [name, b] of entries(net.bonds)) {
    const bp: Path = [...np, 'bonds', name];
    const mine = new Set<string>();
    arr(b.members).forEach((m, k) => {
      const mac = normalizeMac(strv(m) ?? '');
      if (!mac) return;
      const p: Path = [...bp, 'members', k];
      if (!nodeMacs.has(mac)) return notOurs(p, mac);
      if (mine.has(mac)) return ctx.err(p, `${mac} is listed twice in this bond`);
      mine.add(mac);
      const other = memberOf.get(mac);
      if (other) return ctx.err(p, `${mac} is already a member of bond ${other}: a NIC is in one bond at most`);
      memberOf.set(mac, name);
      const eth = ethByMac.get(mac);
      if (eth?.hasL3) ctx.err(p, `${mac} is ethernets.${eth.name}, which has addresses or DHCP: a bond member has none of its own (put them on the bond)`);
    });
    const primary = normalizeMac(strv(b.primary) ?? '');
    if (primary && !mine.has(primary)) ctx.err([...bp, 'primary'], `primary ${primary} is not a member of this bond`);
    const mode = strv(b.mode) ?? strv(dbond?.mode);
    if (b.mode === undefined && dbond?.mode === undefined) ctx.err(bp, 'mode is required (here or in defaults.network.bond): one of balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb');
    if (mode && mode !== '802.3ad') {
      for (const k of LACP_ONLY) if (b[k] !== undefined) ctx.warn([...bp, k], `${k} applies to mode 802.3ad only; ignored for ${mode}`);
    }
    if (mode && b.transmit_hash_policy !== undefined && !HASH_MODES.includes(mode)) ctx.warn([...bp, 'transmit_hash_policy'], `transmit_hash_policy applies to modes ${HASH_MODES.join(', ')}; ignored for ${mode}`);
    if (primary && mode && !['active-backup', 'balance-tlb', 'balance-alb'].includes(mode)) ctx.warn([...bp, 'primary'], `primary applies to modes active-backup, balance-tlb, balance-alb; ignored for ${mode}`);
  }

  // --- VLANs
  const vlanKeys = new Map<string, string>();
  const vlanNames = new Set(entries(net.vlans).map(([n]) => n));
  const vlanOf = new Map<string, number>();
  for (const [name, v] of entries(net.vlans)) {
    const vp: Path = [...np, 'vlans', name];
    const link = strv(v.link);
    const id = typeof v.id === 'number' && Number.isInteger(v.id) && v.id >= 1 && v.id <= 4094 ? v.id : undefined;
    if (id !== undefined) vlanOf.set(name, id);
    if (!link) continue;
    let linkKey: string | undefined;
    const mac = normalizeMac(link);
    if (bondNames.has(link)) linkKey = `bond:${link}`;
    else if (entries(net.ethernets).some(([n]) => n === link)) linkKey = `mac:${normalizeMac(strv(obj(obj(net.ethernets)?.[link])?.mac) ?? '') ?? link}`;
    else if (mac && !names.has(link)) {
      if (!nodeMacs.has(mac)) {
        notOurs([...vp, 'link'], mac);
        continue;
      }
      linkKey = `mac:${mac}`;
    } else if (vlanNames.has(link)) {
      ctx.err([...vp, 'link'], `"${link}" is a VLAN: a VLAN sits on a NIC or a bond`);
      continue;
    } else {
      const known = [...names.keys()].filter((n) => !vlanNames.has(n));
      ctx.err([...vp, 'link'], `unknown link "${link}": name a NIC or bond of this node${known.length ? ` (${known.join(', ')})` : ''} or one of its MACs`);
      continue;
    }
    const linkMac = linkKey.startsWith('mac:') ? linkKey.slice(4) : undefined;
    if (linkMac && memberOf.has(linkMac)) ctx.err([...vp, 'link'], `${linkMac} is a member of bond ${memberOf.get(linkMac)}: put the VLAN on the bond`);
    if (id !== undefined) {
      const k = `${linkKey}#${id}`;
      const prev = vlanKeys.get(k);
      if (prev) ctx.err([...vp, 'id'], `VLAN ${id} on ${link} is already vlans.${prev}`);
      else vlanKeys.set(k, name);
    }
  }

  // --- a VLAN's MTU fits in its link's (the kernel refuses a larger one)
  const mtuOf = (i: Obj | undefined): number | undefined => {
    if (!i) return undefined;
    if (typeof i.mtu === 'number') return i.mtu;
    for (const a of arr(i.addresses)) {
      const c = parseIpCidr(strv(a) ?? '');
      const sub = c && subnets.find((x) => contains(x.net, c));
      if (sub?.mtu !== undefined) return sub.mtu;
    }
    return undefined;
  };
  for (const [name, v] of entries(net.vlans)) {
    const mtu = mtuOf(v);
    const link = strv(v.link);
    if (mtu === undefined || !link) continue;
    const linkIface = obj(obj(net.bonds)?.[link]) ?? obj(obj(net.ethernets)?.[link]) ?? entries(net.ethernets).find(([, e]) => normalizeMac(strv(e.mac) ?? '') === normalizeMac(link))?.[1];
    const linkMtu = mtuOf(linkIface) ?? 1500;
    if (mtu > linkMtu) {
      ctx.err(v.mtu !== undefined ? [...np, 'vlans', name, 'mtu'] : [...np, 'vlans', name], `MTU ${mtu}${v.mtu === undefined ? ' (from its subnet)' : ''} is larger than its link ${link}'s ${linkMtu}${mtuOf(linkIface) === undefined ? ' (the default)' : ''}: raise the link's mtu`);
    }
  }

  // --- addresses, gateways, routes
  const pxe = macs[0];
  const carriesPxe = (kind: string, i: Obj): boolean => {
    if (!pxe) return false;
    if (kind === 'ethernets') return normalizeMac(strv(i.mac) ?? '') === pxe;
    if (kind === 'bonds') return arr(i.members).some((m) => normalizeMac(strv(m) ?? '') === pxe);
    return false;
  };
  const gateways = new Map<4 | 6, string>();
  for (const kind of KINDS) {
    for (const [name, iface] of entries(net[kind])) {
      const ip: Path = [...np, kind, name];
      const nets: IpCidr[] = [];
      const vlan = kind === 'vlans' ? vlanOf.get(name) : undefined;
      // a VLAN whose id is bad has no known subnet (the id is reported)
      const subnetKnown = kind !== 'vlans' || vlan !== undefined;
      arr(iface.addresses).forEach((a, k) => {
        const c = parseIpCidr(strv(a) ?? '');
        if (!c) return;
        const p: Path = [...ip, 'addresses', k];
        nets.push(c);
        const what = reservedIn(c, c);
        if (what) return ctx.err(p, `${formatIp(c)} is the ${what} address of ${formatCidr(networkOf(c))}, not a host address`);
        if (subnetKnown) checkSubnet(ctx, p, c, subnets, vlan, kind !== 'vlans' && carriesPxe(kind, iface));
        const key = formatIp(c);
        const prev = ctx.taken.get(key);
        if (prev && (prev.node !== i || prev.where !== 'ip')) ctx.err(p, `address ${key} is already used by ${prev.node === i ? 'this node' : prev.label} (${prev.where})`);
        else if (!prev) ctx.taken.set(key, { node: i, label, where: formatPath(p) });
      });
      for (const fam of [4, 6] as const) {
        const key = fam === 4 ? 'gateway4' : 'gateway6';
        const gw = parseIp(strv(iface[key]) ?? '');
        const given = gw && gw.family === fam ? gw : nets.map((c) => subnets.find((s) => contains(s.net, c) && s.gateway?.family === fam)?.gateway).find(Boolean);
        if (!given) continue;
        if (gw && !isLinkLocal(gw)) {
          const same = nets.filter((c) => c.family === fam);
          if (same.length && !same.some((c) => contains(c, gw))) ctx.err([...ip, key], `gateway ${formatIp(gw)} is not on this interface's subnet${same.length > 1 ? 's' : ''} (${same.map((c) => formatCidr(networkOf(c))).join(', ')})`);
          else if (!same.length && iface[fam === 4 ? 'dhcp4' : 'dhcp6'] !== true) ctx.err([...ip, key], `gateway ${formatIp(gw)} but this interface has no IPv${fam} address`);
        }
        const prev = gateways.get(fam);
        if (prev) ctx.err(gw ? [...ip, key] : [...ip, 'addresses'], `a second IPv${fam} default gateway${gw ? '' : ` (${formatIp(given)}, from its subnet)`}: the first is on ${prev}`);
        else gateways.set(fam, `${kind}.${name}`);
      }
      arr(iface.routes).forEach((r, k) => checkVia(ctx, [...ip, 'routes', k], obj(r), nets));
    }
  }
}

function hasL3(i: Obj): boolean {
  return i.addresses !== undefined || i.dhcp4 === true || i.dhcp6 === true || i.gateway4 !== undefined || i.gateway6 !== undefined || i.routes !== undefined;
}

/** The address against the subnet known for it; nothing when none is known. */
function checkSubnet(ctx: NetworkCheckContext, p: Path, c: IpCidr, subnets: Subnet[], vlan: number | undefined, untaggedPxe: boolean): void {
  const ofFamily = subnets.filter((s) => s.net.family === c.family);
  if (vlan !== undefined) {
    const mine = ofFamily.filter((s) => s.vlan === vlan);
    if (mine.length && !mine.some((s) => contains(s.net, c))) {
      ctx.err(p, `${formatIp(c)} is outside the subnet${mine.length > 1 ? 's' : ''} of VLAN ${vlan} (${mine.map((s) => formatCidr(s.net)).join(', ')})`);
      return;
    }
  } else if (untaggedPxe && c.family === 4 && ctx.seedNet) {
    const seed = networkOf(ctx.seedNet);
    if (!contains(seed, c)) {
      ctx.err(p, `${formatIp(c)} is outside the provisioning subnet ${formatCidr(seed)}: this interface carries the PXE NIC untagged`);
      return;
    }
    // the seed's own address is reported as a duplicate
    if (c.prefix !== seed.prefix) ctx.err(p, `prefix /${c.prefix} differs from the provisioning subnet ${formatCidr(seed)}`);
    const r = ctx.dhcpRange;
    const v = Number(c.value);
    // unlike nodes[].ip, a static address is unknown to kseed's DHCP: it could lease it to another machine
    if (r && v >= r[0] && v <= r[1]) ctx.err(p, `${formatIp(c)} is inside kseed's DHCP range ${formatIp({ family: 4, value: BigInt(r[0]) })}-${formatIp({ family: 4, value: BigInt(r[1]) })}, which could lease it to another machine: use an address outside it`);
    return;
  }
  const s = ofFamily.find((x) => contains(x.net, c));
  if (!s) return;
  if (s.vlan !== undefined && s.vlan !== vlan) ctx.err(p, `${formatIp(c)} is in ${formatCidr(s.net)}, the subnet of VLAN ${s.vlan}, but this interface is ${vlan === undefined ? 'untagged' : `on VLAN ${vlan}`}`);
  else if (c.prefix !== s.net.prefix) ctx.err(p, `prefix /${c.prefix} differs from its subnet ${formatCidr(s.net)} (${s.where})`);
}
