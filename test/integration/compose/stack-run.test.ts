/**
 * The rendered seed stack (ironic, dnsmasq, http, registry) run by Compose
 * on the real dockerd, with its rendered entrypoints, secrets, mounts,
 * volumes and healthchecks. The images are stand-ins assembled from this
 * host's Debian packages (ironic-common, dnsmasq, nginx, docker-registry)
 * and static busybox; the real kseed/* images come from `kseed images build`. The seed is loopback (127.0.0.1) with DHCP off, so no DHCP
 * server ever runs in the host namespace; TFTP binds 127.0.0.1:69.
 */
import { execFileSync, spawnSync } from 'node:child_process';
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
const ok =
  needDocker() &&
  needPeers('/usr/sbin/dnsmasq', '/usr/sbin/nginx', 'curl', 'ldd', '/bin/busybox', IPXE, '/usr/lib/ipxe/snponly.efi') &&
  needPeers('/usr/bin/ironic', '/usr/bin/ironic-dbsync', '/usr/bin/docker-registry', '/usr/bin/setpriv');
const TAG = `kseedtest-run${process.pid}`;
const HTTP_PORT = 15280;
const IRONIC_PORT = 15285;
const REGISTRY_PORT = 15286;
const SERVICES = ['dnsmasq', 'http', 'ironic', 'registry'];

describe.skipIf(!ok)('the seed stack under Compose (stand-in images)', () => {
  let work: string;
  let r: RenderResult;
  let project: ComposeProject;
  let driver: ComposeDriver;

  beforeAll(async () => {
    buildHostImage(`kseed/dnsmasq:${TAG}`, { binaries: ['/usr/sbin/dnsmasq'], files: [IPXE, '/usr/lib/ipxe/snponly.efi', '/usr/lib/ipxe/ipxe.efi'], users: ['dnsmasq'] });
    buildHostImage(`kseed/http:${TAG}`, { binaries: ['/usr/sbin/nginx'], users: [] });
    buildHostImage(`kseed/registry:${TAG}`, {
      binaries: ['/usr/bin/docker-registry', '/usr/bin/setpriv', '/usr/bin/install'],
      users: ['docker-registry'],
      dirs: ['etc/docker/registry'],
    });
    // Debian's ironic-common as installed on this host: python3, its stdlib and dist-packages.
    buildHostImage(`kseed/ironic:${TAG}`, {
      binaries: ['/usr/bin/python3', '/usr/bin/setpriv', '/usr/bin/install', '/usr/bin/ipmitool'],
      files: ['/usr/bin/ironic', '/usr/bin/ironic-dbsync'],
      trees: ['/usr/lib/python3.11', '/usr/lib/python3/dist-packages', '/etc/ssl', '/usr/lib/ssl', '/usr/lib/x86_64-linux-gnu/ossl-modules', '/usr/share/zoneinfo'],
      users: ['ironic'],
      dirs: ['etc/ironic'],
    });
    work = mkdtempSync(path.join(os.tmpdir(), 'kseedtest-run-'));
    const site = labSite(work, { site: `kseedtest-run${process.pid}` });
    site.seed = {
      ...site.seed,
      interface: 'lo',
      address: '127.0.0.1',
      prefix: 8,
      dhcp: { mode: 'off', lease_seconds: 3600 },
      ports: { ...site.seed.ports, http: HTTP_PORT, ironic_api: IRONIC_PORT, registry: REGISTRY_PORT, inspector: 15287 },
    };
    r = await renderStack(site, { imageTag: TAG });
    project = projectOf(r);
    driver = await ComposeDriver.detect();
  }, 300_000);

  afterAll(async () => {
    try {
      await driver?.down(project, { volumes: true });
    } catch {
      if (r) forceRemoveProject(r.project);
    }
    removeImage(`kseed/dnsmasq:${TAG}`);
    removeImage(`kseed/http:${TAG}`);
    removeImage(`kseed/registry:${TAG}`);
    removeImage(`kseed/ironic:${TAG}`);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('starts every service and their healthchecks pass', async () => {
    expect([...r.services].sort()).toEqual(SERVICES);
    await driver.up(project);
    const statuses = await driver.waitHealthy(project, SERVICES, { timeoutMs: 240_000, pollMs: 1000 }).catch((e: { detail?: string }) => {
      // the service logs, for whoever reads a CI failure
      console.error(e.detail);
      throw e;
    });
    expect(statuses.map((s) => [s.service, s.state, s.health])).toEqual(SERVICES.map((s) => [s, 'running', 'healthy']));
  }, 300_000);

  it('ironic runs unprivileged and enforces the generated credentials (secret mounted, installed by the entrypoint)', async () => {
    const pw = readFileSync(path.join(work, '.kseed', 'secrets', 'ironic-password'), 'utf8').trim();
    const url = `http://127.0.0.1:${IRONIC_PORT}/v1/nodes`;
    const H = { 'X-OpenStack-Ironic-API-Version': '1.82' };
    expect((await fetch(url, { headers: H })).status).toBe(401);
    const ok = await fetch(url, { headers: { ...H, Authorization: `Basic ${Buffer.from(`kseed:${pw}`).toString('base64')}` } });
    expect(ok.status).toBe(200);
    const ironic = execFileSync('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${r.project}`, '--filter', 'label=com.docker.compose.service=ironic'], { encoding: 'utf8' }).trim();
    // After the entrypoint's exec, Ironic is the container's PID 1: it must not be root.
    const status = execFileSync('docker', ['exec', ironic, 'cat', '/proc/1/status'], { encoding: 'utf8' });
    const cmdline = execFileSync('docker', ['exec', ironic, 'cat', '/proc/1/cmdline'], { encoding: 'utf8' }).split('\0').join(' ');
    expect(cmdline).toMatch(/ironic --config-file \/etc\/ironic\/ironic\.conf/);
    expect(status).toMatch(/^Uid:\t[1-9]\d*\t[1-9]\d*\t[1-9]\d*\t[1-9]\d*$/m);
  });

  it('the registry enforces its generated credentials', async () => {
    const pw = readFileSync(path.join(work, '.kseed', 'secrets', 'registry-password'), 'utf8').trim();
    const url = `http://127.0.0.1:${REGISTRY_PORT}/v2/_catalog`;
    expect((await fetch(url)).status).toBe(401);
    const ok = await fetch(url, { headers: { Authorization: `Basic ${Buffer.from(`kseed:${pw}`).toString('base64')}` } });
    expect(ok.status).toBe(200);
  });

  it('dnsmasq serves the iPXE binaries its entrypoint put in the shared volume, over TFTP', () => {
    const got = execFileSync('curl', ['-s', '--max-time', '10', 'tftp://127.0.0.1/undionly.kpxe'], { maxBuffer: 10 << 20 });
    expect(Buffer.compare(got, readFileSync(IPXE))).toBe(0);
  });

  it('http serves what Ironic writes to httpboot in the shared volume, but not a node\'s iPXE config to a stranger', () => {
    // Ironic (not running here) would write these; the dnsmasq container mounts the same volume read-write.
    const dns = execFileSync('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${r.project}`, '--filter', 'label=com.docker.compose.service=dnsmasq'], { encoding: 'utf8' }).trim();
    // (/boot.ipxe is not Ironic's: nginx passes it to kseed's boot service)
    execFileSync('docker', ['exec', dns, 'sh', '-c', [
      'mkdir -p /var/lib/ironic/httpboot/pxelinux.cfg /var/lib/ironic/httpboot/0c3e5a52-0000-4000-8000-000000000001',
      'printf "kernel bytes\\n" > /var/lib/ironic/httpboot/0c3e5a52-0000-4000-8000-000000000001/deploy_kernel',
      'printf "#!ipxe\\necho kseed\\n" > /var/lib/ironic/httpboot/pxelinux.cfg/52-54-00-00-00-01',
    ].join(' && ')]);
    const kernel = execFileSync('curl', ['-s', '--max-time', '10', `http://127.0.0.1:${HTTP_PORT}/0c3e5a52-0000-4000-8000-000000000001/deploy_kernel`], { encoding: 'utf8' });
    expect(kernel).toBe('kernel bytes\n');
    // the per-node config carries the agent token (docs/AGENT-API.md): 127.0.0.1 is no node of
    // this stack, so nginx's auth_request refuses it (test/integration/hostile/ironic-token.test.ts
    // has the node's own side)
    const cfg = spawnSync('curl', ['-s', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${HTTP_PORT}/pxelinux.cfg/52-54-00-00-00-01`], { encoding: 'utf8' });
    expect(cfg.stdout).toMatch(/^(403|500)$/);
  });

  it('logs show both services', async () => {
    const logs = await driver.logs(project, { tail: 50 });
    expect(logs).toMatch(/dnsmasq.*TFTP root is \/var\/lib\/ironic\/tftpboot/);
    expect(logs).toMatch(/http.*"GET \/0c3e5a52-0000-4000-8000-000000000001\/deploy_kernel HTTP\/1\.1" 200/);
  });

  it('down --volumes leaves nothing behind', async () => {
    await driver.down(project, { volumes: true });
    expect(projectLeftovers(r.project)).toEqual({ containers: [], volumes: [] });
  });
});
