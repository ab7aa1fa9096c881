/**
 * `kseed images build` for real: debootstrap base, docker import, one
 * classic `docker build` per service from Debian packages. Built once per
 * run (the images are kept for later tests: a warm run only inspects them);
 * then the images' contents are checked with the tools the stack's
 * entrypoints run, and Ironic serves its API with http_basic auth.
 *
 * KSEED_TEST_INSPECTOR=1 adds kseed/ironic-inspector (more build time).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, ensureBuilt, runKseed } from '../../../helpers/cli.js';
import { ComposeDriver, projectOf, upStack, type ComposeProject } from '../../../../src/compose/index.js';
import { renderStack, type RenderResult } from '../../../../src/render/index.js';
import { labSite } from '../../../fixtures/compose/sites.js';
import { needDocker, needPeers, needRoot } from '../../../helpers/peers.js';
import { forceRemoveProject, projectLeftovers } from '../../compose/fixture.js';

const repo = fileURLToPath(new URL('../../../../', import.meta.url));
// The repo's ignored cache: the debootstrap tarball survives between runs.
const cache = path.join(repo, 'cache');
const version = (JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string }).version;
const inspector = process.env.KSEED_TEST_INSPECTOR === '1';
const services = inspector ? ['ironic', 'dnsmasq', 'http', 'registry', 'inspector'] : ['ironic', 'dnsmasq', 'http', 'registry'];
const repoOf: Record<string, string> = {
  ironic: 'kseed/ironic',
  dnsmasq: 'kseed/dnsmasq',
  http: 'kseed/http',
  registry: 'kseed/registry',
  inspector: 'kseed/ironic-inspector',
};
const PORT = 20685;
const tmp = mkdtempSync(path.join(tmpdir(), 'kseed-seedimg-'));
const containers: string[] = [];

interface Summary {
  base: { image: string; size: number; seconds: number; status: string };
  images: { name: string; tag: string; size: number; seconds: number; status: 'built' | 'reused'; hash: string }[];
  seconds: number;
}

function kseed(args: string[], timeout: number): Promise<CliRun> {
  return runKseed(args, { cwd: tmp, timeoutMs: timeout });
}

function docker(args: string[], timeout = 120_000): string {
  return execFileSync('docker', args, { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });
}

function run(image: string, name: string, cmd: string[]): string {
  containers.push(name);
  return docker(['run', '--rm', '--name', name, '--network', 'none', '--entrypoint', cmd[0]!, image, ...cmd.slice(1)]);
}

const ok = needDocker() && needPeers('debootstrap', 'tar', 'curl') && needRoot();

describe.skipIf(!ok)('kseed images build (debootstrap base, Debian packages)', () => {
  let first: Summary;
  let second: Summary;
  let firstStderr = '';

  beforeAll(async () => {
    ensureBuilt();
    const only = services.join(',');
    // --verbose: progress lines stay on stderr next to the --json result.
    const r1 = await kseed(['--json', '--verbose', 'images', 'build', '--cache', cache, '--only', only], 3_600_000);
    firstStderr = r1.stderr;
    if (r1.code !== 0) throw new Error(`first build failed (exit ${r1.code}):\n${r1.stderr.slice(-4000)}`);
    first = JSON.parse(r1.stdout) as Summary;
    const r2 = await kseed(['--json', 'images', 'build', '--cache', cache, '--only', only], 600_000);
    if (r2.code !== 0) throw new Error(`second build failed (exit ${r2.code}):\n${r2.stderr.slice(-4000)}`);
    second = JSON.parse(r2.stdout) as Summary;
    // Measured figures for the report (cold when first.status is built).
    console.log(
      `seed images: first ${first.seconds}s [${first.base.status} base ${first.base.seconds.toFixed(1)}s ${(first.base.size / 1e6).toFixed(0)}MB; ` +
        `${first.images.map((i) => `${i.name} ${i.status} ${i.seconds}s ${(i.size / 1e6).toFixed(0)}MB`).join('; ')}], second ${second.seconds}s`,
    );
  }, 3_700_000);

  afterAll(() => {
    for (const c of containers) {
      try {
        execFileSync('docker', ['rm', '-f', c], { stdio: 'ignore', timeout: 60_000 });
      } catch {
        // already gone (--rm)
      }
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  it('tags every image kseed/<service>:<version> and labels it with its input hash', () => {
    expect(first.base.image).toMatch(/^kseed\/base:bookworm-[0-9a-f]{12}$/);
    expect(first.images.map((i) => i.name)).toEqual(services);
    for (const i of first.images) {
      expect(i.tag).toBe(`${repoOf[i.name]}:${version}`);
      const labels = JSON.parse(docker(['image', 'inspect', '--format', '{{json .Config.Labels}}', i.tag])) as Record<string, string>;
      expect(labels['org.kseed.inputs']).toBe(i.hash);
      expect(labels['org.kseed.version']).toBe(version);
      expect(i.size).toBeGreaterThan(0);
    }
    if (first.images.some((i) => i.status === 'built')) expect(firstStderr).toMatch(/: Step 1\/\d+ : FROM kseed\/base:bookworm-/);
  });

  it('a second build changes nothing: base and every image reported up to date, same hashes', () => {
    expect(second.base.status).toBe('reused');
    expect(second.base.image).toBe(first.base.image);
    expect(second.images.map((i) => [i.name, i.status, i.hash])).toEqual(first.images.map((i) => [i.name, 'reused', i.hash]));
  });

  it('kseed/ironic: Ironic 21.x, ipmitool, iPXE binaries, the dbsync tool, the ironic user', () => {
    const img = `kseed/ironic:${version}`;
    expect(run(img, 'kseedtest-seedimg-ironic-v', ['python3', '-c', 'import ironic.version as v; print(v.version_info.version_string())'])).toMatch(/^21\./);
    expect(run(img, 'kseedtest-seedimg-ipmitool', ['ipmitool', '-V'])).toMatch(/ipmitool version 1\.8/);
    expect(run(img, 'kseedtest-seedimg-ipxe', ['ls', '/usr/lib/ipxe/'])).toMatch(/snponly\.efi[\s\S]*undionly\.kpxe|undionly\.kpxe[\s\S]*snponly\.efi/);
    expect(run(img, 'kseedtest-seedimg-which', ['sh', '-c', 'for c in ironic ironic-dbsync runuser; do command -v $c; done; id -u ironic'])).toMatch(
      /\/usr\/bin\/ironic\n\/usr\/bin\/ironic-dbsync\n\/usr\/sbin\/runuser\n\d+\n/,
    );
  });

  it('kseed/dnsmasq, kseed/http, kseed/registry run their daemons', () => {
    expect(run(`kseed/dnsmasq:${version}`, 'kseedtest-seedimg-dnsmasq', ['dnsmasq', '--version'])).toMatch(/^Dnsmasq version 2\.\d+/);
    expect(run(`kseed/dnsmasq:${version}`, 'kseedtest-seedimg-dnsuser', ['sh', '-c', 'id -u dnsmasq && ls /usr/lib/ipxe/undionly.kpxe /usr/lib/ipxe/snponly.efi'])).toMatch(
      /^\d+\n\/usr\/lib\/ipxe\/snponly\.efi\n\/usr\/lib\/ipxe\/undionly\.kpxe\n$/,
    );
    // nginx -v prints on stderr: fold it into stdout.
    expect(run(`kseed/http:${version}`, 'kseedtest-seedimg-nginx', ['sh', '-c', 'nginx -v 2>&1'])).toMatch(/nginx version: nginx\/1\.\d+/);
    expect(run(`kseed/registry:${version}`, 'kseedtest-seedimg-registry', ['docker-registry', '--version'])).toMatch(/v?2\.8/);
    expect(run(`kseed/registry:${version}`, 'kseedtest-seedimg-reguser', ['id', '-u', 'docker-registry'])).toMatch(/^\d+\n$/);
  });

  it.skipIf(!inspector)('kseed/ironic-inspector: the standalone inspector and its dbsync', () => {
    expect(run(`kseed/ironic-inspector:${version}`, 'kseedtest-seedimg-insp', ['sh', '-c', 'for c in ironic-inspector ironic-inspector-dbsync; do command -v $c; done; id -u ironic-inspector'])).toMatch(
      /^\/usr\/bin\/ironic-inspector\n\/usr\/bin\/ironic-inspector-dbsync\n\d+\n$/,
    );
  });

  it('kseed/ironic serves its API with http_basic auth on 127.0.0.1 (all-in-one `ironic`, sqlite)', async () => {
    const etc = path.join(tmp, 'etc');
    execFileSync('mkdir', ['-p', etc]);
    chmodSync(tmp, 0o755);
    writeFileSync(
      path.join(etc, 'ironic.conf'),
      [
        '[DEFAULT]',
        'auth_strategy = http_basic',
        'http_basic_auth_user_file = /etc/ironic/htpasswd',
        'rpc_transport = none',
        'host = kseedtest',
        'my_ip = 127.0.0.1',
        'state_path = /var/lib/ironic',
        'use_stderr = true',
        'enabled_hardware_types = ipmi,fake-hardware',
        'enabled_network_interfaces = noop',
        'default_network_interface = noop',
        '[api]',
        'host_ip = 127.0.0.1',
        `port = ${PORT}`,
        '[database]',
        'connection = sqlite:////var/lib/ironic/ironic.sqlite',
        '[dhcp]',
        'dhcp_provider = none',
        // The ipxe boot interface refuses to load without its http_root.
        '[deploy]',
        'http_url = http://127.0.0.1:20687',
        'http_root = /var/lib/ironic/httpboot',
        '[pxe]',
        'tftp_root = /var/lib/ironic/tftpboot',
        'tftp_master_path = /var/lib/ironic/tftpboot/master_images',
        '[oslo_concurrency]',
        'lock_path = /var/lib/ironic/lock',
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
    // Ironic accepts bcrypt only ($2a$/$2b$/$2y$).
    writeFileSync(path.join(etc, 'htpasswd'), `kseed:${bcrypt.hashSync('s3cret', 4)}\n`, { mode: 0o644 });
    const name = 'kseedtest-seedimg-api';
    containers.push(name);
    try {
      execFileSync('docker', ['rm', '-f', name], { stdio: 'ignore' });
    } catch {
      // not there
    }
    docker([
      'run', '-d', '--name', name, '--network', 'host', '--user', 'ironic',
      '-v', `${etc}/ironic.conf:/etc/ironic/ironic.conf:ro`,
      '-v', `${etc}/htpasswd:/etc/ironic/htpasswd:ro`,
      '--entrypoint', 'sh', `kseed/ironic:${version}`,
      '-c', 'mkdir -p /var/lib/ironic/lock /var/lib/ironic/httpboot /var/lib/ironic/tftpboot/master_images && ironic-dbsync --config-file /etc/ironic/ironic.conf create_schema && exec ironic --config-file /etc/ironic/ironic.conf',
    ]);
    const url = `http://127.0.0.1:${PORT}`;
    let root: { versions?: { version: string }[] } | undefined;
    const deadline = Date.now() + 120_000;
    while (!root && Date.now() < deadline) {
      try {
        const r = await fetch(`${url}/`);
        if (r.status === 200) root = (await r.json()) as typeof root;
      } catch {
        // not listening yet
      }
      if (!root) {
        const state = docker(['inspect', '--format', '{{.State.Running}}', name]).trim();
        if (state !== 'true') throw new Error(`ironic exited:\n${execFileSync('sh', ['-c', `docker logs --tail 40 ${name} 2>&1`], { encoding: 'utf8' })}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    expect(root?.versions?.[0]?.version).toMatch(/^1\.\d+$/);
    const h = { 'X-OpenStack-Ironic-API-Version': '1.82' };
    expect((await fetch(`${url}/v1/nodes`, { headers: h })).status).toBe(401);
    const bad = Buffer.from('kseed:wrong').toString('base64');
    expect((await fetch(`${url}/v1/nodes`, { headers: { ...h, Authorization: `Basic ${bad}` } })).status).toBe(401);
    const good = Buffer.from('kseed:s3cret').toString('base64');
    const nodes = await fetch(`${url}/v1/nodes`, { headers: { ...h, Authorization: `Basic ${good}` } });
    expect(nodes.status).toBe(200);
    expect(await nodes.json()).toEqual({ nodes: [] });
    docker(['rm', '-f', name]);
    expect(() => docker(['inspect', name])).toThrow();
  }, 180_000);
  describe('the rendered seed stack on these images (own-bridge seed, DHCP off)', () => {
    const ports = { http: 20680, tftp: 69, ironic_api: 20681, registry: 20682, inspector: 20683 };
    const IFACE = 'ksr-seedimg0';
    const SEED = '10.202.0.1';
    let r: RenderResult;
    let project: ComposeProject;
    let driver: ComposeDriver;
    let work: string;

    beforeAll(async () => {
      work = mkdtempSync(path.join(tmpdir(), 'kseedtest-seedstack-'));
      const site = labSite(work, { site: `kseedtest-seedimg${process.pid}` });
      // A bridge of our own, with no ports (dnsmasq's TFTP is always port 69: on lo it
      // would collide with other tests' stacks) and DHCP off: nothing answers DHCP.
      execFileSync('sh', ['-c', `ip link del ${IFACE} 2>/dev/null; ip link add ${IFACE} type bridge && ip addr add ${SEED}/24 dev ${IFACE} && ip link set ${IFACE} up`]);
      site.seed = { ...site.seed, interface: IFACE, address: SEED, prefix: 24, dhcp: { mode: 'off', lease_seconds: 3600 }, ports };
      site.ironic = { ...site.ironic, inspector };
      r = await renderStack(site, { imageTag: version });
      project = projectOf(r);
      driver = await ComposeDriver.detect();
    }, 120_000);

    afterAll(async () => {
      try {
        await driver?.down(project, { volumes: true });
      } catch {
        if (r) forceRemoveProject(r.project);
      }
      if (work) rmSync(work, { recursive: true, force: true });
      execFileSync('sh', ['-c', `ip link del ${IFACE} 2>/dev/null || true`]);
    });

    it('upStack finds every image and every service becomes healthy', async () => {
      const statuses = await upStack(driver, r, { timeoutMs: 240_000, pollMs: 2000 }).catch((e: { detail?: string }) => {
        console.error(e.detail);
        throw e;
      });
      expect(statuses.map((x) => [x.service, x.state, x.health]).sort()).toEqual([
        ['dnsmasq', 'running', 'healthy'],
        ['http', 'running', 'healthy'],
        ...(inspector ? [['inspector', 'running', 'healthy']] : []),
        ['ironic', 'running', 'healthy'],
        ['registry', 'running', 'healthy'],
      ]);
    }, 300_000);

    it('Ironic and the registry refuse anonymous calls and accept the generated credentials', async () => {
      const h = { 'X-OpenStack-Ironic-API-Version': '1.82' };
      const ironic = `http://${SEED}:${ports.ironic_api}`;
      expect((await fetch(`${ironic}/v1/nodes`, { headers: h })).status).toBe(401);
      const ipw = readFileSync(path.join(r.secretsDir, 'ironic-password'), 'utf8').trim();
      const auth = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
      expect((await fetch(`${ironic}/v1/nodes`, { headers: { ...h, Authorization: auth('kseed', ipw) } })).status).toBe(200);
      const reg = `http://${SEED}:${ports.registry}/v2/`;
      expect((await fetch(reg)).status).toBe(401);
      const rpw = readFileSync(path.join(r.secretsDir, 'registry-password'), 'utf8').trim();
      expect((await fetch(reg, { headers: { Authorization: auth('kseed', rpw) } })).status).toBe(200);
    });

    it('dnsmasq serves the image\'s iPXE binary over TFTP', () => {
      const got = execFileSync('curl', ['-s', '--max-time', '10', `tftp://${SEED}/undionly.kpxe`], { maxBuffer: 10 << 20 });
      const want = execFileSync('docker', ['run', '--rm', '--name', 'kseedtest-seedimg-cat', '--network', 'none', `kseed/dnsmasq:${version}`, 'cat', '/usr/lib/ipxe/undionly.kpxe'], { maxBuffer: 10 << 20 });
      containers.push('kseedtest-seedimg-cat');
      expect(got.length).toBeGreaterThan(10_000);
      expect(Buffer.compare(got, want)).toBe(0);
    });

    it('down --volumes leaves nothing behind', async () => {
      await driver.down(project, { volumes: true });
      expect(projectLeftovers(r.project)).toEqual({ containers: [], volumes: [] });
    });
  });
});
