/**
 * The lab's extra NICs and static network (`lab up --nics 2 --static-network`):
 * MACs, taps, vm.sh, and a site file that the real loader accepts and
 * renders a bond + VLAN network-config from.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { LabManifest } from '../../../src/lab/manifest.js';
import { DEFAULT_NETWORK, nicMac, nicTapName, nodeMac, parseSeedAddress } from '../../../src/lab/names.js';
import { renderLabSite } from '../../../src/lab/site.js';
import { labNodeAddresses, labVlanIface, seedVlanAddresses } from '../../../src/lab/static-net.js';
import { directBootArgv, renderVmScript } from '../../../src/lab/vm.js';
import { renderNetworkConfig } from '../../../src/render/network-config.js';
import { checkSite } from '../../../src/site/load.js';

const root = mkdtempSync(path.join(tmpdir(), 'kseed-labnet-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('lab NICs', () => {
  it('the PXE NIC keeps its MAC and tap; the others differ in the third byte and the tap suffix', () => {
    expect(nicMac('t', 0, 0)).toBe(nodeMac('t', 0));
    expect(nicMac('t', 2, 1)).toBe(`52:54:01:${nodeMac('t', 2).slice(9)}`);
    expect(nicMac('t', 2, 3)).toBe(`52:54:03:${nodeMac('t', 2).slice(9)}`);
    expect(() => nicMac('t', 0, 4)).toThrow(/out of range/);
    expect(nicTapName(5, 0)).toBe('ksl-t5');
    expect(nicTapName(63, 3)).toBe('ksl-t63n3');
  });

  it('vm.sh and the direct boot give the extra NICs no bootindex and no option ROM', () => {
    const v = {
      name: 'node01', nodeDir: '/s/n1', netns: 'ksl-t', tap: 'ksl-t0', mac: '52:54:00:77:aa:01', firmware: 'bios' as const, memoryMb: 1024,
      diskSerial: 'KSL-T-01', ipPath: '/usr/sbin/ip', qemuPath: '/usr/bin/qemu-system-x86_64', extraNics: [{ mac: '52:54:01:77:aa:01', tap: 'ksl-t0n1' }],
    };
    const sh = renderVmScript(v);
    expect(sh).toContain(`-netdev 'tap,id=n1,ifname=ksl-t0n1,script=no,downscript=no'`);
    expect(sh).toContain('-device "virtio-net-pci,netdev=n1,mac=52:54:01:77:aa:01,romfile="');
    // the first NIC, the boot disk and the CD: none for the extra NIC
    expect(sh.match(/bootindex=\$[A-Z]+/g)).toEqual(['bootindex=$NET', 'bootindex=$DISK', 'bootindex=$CD']);
    const argv = directBootArgv({ ...v, kernel: 'k', initrd: 'i', append: 'a' });
    expect(argv).toContain('virtio-net-pci,netdev=n1,mac=52:54:01:77:aa:01,romfile=');
    expect(argv).toContain('tap,id=n1,ifname=ksl-t0n1,script=no,downscript=no');
  });
});

describe('lab static network', () => {
  it('fixed addresses below the DHCP range; the seed on the VLAN as .1', () => {
    expect(labNodeAddresses(DEFAULT_NETWORK, 0)).toEqual({ bond: '10.77.0.11/24', vlan4: '192.168.100.11/24', vlan6: 'fd77:100::b/64' });
    expect(labNodeAddresses(DEFAULT_NETWORK, 2).bond).toBe('10.77.0.13/24');
    expect(seedVlanAddresses()).toEqual({ v4: '192.168.100.1/24', v6: 'fd77:100::1/64' });
    expect(labVlanIface('ksl-br0')).toBe('ksl-br0.100');
    // a /28 has its DHCP range from .8: no room below it
    expect(() => labNodeAddresses(parseSeedAddress('10.9.0.1/28'), 0)).toThrow(/no room for static node addresses/);
  });

  const nodes = [0, 1, 2].map((i) => ({
    name: `node0${i + 1}`, index: i, dir: `/s/n${i}`, firmware: (i === 2 ? 'uefi' : 'bios') as 'bios' | 'uefi',
    mac: nicMac('t', i, 0), tap: nicTapName(i, 0), extraNics: [{ mac: nicMac('t', i, 1), tap: nicTapName(i, 1) }],
    addresses: labNodeAddresses(DEFAULT_NETWORK, i), memoryMb: 1024,
    bmc: { address: '127.0.0.1' as const, port: 17000 + i, username: 'admin', mac: `02:00:00:77:aa:0${i + 1}` },
    disk: { path: `/s/n${i}/disk.qcow2`, sizeGb: 10, serial: `KSL-T-0${i + 1}` },
    dataDisks: [{ path: `/s/n${i}/data1.qcow2`, sizeGb: 5, serial: `KSL-T-0${i + 1}D1` }], listed: true, serialLog: `/s/n${i}/serial.log`,
  }));
  const m: LabManifest = {
    version: 1, name: 't', netns: 'ksl-t', bridge: 'ksl-br0', network: DEFAULT_NETWORK, dir: '/s/lab/t', stateDir: '/s',
    passwordFile: '/s/secrets/lab-t.bmc-password', bmcPortBase: 17000, createdAt: 'x', updatedAt: 'x', staticNetwork: true, nodes,
  };

  it('the site file lists both MACs and gives a bond + VLAN the loader accepts without a warning', async () => {
    const text = renderLabSite({ ...m, image: { url: 'http://10.77.0.1:8080/artifacts/os.qcow2', checksum: `sha256:${'a'.repeat(64)}`, format: 'qcow2' } });
    const y = parse(text) as Record<string, any>;
    expect(y.nodes[0].macs).toEqual([nicMac('t', 0, 0), nicMac('t', 0, 1)]);
    expect(y.defaults.network).toEqual({
      bond: { mode: 'active-backup', mii_monitor_interval: 100 },
      subnets: [
        { name: 'lab-vlan', cidr: '192.168.100.0/24', vlan: 100 },
        { name: 'lab-vlan6', cidr: 'fd77:100::/64', vlan: 100 },
      ],
    });
    const f = path.join(root, 'kseed.yaml');
    writeFileSync(f, text);
    const r = await checkSite(f, { profiles: ['qemu-lab'] });
    expect(r.problems).toEqual([]);
    expect(r.warnings).toEqual([]);
    const nc = parse(renderNetworkConfig(r.site!.nodes[2]!)!);
    expect(nc).toEqual({
      version: 2,
      ethernets: {
        nic0: { match: { macaddress: nicMac('t', 2, 0) }, 'set-name': 'nic0' },
        nic1: { match: { macaddress: nicMac('t', 2, 1) }, 'set-name': 'nic1' },
      },
      bonds: { bond0: { interfaces: ['nic0', 'nic1'], parameters: { mode: 'active-backup', 'mii-monitor-interval': 100, primary: 'nic0' }, addresses: ['10.77.0.13/24'] } },
      vlans: { 'bond0.100': { id: 100, link: 'bond0', addresses: ['192.168.100.13/24', 'fd77:100::d/64'] } },
    });
  });

  it('without --static-network: both MACs listed, no network key', () => {
    const y = parse(renderLabSite({ ...m, staticNetwork: false })) as Record<string, any>;
    expect(y.nodes[1].macs).toHaveLength(2);
    expect(y.nodes[1].network).toBeUndefined();
    expect(y.defaults.network).toBeUndefined();
  });
});
