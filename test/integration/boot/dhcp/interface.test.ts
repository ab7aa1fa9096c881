/**
 * Only the configured interface is served. The seed namespace has two
 * bridges: br0 (kseed's, 10.93.0.1/24) and br1 (another network,
 * 10.93.1.1/24). An inventory node on br1 must get nothing, and kseed must
 * not even see its packets (SO_BINDTODEVICE filters them in the kernel).
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../../helpers/netns.js';
import { needPeers, needRoot } from '../../../helpers/peers.js';
import { KseedProcess, repoRoot, tmpDir, udhcpc } from '../../../helpers/dhcp-services.js';

const ok = needRoot() && needPeers('udhcpc', 'ip', path.join(repoRoot, 'dist/boot/dhcp/index.js'));
const ON_BR0 = '52:54:00:93:00:01';
const ON_BR1 = '52:54:00:93:00:02';
const PXE = ['-V', 'PXEClient:Arch:00000:UNDI:002001'];

describe.skipIf(!ok)('DHCP answers only on its interface', () => {
  let lab: Lab;
  let kseed: KseedProcess;
  let dir: string;
  const cfg = {
    interface: 'br0',
    seedAddress: '10.93.0.1',
    prefix: 24,
    mode: 'authoritative',
    range: { start: '10.93.0.100', end: '10.93.0.110' },
    discoveryPool: true,
    nodes: [
      { mac: ON_BR0, name: 'a' },
      { mac: ON_BR1, name: 'b' },
    ],
    httpBase: 'http://10.93.0.1:8080',
  };

  beforeAll(async () => {
    dir = tmpDir('if');
    lab = await Lab.create('ksd-if');
    await lab.bridge('br0', '10.93.0.1/24');
    await lab.bridge('br1', '10.93.1.1/24');
    kseed = await KseedProcess.start(lab.server, dir, cfg);
  });

  afterAll(async () => {
    await kseed?.stop();
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a node on br0 gets a lease and a boot file', async () => {
    const c = await lab.client('a', 'br0', ON_BR0);
    const r = await udhcpc(c, dir, PXE);
    expect(r!.env.ip).toBe('10.93.0.100');
    expect(r!.env.boot_file).toBe('undionly.kpxe');
  });

  it('an inventory node on the second bridge gets nothing, and kseed never sees it', async () => {
    const c = await lab.client('b', 'br1', ON_BR1);
    const r = await udhcpc(c, dir, PXE, 15_000);
    expect(r).toBeNull();
    expect(kseed.events.filter((e) => e.mac === ON_BR1)).toEqual([]);
  });

  it('refuses to start on an interface without the seed address', async () => {
    const err = await KseedProcess.startFails(lab.server, dir, { ...cfg, interface: 'br1' });
    expect(err).toContain('interface br1 does not carry the seed address 10.93.0.1 (it has 10.93.1.1/24)');
  });

  it('refuses to start on a missing interface, or when port 67 is taken', async () => {
    expect(await KseedProcess.startFails(lab.server, dir, { ...cfg, interface: 'nosuch0' })).toContain('interface nosuch0 does not exist');
    // the first kseed still holds 67 in this namespace
    expect(await KseedProcess.startFails(lab.server, dir, cfg)).toContain('UDP port 67 is in use');
  });
});
