/**
 * renderStack on disk (temp dirs, no sockets, no peers): determinism,
 * change reports, atomic swaps, generated secrets and what the templates say.
 */
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync, cpSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import YAML from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError, KseedError } from '../../../src/errors.js';
import { createEnv, projectName, renderStack, REPO_ROOT } from '../../../src/render/index.js';
import { labSite, rackSite } from '../../fixtures/compose/sites.js';
import { tree } from '../../helpers/tree.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kseedtest-render-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const stack = () => path.join(dir, '.kseed', 'stack');
const read = (rel: string) => readFileSync(path.join(stack(), rel), 'utf8');

describe('renderStack', () => {
  it('writes the stack into .kseed/stack and reports every file as added', async () => {
    const r = await renderStack(rackSite(dir));
    expect(r.outDir).toBe(stack());
    expect(r.unchanged).toBe(false);
    expect(r.added).toEqual([
      'dnsmasq/dnsmasq.conf',
      'dnsmasq/entrypoint.sh',
      'docker-compose.yml',
      'http/entrypoint.sh',
      'http/nginx.conf',
      'inspector/entrypoint.sh',
      'inspector/inspector.conf',
      'ironic/entrypoint.sh',
      'ironic/ironic.conf',
      'kseed-stack.json',
      'registry/config.yml',
      'registry/entrypoint.sh',
    ]);
    expect(Object.keys(tree(stack())).sort()).toEqual(r.added);
    expect(statSync(path.join(stack(), 'ironic/entrypoint.sh')).mode & 0o777).toBe(0o755);
    expect(statSync(path.join(stack(), 'ironic/ironic.conf')).mode & 0o777).toBe(0o644);
    expect(r.project).toBe('kseed-rack-a01');
    expect(r.images.ironic).toMatch(/^kseed\/ironic:\d+\.\d+\.\d+/);
  });

  it('a second render with no change writes nothing and says so', async () => {
    await renderStack(rackSite(dir));
    const before = tree(stack());
    const mtimes = Object.keys(before).map((f) => statSync(path.join(stack(), f)).mtimeMs);
    const inode = statSync(stack()).ino;
    const r = await renderStack(rackSite(dir));
    expect(r).toMatchObject({ unchanged: true, added: [], changed: [], removed: [] });
    expect(tree(stack())).toEqual(before);
    expect(Object.keys(before).map((f) => statSync(path.join(stack(), f)).mtimeMs)).toEqual(mtimes);
    expect(statSync(stack()).ino).toBe(inode);
  });

  it('is byte-identical across state directories given the same secrets', async () => {
    await renderStack(labSite(dir));
    const other = mkdtempSync(path.join(os.tmpdir(), 'kseedtest-render2-'));
    try {
      cpSync(path.join(dir, '.kseed', 'secrets'), path.join(other, '.kseed', 'secrets'), { recursive: true });
      await renderStack(labSite(other));
      expect(tree(path.join(other, '.kseed', 'stack'))).toEqual(tree(stack()));
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('reports changed and removed files, and only those', async () => {
    await renderStack(labSite(dir));
    const site = labSite(dir);
    site.nodes.push({ ...site.nodes[0]!, name: 'vm03', macs: ['52:54:00:77:00:33'], ip: '10.77.0.13' });
    site.registry = { ...site.registry, enabled: false };
    const r = await renderStack(site);
    expect(r.added).toEqual([]);
    expect(r.changed).toEqual(['dnsmasq/dnsmasq.conf', 'docker-compose.yml', 'kseed-stack.json']);
    expect(r.removed).toEqual(['registry/config.yml', 'registry/entrypoint.sh']);
    expect(existsSync(path.join(stack(), 'registry'))).toBe(false);
    expect(read('dnsmasq/dnsmasq.conf')).toContain('dhcp-host=52:54:00:77:00:33,10.77.0.13,vm03');
    expect(YAML.parse(read('docker-compose.yml')).services.registry).toBeUndefined();
  });

  it('labels each service with a digest of its files, so Compose recreates exactly the services whose config changed', async () => {
    const labels = () => {
      const doc = YAML.parse(read('docker-compose.yml')) as { services: Record<string, { labels: Record<string, string> }> };
      return Object.fromEntries(Object.entries(doc.services).map(([k, v]) => [k, v.labels['io.kseed.config-hash']]));
    };
    await renderStack(labSite(dir));
    const before = labels();
    expect(Object.values(before).every((h) => /^[0-9a-f]{16}$/.test(h ?? ''))).toBe(true);
    const site = labSite(dir);
    site.nodes.push({ ...site.nodes[0]!, name: 'vm03', macs: ['52:54:00:77:00:33'] });
    await renderStack(site);
    const after = labels();
    expect(after.dnsmasq).not.toBe(before.dnsmasq);
    expect({ ...after, dnsmasq: '' }).toEqual({ ...before, dnsmasq: '' });
    // a new registry password changes the registry's digest only
    await renderStack(site, { registryPassword: 'another-one' });
    const third = labels();
    expect(third.registry).not.toBe(after.registry);
    expect({ ...third, registry: '' }).toEqual({ ...after, registry: '' });
  });

  it('a failing template leaves the previous stack intact and no temp dirs behind', async () => {
    await renderStack(labSite(dir));
    const before = tree(stack());
    const tpl = path.join(dir, 'tpl');
    cpSync(path.join(REPO_ROOT, 'templates', 'stack'), tpl, { recursive: true });
    // strict mode: a name the model lacks is an error, not an empty string
    writeFileSync(path.join(tpl, 'dnsmasq', 'dnsmasq.conf.hbs'), 'interface={{seed.no_such_field}}\n');
    const site = labSite(dir);
    site.nodes.pop();
    const err = await renderStack(site, { templatesDir: tpl }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KseedError);
    expect((err as KseedError).message).toMatch(/template .*dnsmasq\.conf\.hbs failed to render/);
    expect((err as KseedError).detail).toContain('no_such_field');
    expect(tree(stack())).toEqual(before);
    expect(readdirSync(path.join(dir, '.kseed')).sort()).toEqual(['secrets', 'stack']);
  });

  it('refuses a compose template that renders invalid YAML, before touching the stack', async () => {
    await renderStack(labSite(dir));
    const before = tree(stack());
    const composeDir = path.join(dir, 'composetpl');
    mkdirSync(composeDir);
    writeFileSync(path.join(composeDir, 'docker-compose.yml.hbs'), 'services:\n  a: [unclosed\n');
    const err = await renderStack(labSite(dir), { composeDir }).catch((e: unknown) => e);
    expect((err as KseedError).message).toBe('the rendered docker-compose.yml is not valid YAML');
    expect(tree(stack())).toEqual(before);
  });

  it('sweeps leftovers of a render killed between its renames', async () => {
    await renderStack(labSite(dir));
    const stale = path.join(dir, '.kseed', '.stack.new-999999999-abcdef');
    mkdirSync(stale);
    writeFileSync(path.join(stale, 'docker-compose.yml'), 'half');
    const site = labSite(dir);
    site.ironic = { ...site.ironic, min_command_interval: 2 };
    const r = await renderStack(site);
    expect(r.changed).toEqual(['docker-compose.yml', 'ironic/ironic.conf']);
    expect(existsSync(stale)).toBe(false);
  });

  it('renders to --out anywhere, pointing compose secrets at the secrets dir', async () => {
    const out = path.join(dir, 'elsewhere', 'stack');
    const r = await renderStack(labSite(dir), { outDir: out });
    expect(r.outDir).toBe(out);
    const doc = YAML.parse(readFileSync(path.join(out, 'docker-compose.yml'), 'utf8'));
    expect(doc.secrets['ironic-htpasswd'].file).toBe('../../.kseed/secrets/ironic-htpasswd');
    expect(existsSync(path.resolve(out, doc.secrets['ironic-htpasswd'].file))).toBe(true);
  });
});

describe('generated secrets', () => {
  const secrets = () => path.join(dir, '.kseed', 'secrets');

  it('are 0600 files in a 0700 directory, with bcrypt htpasswd entries that verify', async () => {
    await renderStack(rackSite(dir));
    expect(statSync(secrets()).mode & 0o777).toBe(0o700);
    const files = readdirSync(secrets()).sort();
    expect(files).toEqual([
      'inspector-secrets.conf',
      'ironic-htpasswd',
      'ironic-password',
      'ironic-secrets.conf',
      'registry-htpasswd',
      'registry-password',
    ]);
    for (const f of files) expect(statSync(path.join(secrets(), f)).mode & 0o777).toBe(0o600);
    const pw = readFileSync(path.join(secrets(), 'ironic-password'), 'utf8').trim();
    expect(pw.length).toBeGreaterThanOrEqual(24);
    const [user, hash] = readFileSync(path.join(secrets(), 'ironic-htpasswd'), 'utf8').trim().split(':') as [string, string];
    expect(user).toBe('kseed');
    // the generated password needs no key stretching, and Ironic checks it on every request
    expect(hash).toMatch(/^\$2[by]\$04\$/);
    expect(bcrypt.compareSync(pw, hash)).toBe(true);
    expect(bcrypt.compareSync(`${pw}x`, hash)).toBe(false);
    // the registry's password may be one the site file gives: cost 10
    expect(readFileSync(path.join(secrets(), 'registry-htpasswd'), 'utf8')).toMatch(/^[^:]+:\$2[by]\$10\$/);
  });

  it("rehash Ironic's htpasswd made at cost 10 (before kseed lowered it), for the same password", async () => {
    await renderStack(labSite(dir));
    const pw = readFileSync(path.join(secrets(), 'ironic-password'), 'utf8').trim();
    writeFileSync(path.join(secrets(), 'ironic-htpasswd'), `kseed:${bcrypt.hashSync(pw, 10)}\n`, { mode: 0o600 });
    await renderStack(labSite(dir));
    const hash = readFileSync(path.join(secrets(), 'ironic-htpasswd'), 'utf8').trim().split(':')[1]!;
    expect(hash).toMatch(/^\$2[by]\$04\$/);
    expect(bcrypt.compareSync(pw, hash)).toBe(true);
  });

  it('are created once and reused; a wrong mode is repaired', async () => {
    await renderStack(labSite(dir));
    const first = tree(secrets());
    chmodSync(path.join(secrets(), 'ironic-password'), 0o644);
    await renderStack(labSite(dir));
    expect(tree(secrets())).toEqual(first);
    expect(statSync(path.join(secrets(), 'ironic-password')).mode & 0o777).toBe(0o600);
  });

  it('rehash the registry htpasswd when the site sets a new password', async () => {
    await renderStack(labSite(dir), { registryPassword: 'first-pass' });
    const h1 = readFileSync(path.join(secrets(), 'registry-htpasswd'), 'utf8');
    await renderStack(labSite(dir), { registryPassword: 'first-pass' });
    expect(readFileSync(path.join(secrets(), 'registry-htpasswd'), 'utf8')).toBe(h1);
    await renderStack(labSite(dir), { registryPassword: 'second-pass' });
    const h2 = readFileSync(path.join(secrets(), 'registry-htpasswd'), 'utf8');
    expect(h2).not.toBe(h1);
    expect(bcrypt.compareSync('second-pass', h2.trim().split(':')[1]!)).toBe(true);
  });

  it('never appear in the rendered stack', async () => {
    await renderStack(rackSite(dir), { registryPassword: 'registry-pass-123' });
    const ironicPw = readFileSync(path.join(secrets(), 'ironic-password'), 'utf8').trim();
    const all = Object.values(tree(stack())).join('\n');
    expect(all).not.toContain(ironicPw);
    expect(all).not.toContain('registry-pass-123');
    expect(all).not.toMatch(/\$2[aby]\$/);
  });
});

describe('stack content', () => {
  it('ironic: single process, sqlite, http_basic, tuned IPMI interval, seed address only', async () => {
    const site = labSite(dir);
    site.ironic = { ...site.ironic, min_command_interval: 2 };
    await renderStack(site);
    const conf = read('ironic/ironic.conf');
    expect(conf).toMatch(/^rpc_transport = none$/m);
    expect(conf).toMatch(/^auth_strategy = http_basic$/m);
    expect(conf).toMatch(/^connection = sqlite:\/\/\/\/var\/lib\/ironic\/ironic\.sqlite$/m);
    expect(conf).toMatch(/\[ipmi\]\n(#.*\n)*min_command_interval = 2\n/);
    expect(conf).toMatch(/\[api\]\n(#.*\n)*host_ip = 10\.77\.0\.1\nport = 6385\n/);
    expect(conf).toMatch(/^default_deploy_interface = ramdisk$/m);
    expect(conf).toMatch(/^http_url = http:\/\/10\.77\.0\.1:8080$/m);
    // redfish-virtual-media: its ISO built with Debian's ISOLINUX, published on the stack's nginx (no Swift)
    expect(conf).toMatch(/^enabled_boot_interfaces = .*\bredfish-virtual-media\b/m);
    expect(conf).toMatch(/^isolinux_bin = \/usr\/lib\/ISOLINUX\/isolinux\.bin$/m);
    expect(conf).toMatch(/^ldlinux_c32 = \/usr\/lib\/syslinux\/modules\/bios\/ldlinux\.c32$/m);
    expect(conf).toMatch(/\[redfish\]\n(#.*\n)*use_swift = false\n/);
    expect(read('ironic/entrypoint.sh')).toContain('exec /usr/bin/setpriv --reuid=ironic --regid=ironic --init-groups -- ironic "$@"');
  });

  it('compose: host networking, healthchecks, kseed images, secrets by file', async () => {
    await renderStack(rackSite(dir));
    const doc = YAML.parse(read('docker-compose.yml'));
    expect(Object.keys(doc.services)).toEqual(['ironic', 'dnsmasq', 'http', 'registry', 'inspector']);
    for (const [name, svc] of Object.entries(doc.services as Record<string, Record<string, unknown>>)) {
      expect(svc.network_mode, name).toBe('host');
      expect(svc.healthcheck, name).toBeDefined();
      expect(svc.image, name).toMatch(/^kseed\//);
    }
    expect(doc.version).toBeUndefined();
    expect(doc.name).toBeUndefined();
    expect(doc.services.inspector.depends_on).toEqual({ ironic: { condition: 'service_healthy' } });
    expect(doc.services.http.healthcheck.test).toEqual(['CMD', 'grep', '-q', '02000A0A:1F90 00000000:0000 0A', '/proc/1/net/tcp']);
    expect(doc.services.dnsmasq.healthcheck.test).toEqual(['CMD', 'grep', '-q', '02000A0A:0045 ', '/proc/1/net/udp']);
  });

  it('dnsmasq authoritative: one dhcp-host per node, unknown MACs ignored, iPXE chainload by arch and user class', async () => {
    await renderStack(rackSite(dir));
    const conf = read('dnsmasq/dnsmasq.conf');
    const hosts = conf.split('\n').filter((l) => l.startsWith('dhcp-host='));
    expect(hosts).toHaveLength(11);
    expect(hosts[0]).toBe('dhcp-host=b8:ca:3a:10:00:01,b8:ca:3a:10:ff:01,10.10.0.11,ctl01');
    expect(conf).toMatch(/^interface=eno2$/m);
    expect(conf).toMatch(/^dhcp-ignore=tag:!known$/m);
    expect(conf).toMatch(/^dhcp-range=set:prov,10\.10\.1\.0,10\.10\.1\.250,255\.255\.252\.0,7200$/m);
    expect(conf).toMatch(/^dhcp-match=set:efi64,option:client-arch,7$/m);
    expect(conf).toMatch(/^dhcp-userclass=set:ipxe,iPXE$/m);
    expect(conf).toMatch(/^dhcp-boot=tag:known,tag:ipxe,http:\/\/10\.10\.0\.2:8080\/boot\.ipxe$/m);
    // every boot line requires an inventory MAC
    for (const l of conf.split('\n').filter((x) => /^(dhcp-boot|pxe-service)=/.test(x))) expect(l).toContain('tag:known');
    expect(conf).toMatch(/^no-ping$/m);
    expect(conf).toMatch(/^dhcp-option=tag:ipxe,encap:175,176,1$/m);
    expect(conf).toMatch(/^enable-ra$/m);
  });

  it('dnsmasq proxy: no addresses, no RAs, no no-pxedhcp; PXE menus for non-iPXE ROMs', async () => {
    const site = rackSite(dir);
    site.seed = { ...site.seed, dhcp: { mode: 'proxy', lease_seconds: 3600 } };
    await renderStack(site);
    const conf = read('dnsmasq/dnsmasq.conf');
    expect(conf).toMatch(/^dhcp-range=set:prov,10\.10\.0\.0,proxy,255\.255\.252\.0$/m);
    expect(conf).not.toMatch(/^dhcp-authoritative/m);
    expect(conf).not.toMatch(/^enable-ra/m);
    expect(conf).not.toContain('encap:175');
    expect(conf).toMatch(/^dhcp-host=b8:ca:3a:10:00:01,b8:ca:3a:10:ff:01,ctl01$/m);
    expect(conf).toMatch(/^dhcp-ignore=tag:!known$/m);
    expect(conf).toMatch(/^pxe-service=tag:known,tag:!ipxe,x86PC,/m);
  });

  it('refuses a TFTP port other than 69, naming the field, before writing anything', async () => {
    const site = labSite(dir);
    site.seed = { ...site.seed, ports: { ...site.seed.ports, tftp: 15069 } };
    const err = await renderStack(site).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).problems[0]).toMatchObject({ path: 'seed.ports.tftp', message: 'must be 69 for engine ironic, not 15069' });
    expect(existsSync(path.join(dir, '.kseed'))).toBe(false);
  });

  it('dnsmasq on loopback keeps loopback (no except-interface=lo)', async () => {
    const site = labSite(dir);
    site.seed = { ...site.seed, interface: 'lo', address: '127.0.0.1', prefix: 8 };
    await renderStack(site);
    const conf = read('dnsmasq/dnsmasq.conf');
    expect(conf).toMatch(/^interface=lo$/m);
    expect(conf).not.toMatch(/^except-interface/m);
  });

  it('dnsmasq off: TFTP only', async () => {
    const site = rackSite(dir);
    site.seed = { ...site.seed, dhcp: { mode: 'off', lease_seconds: 3600 } };
    await renderStack(site);
    const conf = read('dnsmasq/dnsmasq.conf');
    expect(conf).toMatch(/^enable-tftp$/m);
    expect(conf).not.toMatch(/^dhcp-/m);
  });

  it('dnsmasq discovery pool: unknown MACs may lease, boot lines still need tag:known', async () => {
    const site = labSite(dir);
    site.seed = { ...site.seed, dhcp: { ...site.seed.dhcp, discovery_pool: true } };
    await renderStack(site);
    const conf = read('dnsmasq/dnsmasq.conf');
    expect(conf).not.toMatch(/^dhcp-ignore/m);
    expect(conf).toMatch(/^dhcp-boot=tag:known,tag:!ipxe,tag:bios,undionly\.kpxe,,10\.77\.0\.1$/m);
  });

  it('registry and nginx bind the seed address only', async () => {
    await renderStack(labSite(dir));
    expect(YAML.parse(read('registry/config.yml')).http.addr).toBe('10.77.0.1:5000');
    expect(YAML.parse(read('registry/config.yml')).auth.htpasswd.path).toBe('/etc/docker/registry/htpasswd');
    const listens = read('http/nginx.conf').split('\n').filter((l) => /^\s*listen /.test(l));
    expect(listens.map((l) => l.trim())).toEqual(['listen 10.77.0.1:8080;']);
  });
});

describe('helpers', () => {
  it('json sorts keys and quotes, join/eq/indent/hexport behave', () => {
    const hb = createEnv();
    const t = (src: string, ctx: unknown) => hb.compile(src, { noEscape: true, strict: true })(ctx);
    expect(t('{{json v}}', { v: { b: 1, a: 'x"y' } })).toBe('{"a":"x\\"y","b":1}');
    expect(t('{{join l ","}}', { l: ['a', 'b'] })).toBe('a,b');
    expect(t('{{#if (eq a 1)}}yes{{else}}no{{/if}}', { a: 1 })).toBe('yes');
    expect(t('x: {{indent 2 s}}', { s: 'a\nb\n\nc' })).toBe('x: a\n  b\n\n  c');
    expect(t('{{hexport p}}', { p: 8080 })).toBe('1F90');
    expect(t('{{hexaddr a}}', { a: '10.77.0.1' })).toBe('01004D0A');
    expect(t('{{concat a ":" b}}', { a: 'h', b: 5 })).toBe('h:5');
  });

  it('project names are compose-safe', () => {
    expect(projectName({ site: 'Rack A/01' })).toBe('kseed-rack-a-01');
    expect(projectName({ site: '--' })).toBe('kseed-site');
  });
});
