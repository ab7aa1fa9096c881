/**
 * The node network configuration through the real loader: defaults merged,
 * MACs turned into interface names, subnets' gateways inherited; and the
 * IPv4/IPv6 arithmetic the checks stand on.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { contains, formatIp, networkOf, parseIp, parseIpCidr, reservedIn } from '../../../src/site/ip.js';
import { checkSite } from '../../../src/site/load.js';
import { NET_BASE, netEdit } from './cases.js';

const root = mkdtempSync(path.join(tmpdir(), 'kseed-net-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
async function load(text: string) {
  const dir = path.join(root, String(n++));
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'kseed.yaml'), text);
  return checkSite(path.join(dir, 'kseed.yaml'));
}

describe('node network, resolved', () => {
  it('the base file is valid and warning-free', async () => {
    const r = await load(NET_BASE);
    expect(r.problems).toEqual([]);
    expect(r.warnings).toEqual([]);
  });

  it('names NICs by their place in macs, merges the bond defaults, inherits the subnet gateway, keeps DNS', async () => {
    const { site } = await load(NET_BASE);
    expect(site!.nodes[0]!.network).toEqual({
      ethernets: { nic0: { mac: '52:54:00:00:00:01' }, nic1: { mac: '52:54:00:00:00:02' } },
      bonds: { bond0: { members: ['nic0', 'nic1'], parameters: { mode: '802.3ad', lacp_rate: 'fast', mii_monitor_interval: 100 }, addresses: ['10.77.0.11/24'] } },
      vlans: { 'bond0.120': { id: 120, link: 'bond0', addresses: ['10.20.0.11/24', '2001:db8:120::11/64'], gateway4: '10.20.0.1' } },
      dns: { servers: ['10.77.0.1'], search: ['rack1.example.com'] },
    });
  });

  it('a bond\'s own parameters beat the defaults; a named NIC keeps its name; a VLAN on a MAC links to that NIC', async () => {
    let y = netEdit(
      'bond0: { members: ["52:54:00:00:00:01", "52:54:00:00:00:02"], addresses: [10.77.0.11/24] }',
      'bond0: { members: ["52:54:00:00:00:01", "52:54:00:00:00:02"], mode: active-backup, primary: "52:54:00:00:00:02", addresses: [10.77.0.11/24] }\n      ethernets:\n        eno2: { mac: "52-54-00-00-00-02" }',
    );
    y = netEdit(
      '      bonds:\n        bond0: { members: ["52:54:00:00:00:03", "52:54:00:00:00:04"], addresses: [10.77.0.12/24] }\n      vlans:\n        bond0.120: { id: 120, link: bond0, addresses: [10.20.0.12/24, "2001:db8:120::12/64"] }\n',
      '      vlans:\n        v120: { id: 120, link: "52:54:00:00:00:03", addresses: [10.20.0.12/24], mtu: 1400 }\n',
      y,
    );
    const { site, problems, warnings } = await load(y);
    expect(problems).toEqual([]);
    expect(warnings.map((w) => `${w.path}: ${w.message}`)).toEqual([]);
    expect(site!.nodes[0]!.network!.ethernets).toEqual({ eno2: { mac: '52:54:00:00:00:02' }, nic0: { mac: '52:54:00:00:00:01' } });
    expect(site!.nodes[0]!.network!.bonds.bond0).toEqual({
      members: ['nic0', 'eno2'],
      primary: 'eno2',
      parameters: { mode: 'active-backup', lacp_rate: 'fast', mii_monitor_interval: 100 },
      addresses: ['10.77.0.11/24'],
    });
    // n2: the VLAN sits on its PXE NIC (named by MAC), which then carries no DHCP of its own
    expect(site!.nodes[1]!.network!.vlans).toEqual({ v120: { id: 120, link: 'nic0', addresses: ['10.20.0.12/24'], gateway4: '10.20.0.1', mtu: 1400 } });
    expect(site!.nodes[1]!.network!.ethernets).toEqual({ nic0: { mac: '52:54:00:00:00:03' } });
  });

  it('the PXE NIC gets DHCP when the network leaves it out, so the node still reaches the seed', async () => {
    const y = netEdit(
      '      bonds:\n        bond0: { members: ["52:54:00:00:00:01", "52:54:00:00:00:02"], addresses: [10.77.0.11/24] }\n      vlans:\n        bond0.120: { id: 120, link: bond0, addresses: [10.20.0.11/24, "2001:db8:120::11/64"] }\n',
      '      vlans:\n        storage: { id: 120, link: "52:54:00:00:00:02", addresses: [10.20.0.11/24] }\n',
    );
    const { site, problems } = await load(y);
    expect(problems).toEqual([]);
    expect(site!.nodes[0]!.network!.ethernets).toEqual({ nic1: { mac: '52:54:00:00:00:02' }, nic0: { mac: '52:54:00:00:00:01', dhcp4: true } });
  });

  it('a node without network has none; defaults alone configure nothing', async () => {
    const y = netEdit(
      '    network:\n      bonds:\n        bond0: { members: ["52:54:00:00:00:03", "52:54:00:00:00:04"], addresses: [10.77.0.12/24] }\n      vlans:\n        bond0.120: { id: 120, link: bond0, addresses: [10.20.0.12/24, "2001:db8:120::12/64"] }\n',
      '',
    );
    const { site } = await load(y);
    expect(site!.nodes[1]!.network).toBeUndefined();
    expect(site!.defaults.network?.subnets?.[0]).toEqual({ name: 'storage', cidr: '10.20.0.0/24', vlan: 120, gateway: '10.20.0.1' });
  });
});

describe('IPv4 and IPv6 arithmetic', () => {
  it('parses and prints IPv6 the RFC 5952 way', () => {
    for (const [inp, out] of [
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['::', '::'],
      ['::1', '::1'],
      ['fe80::', 'fe80::'],
      ['::ffff:10.0.0.1', '::ffff:a00:1'],
      ['2001:DB8::A', '2001:db8::a'],
    ]) expect(formatIp(parseIp(inp!)!)).toBe(out);
    for (const bad of ['2001:db8::1::2', '2001:db8:0:0:0:0:0:0:1', '12345::', ':1', 'g::1', '1.2.3', '::ffff:10.0.0.300', '']) expect(parseIp(bad)).toBeUndefined();
  });
  it('knows subnets, network and broadcast addresses', () => {
    const net = parseIpCidr('10.20.0.0/24')!;
    expect(contains(net, parseIp('10.20.0.255')!)).toBe(true);
    expect(contains(net, parseIp('10.20.1.0')!)).toBe(false);
    expect(contains(net, parseIp('::a14:1')!)).toBe(false);
    expect(reservedIn(net, parseIp('10.20.0.0')!)).toBe('network');
    expect(reservedIn(net, parseIp('10.20.0.255')!)).toBe('broadcast');
    expect(reservedIn(parseIpCidr('10.20.0.0/31')!, parseIp('10.20.0.0')!)).toBeUndefined();
    const v6 = parseIpCidr('2001:db8:120::11/64')!;
    expect(formatIp(networkOf(v6))).toBe('2001:db8:120::');
    expect(reservedIn(v6, parseIp('2001:db8:120:0:ffff:ffff:ffff:ffff')!)).toBeUndefined();
    expect(reservedIn(v6, parseIp('2001:db8:120::')!)).toBe('network');
    for (const bad of ['10.0.0.1/33', '2001:db8::/129', '10.0.0.1/08', '10.0.0.1']) expect(parseIpCidr(bad)).toBeUndefined();
  });
});
