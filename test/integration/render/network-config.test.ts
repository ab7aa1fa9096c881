/**
 * The node network configuration, end to end short of a VM: the site file
 * through the real loader, kseed's boot HTTP service serving the rendered
 * NoCloud network-config (as the deploy ramdisk fetches it onto CIDATA),
 * then Debian's cloud-init converting that very document (`cloud-init devel
 * net-convert`, cloud-init 22.4 as on the Debian 12 image) and netplan
 * generating the systemd-networkd files the node would run with.
 * Plus the OpenStack network_data.json of Ironic's config drive, read by
 * cloud-init's ConfigDrive converter.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { StateBootBackend } from '../../../src/boot/backend.js';
import { HttpBootServer } from '../../../src/boot/http/server.js';
import { bootBackendOptions } from '../../../src/service/boot-nodes.js';
import { openState, type StateStore } from '../../../src/engine/state.js';
import { renderNetworkConfig } from '../../../src/render/network-config.js';
import { loadSite } from '../../../src/site/load.js';
import type { Site } from '../../../src/site/types.js';
import { needPeers } from '../../helpers/peers.js';
import { NET_BASE, netEdit } from '../../unit/site/cases.js';

const run = promisify(execFile);
const root = mkdtempSync(path.join(tmpdir(), 'kst-cloudinit-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;

/** cloud-init net-convert of a v2 file into `renderer` output under a fresh dir; the MACs given so ENI can name NICs. */
async function netConvert(file: string, renderer: 'netplan' | 'eni', macs: Record<string, string>, kind: 'yaml' | 'network_data.json' = 'yaml'): Promise<string> {
  const out = path.join(root, `out-${seq++}`);
  const m = Object.entries(macs).flatMap(([name, mac]) => ['-m', `${name},${mac}`]);
  await run('cloud-init', ['devel', 'net-convert', '-p', file, '-k', kind, '-d', out, '-D', 'debian', '-O', renderer, ...m], { timeout: 60_000 });
  return out;
}

/** `netplan generate` over a root dir holding cloud-init's netplan file: the networkd files, by name. */
async function netplanGenerate(dir: string): Promise<Record<string, string>> {
  await run('netplan', ['generate', '--root-dir', dir], { timeout: 60_000 });
  const nd = path.join(dir, 'run/systemd/network');
  return Object.fromEntries(readdirSync(nd).map((f) => [f, readFileSync(path.join(nd, f), 'utf8')]));
}

describe.skipIf(!needPeers('cloud-init', 'netplan', 'curl'))('network-config v2 judged by cloud-init and netplan', () => {
  let site: Site;
  let store: StateStore;
  let server: HttpBootServer;
  let base: string;
  let backend: StateBootBackend;

  beforeAll(async () => {
    const dir = path.join(root, 'site');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'kseed.yaml'), NET_BASE);
    site = await loadSite(path.join(dir, 'kseed.yaml'));
    store = openState(path.join(dir, '.kseed'));
    for (const n of site.nodes) store.ensureNode(n.name);
    backend = new StateBootBackend({ store, ...(await bootBackendOptions(site, path.join(dir, '.kseed'), store)).options });
    server = new HttpBootServer({ backend, publicUrl: 'http://127.0.0.1', ramdisk: { kernel: 'vmlinuz', initrd: 'initramfs.gz' }, address: '127.0.0.1', port: 0 });
    base = (await server.listen()).url;
  });
  afterAll(async () => {
    await server?.close();
    store?.close();
  });

  const fetchNc = async (node: string, token?: string) => {
    const args = ['-sS', '-o', '-', '-w', '\n%{http_code}', ...(token ? ['-H', `Authorization: Bearer ${token}`] : []), `${base}/v1/nocloud/${node}/network-config`];
    const { stdout } = await run('curl', args);
    const i = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) };
  };

  it('the boot service serves each node its own network-config, only with that node\'s agent token', async () => {
    const t1 = backend.agentToken('n1');
    const t2 = backend.agentToken('n2');
    const r = await fetchNc('n1', t1);
    expect(r.status).toBe(200);
    expect(r.body).toBe(renderNetworkConfig(site.nodes[0]!));
    expect((await fetchNc('n2', t2)).body).toBe(renderNetworkConfig(site.nodes[1]!));
    expect((await fetchNc('n1')).status).toBe(401);
    expect((await fetchNc('n1', t2)).status).toBe(403);
  });

  it('the user-data served beside it is valid cloud-config to cloud-init\'s schema (22.4 has no schema check for network-config)', async () => {
    const { stdout } = await run('curl', ['-sS', '-H', `Authorization: Bearer ${backend.agentToken('n1')}`, `${base}/v1/nocloud/n1/user-data`]);
    expect(stdout).toMatch(/^#cloud-config\nhostname: n1\n/);
    const f = path.join(root, 'user-data');
    writeFileSync(f, stdout);
    const r = await run('cloud-init', ['schema', '-c', f]);
    expect(r.stdout.trim()).toBe(`Valid cloud-config: ${f}`);
  });

  it('cloud-init passes it to netplan unchanged; netplan makes an 802.3ad bond of the two NICs (by permanent MAC) and VLAN 120 on it', async () => {
    const f = path.join(root, 'n1.yaml');
    writeFileSync(f, (await fetchNc('n1', backend.agentToken('n1'))).body);
    const out = await netConvert(f, 'netplan', { nic0: '52:54:00:00:00:01', nic1: '52:54:00:00:00:02' });
    const written = parse(readFileSync(path.join(out, 'etc/netplan/50-cloud-init.yaml'), 'utf8')) as { network: unknown };
    // YAML 1.1 on cloud-init's side: an unquoted MAC would have come back as a number
    expect(written.network).toEqual(parse(readFileSync(f, 'utf8')));
    const nd = await netplanGenerate(out);
    expect(Object.keys(nd).sort()).toEqual([
      '10-netplan-bond0.120.netdev', '10-netplan-bond0.120.network', '10-netplan-bond0.netdev', '10-netplan-bond0.network',
      '10-netplan-nic0.link', '10-netplan-nic0.network', '10-netplan-nic1.link', '10-netplan-nic1.network',
    ]);
    expect(nd['10-netplan-nic0.link']).toMatch(/\[Match\]\nPermanentMACAddress=52:54:00:00:00:01\n\n\[Link\]\nName=nic0\n/);
    expect(nd['10-netplan-nic1.link']).toMatch(/PermanentMACAddress=52:54:00:00:00:02\n\n\[Link\]\nName=nic1\n/);
    for (const nic of ['nic0', 'nic1']) expect(nd[`10-netplan-${nic}.network`]).toContain('Bond=bond0');
    expect(nd['10-netplan-bond0.netdev']).toContain('Kind=bond');
    expect(nd['10-netplan-bond0.netdev']).toMatch(/\[Bond\]\nMode=802\.3ad\nLACPTransmitRate=fast\nMIIMonitorSec=100ms\n/);
    expect(nd['10-netplan-bond0.network']).toContain('Address=10.77.0.11/24');
    expect(nd['10-netplan-bond0.network']).toContain('VLAN=bond0.120');
    expect(nd['10-netplan-bond0.120.netdev']).toMatch(/Kind=vlan\n\n\[VLAN\]\nId=120\n/);
    const vlan = nd['10-netplan-bond0.120.network']!;
    for (const l of ['Address=10.20.0.11/24', 'Address=2001:db8:120::11/64', 'Gateway=10.20.0.1', 'DNS=10.77.0.1', 'Domains=rack1.example.com']) expect(vlan).toContain(l);
  });

  it('cloud-init\'s own v2 parser understands every key: its ENI rendering has the bond, the VLAN, the addresses, the renames', async () => {
    const f = path.join(root, 'n2.yaml');
    writeFileSync(f, renderNetworkConfig(site.nodes[1]!)!);
    const out = await netConvert(f, 'eni', { nic0: '52:54:00:00:00:03', nic1: '52:54:00:00:00:04' });
    const eni = readFileSync(path.join(out, 'etc/network/interfaces.d/50-cloud-init'), 'utf8');
    expect(eni).toMatch(/auto nic0\niface nic0 inet manual\n {4}bond-lacp-rate fast\n {4}bond-master bond0\n {4}bond-miimon 100\n {4}bond-mode 802\.3ad\n/);
    expect(eni).toMatch(/auto bond0\niface bond0 inet static\n {4}address 10\.77\.0\.12\/24\n/);
    expect(eni).toMatch(/iface bond0\.120 inet static\n {4}address 10\.20\.0\.12\/24\n[^]*gateway 10\.20\.0\.1\n[^]*vlan-raw-device bond0\n {4}vlan_id 120\n/);
    expect(eni).toMatch(/iface bond0\.120 inet6 static\n {4}address 2001:db8:120::12\/64\n/);
    const udev = readFileSync(path.join(out, 'etc/udev/rules.d/70-persistent-net.rules'), 'utf8');
    expect(udev).toContain('ATTR{address}=="52:54:00:00:00:03", NAME="nic0"');
    expect(udev).toContain('ATTR{address}=="52:54:00:00:00:04", NAME="nic1"');
  });

  it('the lab\'s shape (active-backup, a primary NIC, a VLAN with IPv6) and a NIC with MTU, routes and DHCP come through netplan too', async () => {
    let y = netEdit('bond: { mode: 802.3ad, lacp_rate: fast, mii_monitor_interval: 100 }', 'bond: { mode: active-backup, mii_monitor_interval: 100 }');
    y = netEdit(
      'bond0: { members: ["52:54:00:00:00:01", "52:54:00:00:00:02"], addresses: [10.77.0.11/24] }',
      'bond0: { members: ["52:54:00:00:00:01", "52:54:00:00:00:02"], primary: "52:54:00:00:00:01", addresses: [10.77.0.11/24] }',
      y,
    );
    y = netEdit(
      '      bonds:\n        bond0: { members: ["52:54:00:00:00:03", "52:54:00:00:00:04"], addresses: [10.77.0.12/24] }\n      vlans:\n        bond0.120: { id: 120, link: bond0, addresses: [10.20.0.12/24, "2001:db8:120::12/64"] }\n',
      '      ethernets:\n        data0: { mac: "52:54:00:00:00:04", addresses: [10.30.0.12/24], mtu: 9000, routes: [{ to: 10.40.0.0/16, via: 10.30.0.254, metric: 50 }] }\n',
      y,
    );
    const dir = path.join(root, 'site2');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'kseed.yaml'), y);
    const s2 = await loadSite(path.join(dir, 'kseed.yaml'));
    const f1 = path.join(root, 'lab-n1.yaml');
    writeFileSync(f1, renderNetworkConfig(s2.nodes[0]!)!);
    const nd1 = await netplanGenerate(await netConvert(f1, 'netplan', {}));
    expect(nd1['10-netplan-bond0.netdev']).toMatch(/\[Bond\]\nMode=active-backup\nMIIMonitorSec=100ms\n/);
    expect(nd1['10-netplan-nic0.network']).toMatch(/Bond=bond0\nPrimarySlave=true\n/);
    expect(nd1['10-netplan-nic1.network']).not.toContain('PrimarySlave');
    expect(nd1['10-netplan-bond0.120.network']).toContain('Address=2001:db8:120::11/64');
    const f2 = path.join(root, 'lab-n2.yaml');
    writeFileSync(f2, renderNetworkConfig(s2.nodes[1]!)!);
    const nd2 = await netplanGenerate(await netConvert(f2, 'netplan', {}));
    expect(nd2['10-netplan-data0.link']).toMatch(/PermanentMACAddress=52:54:00:00:00:04\n\n\[Link\]\nName=data0\n[^]*MTUBytes=9000/);
    expect(nd2['10-netplan-data0.network']).toMatch(/Address=10\.30\.0\.12\/24/);
    expect(nd2['10-netplan-data0.network']).toMatch(/\[Route\]\nDestination=10\.40\.0\.0\/16\nGateway=10\.30\.0\.254\nMetric=50\n/);
    // the PXE NIC, left out of the network, keeps DHCP so the node still reaches the seed
    expect(nd2['10-netplan-nic0.network']).toMatch(/PermanentMACAddress=52:54:00:00:00:03\nName=nic0\n\n\[Network\]\nDHCP=ipv4\n/);
  });
});
