import { createPrivateKey, createPublicKey } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { openState } from '../../../src/engine/state.js';
import { InputError } from '../../../src/errors.js';
import { generateHandoff, type HandoffResult } from '../../../src/handoff/index.js';
import { KOLLA_SWITCHES } from '../../../src/handoff/kolla-globals-keys.js';
import { KOLLA_CHILD_GROUPS, resolveGroup } from '../../../src/handoff/kolla-groups.js';
import { opensshRsaPublic } from '../../../src/handoff/passwords.js';
import { loadSiteProfiles } from '../../../src/profiles/load.js';
import { loadSite } from '../../../src/site/load.js';
import { cleanup, inventory, keyList, SITE, siteDir } from '../../fixtures/handoff/site.js';

process.env.KSEED_HO_BMC = 'x';
const PW_KEYS = keyList('kolla-passwords-keys.txt');
const SSH_KEYS = ['nova_ssh_key', 'kolla_ssh_key', 'keystone_ssh_key', 'bifrost_ssh_key', 'octavia_amp_ssh_key', 'neutron_ssh_key', 'haproxy_ssh_key'];

async function run(dir: string, file: string, opts: { kolla?: boolean; ceph?: boolean; seedPasswords?: string; outDir?: string } = {}): Promise<HandoffResult> {
  const site = await loadSite(file);
  const stateDir = path.join(dir, '.kseed');
  if (opts.seedPasswords) {
    // reuse one generated passwords.yml: kept values skip the slow RSA generation
    mkdirSync(path.join(stateDir, 'handoff', 'kolla'), { recursive: true });
    cpSync(opts.seedPasswords, path.join(stateDir, 'handoff', 'kolla', 'passwords.yml'));
  }
  const state = openState(stateDir);
  try {
    return await generateHandoff(site, state, { kolla: opts.kolla ?? true, ceph: opts.ceph ?? true, outDir: opts.outDir, stateDir, profiles: await loadSiteProfiles(site.dir) });
  } finally {
    state.close();
  }
}

let first: { dir: string; file: string; r: HandoffResult; pwFile: string; pwText: string };

beforeAll(async () => {
  const s = siteDir();
  mkdirSync(path.join(s.dir, '.kseed', 'secrets'), { recursive: true, mode: 0o700 });
  writeFileSync(path.join(s.dir, '.kseed', 'secrets', 'registry-password'), 'reg-Pw-123\n', { mode: 0o600 });
  const r = await run(s.dir, s.file);
  const pwFile = path.join(r.out, 'kolla', 'passwords.yml');
  first = { ...s, r, pwFile, pwText: readFileSync(pwFile, 'utf8') };
}, 180_000);


afterAll(cleanup);
describe('passwords.yml', () => {
  it('has every key of the release, mode 0600, values in the formats kolla-genpwd uses', () => {
    expect(statSync(first.pwFile).mode & 0o777).toBe(0o600);
    const pw = YAML.parse(first.pwText) as Record<string, unknown>;
    for (const k of PW_KEYS) expect(pw, k).toHaveProperty(k);
    for (const k of PW_KEYS) expect(pw[k], k).not.toBeNull();
    expect(pw.docker_registry_password).toBe('reg-Pw-123');
    expect(pw.rbd_secret_uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(pw.designate_rndc_key).toMatch(/^[0-9a-f]{32}$/);
    expect(Buffer.from(pw.barbican_crypto_key as string, 'base64url')).toHaveLength(32);
    expect(pw.database_password).toMatch(/^[A-Za-z0-9]{40}$/);
    // genpwd's bcrypt_keys: a 22-character salt of bcrypt's alphabet (Kolla's prometheus precheck asserts 22)
    expect(pw.prometheus_bcrypt_salt).toMatch(/^[./A-Za-z0-9]{21}[.Oeu]$/);
    for (const k of ['swift_keystone_password', 'swift_hash_path_suffix', 'swift_hash_path_prefix']) expect(pw[k], k).toMatch(/^[A-Za-z0-9]{40}$/);
    const plain = PW_KEYS.filter((k) => typeof pw[k] === 'string');
    expect(new Set(plain.map((k) => pw[k])).size).toBe(plain.length);
  });

  it('generates real RSA key pairs whose public half matches the private one', () => {
    const pw = YAML.parse(first.pwText) as Record<string, { private_key: string; public_key: string }>;
    for (const k of SSH_KEYS) {
      const priv = createPrivateKey(pw[k]!.private_key);
      expect(priv.asymmetricKeyType).toBe('rsa');
      expect(pw[k]!.public_key.split(' ').slice(0, 2).join(' ')).toBe(opensshRsaPublic(createPublicKey(priv), '').split(' ').slice(0, 2).join(' '));
    }
    expect(new Set(SSH_KEYS.map((k) => pw[k]!.public_key)).size).toBe(SSH_KEYS.length);
  });

  it('keeps every existing value on a re-run, keeps user keys, fills blanked ones', async () => {
    const pw = YAML.parse(first.pwText) as Record<string, unknown>;
    pw.my_plugin_password = 'mine';
    pw.keystone_admin_password = null;
    writeFileSync(first.pwFile, YAML.stringify(pw), { mode: 0o644 });
    const r = await run(first.dir, first.file);
    const again = YAML.parse(readFileSync(first.pwFile, 'utf8')) as Record<string, unknown>;
    expect(statSync(first.pwFile).mode & 0o777).toBe(0o600);
    for (const k of PW_KEYS.filter((k) => k !== 'keystone_admin_password')) expect(again[k], k).toEqual(pw[k]);
    expect(again.my_plugin_password).toBe('mine');
    expect(again.keystone_admin_password).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(r.kolla?.generated_values).toBe(1);
    // a 40-character salt (what kseed wrote before) fails Kolla's precheck: it is replaced, the rest kept
    const bad = { ...again, prometheus_bcrypt_salt: 'A'.repeat(40) };
    writeFileSync(first.pwFile, YAML.stringify(bad), { mode: 0o600 });
    const fixed = await run(first.dir, first.file);
    const now = YAML.parse(readFileSync(first.pwFile, 'utf8')) as Record<string, unknown>;
    expect(now.prometheus_bcrypt_salt).toMatch(/^[./A-Za-z0-9]{22}$/);
    expect(now.database_password).toBe(again.database_password);
    expect(fixed.kolla?.generated_values).toBe(1);
    // a third run changes nothing at all
    const before = readFileSync(first.pwFile, 'utf8');
    await run(first.dir, first.file);
    expect(readFileSync(first.pwFile, 'utf8')).toBe(before);
  }, 60_000);
});

describe('--out and --kolla', () => {
  it('another output directory gets the same passwords; Kolla alone still follows the Ceph plan of the site', async () => {
    const other = path.join(first.dir, 'elsewhere');
    const r = await run(first.dir, first.file, { outDir: other, kolla: true, ceph: false });
    expect(r.out).toBe(other);
    expect(r.files.map((f) => path.relative(other, f.path)).sort()).toEqual(['known_hosts', 'kolla/globals.yml', 'kolla/multinode', 'kolla/passwords.yml']);
    const a = YAML.parse(readFileSync(first.pwFile, 'utf8')) as Record<string, unknown>;
    const b = YAML.parse(readFileSync(path.join(other, 'kolla', 'passwords.yml'), 'utf8')) as Record<string, unknown>;
    for (const k of PW_KEYS) expect(b[k], k).toEqual(a[k]);
    expect(YAML.parse(readFileSync(path.join(other, 'kolla', 'globals.yml'), 'utf8'))).toMatchObject({ nova_backend_ceph: 'yes', ceph_glance_pool_name: 'images' });
  });
});

describe('without inspection data', () => {
  it('writes every file and lists what it assumed', () => {
    const r = first.r;
    // the default image delivery is the seed's archive: no registry credentials on the nodes;
    // no archive among these artifacts yet, so no load script, and a warning saying what makes it
    expect(r.files.map((f) => path.relative(r.out, f.path)).sort()).toEqual(['ceph/bootstrap.sh', 'ceph/cluster.yaml', 'kolla/globals.yml', 'kolla/multinode', 'kolla/passwords.yml', 'known_hosts'].sort());
    expect(r.warnings).toContainEqual(expect.stringMatching(/^ceph\/load-image\.sh not written: the seed serves no archive of kseed\/ceph:16\.2\.15 yet \(`kseed images ceph` makes it/));
    expect(r.ceph).toMatchObject({ image_delivery: 'archive', local_image: 'kseed/ceph:16.2.15', image: '10.78.0.1:5000/kseed/ceph:16.2.15' });
    expect(r.ceph!.bootstrap_argv).toContain('--skip-pull');
    expect(r.ceph!.bootstrap_argv).not.toContain('--registry-json');
    const script = readFileSync(path.join(r.out, 'ceph', 'bootstrap.sh'), 'utf8');
    // every Ceph host loads the image before bootstrap
    expect(r.ceph!.hosts.map((h) => h.name)).toEqual(['ctl1', 'cmp1']);
    for (const h of ['ctl1', 'cmp1']) expect(script.indexOf(`# ceph-load-${h}\n`)).toBeGreaterThan(0);
    expect(script.indexOf('# ceph-load-cmp1\n')).toBeLessThan(script.indexOf('# ceph-bootstrap\n'));
    expect(script).not.toContain('registry.json');
    const a = r.assumptions.map((x) => `${x.node}:${x.setting}=${x.value}`);
    for (const n of ['ctl1', 'cmp1', 'cmp2']) {
      expect(a).toContain(`${n}:network_interface=eth0`);
      expect(a).toContain(`${n}:neutron_external_interface=eth1`);
    }
    expect(a).toContain('ctl1:osd_devices={"rotational":0}');
    expect(a).toContain('cmp1:osd_devices={"rotational":0}');
    expect(a).toContain('cmp2:ansible_host=cmp2');
    const globals = readFileSync(path.join(r.out, 'kolla', 'globals.yml'), 'utf8');
    expect(globals).toMatch(/# ASSUMED/);
    expect(YAML.parse(globals)).toMatchObject({ network_interface: 'eth0', neutron_external_interface: 'eth1', docker_registry: '10.78.0.1:5000', enable_prometheus: 'yes', enable_cinder: 'yes', nova_backend_ceph: 'yes' });
    expect(r.nodes.map((n) => [n.name, n.lifecycle])).toEqual([
      ['ctl1', 'not in state store'],
      ['cmp1', 'not in state store'],
      ['cmp2', 'not in state store'],
    ]);
  });
});

describe('with inspection data in the state store', () => {
  let r: HandoffResult;
  let dir: string;
  beforeAll(async () => {
    // the registry delivery: cephadm logs in to the seed registry and pulls
    const s = siteDir(SITE().replace('  ceph:\n', '  ceph:\n    image_delivery: registry\n'));
    dir = s.dir;
    mkdirSync(path.join(s.dir, '.kseed', 'secrets'), { recursive: true, mode: 0o700 });
    writeFileSync(path.join(s.dir, '.kseed', 'secrets', 'registry-password'), 'reg-Pw-123\n', { mode: 0o600 });
    const st = openState(path.join(s.dir, '.kseed'));
    st.ensureNode('ctl1');
    st.updateNode('ctl1', { ip: '10.78.0.51', data: { inventory: inventory('52:54:00:78:00:01') } });
    for (const to of ['manageable', 'available', 'deploying', 'active'] as const) st.transition('ctl1', to);
    st.ensureNode('cmp1');
    // cmp1's NICs have other names: it gets per-host overrides
    st.updateNode('cmp1', {
      data: {
        inventory: inventory('52:54:00:78:00:02', {
          nics: [
            { name: 'eno1', mac: '52:54:00:78:00:02', link: true },
            { name: 'eno2', mac: '52:54:00:bb:00:02', link: true },
          ],
        }),
      },
    });
    for (const to of ['manageable', 'available', 'deploying'] as const) st.transition('cmp1', to);
    st.close();
    r = await run(s.dir, s.file, { seedPasswords: first.pwFile });
  }, 60_000);

  it('chooses the interfaces from the inspected NICs: the PXE NIC for the API, another linked NIC for Neutron', () => {
    expect(r.nodes.find((n) => n.name === 'ctl1')?.interfaces).toEqual({ network_interface: 'ens3', neutron_external_interface: 'ens4', from: 'inspection' });
    expect(r.nodes.find((n) => n.name === 'cmp1')?.interfaces).toEqual({ network_interface: 'eno1', neutron_external_interface: 'eno2', from: 'inspection' });
    const inv = readFileSync(path.join(r.out, 'kolla', 'multinode'), 'utf8');
    // the tie (one node each) goes to the first node: ctl1's names are global, cmp1 overrides
    expect(YAML.parse(readFileSync(path.join(r.out, 'kolla', 'globals.yml'), 'utf8'))).toMatchObject({ network_interface: 'ens3', neutron_external_interface: 'ens4' });
    expect(inv).toMatch(/^cmp1 ansible_host=10\.78\.0\.12 .*network_interface=eno1 neutron_external_interface=eno2$/m);
    expect(inv).toMatch(/^ctl1 ansible_host=10\.78\.0\.51 ansible_user=debian ansible_ssh_private_key_file=\S+ ansible_ssh_common_args="-o UserKnownHostsFile=\S+ -o StrictHostKeyChecking=accept-new" ansible_become=True$/m);
    const assumed = r.assumptions.filter((a) => a.node === 'ctl1' || a.node === 'cmp1').map((a) => a.setting);
    expect(assumed).toEqual([]);
  });

  it('takes OSD devices from the inspected disks, never the root disk, filtered by the site', () => {
    expect(r.nodes.find((n) => n.name === 'ctl1')).toMatchObject({ root_disk: '/dev/vda', osd_devices: ['/dev/vdb', '/dev/vdc'] });
    expect(r.nodes.find((n) => n.name === 'cmp1')).toMatchObject({ root_disk: '/dev/vda', osd_devices: ['/dev/vdb', '/dev/vdc'] });
    const osd = r.ceph!.osds;
    expect(osd).toEqual([{ id: 'kseed', hosts: ['ctl1', 'cmp1'], data_devices: { paths: ['/dev/vdb', '/dev/vdc'] } }]);
    // no cephadm .deb among the artifacts yet: Debian 12's Ceph version, said as an assumption
    expect(r.ceph!.bootstrap_argv).toEqual(expect.arrayContaining(['--mon-ip', '10.78.0.51', '--image', '10.78.0.1:5000/kseed/ceph:16.2.15', '--registry-json', '--skip-monitoring-stack']));
    expect(r.ceph!.bootstrap_argv).not.toContain('--apply-spec');
    expect(r.ceph!.bootstrap_argv).not.toContain('--skip-pull');
    expect(statSync(path.join(r.out, 'ceph', 'registry.json')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path.join(r.out, 'ceph', 'registry.json'), 'utf8'))).toEqual({ url: '10.78.0.1:5000', username: expect.any(String), password: 'reg-Pw-123' });
    expect(readFileSync(path.join(r.out, 'ceph', 'bootstrap.sh'), 'utf8')).toContain('# ceph-copy-registry\n');
    expect(r.assumptions).toContainEqual(expect.objectContaining({ setting: 'ceph image', value: 'kseed/ceph:16.2.15' }));
  });

  it('moves active nodes to handed-off and reports the others', () => {
    expect(r.nodes.map((n) => [n.name, n.lifecycle])).toEqual([
      ['ctl1', 'handed-off'],
      ['cmp1', 'not moved'],
      ['cmp2', 'not in state store'],
    ]);
    const st = openState(path.join(dir, '.kseed'));
    try {
      expect(st.getNode('ctl1')?.state).toBe('handed-off');
      expect(st.getNode('cmp1')?.state).toBe('deploying');
      const ev = st.listEvents('ctl1', { kind: 'transition' }).at(-1)!;
      expect(ev).toMatchObject({ from_state: 'active', to_state: 'handed-off' });
      expect(ev.detail.phase).toBe('handoff');
    } finally {
      st.close();
    }
  });

  it('reports an already handed-off node on a re-run', async () => {
    const again = await run(dir, path.join(dir, 'kseed.yaml'));
    expect(again.nodes.find((n) => n.name === 'ctl1')?.lifecycle).toBe('already handed-off');
  });

  it('lists no OSD device for a node whose root disk it cannot tell', async () => {
    const s = siteDir(SITE().replace('root_device: { name: /dev/vda }', 'root_device: { name: /dev/nvme0n1 }'));
    const st = openState(path.join(s.dir, '.kseed'));
    st.ensureNode('ctl1');
    st.updateNode('ctl1', { data: { inventory: inventory('52:54:00:78:00:01') } });
    st.close();
    const r2 = await run(s.dir, s.file, { seedPasswords: first.pwFile });
    expect(r2.nodes.find((n) => n.name === 'ctl1')?.osd_devices).toEqual([]);
    expect(r2.warnings.join('\n')).toMatch(/ctl1: no OSD devices listed, the root disk is unknown/);
    expect(r2.ceph!.osds.flatMap((o) => o.hosts ?? [])).not.toContain('ctl1');
  });
});

describe('bad input', () => {
  it('refuses an enable switch Kolla does not document, naming it, and writes nothing', async () => {
    const s = siteDir(SITE().replace('enable: { prometheus: true, cinder: true }', 'enable: { prometheus: true, frobnicate: true }'));
    const err = await run(s.dir, s.file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).problems.map((p) => p.path)).toEqual(['handoff.kolla.enable.frobnicate']);
    expect(existsSync(path.join(s.dir, '.kseed', 'handoff'))).toBe(false);
  });

  it('needs a VIP for Kolla', async () => {
    const s = siteDir(SITE().replace('    vip: 10.78.0.250\n', ''));
    const err = await run(s.dir, s.file).catch((e: unknown) => e);
    expect((err as InputError).problems.map((p) => p.path)).toEqual(['handoff.kolla.vip']);
  });
});

describe('site switches against the Ceph block', () => {
  it('warns only when the site says otherwise than the Ceph hand-off writes', async () => {
    const s = siteDir(SITE().replace('enable: { prometheus: true, cinder: true }', 'enable: { cinder_backend_ceph: true, nova_backend_ceph: false }'));
    const r = await run(s.dir, s.file, { seedPasswords: first.pwFile });
    expect(r.warnings.filter((w) => w.startsWith('handoff.kolla.enable'))).toEqual([
      "handoff.kolla.enable: nova_backend_ceph is set by the Ceph hand-off (Glance, Cinder and Nova on Ceph); the site's no is not written",
    ]);
    const g = readFileSync(path.join(r.out, 'kolla', 'globals.yml'), 'utf8');
    expect(g.match(/^nova_backend_ceph:/gm)).toHaveLength(1);
    expect(YAML.parse(g)).toMatchObject({ nova_backend_ceph: 'yes', cinder_backend_ceph: 'yes' });
  });
});

describe('Kolla group tree', () => {
  it("has every group of Kolla-Ansible 2024.1's multinode sample, with the sample's children", () => {
    const sample = keyList('kolla-multinode-2024.1.txt').map((l) => {
      const [name, rest] = l.split(':') as [string, string];
      return { name, children: rest.trim().split(/\s+/) };
    });
    expect(sample.length).toBeGreaterThan(170);
    for (const g of sample) expect(KOLLA_CHILD_GROUPS.find((c) => c.name === g.name)?.children.slice().sort(), g.name).toEqual(g.children.slice().sort());
    expect(sample.map((g) => g.name)).toEqual(expect.arrayContaining(['prometheus-msteams', 'swift', 'swift-proxy-server', 'swift-account-server', 'swift-container-server', 'swift-object-server']));
  });

  it('lets a site set only switches the 2024.1 globals.yml documents', () => {
    const documented = new Set(keyList('kolla-globals-keys.txt'));
    expect([...KOLLA_SWITCHES].filter((k) => !documented.has(k))).toEqual([]);
  });

  it('resolves service groups to the role groups holding them', () => {
    const roles = { control: ['c1'], network: ['n1'], compute: ['k1', 'k2'], storage: ['s1'], monitoring: ['m1'], deployment: ['localhost'] };
    expect(resolveGroup('neutron-server', roles)).toEqual(['c1']);
    expect(resolveGroup('neutron-l3-agent', roles)).toEqual(['n1']);
    expect(resolveGroup('iscsid', roles).sort()).toEqual(['c1', 'k1', 'k2', 's1']);
    expect(resolveGroup('ovn-controller', roles).sort()).toEqual(['k1', 'k2', 'n1']);
    expect(resolveGroup('cinder-volume', roles)).toEqual(['s1']);
    expect(resolveGroup('prometheus-node-exporter', roles).sort()).toEqual(['c1', 'k1', 'k2', 'm1', 'n1', 's1']);
    expect(resolveGroup('prometheus-msteams', roles)).toEqual(['m1']);
    expect(resolveGroup('swift-proxy-server', roles)).toEqual(['c1']);
    expect(resolveGroup('swift-object-server', roles)).toEqual(['s1']);
  });
});
