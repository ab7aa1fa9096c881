import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError, KseedError } from '../../../src/errors.js';
import {
  bmcMac,
  bmcPort,
  checkLabName,
  DEFAULT_NETWORK,
  diskSerial,
  FLEET_NETWORK,
  IFNAME_MAX,
  labByte,
  labNetworkFor,
  MAX_MAC_NODES,
  netnsName,
  nodeMac,
  nodeName,
  parseSeedAddress,
  poolSize,
  tapName,
} from '../../../src/lab/names.js';
import { MAX_SIM_NODES } from '../../../src/lab/sim/lab.js';
import { type LabManifest, parseManifest, readManifest, writeManifest } from '../../../src/lab/manifest.js';
import { labResources } from '../../../src/lab/resources.js';

describe('name allocation', () => {
  it('accepts short lab names and keeps the netns name within 15 characters', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,10}$/), (n) => {
        expect(netnsName(n).length).toBeLessThanOrEqual(IFNAME_MAX);
        expect(netnsName(n)).toBe(`ksl-${n}`);
      }),
    );
  });
  it('rejects names that are too long, empty, or not lower-case alphanumerics', () => {
    for (const bad of ['', 'abcdefghijkl', 'Lab', 'a_b', '-a', 'a b', 'a/b']) {
      expect(() => checkLabName(bad)).toThrow(InputError);
    }
  });
  it('gives taps short unique names', () => {
    const taps = Array.from({ length: 64 }, (_, i) => tapName(i));
    expect(new Set(taps).size).toBe(64);
    for (const t of taps) expect(t.length).toBeLessThanOrEqual(IFNAME_MAX);
    expect(tapName(0)).toBe('ksl-t0');
  });
  it('numbers nodes from node01', () => {
    expect(nodeName(0)).toBe('node01');
    expect(nodeName(11)).toBe('node12');
  });
  it('derives MACs 52:54:00:77:<lab>:<node>, unique per node, lower-case', () => {
    const b = labByte('lab').toString(16).padStart(2, '0');
    expect(nodeMac('lab', 0)).toBe(`52:54:00:77:${b}:01`);
    const macs = Array.from({ length: 100 }, (_, i) => nodeMac('x', i));
    expect(new Set(macs).size).toBe(100);
    for (const m of macs) expect(m).toMatch(/^52:54:00:77:[0-9a-f]{2}:[0-9a-f]{2}$/);
    expect(bmcMac('lab', 0)).toBe(`02:00:00:77:${b}:01`);
    expect(labByte('lab')).toBe(labByte('lab'));
  });
  it('numbers a fleet of 510 nodes: the first 255 as every lab before, then 0x78 in the fourth byte', () => {
    const b = labByte('lab').toString(16).padStart(2, '0');
    expect(nodeMac('lab', 254)).toBe(`52:54:00:77:${b}:ff`);
    expect(nodeMac('lab', 255)).toBe(`52:54:00:78:${b}:01`);
    expect(nodeMac('lab', MAX_MAC_NODES - 1)).toBe(`52:54:00:78:${b}:ff`);
    expect(bmcMac('lab', 499)).toBe(`02:00:00:78:${b}:f5`);
    const macs = Array.from({ length: MAX_MAC_NODES }, (_, i) => nodeMac('x', i));
    expect(new Set(macs).size).toBe(MAX_MAC_NODES);
    // no node's MAC is another node's second NIC (those differ in the third byte)
    expect(macs.filter((m) => !m.startsWith('52:54:00:'))).toEqual([]);
    for (const bad of [-1, MAX_MAC_NODES, 1.5]) expect(() => nodeMac('x', bad), String(bad)).toThrow(/out of range/);
    expect(MAX_SIM_NODES).toBeLessThanOrEqual(MAX_MAC_NODES);
  });
  it('allocates BMC ports from the base and refuses out-of-range ports', () => {
    expect(bmcPort(17000, 3)).toBe(17003);
    expect(() => bmcPort(65535, 1)).toThrow();
  });
  it('makes virtio-blk disk serials of at most 20 characters', () => {
    expect(diskSerial('lab', 0)).toBe('KSL-LAB-01');
    expect(diskSerial('abcdefghijk', 63).length).toBeLessThanOrEqual(20);
    expect(diskSerial('abcdefghijk', 63, 9)).toBe('KSL-ABCDEFGHIJK-64D9');
    expect(diskSerial('lab', 0, 1)).toBe('KSL-LAB-01D1');
    const all = [0, 1, 2].flatMap((d) => Array.from({ length: 20 }, (_, i) => diskSerial('x', i, d)));
    expect(new Set(all).size).toBe(all.length);
  });
});

describe('seed address', () => {
  it('puts the DHCP pool at .100-.199 of a /24', () => {
    expect(parseSeedAddress('10.77.0.1/24')).toMatchObject({ ipv4: '10.77.0.1', prefix: 24, dhcpRange: { start: '10.77.0.100', end: '10.77.0.199' } });
  });
  it('keeps the seed address out of the pool', () => {
    expect(parseSeedAddress('10.9.0.150/24').dhcpRange).toEqual({ start: '10.9.0.100', end: '10.9.0.149' });
    expect(parseSeedAddress('10.9.0.100/24').dhcpRange).toEqual({ start: '10.9.0.101', end: '10.9.0.199' });
  });
  it('runs the pool of a subnet larger than a /24 from .100 to its last host', () => {
    expect(parseSeedAddress('10.77.0.1/22').dhcpRange).toEqual({ start: '10.77.0.100', end: '10.77.3.254' });
    expect(poolSize(parseSeedAddress('10.77.0.1/22'))).toBe(923);
    expect(FLEET_NETWORK).toMatchObject({ ipv4: '10.77.0.1', prefix: 22 });
  });
  it('gives a lab the default /24 up to its 100 addresses and a /22 beyond; a given or existing network too small is refused, naming --address', () => {
    expect(labNetworkFor(100, undefined, undefined)).toEqual(DEFAULT_NETWORK);
    expect(labNetworkFor(101, undefined, undefined)).toEqual(FLEET_NETWORK);
    expect(labNetworkFor(500, undefined, undefined)).toEqual(FLEET_NETWORK);
    expect(() => labNetworkFor(412, '10.9.0.1/23', undefined)).toThrow(/pools 411/);
    expect(labNetworkFor(411, '10.9.0.1/23', undefined).dhcpRange).toEqual({ start: '10.9.0.100', end: '10.9.1.254' });
    for (const [addr, prev] of [['10.77.0.1/24', undefined], [undefined, DEFAULT_NETWORK]] as const) {
      try {
        labNetworkFor(101, addr, prev);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(InputError);
        expect((e as Error).message).toBe('101 nodes need as many DHCP addresses; the lab network 10.77.0.1/24 pools 100 (10.77.0.100-10.77.0.199)');
        expect((e as InputError).problems[0]).toMatchObject({ path: 'address' });
      }
    }
  });
  it('uses the upper half of a small subnet', () => {
    expect(parseSeedAddress('192.168.5.1/28').dhcpRange).toEqual({ start: '192.168.5.8', end: '192.168.5.14' });
  });
  it('rejects malformed addresses, network and broadcast addresses', () => {
    for (const bad of ['10.77.0.1', '10.77.0.256/24', '10.77.0.0/24', '10.77.0.255/24', '10.77.0.1/31', 'x/24']) {
      expect(() => parseSeedAddress(bad), bad).toThrow(InputError);
    }
  });
});

describe('manifest', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ksl-unit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const m: LabManifest = {
    version: 1,
    name: 'rt',
    netns: 'ksl-rt',
    bridge: 'ksl-br0',
    network: { ipv4: '10.77.0.1', prefix: 24, ipv6: 'fd77::1', prefix6: 64, dhcpRange: { start: '10.77.0.100', end: '10.77.0.199' } },
    dir: path.join(dir, 'lab', 'rt'),
    stateDir: dir,
    passwordFile: path.join(dir, 'secrets', 'lab-rt.bmc-password'),
    bmcPortBase: 17000,
    siteFile: path.join(dir, 'kseed.yaml'),
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    nodes: [
      {
        name: 'node01',
        index: 0,
        dir: path.join(dir, 'lab', 'rt', 'nodes', 'node01'),
        firmware: 'uefi',
        mac: '52:54:00:77:01:01',
        tap: 'ksl-t0',
        memoryMb: 1024,
        bmc: { address: '127.0.0.1', port: 17000, username: 'admin', mac: '02:00:00:77:01:01' },
        disk: { path: '/d.qcow2', sizeGb: 10, serial: 'KSL-RT-01' },
        dataDisks: [{ path: '/d1.qcow2', sizeGb: 5, serial: 'KSL-RT-01D1' }],
        listed: true,
        serialLog: '/s.log',
      },
    ],
  };
  it('round-trips through the file', () => {
    writeManifest(m);
    expect(readManifest(dir, 'rt')).toEqual(m);
    // atomic write leaves no temporary file behind
    expect(readFileSync(path.join(m.dir, 'manifest.json'), 'utf8')).toContain('"name": "rt"');
  });
  it('reads a missing lab as undefined and refuses garbage or another format', () => {
    expect(readManifest(dir, 'nope')).toBeUndefined();
    expect(() => parseManifest('{')).toThrow(KseedError);
    expect(() => parseManifest(JSON.stringify({ ...m, version: 99 }))).toThrow(/unknown format/);
  });
  it('lists every resource lab down has to remove', () => {
    const r = labResources(m);
    expect(r.map((x) => `${x.kind}:${x.name}`)).toEqual([
      'netns:ksl-rt',
      'bridge:ksl-br0',
      `dir:${m.dir}`,
      `secret:${m.passwordFile}`,
      `site-file:${m.siteFile}`,
      'tap:ksl-t0',
      'bmc:127.0.0.1:17000',
      'vm:node01',
      'disk:/d.qcow2',
      'disk:/d1.qcow2',
    ]);
  });
});
