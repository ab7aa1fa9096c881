/**
 * The rendered seed stack's dnsmasq and http services run by Compose on the
 * real dockerd, with their rendered entrypoints, mounts, volumes and
 * healthchecks. Their images are stand-ins built from this host's dnsmasq
 * and nginx binaries (the real kseed/* images come from `kseed images
 * build`). The seed is loopback (127.0.0.1) with DHCP off, so no DHCP
 * server ever runs in the host namespace; TFTP binds 127.0.0.1:69.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComposeDriver, projectOf, type ComposeProject } from '../../../src/compose/index.js';
import { renderStack, type RenderResult } from '../../../src/render/index.js';
import { needDocker, needPeers } from '../../helpers/peers.js';
import { labSite } from '../../fixtures/compose/sites.js';
import { buildHostImage, forceRemoveProject, projectLeftovers, removeImage } from './fixture.js';

const IPXE = '/usr/lib/ipxe/undionly.kpxe';
const ok = needDocker() && needPeers('/usr/sbin/dnsmasq', '/usr/sbin/nginx', 'curl', 'ldd', '/bin/busybox', IPXE, '/usr/lib/ipxe/snponly.efi');
const TAG = `kseedtest-run${process.pid}`;
const HTTP_PORT = 15280;

describe.skipIf(!ok)('seed stack services under Compose (stand-in images)', () => {
  let work: string;
  let r: RenderResult;
  let project: ComposeProject;
  let driver: ComposeDriver;

  beforeAll(async () => {
    buildHostImage(`kseed/dnsmasq:${TAG}`, { binaries: ['/usr/sbin/dnsmasq'], files: [IPXE, '/usr/lib/ipxe/snponly.efi', '/usr/lib/ipxe/ipxe.efi'], users: ['dnsmasq'] });
    buildHostImage(`kseed/http:${TAG}`, { binaries: ['/usr/sbin/nginx'], users: [] });
    work = mkdtempSync(path.join(os.tmpdir(), 'kseedtest-run-'));
    const site = labSite(work, { site: `kseedtest-run${process.pid}` });
    site.seed = {
      ...site.seed,
      interface: 'lo',
      address: '127.0.0.1',
      prefix: 8,
      dhcp: { mode: 'off', lease_seconds: 3600 },
      ports: { ...site.seed.ports, http: HTTP_PORT, ironic_api: 15285, registry: 15286, inspector: 15287 },
    };
    site.registry = { ...site.registry, enabled: false };
    r = await renderStack(site, { imageTag: TAG });
    project = projectOf(r);
    driver = await ComposeDriver.detect();
  });

  afterAll(async () => {
    try {
      await driver?.down(project, { volumes: true });
    } catch {
      if (r) forceRemoveProject(r.project);
    }
    removeImage(`kseed/dnsmasq:${TAG}`);
    removeImage(`kseed/http:${TAG}`);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('starts dnsmasq and http and their healthchecks pass', async () => {
    await driver.up(project, ['dnsmasq', 'http']);
    const statuses = await driver.waitHealthy(project, ['dnsmasq', 'http'], { timeoutMs: 90_000, pollMs: 1000 }).catch((e: { detail?: string }) => {
      // the service logs, for whoever reads a CI failure
      console.error(e.detail);
      throw e;
    });
    expect(statuses.map((s) => [s.service, s.state, s.health])).toEqual([
      ['dnsmasq', 'running', 'healthy'],
      ['http', 'running', 'healthy'],
    ]);
  });

  it('dnsmasq serves the iPXE binaries its entrypoint put in the shared volume, over TFTP', () => {
    const got = execFileSync('curl', ['-s', '--max-time', '10', 'tftp://127.0.0.1/undionly.kpxe'], { maxBuffer: 10 << 20 });
    expect(Buffer.compare(got, readFileSync(IPXE))).toBe(0);
  });

  it('http serves what Ironic writes to httpboot in the shared volume', () => {
    // Ironic (not running here) would write this; the dnsmasq container mounts the same volume read-write.
    const dns = execFileSync('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${r.project}`, '--filter', 'label=com.docker.compose.service=dnsmasq'], { encoding: 'utf8' }).trim();
    execFileSync('docker', ['exec', dns, 'sh', '-c', 'mkdir -p /var/lib/ironic/httpboot && printf "#!ipxe\\necho kseed\\n" > /var/lib/ironic/httpboot/boot.ipxe']);
    const body = execFileSync('curl', ['-s', '--max-time', '10', `http://127.0.0.1:${HTTP_PORT}/boot.ipxe`], { encoding: 'utf8' });
    expect(body).toBe('#!ipxe\necho kseed\n');
  });

  it('logs show both services', async () => {
    const logs = await driver.logs(project, { tail: 50 });
    expect(logs).toMatch(/dnsmasq.*TFTP root is \/var\/lib\/ironic\/tftpboot/);
    expect(logs).toMatch(/http.*"GET \/boot\.ipxe HTTP\/1\.1" 200/);
  });

  it('down --volumes leaves nothing behind', async () => {
    await driver.down(project, { volumes: true });
    expect(projectLeftovers(r.project)).toEqual({ containers: [], volumes: [] });
  });
});
