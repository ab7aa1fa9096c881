/**
 * `kseed lab up --nics 2 --static-network` against the real peers: two taps
 * per node on the lab bridge, QEMU with two NICs of which only the first
 * network-boots, the seed's VLAN interface where the kernel has 802.1Q, and
 * a site file whose bond + VLAN the loader accepts and renders.
 * Lab "nt", BMC port 17750.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { destroyLab, readManifest, vmPid, waitForSerial, type LabManifest } from '../../../src/lab/index.js';
import { liveCmdline } from '../../../src/lab/proc.js';
import { renderNetworkConfig } from '../../../src/render/network-config.js';
import { checkSite } from '../../../src/site/load.js';
import { needPeers, needRoot } from '../../helpers/peers.js';
import { ipmitool, kseed, netnsList, sleep, until } from './helpers.js';

const LAB = 'nt';
const NS = `ksl-${LAB}`;
const PORT = 17750;
const ok = needRoot() && needPeers('ip', 'ipmi_sim', 'ipmitool', 'qemu-system-x86_64', 'qemu-img');

const links = (): any[] => JSON.parse(execFileSync('ip', ['-n', NS, '-j', '-d', 'addr', 'show'], { encoding: 'utf8' }));

describe.skipIf(!ok)('kseed lab with two NICs and a static network (root, ipmi_sim, QEMU)', () => {
  let root = '';
  let site = '';
  let stateDir = '';
  let m: LabManifest;
  let pw = '';
  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'ksl-nt-'));
    site = path.join(root, 'kseed.yaml');
    stateDir = path.join(root, '.kseed');
  });
  afterAll(async () => {
    try {
      await destroyLab({ stateDir, name: LAB });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('lab up: two taps per node on the bridge, a data disk, fixed addresses, and the seed on the VLAN where the kernel can', async () => {
    const r = await kseed(['-c', site, 'lab', 'up', '--name', LAB, '--nodes', '2', '--nics', '2', '--disk-gb', '1', '--data-disks', '1', '--data-disk-gb', '1', '--static-network', '--bmc-port-base', String(PORT), '--no-image', '--json']);
    expect(r.code, r.stdout).toBe(0);
    m = readManifest(stateDir, LAB)!;
    pw = readFileSync(m.passwordFile, 'utf8').trim();
    expect(r.json.nodes.map((n: any) => [n.name, n.macs, n.addresses, n.data_disks.length])).toEqual([
      ['node01', [m.nodes[0]!.mac, m.nodes[0]!.extraNics![0]!.mac], { bond: '10.77.0.11/24', vlan4: '192.168.100.11/24', vlan6: 'fd77:100::b/64' }, 1],
      ['node02', [m.nodes[1]!.mac, m.nodes[1]!.extraNics![0]!.mac], { bond: '10.77.0.12/24', vlan4: '192.168.100.12/24', vlan6: 'fd77:100::c/64' }, 1],
    ]);
    expect(new Set(r.json.nodes.flatMap((n: any) => n.macs)).size).toBe(4);
    const l = links();
    for (const tap of ['ksl-t0', 'ksl-t0n1', 'ksl-t1', 'ksl-t1n1']) expect(l.find((x) => x.ifname === tap)?.master).toBe('ksl-br0');
    // 802.1Q is a kernel feature: the seed's VLAN interface exists exactly when the kernel can make one
    const probe = spawnSync('ip', ['-n', NS, 'link', 'add', 'link', 'ksl-br0', 'name', 'ksl-probe', 'type', 'vlan', 'id', '999'], { encoding: 'utf8' });
    if (probe.status === 0) {
      execFileSync('ip', ['-n', NS, 'link', 'del', 'ksl-probe']);
      expect(r.json.seed_vlan).toBe('ksl-br0.100');
      const v = l.find((x) => x.ifname === 'ksl-br0.100');
      expect(v.linkinfo.info_data.id).toBe(100);
      expect(v.addr_info.map((a: any) => `${a.local}/${a.prefixlen}`)).toEqual(expect.arrayContaining(['192.168.100.1/24', 'fd77:100::1/64']));
    } else {
      expect(probe.stderr).toMatch(/Unknown device type/);
      expect(r.json.seed_vlan).toBeNull();
      expect(l.find((x) => x.ifname === 'ksl-br0.100')).toBeUndefined();
    }
  });

  it('the lab site file is valid and gives each node a bond of both NICs and VLAN 100', async () => {
    const c = await checkSite(site);
    expect(c.problems).toEqual([]);
    expect(c.warnings.map((w) => w.message)).toEqual(['node "node01" has no image (here or in defaults): it can be enrolled but not deployed', 'node "node02" has no image (here or in defaults): it can be enrolled but not deployed']);
    const nc = parse(renderNetworkConfig(c.site!.nodes[1]!)!);
    expect(nc.ethernets).toEqual({
      nic0: { match: { macaddress: m.nodes[1]!.mac }, 'set-name': 'nic0' },
      nic1: { match: { macaddress: m.nodes[1]!.extraNics![0]!.mac }, 'set-name': 'nic1' },
    });
    expect(nc.bonds.bond0).toEqual({ interfaces: ['nic0', 'nic1'], parameters: { mode: 'active-backup', 'mii-monitor-interval': 100, primary: 'nic0' }, addresses: ['10.77.0.12/24'] });
    expect(nc.vlans['bond0.100']).toEqual({ id: 100, link: 'bond0', addresses: ['192.168.100.12/24', 'fd77:100::c/64'] });
  });

  it('powered on, QEMU opens both taps and only the first NIC runs a boot ROM', async () => {
    const n = m.nodes[0]!;
    expect(ipmitool(PORT, pw, 'chassis', 'power', 'on')).toContain('Up/On');
    const pid = await until('QEMU exec', () => (liveCmdline(vmPid(n)!)?.includes('qemu-system') ? vmPid(n) : undefined));
    const cmd = liveCmdline(pid)!;
    expect(cmd).toContain(`virtio-net-pci,netdev=n0,mac=${n.mac},bootindex=1`);
    expect(cmd).toContain(`virtio-net-pci,netdev=n1,mac=${n.extraNics![0]!.mac},romfile=`);
    await waitForSerial(n, /iPXE/, { timeoutMs: 60_000 });
    // both taps have carrier once QEMU holds them open
    await until('carrier on both taps', () => {
      const l = links();
      return ['ksl-t0', 'ksl-t0n1'].every((t) => l.find((x) => x.ifname === t)?.flags.includes('LOWER_UP'));
    });
    await sleep(2000);
    const serial = readFileSync(n.serialLog, 'latin1');
    // SeaBIOS lists each option ROM it runs: one iPXE, the first NIC's
    expect(serial.match(/iPXE \(http/g)).toHaveLength(1);
    expect(ipmitool(PORT, pw, 'chassis', 'power', 'off')).toContain('Down/Off');
  }, 120_000);

  it('lab up --nics 1 --no-static-network converges back: second taps and VLAN gone, one MAC per node', async () => {
    const r = await kseed(['-c', site, 'lab', 'up', '--name', LAB, '--nics', '1', '--no-static-network', '--no-image', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.nodes.map((n: any) => n.macs.length)).toEqual([1, 1]);
    expect(r.json.seed_vlan).toBeUndefined();
    const names = links().map((x) => x.ifname);
    for (const gone of ['ksl-t0n1', 'ksl-t1n1', 'ksl-br0.100']) expect(names).not.toContain(gone);
    expect(names).toEqual(expect.arrayContaining(['ksl-t0', 'ksl-t1']));
    const y = parse(readFileSync(site, 'utf8'));
    expect(y.nodes.map((n: any) => [n.macs.length, n.network])).toEqual([[1, undefined], [1, undefined]]);
    expect(vmPid(m.nodes[0]!)).toBeUndefined();
  });

  it('lab down removes it all', async () => {
    const r = await kseed(['-c', site, 'lab', 'down', '--name', LAB, '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(netnsList()).not.toContain(NS);
    expect(existsSync(m.dir)).toBe(false);
  });
});
