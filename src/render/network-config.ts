/**
 * A node's network as cloud-init network configuration version 2 (the
 * netplan format; cloud-init docs "Networking config Version 2"), served as
 * the NoCloud `network-config` file. cloud-init hands it to netplan as it
 * is on Debian and Ubuntu images, and converts it for its other renderers
 * (networkd, ENI, sysconfig), so only keys both understand are written:
 *
 * - every NIC is matched by MAC and renamed (`set-name`): the other
 *   renderers match on the name as well as the MAC, and a name that is the
 *   same on every node is what Kolla-Ansible's network_interface wants;
 * - gateways as gateway4/gateway6 (cloud-init 22.4 reads no `to: default`);
 * - bond parameters in netplan's spelling, which cloud-init maps back.
 *
 * Deterministic: the same site file gives the same bytes.
 */
import YAML from '../util/vendor/yaml.js';
import type { BondParameters, DnsSpec, IfaceConfig, NodeNetwork, NodeSpec } from '../site/types.js';

const PARAM: Record<keyof BondParameters, string> = {
  mode: 'mode',
  lacp_rate: 'lacp-rate',
  mii_monitor_interval: 'mii-monitor-interval',
  min_links: 'min-links',
  transmit_hash_policy: 'transmit-hash-policy',
  ad_select: 'ad-select',
  up_delay: 'up-delay',
  down_delay: 'down-delay',
  primary_reselect_policy: 'primary-reselect-policy',
  fail_over_mac_policy: 'fail-over-mac-policy',
  gratuitous_arp: 'gratuitous-arp',
};

const byName = <T>(r: Record<string, T>): [string, T][] => Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/**
 * Where the node's DNS goes: v2 has nameservers per interface only, so on
 * the interfaces that carry a default gateway, else on the first with a
 * static address (resolvers are global on the node either way).
 */
function dnsHolders(net: NodeNetwork): Set<string> {
  const all = [...byName(net.ethernets), ...byName(net.bonds), ...byName(net.vlans)] as [string, IfaceConfig][];
  const gw = all.filter(([, i]) => i.gateway4 || i.gateway6).map(([n]) => n);
  if (gw.length) return new Set(gw);
  const first = all.find(([, i]) => i.addresses?.length);
  return new Set(first ? [first[0]] : []);
}

function nameservers(d: DnsSpec | undefined): Record<string, unknown> | undefined {
  if (!d || (!d.servers?.length && !d.search?.length)) return undefined;
  return { ...(d.servers?.length ? { addresses: d.servers } : {}), ...(d.search?.length ? { search: d.search } : {}) };
}

function l3(name: string, i: IfaceConfig, net: NodeNetwork, holders: Set<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (i.dhcp4 !== undefined) out.dhcp4 = i.dhcp4;
  if (i.dhcp6 !== undefined) out.dhcp6 = i.dhcp6;
  if (i.addresses?.length) out.addresses = i.addresses;
  if (i.gateway4) out.gateway4 = i.gateway4;
  if (i.gateway6) out.gateway6 = i.gateway6;
  if (i.mtu !== undefined) out.mtu = i.mtu;
  if (i.routes?.length) out.routes = i.routes.map((r) => ({ to: r.to === 'default' ? (r.via.includes(':') ? '::/0' : '0.0.0.0/0') : r.to, via: r.via, ...(r.metric !== undefined ? { metric: r.metric } : {}) }));
  const ns = nameservers(i.dns ?? (holders.has(name) ? net.dns : undefined));
  if (ns) out.nameservers = ns;
  return out;
}

/** The version 2 document as data. */
export function networkConfigV2(net: NodeNetwork): Record<string, unknown> {
  const holders = dnsHolders(net);
  const doc: Record<string, unknown> = { version: 2 };
  const eth: Record<string, unknown> = {};
  for (const [name, e] of byName(net.ethernets)) eth[name] = { match: { macaddress: e.mac }, 'set-name': name, ...l3(name, e, net, holders) };
  doc.ethernets = eth;
  if (Object.keys(net.bonds).length) {
    const bonds: Record<string, unknown> = {};
    for (const [name, b] of byName(net.bonds)) {
      const parameters: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(b.parameters) as [keyof BondParameters, unknown][]) if (v !== undefined) parameters[PARAM[k]] = v;
      if (b.primary) parameters.primary = b.primary;
      bonds[name] = { interfaces: b.members, ...(Object.keys(parameters).length ? { parameters } : {}), ...l3(name, b, net, holders) };
    }
    doc.bonds = bonds;
  }
  if (Object.keys(net.vlans).length) {
    const vlans: Record<string, unknown> = {};
    for (const [name, v] of byName(net.vlans)) vlans[name] = { id: v.id, link: v.link, ...l3(name, v, net, holders) };
    doc.vlans = vlans;
  }
  return doc;
}

/** The NoCloud network-config file of a node, or undefined when the site file gives it no network. */
export function renderNetworkConfig(node: Pick<NodeSpec, 'name' | 'network'>): string | undefined {
  if (!node.network) return undefined;
  // Every string quoted: cloud-init reads YAML 1.1, where an unquoted MAC such as
  // 52:54:00:00:00:01 is a base-60 integer (seen: 41135040001 in its netplan output)
  const text = YAML.stringify(networkConfigV2(node.network), { lineWidth: 0, defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' });
  return `# cloud-init network config version 2 for ${node.name}, rendered by kseed from the site file\n${text}`;
}
