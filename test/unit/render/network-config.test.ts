/**
 * cloud-init network config version 2 rendered from site files loaded by
 * the real loader. (test/integration/render/ feeds the same documents to
 * cloud-init and netplan themselves.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderNetworkConfig } from '../../../src/render/network-config.js';
import { loadSite } from '../../../src/site/load.js';
import { NET_BASE, netEdit } from '../site/cases.js';

const root = mkdtempSync(path.join(tmpdir(), 'kseed-nc-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
async function nodesOf(text: string) {
  const f = path.join(root, `${n++}.yaml`);
  writeFileSync(f, text);
  return (await loadSite(f)).nodes;
}

describe('network-config v2', () => {
  it('bond of both NICs by MAC, LACP parameters in netplan spelling, VLAN with the subnet gateway and the DNS', async () => {
    const [n1] = await nodesOf(NET_BASE);
    const text = renderNetworkConfig(n1!)!;
    expect(text.split('\n')[0]).toBe('# cloud-init network config version 2 for n1, rendered by kseed from the site file');
    expect(parse(text)).toEqual({
      version: 2,
      ethernets: {
        nic0: { match: { macaddress: '52:54:00:00:00:01' }, 'set-name': 'nic0' },
        nic1: { match: { macaddress: '52:54:00:00:00:02' }, 'set-name': 'nic1' },
      },
      bonds: {
        bond0: { interfaces: ['nic0', 'nic1'], parameters: { mode: '802.3ad', 'lacp-rate': 'fast', 'mii-monitor-interval': 100 }, addresses: ['10.77.0.11/24'] },
      },
      vlans: {
        'bond0.120': {
          id: 120,
          link: 'bond0',
          addresses: ['10.20.0.11/24', '2001:db8:120::11/64'],
          gateway4: '10.20.0.1',
          nameservers: { addresses: ['10.77.0.1'], search: ['rack1.example.com'] },
        },
      },
    });
  });

  it('reads the same under YAML 1.1 (cloud-init\'s PyYAML): MACs stay strings, not base-60 numbers', async () => {
    const [n1] = await nodesOf(NET_BASE);
    const text = renderNetworkConfig(n1!)!;
    expect(parse(text, { version: '1.1' })).toEqual(parse(text));
    expect(text).toContain('macaddress: "52:54:00:00:00:01"');
  });

  it('is deterministic, and absent for a node with no network', async () => {
    const a = await nodesOf(NET_BASE);
    const b = await nodesOf(NET_BASE);
    expect(renderNetworkConfig(a[1]!)).toBe(renderNetworkConfig(b[1]!));
    const y = netEdit(
      '    network:\n      bonds:\n        bond0: { members: ["52:54:00:00:00:03", "52:54:00:00:00:04"], addresses: [10.77.0.12/24] }\n      vlans:\n        bond0.120: { id: 120, link: bond0, addresses: [10.20.0.12/24, "2001:db8:120::12/64"] }\n',
      '',
    );
    expect(renderNetworkConfig((await nodesOf(y))[1]!)).toBeUndefined();
  });

  it('a static NIC with MTU, routes and its own DNS; the PXE NIC keeps DHCP', async () => {
    const y = netEdit(
      '      bonds:\n        bond0: { members: ["52:54:00:00:00:01", "52:54:00:00:00:02"], addresses: [10.77.0.11/24] }\n      vlans:\n        bond0.120: { id: 120, link: bond0, addresses: [10.20.0.11/24, "2001:db8:120::11/64"] }\n',
      [
        '      ethernets:',
        '        data0:',
        '          mac: "52:54:00:00:00:02"',
        '          addresses: [10.30.0.11/24, "2001:db8:30::11/64"]',
        '          gateway6: "2001:db8:30::1"',
        '          mtu: 9000',
        '          routes: [{ to: 10.40.0.0/16, via: 10.30.0.254, metric: 100 }]',
        '          dns: { servers: ["2001:db8:30::53"] }',
        '',
      ].join('\n'),
    );
    const [n1] = await nodesOf(y);
    expect(parse(renderNetworkConfig(n1!)!)).toEqual({
      version: 2,
      ethernets: {
        data0: {
          match: { macaddress: '52:54:00:00:00:02' },
          'set-name': 'data0',
          addresses: ['10.30.0.11/24', '2001:db8:30::11/64'],
          gateway6: '2001:db8:30::1',
          mtu: 9000,
          routes: [{ to: '10.40.0.0/16', via: '10.30.0.254', metric: 100 }],
          nameservers: { addresses: ['2001:db8:30::53'] },
        },
        nic0: { match: { macaddress: '52:54:00:00:00:01' }, 'set-name': 'nic0', dhcp4: true },
      },
    });
  });
});
