/** The site file `kseed lab up --bmc redfish` writes: Redfish BMCs kseed's loader accepts as they are, and the shapes its client reads. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { LabManifest } from '../../../src/lab/manifest.js';
import { DEFAULT_NETWORK, nodeMac } from '../../../src/lab/names.js';
import { computerSystem, nodeUuid, type NodeView, virtualMedia } from '../../../src/lab/redfish/resources.js';
import { renderLabSite } from '../../../src/lab/site.js';
import { checkSite } from '../../../src/site/load.js';
import { bootOptionsOf, powerStateOf } from '../../../src/bmc/redfish/model.js';

const root = mkdtempSync(path.join(tmpdir(), 'kseed-labrf-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const m: LabManifest = {
  version: 1, name: 'r', netns: 'ksl-r', bridge: 'ksl-br0', network: DEFAULT_NETWORK, dir: '/s/lab/r', stateDir: '/s',
  passwordFile: '/s/secrets/lab-r.bmc-password', bmcPortBase: 18100, bmcKind: 'redfish', createdAt: 'x', updatedAt: 'x',
  nodes: [0, 1].map((i) => ({
    name: `node0${i + 1}`, index: i, dir: `/s/lab/r/nodes/node0${i + 1}`, firmware: i ? ('uefi' as const) : ('bios' as const),
    mac: nodeMac('r', i), tap: `ksl-t${i}`, memoryMb: 512,
    bmc: { address: '127.0.0.1' as const, port: 18100 + i, username: 'admin', mac: `02:00:00:77:aa:0${i + 1}` },
    disk: { path: `/s/n${i}/disk.qcow2`, sizeGb: 10, serial: `KSL-R-0${i + 1}` }, dataDisks: [], listed: true, serialLog: `/s/n${i}/serial.log`,
  })),
};

describe('lab site file with Redfish BMCs', () => {
  it('names Redfish over HTTPS, the lab certificate (self-signed) and the qemu-lab-redfish profile; the loader accepts it without a warning', async () => {
    const text = renderLabSite({ ...m, image: { url: 'http://10.77.0.1:8080/artifacts/os.qcow2', checksum: `sha256:${'a'.repeat(64)}`, format: 'qcow2' } });
    const y = parse(text) as Record<string, any>;
    expect(y.defaults.bmc).toEqual({ type: 'redfish', username: 'admin', password: { file: '/s/secrets/lab-r.bmc-password' }, scheme: 'https', insecure_tls: true });
    expect(y.defaults.profile).toBe('qemu-lab-redfish');
    expect(y.nodes.map((n: any) => n.bmc)).toEqual([{ address: '127.0.0.1', port: 18100 }, { address: '127.0.0.1', port: 18101 }]);
    const f = path.join(root, 'kseed.yaml');
    writeFileSync(f, text);
    const r = await checkSite(f);
    expect(r.problems).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(r.site!.nodes[1]!.bmc).toMatchObject({ type: 'redfish', port: 18101, scheme: 'https', insecure_tls: true });
  });

  it('ComputerSystem and VirtualMedia read back through kseed\'s own Redfish model', () => {
    const v: NodeView = {
      lab: 'r', node: 'node02', power: 'On', boot: { target: 'Cd', enabled: 'Once' }, mode: 'UEFI',
      media: { image: 'http://10.77.0.1:8080/v/boot.iso', inserted: true, writeProtected: true, transferProtocol: 'HTTP' },
      macs: [nodeMac('r', 1)], bmcMac: '02:00:00:77:aa:02', bmcPort: 18101, firmwareVersion: 't',
    };
    const sys = computerSystem(v);
    expect(powerStateOf(sys)).toBe('on');
    expect(bootOptionsOf(sys.Boot)).toEqual({ device: 'cdrom', uefi: true, persistent: false });
    expect(sys.UUID).toBe(nodeUuid('r', 'node02'));
    expect(sys.UUID).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-3[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(virtualMedia(v)).toMatchObject({ ImageName: 'boot.iso', Inserted: true, ConnectedVia: 'URI', WriteProtected: true });
    expect(virtualMedia({ ...v, media: { inserted: false, writeProtected: true } })).toMatchObject({ Image: null, ConnectedVia: 'NotConnected', Inserted: false });
  });
});
