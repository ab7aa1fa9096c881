/**
 * The seed answers IPv6 Router Solicitations on its interface with an RA of
 * router lifetime 0, so iPXE stops waiting for IPv6 (lab.md 3.5). The RS is
 * the Linux kernel's own, sent when the client's link comes up.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../../helpers/netns.js';
import { needPeers, needRoot } from '../../../helpers/peers.js';
import { KseedProcess, repoRoot, tmpDir, waitFor } from '../../../helpers/dhcp-services.js';

const ok = needRoot() && needPeers('tcpdump', path.join(repoRoot, 'dist/boot/ra.js'));

describe.skipIf(!ok)('router advertisements for iPXE', () => {
  let lab: Lab;
  let kseed: KseedProcess;
  let dir: string;

  beforeAll(async () => {
    dir = tmpDir('ra');
    lab = await Lab.create('ksd-ra');
    await lab.bridge('br0', '10.96.0.1/24');
    kseed = await KseedProcess.start(lab.server, dir, {
      interface: 'br0', seedAddress: '10.96.0.1', prefix: 24, mode: 'authoritative',
      range: { start: '10.96.0.100', end: '10.96.0.110' }, nodes: [], httpBase: 'http://10.96.0.1:8080',
    });
  });

  afterAll(async () => {
    await kseed?.stop();
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers a Router Solicitation with a lifetime-0 RA; the client gets no default route', async () => {
    const c = await lab.client('c1', 'br0', '52:54:00:96:00:01');
    await c.ns.ip('link', 'set', 'eth0', 'down');
    const td = lab.server.spawn('tcpdump', ['-i', 'br0', '-n', '-l', '-vv', 'icmp6']);
    let out = '';
    td.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    td.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('listening on'));
    await c.ns.ip('link', 'set', 'eth0', 'up');
    await waitFor(() => out.includes('router advertisement') && out.includes('router lifetime'), 15_000);
    td.kill('SIGTERM');
    const blocks = out.split(/\n(?=\d\d:\d\d)/);
    const rs = blocks.find((b) => b.includes('router solicitation'));
    const ra = blocks.find((b) => b.includes('router advertisement'));
    expect(rs, out).toBeDefined();
    expect(ra).toContain('hlim 255');
    expect(ra).toContain('router lifetime 0s');
    expect(ra).toContain('Flags [none]');
    expect(ra).not.toContain('prefix info');
    const routes = await c.ns.ip('-6', 'route', 'show', 'default');
    expect(routes.trim()).toBe('');
  });
});
