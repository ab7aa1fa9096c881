/**
 * Malformed site files, each with every problem kseed must report for it
 * (`line:col path: message`, the file name is prepended by the tests).
 * Shared by the loader unit test and the CLI integration test.
 */

export const SHA = `sha256:${'ab'.repeat(32)}`;

/** A valid, warning-free site file; cases edit it line by line. */
export const BASE = `site: t
engine: embedded
seed:
  interface: ksl-br0
  address: 10.77.0.1/24
  dhcp: { mode: authoritative, range: 10.77.0.100-10.77.0.199 }
defaults:
  bmc: { username: admin, password: { env: KSEED_BMC_PASSWORD } }
  root_device: { name: /dev/vda }
  image: { url: "http://10.77.0.1:8080/i.raw", checksum: "${SHA}" }
nodes:
  - name: n1
    bmc: { address: 127.0.0.1, port: 17001 }
    macs: ["52:54:00:00:00:01"]
`;

const SECOND = `  - name: n2
    bmc: { address: 127.0.0.1, port: 17002 }
    macs: ["52:54:00:00:00:02"]
`;

/** BASE with one text replaced (it must occur). */
export function edit(from: string, to: string, text = BASE): string {
  if (!text.includes(from)) throw new Error(`fixture edit: ${JSON.stringify(from)} not in base`);
  return text.replace(from, to);
}

export interface Case {
  name: string;
  yaml: string;
  problems: string[];
}

const c = (name: string, yaml: string, problems: string[]): Case => ({ name, yaml, problems });

const BASIC_CASES: Case[] = [
  c('bad MAC', edit('"52:54:00:00:00:01"', '"52:54:00:zz:00:01"'), [
    "14:12 nodes[0].macs[0]: \"52:54:00:zz:00:01\" is not a MAC address",
  ]),
  c('MAC written as a number', edit('["52:54:00:00:00:01"]', '[525400000001]'), [
    "14:12 nodes[0].macs[0]: 525400000001 is a number, not a MAC address: quote it",
  ]),
  c('multicast MAC', edit('"52:54:00:00:00:01"', '"01:00:5e:00:00:01"'), [
    "14:12 nodes[0].macs[0]: 01:00:5e:00:00:01 is a multicast/broadcast address, not a NIC's MAC",
  ]),
  c('empty MAC list', edit('["52:54:00:00:00:01"]', '[]'), [
    "14:11 nodes[0].macs: must have at least one entry",
  ]),
  c('macs is a string, not a list', edit('["52:54:00:00:00:01"]', '"52:54:00:00:00:01"'), [
    "14:11 nodes[0].macs: must be a list, not the string \"52:54:00:00:00:01\"",
  ]),
  c('bad BMC address', edit('address: 127.0.0.1, port: 17001', 'address: 127.0.0.300, port: 17001'), [
    "13:21 nodes[0].bmc.address: \"127.0.0.300\" is not an IPv4 address or host name",
  ]),
  c('bad CIDR: no prefix', edit('address: 10.77.0.1/24', 'address: 10.77.0.1'), [
    "5:12 seed.address: \"10.77.0.1\" is not an address with prefix length (CIDR), e.g. 10.77.0.1/24",
  ]),
  c('bad CIDR: prefix 33', edit('address: 10.77.0.1/24', 'address: 10.77.0.1/33'), [
    "5:12 seed.address: \"10.77.0.1/33\" is not an address with prefix length (CIDR), e.g. 10.77.0.1/24",
  ]),
  c('seed address is the network address', edit('address: 10.77.0.1/24', 'address: 10.77.0.0/24'), [
    "5:12 seed.address: 10.77.0.0 is the network address of 10.77.0.0/24, not a host address",
  ]),
  c('unknown key with a typo', edit('bmc: { address: 127.0.0.1, port: 17001 }', 'bmc: { adress: 127.0.0.1, port: 17001 }'), [
    "13:10 nodes[0].bmc.address: is required",
    "13:12 nodes[0].bmc.adress: unknown key \"adress\" (did you mean \"address\"?)",
  ]),
  c('unknown top-level key', edit('nodes:\n', 'node:\n'), [
    "1:1 nodes: is required",
    "11:1 node: unknown key \"node\" (did you mean \"nodes\"?)",
  ]),
  c('wrong type: port is a string', edit('port: 17001', 'port: "17001"'), [
    "13:38 nodes[0].bmc.port: must be a number, not the string \"17001\"",
  ]),
  c('wrong type: port out of range', edit('port: 17001', 'port: 70000'), [
    "13:38 nodes[0].bmc.port: must be at most 65535, not 70000",
  ]),
  c('missing required field: site', edit('site: t\n', ''), [
    "1:1 site: is required",
  ]),
  c('missing required field: seed.interface', edit('  interface: ksl-br0\n', ''), [
    "4:3 seed.interface: is required",
  ]),
  c('missing BMC username everywhere', edit('{ username: admin, password', '{ password'), [
    "13:10 nodes[0].bmc: username is required (set it here or in defaults.bmc)",
  ]),
  c('duplicate node names', BASE + SECOND.replace('name: n2', 'name: n1'), [
    "15:11 nodes[1].name: duplicate node name \"n1\" (first at nodes[0], line 12)",
  ]),
  c('duplicate MACs across nodes', BASE + SECOND.replace('52:54:00:00:00:02', '52-54-00-00-00-01'), [
    "17:12 nodes[1].macs[0]: duplicate MAC 52:54:00:00:00:01: already used by node \"n1\" (nodes[0].macs[0])",
  ]),
  c('duplicate BMC address:port', BASE + SECOND.replace('port: 17002', 'port: 17001'), [
    "16:21 nodes[1].bmc.address: BMC 127.0.0.1:17001 is already node \"n1\"'s BMC (nodes[0])",
  ]),
  c('DHCP range outside the seed subnet', edit('range: 10.77.0.100-10.77.0.199', 'range: 10.77.0.100-10.77.1.20'), [
    "6:39 seed.dhcp.range: range 10.77.0.100-10.77.1.20 is outside the seed subnet 10.77.0.0/24 (10.77.1.20)",
  ]),
  c('DHCP range contains the seed address', edit('range: 10.77.0.100-10.77.0.199', 'range: 10.77.0.1-10.77.0.50'), [
    "6:39 seed.dhcp.range: range 10.77.0.1-10.77.0.50 contains the seed's own address 10.77.0.1",
  ]),
  c('DHCP range start after end', edit('range: 10.77.0.100-10.77.0.199', 'range: 10.77.0.199-10.77.0.100'), [
    "6:39 seed.dhcp.range: range start 10.77.0.199 is after its end 10.77.0.100",
  ]),
  c('DHCP range malformed', edit('range: 10.77.0.100-10.77.0.199', 'range: 10.77.0.100..199'), [
    "6:39 seed.dhcp.range: \"10.77.0.100..199\" is not a range: write FIRST-LAST, e.g. 10.77.0.100-10.77.0.199",
  ]),
  c('authoritative DHCP without a range', edit('dhcp: { mode: authoritative, range: 10.77.0.100-10.77.0.199 }', 'dhcp: { mode: authoritative }'), [
    "6:9 seed.dhcp: authoritative mode needs a range, e.g. range: 10.77.0.100-10.77.0.199",
  ]),
  c('unknown role', edit('    macs: ["52:54:00:00:00:01"]\n', '    macs: ["52:54:00:00:00:01"]\n    roles: [control, contol]\n'), [
    "15:22 nodes[0].roles[1]: unknown role \"contol\" (did you mean \"control\"?); roles are control, network, compute, storage, monitoring, deployment",
  ]),
  c('unknown profile', edit('    macs: ["52:54:00:00:00:01"]\n', '    macs: ["52:54:00:00:00:01"]\n    profile: dell\n'), [
    "15:14 nodes[0].profile: unknown hardware profile \"dell\" (did you mean \"dell-poweredge\"?); known: dell-poweredge, hpe-proliant, lenovo-thinksystem, qemu-lab-redfish, qemu-lab, supermicro",
  ]),
  c('bad engine', edit('engine: embedded', 'engine: docker'), [
    "2:9 engine: \"docker\" is not one of embedded, ironic",
  ]),
  c('bad dhcp mode', edit('mode: authoritative', 'mode: authoritive'), [
    "6:17 seed.dhcp.mode: \"authoritive\" is not one of authoritative, proxy, off (did you mean \"authoritative\"?)",
  ]),
  c('bad checksum format', edit(`checksum: "${SHA}"`, 'checksum: "md5:d41d8cd98f00b204e9800998ecf8427e"'), [
    "10:58 defaults.image.checksum: \"md5:d41d8cd98f00b204e9800998ecf8427e\" is not a checksum: write sha256:<64 hex digits> or sha512:<128 hex digits>",
  ]),
  c('bad image URL', edit('"http://10.77.0.1:8080/i.raw"', '"ftp://10.77.0.1/i.raw"'), [
    "10:17 defaults.image.url: \"ftp://10.77.0.1/i.raw\" is not an image URL (http://, https:// or file://)",
  ]),
  c('root_device name not a device path', edit('root_device: { name: /dev/vda }', 'root_device: { name: vda }'), [
    "9:24 defaults.root_device.name: \"vda\" is not a device path (e.g. /dev/sda)",
  ]),
  c('root_device size range inverted', edit('root_device: { name: /dev/vda }', 'root_device: { size_gb: { min: 500, max: 100 } }'), [
    "9:27 defaults.root_device.size_gb: min 500 is larger than max 100",
  ]),
  c('root_device empty hint', edit('root_device: { name: /dev/vda }', 'root_device: {}'), [
    "9:16 defaults.root_device: an empty hint selects no disk: give at least one of name, size_gb, serial, wwn, model, vendor, hctl, by_path, rotational",
  ]),
  c('root_device unknown hint', edit('root_device: { name: /dev/vda }', 'root_device: { serail: ABC123 }'), [
    "9:18 defaults.root_device.serail: unknown key \"serail\" (did you mean \"serial\"?)",
  ]),
  c('secret with neither env nor file', edit('password: { env: KSEED_BMC_PASSWORD }', 'password: { path: /etc/bmc.pass }'), [
    "8:37 defaults.bmc.password: a secret needs env or file: { env: NAME } or { file: PATH }",
  ]),
  c('secret as a plain string', edit('password: { env: KSEED_BMC_PASSWORD }', 'password: hunter2'), [
    "8:37 defaults.bmc.password: secrets are references, not plain values: write { env: NAME } or { file: PATH }",
  ]),
  c('secret with both env and file', edit('password: { env: KSEED_BMC_PASSWORD }', 'password: { env: A, file: b }'), [
    "8:37 defaults.bmc.password: a secret has exactly one of env, file or value, not env and file",
  ]),
  c('bad cipher suite', edit('{ username: admin,', '{ username: admin, cipher_suite: 5,'), [
    "8:41 defaults.bmc.cipher_suite: cipher suite 5 is not supported: use 3 (SHA1) or 17 (SHA256)",
  ]),
  c('bad BMC type', edit('{ username: admin,', '{ type: ipmb, username: admin,'), [
    "8:16 defaults.bmc.type: \"ipmb\" is not one of ipmi, redfish (did you mean \"ipmi\"?)",
  ]),
  c('node ip outside the subnet', edit('    macs: ["52:54:00:00:00:01"]\n', '    macs: ["52:54:00:00:00:01"]\n    ip: 10.78.0.5\n'), [
    "15:9 nodes[0].ip: 10.78.0.5 is outside the seed subnet 10.77.0.0/24",
  ]),
  c('virtual-media boot with an ipmi BMC', edit('    macs: ["52:54:00:00:00:01"]\n', '    macs: ["52:54:00:00:00:01"]\n    boot: virtual-media\n'), [
    "15:11 nodes[0].boot: node \"n1\": virtual-media boot needs a Redfish BMC (VirtualMedia InsertMedia); this node's BMC is ipmi",
  ]),
  c('virtual-media boot by default on the ironic engine with an ipmi BMC', edit('engine: embedded', 'engine: ironic', edit('  root_device:', '  boot: virtual-media\n  root_device:')), [
    "9:9 defaults.boot: node \"n1\": virtual-media boot needs a Redfish BMC (VirtualMedia InsertMedia); this node's BMC is ipmi",
  ]),
  c('BIOS node with the seed TFTP off', edit('  dhcp: {', '  tftp: { enabled: false }\n  dhcp: {', edit('    macs: ["52:54:00:00:00:01"]\n', '    macs: ["52:54:00:00:00:01"]\n    boot_mode: bios\n')), [
    "16:16 nodes[0].boot_mode: node \"n1\": boot_mode bios cannot network-boot with seed.tftp.enabled false (BIOS has no UEFI HTTP boot); use boot_mode uefi, boot: virtual-media, or turn TFTP on",
  ]),
  c('no Ironic conductor', edit('nodes:\n', 'ironic:\n  conductors: 0\nnodes:\n'), [
    '12:15 ironic.conductors: must be at least 1, not 0',
  ]),
  c('conductors written as a word', edit('nodes:\n', 'ironic:\n  conductors: "x"\nnodes:\n'), [
    '12:15 ironic.conductors: must be a number, not the string "x"',
  ]),
  c('more conductors than loopback JSON-RPC addresses', edit('nodes:\n', 'ironic:\n  conductors: 9\nnodes:\n'), [
    '12:15 ironic.conductors: must be at most 8, not 9',
  ]),
  c('TFTP off on the ironic engine', edit('engine: embedded', 'engine: ironic', edit('  dhcp: {', '  tftp: { enabled: false }\n  dhcp: {')), [
    "6:20 seed.tftp.enabled: TFTP can only be turned off in the embedded engine (Ironic boots its nodes by iPXE over TFTP); use engine: embedded",
  ]),
  c('virtual-media boot of a UEFI node on the ironic engine', edit('engine: embedded', 'engine: ironic', edit('  root_device:', '  boot: virtual-media\n  boot_mode: uefi\n  root_device:', edit('{ username: admin,', '{ type: redfish, username: admin,'))), [
    "10:14 defaults.boot_mode: node \"n1\": virtual-media boot through Ironic is BIOS-only in kseed (Ironic's UEFI ISO needs an EFI system partition image); use boot_mode bios, or engine: embedded",
  ]),
  c('unknown boot kind', edit('    macs: ["52:54:00:00:00:01"]\n', '    macs: ["52:54:00:00:00:01"]\n    boot: usb\n'), [
    "15:11 nodes[0].boot: \"usb\" is not one of pxe, virtual-media",
  ]),
  c('node name not a host name', edit('name: n1', 'name: Node_1'), [
    "12:11 nodes[0].name: \"Node_1\" is not a valid node name (lower-case letters, digits and hyphens, as in a host name)",
  ]),
  c('interface name too long', edit('interface: ksl-br0', 'interface: a-very-long-bridge0'), [
    "4:14 seed.interface: \"a-very-long-bridge0\" is not an interface name (at most 15 characters, no spaces or slashes)",
  ]),
  c('service ports collide', edit('  dhcp: {', '  ports: { http: 6385 }\n  dhcp: {'), [
    "6:10 seed.ports: ironic_api (default) port 6385 is also used by http",
  ]),
  c('YAML syntax error: unclosed flow mapping', edit('bmc: { address: 127.0.0.1, port: 17001 }', 'bmc: { address: 127.0.0.1, port: 17001'), [
    "14:5: YAML syntax: Flow map in block collection must be sufficiently indented and end with a }",
  ]),
  c('YAML syntax error: unclosed quote', edit('macs: ["52:54:00:00:00:01"]', 'macs: ["52:54:00:00:00:01]'), [
    "15:1: YAML syntax: Missing closing \"quote",
  ]),
  c('tabs as indentation', edit('  interface: ksl-br0', '\tinterface: ksl-br0'), [
    "4:1: YAML syntax: tabs are not allowed as indentation in YAML: indent with spaces",
  ]),
  c('duplicate key', edit('engine: embedded\n', 'engine: embedded\nengine: ironic\n'), [
    "3:1: YAML syntax: duplicate key \"engine\" in the same mapping",
  ]),
  c('YAML alias without an anchor', edit('engine: embedded', 'engine: *eng'), [
    '2:9: YAML: alias *eng has no anchor &eng before it',
  ]),
  c('YAML alias bomb', BASE + 'x0: &a0 [z, z, z, z, z, z, z, z, z, z]\n' + [1, 2, 3, 4, 5].map((i) => `x${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`).join('\n') + '\n', [
    '1:1: YAML: Excessive alias count indicates a resource exhaustion attack',
  ]),
  c('engine is a list', edit('engine: embedded', 'engine: [embedded]'), [
    '2:9 engine: must be one of embedded, ironic, not a list',
  ]),
  c('empty file', '', [
    "1:1: site file is empty",
  ]),
  c('only comments', '# nothing here yet\n', [
    "1:1: site file is empty",
  ]),
  c('top level is a list', '- site: t\n- engine: embedded\n', [
    "1:1: the site file must be a mapping with site, engine, seed and nodes at the top level",
  ]),
];

/** Two nodes, each a LACP bond of its two NICs on the provisioning network and VLAN 120 on it. Valid, no warnings. */
export const NET_BASE = `${BASE.slice(0, BASE.indexOf('nodes:\n'))}  network:
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
  c('network: static address inside kseed\'s DHCP range', netEdit('addresses: [10.77.0.11/24]', 'addresses: [10.77.0.150/24]'), [
    "23:83 nodes[0].network.bonds.bond0.addresses[0]: 10.77.0.150 is inside kseed's DHCP range 10.77.0.100-10.77.0.199, which could lease it to another machine: use an address outside it",
  ]),
];

export const CASES: Case[] = [...BASIC_CASES, ...NETWORK_CASES];
