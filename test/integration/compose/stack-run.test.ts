/**
 * The rendered seed stack (ironic, dnsmasq, http, registry) run by Compose
 * on the real dockerd, with its rendered entrypoints, secrets, mounts,
 * volumes and healthchecks. The images are stand-ins assembled from this
 * host's Debian packages (ironic-common, dnsmasq, nginx, docker-registry)
 * and static busybox; the real kseed/* images come from `kseed images build`. The seed is loopback (127.0.0.1) with DHCP off, so no DHCP
 * server ever runs in the host namespace; TFTP binds 127.0.0.1:69. The seed
 * service (in this process, its API on 127.0.0.1:15288) counts the stack's
 * TFTP and HTTP traffic in /metrics from dnsmasq's and nginx's logs.
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
import { openState } from '../../../src/engine/state.js';
import { startService } from '../../../src/service/serve.js';
import { samples } from '../api/helpers.js';

const IPXE = '/usr/lib/ipxe/undionly.kpxe';
const ok =
  needDocker() &&
  needPeers('/usr/sbin/dnsmasq', '/usr/sbin/nginx', 'curl', 'ldd', '/bin/busybox', IPXE, '/usr/lib/ipxe/snponly.efi') &&
  needPeers('/usr/bin/ironic', '/usr/bin/ironic-dbsync', '/usr/bin/docker-registry', '/usr/bin/setpriv', 'promtool');
const TAG = `kseedtest-run${process.pid}`;
const HTTP_PORT = 15280;
const IRONIC_PORT = 15285;
const REGISTRY_PORT = 15286;
const SERVICES = ['dnsmasq', 'http', 'ironic', 'registry'];
const API_PORT = 15288;

describe.skipIf(!ok)('the seed stack under Compose (stand-in images)', () => {
  let work: string;
  let r: RenderResult;
  let project: ComposeProject;
  let driver: ComposeDriver;
  const containerOf = (service: string) =>
    execFileSync('docker', ['ps', '-q', '--no-trunc', '--filter', `label=com.docker.compose.project=${r.project}`, '--filter', `label=com.docker.compose.service=${service}`], { encoding: 'utf8' }).trim();

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

  it("the seed service counts the stack's TFTP and HTTP traffic from its logs, in /metrics (promtool accepts it), across a restart of a container and of the service", async () => {
    const stateDir = path.join(work, '.kseed');
    const store = openState(stateDir);
    const token = store.tokens.create('prometheus').secret;
    store.close();
    const serve = () => startService({ stateDir, nodes: [], port: API_PORT, version: 'test', log: () => undefined });
    let svc = await serve();
    try {
      const scrape = async () => {
        const res = await fetch(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
        expect(res.status).toBe(200);
        return res.text();
      };
      const pick = (m: Map<string, number>) => ({
        tftpStarted: m.get('kseed_tftp_transfers_started_total'),
        tftpDone: m.get('kseed_tftp_transfers_completed_total'),
        tftpRefused: m.get('kseed_tftp_requests_refused_total'),
        http2xx: m.get('kseed_http_boot_requests_total{class="2xx"}'),
        http4xx: m.get('kseed_http_boot_requests_total{class="4xx"}'),
        httpBytes: m.get('kseed_http_boot_sent_bytes_total'),
      });
      /** The counters once they equal `want` (the log is read as it is written: a few hundred ms behind). */
      const settle = async (want: ReturnType<typeof pick>) => {
        let got = pick(samples(await scrape()));
        for (const t0 = Date.now(); JSON.stringify(got) !== JSON.stringify(want) && Date.now() - t0 < 20_000; await new Promise((res) => setTimeout(res, 250))) got = pick(samples(await scrape()));
        expect(got).toEqual(want);
      };
      // the earlier tests' fetches are in the containers' logs already: counted from their first line
      // (the service reads them as it starts: wait for the TFTP transfer and the HTTP fetch of those tests)
      let m = samples(await scrape());
      const seen = (x: Map<string, number>) => x.get('kseed_boot_services_up') === 1 && x.get('kseed_tftp_transfers_completed_total')! >= 1 && x.get('kseed_http_boot_requests_total{class="2xx"}')! >= 1;
      for (const t0 = Date.now(); !seen(m) && Date.now() - t0 < 20_000; await new Promise((res) => setTimeout(res, 250))) m = samples(await scrape());
      const logs = () => ['dnsmasq', 'http'].map((c) => spawnSync('docker', ['logs', containerOf(c)], { encoding: 'utf8' })).map((x) => `${x.stdout}${x.stderr}`).join('\n');
      expect(seen(m), `${[...m].filter(([k]) => /boot|tftp|http_boot/.test(k)).join('\n')}\n${logs()}`).toBe(true);
      // and nothing more comes: the whole log is read
      await new Promise((res) => setTimeout(res, 1000));
      m = samples(await scrape());
      const base = pick(m);

      const curl = (...a: string[]) => spawnSync('curl', ['-s', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', ...a], { encoding: 'utf8' }).stdout.split(' ').map(Number);
      curl('tftp://127.0.0.1/undionly.kpxe');
      curl('tftp://127.0.0.1/nosuch.efi');
      const [ok, okBytes] = curl(`http://127.0.0.1:${HTTP_PORT}/0c3e5a52-0000-4000-8000-000000000001/deploy_kernel`);
      const [nf, nfBytes] = curl(`http://127.0.0.1:${HTTP_PORT}/nosuch`);
      expect([ok, nf]).toEqual([200, 404]);
      const after = { ...base, tftpStarted: base.tftpStarted! + 1, tftpDone: base.tftpDone! + 1, tftpRefused: base.tftpRefused! + 1, http2xx: base.http2xx! + 1, http4xx: base.http4xx! + 1, httpBytes: base.httpBytes! + okBytes! + nfBytes! };
      await settle(after);
      const text = await scrape();
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect({ code: check.status, out: `${check.stdout}${check.stderr}` }).toEqual({ code: 0, out: '' });
      // dnsmasq logs no TFTP sizes: no series rather than a made-up one
      expect(text).not.toContain('kseed_tftp_sent_bytes_total');
      const created = execFileSync('docker', ['inspect', '--format', '{{.Created}}', ...['dnsmasq', 'http'].map((svcName) => containerOf(svcName))], { encoding: 'utf8' }).trim().split('\n').map((c) => Date.parse(c) / 1000);
      expect(samples(text).get('kseed_boot_services_start_time_seconds')).toBe(Math.max(...created));

      // nginx restarted by Docker (same container, its log goes on): nothing counted twice, and new requests count
      execFileSync('docker', ['restart', '-t', '2', containerOf('http')]);
      // until nginx listens again (a refused connection is no request and logs nothing)
      for (const t0 = Date.now(); curl(`http://127.0.0.1:${HTTP_PORT}/nosuch`)[0] !== 404 && Date.now() - t0 < 20_000; ) await new Promise((res) => setTimeout(res, 250));
      await settle({ ...after, http4xx: after.http4xx + 1, httpBytes: after.httpBytes + nfBytes! });
      // a new service process counts the same totals from the same logs
      await svc.close();
      svc = await serve();
      await settle({ ...after, http4xx: after.http4xx + 1, httpBytes: after.httpBytes + nfBytes! });
    } finally {
      await svc.close();
    }
  }, 90_000);

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
