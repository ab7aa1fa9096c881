/**
 * Malformed node network configurations (the `network:` keys), each with
 * every problem kseed must report (`line:col path: message`). Part of
 * CASES (cases.ts), so the loader test and the CLI test both run them.
 */
import type { Case } from './cases.js';

const SHA = `sha256:${'ab'.repeat(32)}`;

/** Two nodes, each a LACP bond of its two NICs on the provisioning network and VLAN 120 on it. Valid, no warnings. */
export const NET_BASE = `site: t
engine: embedded
seed:
  interface: ksl-br0
  address: 10.77.0.1/24
  dhcp: { mode: authoritative, range: 10.77.0.100-10.77.0.199 }
defaults:
  bmc: { username: admin, password: { env: KSEED_BMC_PASSWORD } }
  root_device: { name: /dev/vda }
  image: { url: "http://10.77.0.1:8080/i.raw", checksum: "${SHA}" }
  network:
    dns: { servers: [10.77.0.1], search: [rack1.example.com] }
    bond: { mode: 802.3ad, lacp_rate: fast, mii_monitor_interval: 100 }
    subnets:
      - { name: storage, cidr: 10.20.0.0/24, vlan: 120, gateway: 10.20.0.1 }
      - { name: storage6, cidr: "2001:db8:120::/64", vlan: 120 }
nodes:
  - name: n1
    bmc: { address: 127.0.0.1, port: 17001 }
    macs: ["52:54:00:00:00:01", "52:54:00:00:00:02"]
    network:
      bonds:
        bond0: { members: ["52:54:00:00:00:01", "52:54:00:00:00:02"], addresses: [10.77.0.11/24] }
      vlans:
        bond0.120: { id: 120, link: bond0, addresses: [10.20.0.11/24, "2001:db8:120::11/64"] }
  - name: n2
    bmc: { address: 127.0.0.1, port: 17002 }
    macs: ["52:54:00:00:00:03", "52:54:00:00:00:04"]
    network:
      bonds:
        bond0: { members: ["52:54:00:00:00:03", "52:54:00:00:00:04"], addresses: [10.77.0.12/24] }
      vlans:
        bond0.120: { id: 120, link: bond0, addresses: [10.20.0.12/24, "2001:db8:120::12/64"] }
`;

/** NET_BASE with one text replaced (it must occur exactly once). */
export function netEdit(from: string, to: string, text = NET_BASE): string {
  if (text.split(from).length !== 2) throw new Error(`fixture edit: ${JSON.stringify(from)} is not in the base exactly once`);
  return text.replace(from, to);
}

const c = (name: string, yaml: string, problems: string[]): Case => ({ name, yaml, problems });
const N1_BOND = 'bond0: { members: ["52:54:00:00:00:01", "52:54:00:00:00:02"], addresses: [10.77.0.11/24] }';
const N1_VLAN = 'bond0.120: { id: 120, link: bond0, addresses: [10.20.0.11/24, "2001:db8:120::11/64"] }';

export const NETWORK_CASES: Case[] = [
  c('network: bond member MAC that is not the node\'s', netEdit('members: ["52:54:00:00:00:01", "52:54:00:00:00:02"]', 'members: ["52:54:00:00:00:01", "52:54:00:00:00:09"]'), [
    "23:49 nodes[0].network.bonds.bond0.members[1]: 52:54:00:00:00:09 is not one of this node's MACs (macs: 52:54:00:00:00:01, 52:54:00:00:00:02)",
  ]),
  c('network: address outside its VLAN\'s subnet', netEdit('addresses: [10.20.0.11/24,', 'addresses: [10.21.0.11/24,'), [
    "25:56 nodes[0].network.vlans[\"bond0.120\"].addresses[0]: 10.21.0.11 is outside the subnet of VLAN 120 (10.20.0.0/24)",
  ]),
  c('network: duplicate address across nodes', netEdit('addresses: [10.77.0.12/24]', 'addresses: [10.77.0.11/24]'), [
    "31:83 nodes[1].network.bonds.bond0.addresses[0]: address 10.77.0.11 is already used by node \"n1\" (nodes[0].network.bonds.bond0.addresses[0])",
  ]),
  c('network: duplicate IPv6 address written another way', netEdit('"2001:db8:120::12/64"', '"2001:0db8:120:0:0::11/64"'), [
    "33:71 nodes[1].network.vlans[\"bond0.120\"].addresses[1]: address 2001:db8:120::11 is already used by node \"n1\" (nodes[0].network.vlans[\"bond0.120\"].addresses[1])",
  ]),
  c('network: VLAN id outside 1-4094', netEdit(N1_VLAN, N1_VLAN.replace('id: 120', 'id: 5000')), [
    "25:26 nodes[0].network.vlans[\"bond0.120\"].id: VLAN id 5000 is outside 1-4094 (IEEE 802.1Q: 0 and 4095 are reserved)",
  ]),
  c('network: unknown bond mode', netEdit('bond: { mode: 802.3ad,', 'bond: { mode: active-bakup,'), [
    "13:19 defaults.network.bond.mode: \"active-bakup\" is not one of balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb (did you mean \"active-backup\"?)",
  ]),
  c('network: a NIC in two bonds', netEdit(N1_BOND, `${N1_BOND}\n        bond1: { members: ["52:54:00:00:00:02"], mode: active-backup }`), [
    "24:28 nodes[0].network.bonds.bond1.members[0]: 52:54:00:00:00:02 is already a member of bond bond0: a NIC is in one bond at most",
  ]),
  c('network: VLAN on an unknown link', netEdit(N1_VLAN, N1_VLAN.replace('link: bond0', 'link: bond1')), [
    "25:37 nodes[0].network.vlans[\"bond0.120\"].link: unknown link \"bond1\": name a NIC or bond of this node (bond0) or one of its MACs",
  ]),
  c('network: VLAN on a bond member', netEdit(N1_VLAN, N1_VLAN.replace('link: bond0', 'link: "52:54:00:00:00:02"')), [
    "25:37 nodes[0].network.vlans[\"bond0.120\"].link: 52:54:00:00:00:02 is a member of bond bond0: put the VLAN on the bond",
  ]),
  c('network: PXE bond address outside the provisioning subnet', netEdit('addresses: [10.77.0.11/24]', 'addresses: [10.78.0.11/24]'), [
    "23:83 nodes[0].network.bonds.bond0.addresses[0]: 10.78.0.11 is outside the provisioning subnet 10.77.0.0/24: this interface carries the PXE NIC untagged",
  ]),
  c('network: the seed\'s own address', netEdit('addresses: [10.77.0.11/24]', 'addresses: [10.77.0.1/24]'), [
    "23:83 nodes[0].network.bonds.bond0.addresses[0]: address 10.77.0.1 is already used by the seed (seed.address)",
  ]),
  c('network: network address as a host address', netEdit('addresses: [10.77.0.11/24]', 'addresses: [10.77.0.0/24]'), [
    "23:83 nodes[0].network.bonds.bond0.addresses[0]: 10.77.0.0 is the network address of 10.77.0.0/24, not a host address",
  ]),
  c('network: address without a prefix', netEdit('addresses: [10.77.0.11/24]', 'addresses: [10.77.0.11]'), [
    "23:83 nodes[0].network.bonds.bond0.addresses[0]: \"10.77.0.11\" is not an address with prefix length (e.g. 10.20.0.11/24 or 2001:db8::11/64)",
  ]),
  c('network: gateway off the interface\'s subnet', netEdit('gateway: 10.20.0.1 }', '}', netEdit('addresses: [10.77.0.11/24]', 'addresses: [10.77.0.11/24], gateway4: 10.99.0.1')), [
    "23:109 nodes[0].network.bonds.bond0.gateway4: gateway 10.99.0.1 is not on this interface's subnet (10.77.0.0/24)",
  ]),
  c('network: two default gateways', netEdit('addresses: [10.77.0.11/24]', 'addresses: [10.77.0.11/24], gateway4: 10.77.0.254'), [
    "25:55 nodes[0].network.vlans[\"bond0.120\"].addresses: a second IPv4 default gateway (10.20.0.1, from its subnet): the first is on bonds.bond0",
  ]),
  c('network: bond primary that is not a member', netEdit(N1_BOND, N1_BOND.replace('members:', 'primary: "52:54:00:00:00:03", members:')), [
    "23:27 nodes[0].network.bonds.bond0.primary: primary 52:54:00:00:00:03 is not a member of this bond",
  ]),
  c('network: bond with no mode anywhere', netEdit('bond: { mode: 802.3ad, lacp_rate: fast, mii_monitor_interval: 100 }', 'bond: { mii_monitor_interval: 100 }'), [
    "23:16 nodes[0].network.bonds.bond0: mode is required (here or in defaults.network.bond): one of balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb",
    "31:16 nodes[1].network.bonds.bond0: mode is required (here or in defaults.network.bond): one of balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb",
  ]),
  c('network: subnet written with host bits', netEdit('cidr: 10.20.0.0/24', 'cidr: 10.20.0.5/24'), [
    "15:32 defaults.network.subnets[0].cidr: 10.20.0.5/24 is not a network address: write 10.20.0.0/24",
  ]),
  c('network: bond member with addresses of its own', netEdit(N1_BOND, `${N1_BOND}\n      ethernets:\n        eno2: { mac: "52:54:00:00:00:02", dhcp4: true }`), [
    "23:49 nodes[0].network.bonds.bond0.members[1]: 52:54:00:00:00:02 is ethernets.eno2, which has addresses or DHCP: a bond member has none of its own (put them on the bond)",
  ]),
  c('network: interface name too long', netEdit(N1_VLAN, N1_VLAN.replace('bond0.120:', 'storage-vlan-0120:')), [
    "25:28 nodes[0].network.vlans.storage-vlan-0120: \"storage-vlan-0120\" is not an interface name (at most 15 characters: letters, digits, - _ . :)",
  ]),
  c('network: misspelt key', netEdit('    network:\n      bonds:\n        bond0: { members: ["52:54:00:00:00:01"', '    network:\n      bond:\n        bond0: { members: ["52:54:00:00:00:01"'), [
    "22:7 nodes[0].network.bond: unknown key \"bond\" (did you mean \"bonds\"?)",
    "25:37 nodes[0].network.vlans[\"bond0.120\"].link: unknown link \"bond0\": name a NIC or bond of this node or one of its MACs",
  ]),
  c('network: VLAN MTU above its link\'s', netEdit(N1_VLAN, N1_VLAN.replace('link: bond0,', 'link: bond0, mtu: 9000,')), [
    "25:49 nodes[0].network.vlans[\"bond0.120\"].mtu: MTU 9000 is larger than its link bond0's 1500 (the default): raise the link's mtu",
  ]),
];
