/**
 * The generated files against the real consumers: ansible-inventory (Debian
 * ansible-core), Ceph's own spec classes (Debian python3-ceph-common),
 * ssh-keygen; and the built CLI for --json and --run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { openState } from '../../../src/engine/state.js';
import { cleanup, FIXTURES, inventory, keyList, SITE, siteDir } from '../../fixtures/handoff/site.js';
import { ensureBuilt } from '../../helpers/cli.js';
import { needPeers } from '../../helpers/peers.js';

const ROOT = path.resolve(FIXTURES, '../../..');
const BIN = path.join(ROOT, 'bin', 'kseed.js');
const PY = '/usr/bin/python3';
const CEPH_SPEC = '/usr/lib/python3/dist-packages/ceph/deployment/service_spec.py';

function kseed(args: string[], cwd: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, KSEED_HO_BMC: 'x', ...env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let site: { dir: string; file: string };
let json: Record<string, unknown>;
let out: string;

beforeAll(() => {
  // the CLI runs from dist/: built unless fresh, never under another test lane (helpers/cli.ts)
  ensureBuilt();
  site = siteDir();
  mkdirSync(path.join(site.dir, '.kseed', 'secrets'), { recursive: true, mode: 0o700 });
  writeFileSync(path.join(site.dir, '.kseed', 'secrets', 'registry-password'), 'Sup3r-Registry-Secret\n', { mode: 0o600 });
  const st = openState(path.join(site.dir, '.kseed'));
  st.ensureNode('ctl1');
  st.updateNode('ctl1', { data: { inventory: inventory('52:54:00:78:00:01') } });
  st.close();
  const r = kseed(['--json', 'handoff'], site.dir);
  expect(r.code, r.stderr + r.stdout).toBe(0);
  json = JSON.parse(r.stdout) as Record<string, unknown>;
  out = json.out as string;
}, 240_000);


afterAll(cleanup);
describe.skipIf(!needPeers('ansible-inventory'))('ansible-inventory', () => {
  it('accepts the inventory and puts the right hosts in the role and service groups', () => {
    const inv = path.join(out, 'kolla', 'multinode');
    const r = spawnSync('ansible-inventory', ['-i', inv, '--list'], { encoding: 'utf8', env: { ...process.env, ANSIBLE_INVENTORY_UNPARSED_FAILED: 'true', ANSIBLE_INVENTORY_ENABLED: 'ini' } });
    expect(r.status, r.stderr).toBe(0);
    // Kolla's own group names have hyphens, which Ansible warns about (and keeps): the sample does the same
    const stderr = r.stderr.replace(/\[WARNING\]: Invalid characters were found in group names but not replaced, use\s+-vvvv to see details\s*/, '');
    expect(stderr).not.toMatch(/WARNING|ERROR/i);
    const data = JSON.parse(r.stdout) as Record<string, { hosts?: string[]; children?: string[] }> & { _meta: { hostvars: Record<string, Record<string, string>> } };
    const hosts = (g: string, seen = new Set<string>()): string[] => {
      if (seen.has(g)) return [];
      seen.add(g);
      const d = data[g];
      if (!d) throw new Error(`group ${g} missing`);
      return [...new Set([...(d.hosts ?? []), ...(d.children ?? []).flatMap((c) => hosts(c, seen))])].sort();
    };
    expect(hosts('control')).toEqual(['ctl1']);
    expect(hosts('network')).toEqual(['ctl1']);
    expect(hosts('monitoring')).toEqual(['ctl1']);
    expect(hosts('compute')).toEqual(['cmp1', 'cmp2']);
    expect(hosts('storage')).toEqual(['cmp1', 'ctl1']);
    expect(hosts('deployment')).toEqual(['localhost']);
    expect(hosts('baremetal')).toEqual(['cmp1', 'cmp2', 'ctl1']);
    expect(hosts('nova-api')).toEqual(['ctl1']);
    expect(hosts('neutron-l3-agent')).toEqual(['ctl1']);
    expect(hosts('ovn-controller')).toEqual(['cmp1', 'cmp2', 'ctl1']);
    expect(hosts('cinder-volume')).toEqual(['cmp1', 'ctl1']);
    expect(hosts('prometheus-node-exporter')).toEqual(['cmp1', 'cmp2', 'ctl1']);
    // Kolla's prometheus role reads groups['prometheus-msteams'] even when it is off
    expect(hosts('prometheus-msteams')).toEqual(['ctl1']);
    expect(hosts('swift-object-server')).toEqual(['cmp1', 'ctl1']);
    const hv = data._meta.hostvars;
    expect(hv.ctl1).toMatchObject({ ansible_host: '10.78.0.11', ansible_user: 'debian', ansible_become: true, ansible_ssh_private_key_file: json.ssh_key_file });
    expect(hv.cmp1).toMatchObject({ ansible_host: '10.78.0.12' });
    expect(hv.cmp2?.ansible_host).toBeUndefined();
    // ctl1 was inspected (ens3/ens4), the others assumed eth0/eth1: the majority is global, ctl1 overrides
    expect(hv.ctl1).toMatchObject({ network_interface: 'ens3', neutron_external_interface: 'ens4' });
    expect(hv.cmp1?.network_interface).toBeUndefined();
  });
});

describe.skipIf(!needPeers('ansible-inventory', PY, CEPH_SPEC))('examples/rack.yaml', () => {
  it('hands off 11 nodes in files ansible-inventory and Ceph accept', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kseed-rack-'));
    cpSync(path.join(ROOT, 'examples', 'rack.yaml'), path.join(dir, 'kseed.yaml'));
    mkdirSync(path.join(dir, 'secrets'), { mode: 0o700 });
    writeFileSync(path.join(dir, 'secrets', 'ilo.pass'), 'x\n', { mode: 0o600 });
    // reuse the generated passwords: the RSA keys are the slow part
    mkdirSync(path.join(dir, '.kseed', 'handoff', 'kolla'), { recursive: true });
    cpSync(path.join(out, 'kolla', 'passwords.yml'), path.join(dir, '.kseed', 'handoff', 'kolla', 'passwords.yml'));
    const r = kseed(['--json', 'handoff'], dir, { KSEED_BMC_PASSWORD: 'x' });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const res = JSON.parse(r.stdout) as { out: string; nodes: unknown[]; warnings: string[] };
    expect(res.nodes).toHaveLength(11);
    const inv = spawnSync('ansible-inventory', ['-i', path.join(res.out, 'kolla', 'multinode'), '--list'], { encoding: 'utf8', env: { ...process.env, ANSIBLE_INVENTORY_UNPARSED_FAILED: 'true', ANSIBLE_INVENTORY_ENABLED: 'ini' } });
    expect(inv.status, inv.stderr).toBe(0);
    const data = JSON.parse(inv.stdout) as Record<string, { hosts?: string[] }>;
    expect(data.control?.hosts).toEqual(['ctl01', 'ctl02', 'ctl03']);
    expect(data.compute?.hosts).toEqual(['cmp01', 'cmp02', 'cmp03', 'cmp04', 'cmp05']);
    expect(data.storage?.hosts).toEqual(['stor01', 'stor02', 'stor03']);
    const ceph = spawnSync(PY, [path.join(FIXTURES, 'ceph-validate.py'), path.join(res.out, 'ceph', 'cluster.yaml')], { encoding: 'utf8' });
    expect(ceph.status, ceph.stdout + ceph.stderr).toBe(0);
    const docs = JSON.parse(ceph.stdout) as { kind: string; labels?: string[]; hostname?: string }[];
    expect(docs.filter((d) => d.labels?.includes('mon')).map((d) => d.hostname)).toEqual(['ctl01', 'ctl02', 'ctl03']);
    expect(docs.filter((d) => d.labels?.includes('osd')).map((d) => d.hostname)).toEqual(['stor01', 'stor02', 'stor03']);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('globals.yml', () => {
  it('writes only keys Kolla-Ansible documents for the release', () => {
    const documented = new Set(keyList('kolla-globals-keys.txt'));
    const g = YAML.parse(readFileSync(path.join(out, 'kolla', 'globals.yml'), 'utf8')) as Record<string, unknown>;
    const written = Object.keys(g);
    expect(written.length).toBeGreaterThan(20);
    expect(written.filter((k) => !documented.has(k))).toEqual([]);
    expect(g).toMatchObject({ kolla_base_distro: 'debian', openstack_release: '2024.1', kolla_internal_vip_address: '10.78.0.250', docker_registry: '10.78.0.1:5000', docker_registry_username: 'kseed', glance_backend_ceph: 'yes', cinder_backend_ceph: 'yes', nova_backend_ceph: 'yes', ceph_nova_pool_name: 'vms' });
    // bootstrap-servers gets Debian's docker.io from the node's own mirror, not download.docker.com
    expect(g).toMatchObject({ enable_docker_repo: false, docker_apt_package: 'docker.io' });
  });
});

describe.skipIf(!needPeers('ansible', '/usr/lib/python3/dist-packages/passlib/__init__.py'))('passwords.yml through Ansible', () => {
  it("passes Kolla's prometheus precheck and hashes with password_hash('bcrypt') as its web config does", () => {
    const pwFile = path.join(out, 'kolla', 'passwords.yml');
    const salt = (YAML.parse(readFileSync(pwFile, 'utf8')) as { prometheus_bcrypt_salt: string }).prometheus_bcrypt_salt;
    const env = { ...process.env, ANSIBLE_LOCALHOST_WARNING: 'false', ANSIBLE_DEPRECATION_WARNINGS: 'false' };
    const assert = spawnSync('ansible', ['localhost', '-o', '-e', `@${pwFile}`, '-m', 'assert', '-a', "that='prometheus_bcrypt_salt is string and prometheus_bcrypt_salt | length == 22'"], { encoding: 'utf8', env });
    expect(assert.status, assert.stdout + assert.stderr).toBe(0);
    const hash = spawnSync('ansible', ['localhost', '-o', '-e', `@${pwFile}`, '-m', 'debug', '-a', "msg={{ 'pw' | password_hash('bcrypt', salt=prometheus_bcrypt_salt) }}"], { encoding: 'utf8', env });
    expect(hash.status, hash.stdout + hash.stderr).toBe(0);
    // passlib keeps the salt as given (no padding-bit repair): the hash carries it verbatim
    expect(hash.stdout).toContain(`"msg": "$2b$12$${salt}`);
  });
});

describe.skipIf(!needPeers(PY, CEPH_SPEC))("Ceph's spec classes", () => {
  const validate = (file: string) => spawnSync(PY, [path.join(FIXTURES, 'ceph-validate.py'), file], { encoding: 'utf8' });

  it('accept every document of the cephadm spec, with the inspected OSD devices', () => {
    const r = validate(path.join(out, 'ceph', 'cluster.yaml'));
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const docs = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(docs.filter((d) => d.kind === 'host')).toEqual([
      { kind: 'host', hostname: 'ctl1', addr: '10.78.0.11', labels: ['mon', 'mgr', 'osd', '_admin'] },
      { kind: 'host', hostname: 'cmp1', addr: '10.78.0.12', labels: ['osd'] },
    ]);
    expect(docs.find((d) => d.service_type === 'mon')).toMatchObject({ label: 'mon' });
    expect(docs.find((d) => d.service_type === 'mgr')).toMatchObject({ label: 'mgr' });
    const osds = docs.filter((d) => d.service_type === 'osd');
    expect(osds).toContainEqual(expect.objectContaining({ class: 'DriveGroupSpec', hosts: ['ctl1'], data_devices: { paths: ['/dev/vdb', '/dev/vdc'], all: false, rotational: null } }));
    // cmp1 has no inspection data: the site filter (SSDs) applies there
    expect(osds).toContainEqual(expect.objectContaining({ hosts: ['cmp1'], data_devices: expect.objectContaining({ paths: [], rotational: 0 }) }));
  });

  it('refuse a broken spec, so the check above means something', () => {
    const bad = path.join(site.dir, 'bad.yaml');
    writeFileSync(bad, 'service_type: osd\nservice_id: x\nplacement: { label: osd }\nspec:\n  data_devices: { all: true, rotational: 1 }\n');
    expect(validate(bad).status).toBe(1);
  });
});

describe.skipIf(!needPeers('cephadm'))('cephadm (Debian cephadm)', () => {
  it('knows every option of the bootstrap and apply commands kseed writes', () => {
    const argv = (json.ceph as { bootstrap_argv: string[] }).bootstrap_argv;
    // no Ceph image built for this site yet: Debian 12's Ceph version, the release of Debian's cephadm
    expect(argv.slice(0, 4)).toEqual(['cephadm', '--image', '10.78.0.1:5000/kseed/ceph:16.2.15', 'bootstrap']);
    const help = (args: string[]) => execFileSync('cephadm', [...args, '--help'], { encoding: 'utf8' });
    const global = help([]);
    const bootstrap = help(['bootstrap']);
    expect(global).toMatch(/--image IMAGE/);
    for (const flag of argv.slice(4).filter((a) => a.startsWith('--'))) expect(bootstrap, flag).toMatch(new RegExp(`${flag}\\b`));
    expect(help(['shell'])).toMatch(/--mount MOUNT/);
    const script = readFileSync(path.join(out, 'ceph', 'bootstrap.sh'), 'utf8');
    // kseed's own image goes to the hosts as the seed's archive (image_delivery: archive), so nothing is pulled
    expect(script).toContain(`sudo cephadm --image 10.78.0.1:5000/kseed/ceph:16.2.15 bootstrap --mon-ip 10.78.0.11 --skip-pull --ssh-user debian --skip-monitoring-stack --skip-dashboard`);
    // the registry delivery's flag (image_delivery: registry, unit-tested in handoff.test.ts) is Debian cephadm's too
    expect(bootstrap).toMatch(/--registry-json\b/);
    // cmp1 gets the cluster's key from the first monitor before the spec is applied
    expect(script).toMatch(/# ceph-key-cmp1\n.*debian@10\.78\.0\.11 'sudo cat \/etc\/ceph\/ceph\.pub' \| .*debian@10\.78\.0\.12 .*authorized_keys/);
    expect(script.indexOf('# ceph-key-cmp1')).toBeLessThan(script.indexOf('# ceph-apply'));
    expect(spawnSync('sh', ['-n', path.join(out, 'ceph', 'bootstrap.sh')]).status).toBe(0);
  });

  it("host entries survive bootstrap --apply-spec's line reader (Debian cephadm's own parse_yaml_objs)", () => {
    // cephadm reads hostname/addr line by line to copy its key: quotes would stay in the values
    const py = `import importlib.machinery, importlib.util, json, sys
loader = importlib.machinery.SourceFileLoader('cephadm', '/usr/sbin/cephadm')
spec = importlib.util.spec_from_loader('cephadm', loader)
m = importlib.util.module_from_spec(spec); loader.exec_module(m)
print(json.dumps([o for o in m.parse_yaml_objs(open(sys.argv[1])) if o.get('service_type') == 'host']))`;
    const r = spawnSync('/usr/bin/python3', ['-c', py, path.join(out, 'ceph', 'cluster.yaml')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const hosts = JSON.parse(r.stdout) as Record<string, string>[];
    expect(hosts.map((h) => [h.hostname, h.addr])).toEqual([['ctl1', '10.78.0.11'], ['cmp1', '10.78.0.12']]);
  });
});

describe('kseed mirror sync (CLI)', () => {
  it('refuses to run without an image list, and without a registry password', () => {
    const a = kseed(['mirror', 'sync'], site.dir);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/give --list FILE/);
    // a fresh Ironic-engine site: its registry runs in the stack `kseed up` starts, which also
    // makes the password, so nothing is contacted. (The embedded engine starts its own registry
    // here instead: test/integration/engine/seed-registry.test.ts.)
    const fresh = siteDir(SITE().replace('engine: embedded', 'engine: ironic'));
    const list = path.join(fresh.dir, 'images.txt');
    writeFileSync(list, 'quay.io/ceph/ceph:v18\n');
    const b = kseed(['mirror', 'sync', '--list', list], fresh.dir);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/no password yet: run `kseed up` first/);
  });

  it('refuses up front where the seed registry is a pull-through cache (it takes no pushes)', () => {
    const cache = siteDir(SITE('registry:\n  upstream: https://registry-1.docker.io\n'));
    const list = path.join(cache.dir, 'images.txt');
    writeFileSync(list, 'quay.io/ceph/ceph:v18\n');
    const r = kseed(['mirror', 'sync', '--list', list], cache.dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/registry\.upstream is set \(https:\/\/registry-1\.docker\.io\): the seed registry is a pull-through cache, which takes no pushes/);
  });
});

describe.skipIf(!needPeers('ssh-keygen'))('SSH keys', () => {
  it('the login key and the Kolla key pairs load in ssh-keygen and derive the written public keys', () => {
    const key = json.ssh_key_file as string;
    const pub = execFileSync('ssh-keygen', ['-y', '-f', key], { encoding: 'utf8' }).trim().split(' ').slice(0, 2).join(' ');
    expect(readFileSync(`${key}.pub`, 'utf8').trim().startsWith(pub)).toBe(true);
    const pw = YAML.parse(readFileSync(path.join(out, 'kolla', 'passwords.yml'), 'utf8')) as Record<string, { private_key: string; public_key: string }>;
    const tmp = path.join(site.dir, 'nova.key');
    writeFileSync(tmp, pw.nova_ssh_key!.private_key, { mode: 0o600 });
    const novaPub = execFileSync('ssh-keygen', ['-y', '-f', tmp], { encoding: 'utf8' }).trim();
    expect(pw.nova_ssh_key!.public_key.startsWith(novaPub)).toBe(true);
  });
});

describe('kseed handoff --json', () => {
  it('never carries a secret', () => {
    const text = JSON.stringify(json);
    const pw = YAML.parse(readFileSync(path.join(out, 'kolla', 'passwords.yml'), 'utf8')) as Record<string, unknown>;
    expect(text).not.toContain('Sup3r-Registry-Secret');
    for (const [k, v] of Object.entries(pw)) {
      const values = typeof v === 'string' ? [v] : v && typeof v === 'object' ? Object.values(v as Record<string, string>) : [];
      for (const s of values) if (typeof s === 'string' && s.length >= 16) expect(text.includes(s), k).toBe(false);
    }
    expect(text).not.toMatch(/PRIVATE KEY/);
    expect(json.assumptions).toEqual(expect.arrayContaining([expect.objectContaining({ node: 'cmp1', setting: 'osd_devices' })]));
  });

  it('--run without kolla-ansible exits 1 with the exact commands to run by hand', () => {
    if (spawnSync('sh', ['-c', 'command -v kolla-ansible']).status === 0) return expect.unreachable('kolla-ansible is installed here: this test is about its absence');
    const r = kseed(['handoff', '--kolla', '--run'], site.dir, { PATH: `/usr/bin:/bin` });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/kolla-ansible is not installed/);
    expect(r.stdout).toContain(`kolla-ansible bootstrap-servers -i ${path.join(out, 'kolla', 'multinode')} --configdir ${path.join(out, 'kolla')}`);
    expect(r.stdout).toMatch(/kolla-ansible prechecks .*\n.*kolla-ansible deploy /);
    const j = kseed(['--json', 'handoff', '--kolla', '--run'], site.dir, { PATH: `/usr/bin:/bin` });
    expect(j.code).toBe(1);
    const parsed = JSON.parse(j.stdout) as { run: { ok: boolean; missing: string[]; commands: string[] } };
    expect(parsed.run).toMatchObject({ ok: false, missing: ['kolla-ansible'] });
    expect(parsed.run.commands.map((c) => c.split(' ')[0])).toEqual(['kolla-ansible', 'kolla-ansible', 'kolla-ansible']);
  });

  it('--ceph --status before any bootstrap says so and asks no node (exit 1)', () => {
    const r = kseed(['handoff', '--ceph', '--status'], site.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Ceph has not been bootstrapped by kseed on this site yet: run `kseed handoff --ceph --run`/);
    const j = kseed(['--json', 'handoff', '--ceph', '--status'], site.dir);
    expect(JSON.parse(j.stdout)).toMatchObject({ error: 'no-ceph' });
  });

  it('--run with Ceph in the plan runs Ceph first, and stops before any node when the seed has no cephadm, naming what to build', () => {
    const r = kseed(['handoff', '--run'], site.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the seed serves no cephadm \.deb \(looked in .*\.kseed\/cache\/ramdisk\): build it with `kseed images ceph`.*nothing was started on the nodes/);
    expect(r.stdout).not.toMatch(/kolla-ansible/);
  });
});
