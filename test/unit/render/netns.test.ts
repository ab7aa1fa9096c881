/**
 * The split stack for a seed inside a network namespace (site seed.netns):
 * what faces the provisioning network enters the namespace, Ironic stays on
 * the host's loopback and reads kseed's ramdisk through a read-only mount.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ironicApiUrl, ironicBootPlan, renderStack } from '../../../src/render/index.js';
import { InputError } from '../../../src/errors.js';
import { labSite } from '../../fixtures/compose/sites.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kseedtest-netns-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const read = (rel: string) => readFileSync(path.join(dir, '.kseed', 'stack', rel), 'utf8');
const nsSite = () => {
  const s = labSite(dir);
  s.seed = { ...s.seed, netns: 'ksl-x1', ports: { ...s.seed.ports, ironic_api: 21799 } };
  return s;
};

describe('stack for a seed in a network namespace', () => {
  it('dnsmasq, http and registry enter the namespace and drop CAP_SYS_ADMIN; Ironic does not', async () => {
    await renderStack(nsSite());
    const doc = YAML.parse(read('docker-compose.yml'));
    for (const svc of ['dnsmasq', 'http', 'registry']) {
      const s = doc.services[svc];
      expect(s.entrypoint.slice(0, 6), svc).toEqual(['nsenter', '--net=/kseed/netns', '--', 'setpriv', '--bounding-set=-sys_admin', '--inh-caps=-sys_admin']);
      expect(s.entrypoint.slice(-2), svc).toEqual(['/bin/sh', '/kseed/entrypoint.sh']);
      expect(s.cap_add, svc).toContain('SYS_ADMIN');
      expect(s.volumes, svc).toContainEqual({ type: 'bind', source: '/run/netns/ksl-x1', target: '/kseed/netns', read_only: true });
      // probes read PID 1's namespace, the one the service listens in
      expect(s.healthcheck.test.at(-1), svc).toMatch(/^\/proc\/1\/net\/(tcp|udp)$/);
    }
    expect(doc.services.dnsmasq.cap_add).toEqual(['NET_ADMIN', 'NET_RAW', 'NET_BIND_SERVICE', 'SYS_ADMIN']);
    const ironic = doc.services.ironic;
    expect(ironic.entrypoint).toEqual(['/bin/sh', '/kseed/entrypoint.sh']);
    expect(ironic.cap_add).toBeUndefined();
    expect(ironic.volumes).toContain('../cache/ramdisk:/kseed/artifacts:ro');
    expect(ironic.healthcheck.test.at(-1)).toContain("urlopen('http://127.0.0.1:21799/'");
  });

  it('Ironic listens on loopback, allows kseed\'s ramdisk as file://, and points nodes at the seed address', async () => {
    await renderStack(nsSite());
    const conf = read('ironic/ironic.conf');
    expect(conf).toMatch(/^host_ip = 127\.0\.0\.1$/m);
    expect(conf).toMatch(/^file_url_allowed_paths = \/var\/lib\/ironic,\/kseed\/artifacts$/m);
    expect(conf).toMatch(/^http_url = http:\/\/10\.77\.0\.1:8080$/m);
  });

  it('nginx owns the seed address and passes kseed\'s paths to kseed\'s boot service on loopback', async () => {
    await renderStack(nsSite());
    const nginx = read('http/nginx.conf');
    expect(nginx).toContain('listen 10.77.0.1:8080;');
    for (const loc of ['location = /boot.ipxe', 'location /boot/', 'location /v1/', 'location /artifacts/']) {
      expect(nginx).toMatch(new RegExp(`${loc.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\{\\s+proxy_pass http://127\\.0\\.0\\.1:8080;`));
    }
    // DHCP hands iPXE kseed's entry script (through nginx), never Ironic's own boot.ipxe directly
    expect(read('dnsmasq/dnsmasq.conf')).toContain('dhcp-boot=tag:known,tag:ipxe,http://10.77.0.1:8080/boot.ipxe');
  });

  it('without seed.netns every service keeps host networking on the seed address', async () => {
    await renderStack(labSite(dir));
    const doc = YAML.parse(read('docker-compose.yml'));
    for (const s of Object.values(doc.services) as { entrypoint: string[]; volumes: unknown[] }[]) {
      expect(s.entrypoint[0]).toBe('/bin/sh');
      expect(JSON.stringify(s.volumes)).not.toContain('/run/netns');
    }
    expect(read('ironic/ironic.conf')).toMatch(/^host_ip = 10\.77\.0\.1$/m);
  });

  it('refuses ironic-inspector in a namespace: nodes could not reach it', async () => {
    const s = nsSite();
    s.ironic = { ...s.ironic, inspector: true };
    await expect(renderStack(s)).rejects.toBeInstanceOf(InputError);
  });

  it('ironicBootPlan: what the engine hands Ironic, from the rendered stack', async () => {
    const s = nsSite();
    const artifacts = path.join(dir, 'my-artifacts');
    await renderStack(s, { artifactsDir: artifacts, kernel: 'k.img', initrd: 'i.img' });
    const plan = ironicBootPlan(s, path.join(dir, '.kseed'));
    expect(plan).toEqual({
      ironicUrl: 'http://127.0.0.1:21799',
      username: 'kseed',
      passwordFile: path.join(dir, '.kseed', 'secrets', 'ironic-password'),
      kernel: 'file:///kseed/artifacts/k.img',
      ramdisk: 'file:///kseed/artifacts/i.img',
      agentUrl: 'http://10.77.0.1:8080',
      kernelArgs: ['console=ttyS0'],
      artifactsDir: artifacts,
    });
    expect(YAML.parse(read('docker-compose.yml')).services.ironic.volumes).toContain('../../my-artifacts:/kseed/artifacts:ro');
    expect(ironicApiUrl(labSite(dir))).toBe('http://10.77.0.1:6385');
  });
});
