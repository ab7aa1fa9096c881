/**
 * The pieces of `kseed handoff --ceph --run` that need no node: versions and
 * the cephadm .deb, the OSD count the plan expects, what `ceph osd tree` and
 * `ceph status` say per host, and the node scripts under a real `sh`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addHostsScript, applySpecScript, authorizeKeyScript, bootstrapScript, installCephadmScript, loadImageScript, trustRegistryScript } from '../../../src/handoff/ceph-scripts.js';
import { CEPH_RUN_KEY, CEPH_UNTIL, expectedOsds, osdsPerHost, preflight, runCeph, type CephPlan, type KvStore } from '../../../src/handoff/ceph-run.js';
import { kollaCephFiles, kollaCephScript } from '../../../src/handoff/ceph-kolla.js';
import { cephSummaryLine, cephSummaryOf, parseStatus } from '../../../src/handoff/ceph-status.js';
import { heredoc } from '../../../src/handoff/remote.js';
import { cephadmDebOf, findCephadmDeb, releaseOf, upstreamVersion } from '../../../src/images/ceph/version.js';
import { archiveNameOf, findCephArchive } from '../../../src/images/ceph/archive.js';
import { imageDelivery } from '../../../src/handoff/ceph.js';
import type { Site } from '../../../src/site/types.js';
import { KSEED_BIN } from '../../helpers/cli.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'kseed-cephrun-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('Ceph versions and the cephadm .deb', () => {
  it("reads Debian's version strings and file names", () => {
    expect(upstreamVersion('16.2.15+ds-0+deb12u2')).toBe('16.2.15');
    expect(upstreamVersion('2:18.2.4-1')).toBe('18.2.4');
    expect(releaseOf('16.2.15+ds-0+deb12u2')).toBe('pacific');
    expect(releaseOf('18.2.1')).toBe('reef');
    expect(cephadmDebOf('cephadm_16.2.15+ds-0+deb12u2_amd64.deb')).toEqual({ version: '16.2.15+ds-0+deb12u2', arch: 'amd64' });
    expect(cephadmDebOf('ceph-mon_16.2.15_amd64.deb')).toBeUndefined();
    expect(() => upstreamVersion('pacific')).toThrow(/not a Ceph version/);
  });

  it('finds the newest cephadm .deb among the artifacts, and none in an empty or missing directory', () => {
    const dir = path.join(tmp, 'artifacts');
    mkdirSync(dir);
    expect(findCephadmDeb(dir)).toBeUndefined();
    expect(findCephadmDeb(path.join(tmp, 'nope'))).toBeUndefined();
    for (const f of ['cephadm_16.2.9-1_amd64.deb', 'cephadm_16.2.15+ds-0+deb12u2_amd64.deb', 'vmlinuz']) writeFileSync(path.join(dir, f), 'x');
    expect(findCephadmDeb(dir)).toEqual({ file: 'cephadm_16.2.15+ds-0+deb12u2_amd64.deb', version: '16.2.15+ds-0+deb12u2' });
  });
});

describe('OSDs', () => {
  it('expects one OSD per listed device on the hosts in the cluster, at least one where a filter decides', () => {
    const osds = [
      { id: 'kseed-1', hosts: ['a', 'b'], data_devices: { paths: ['/dev/vdb', '/dev/vdc'] } },
      { id: 'kseed-uninspected', hosts: ['c'], data_devices: { rotational: 0 } },
    ];
    expect(expectedOsds(osds, ['a', 'b', 'c'])).toEqual({ a: 2, b: 2, c: 1 });
    // b failed to join: its OSDs are not waited for
    expect(expectedOsds(osds, ['a', 'c'])).toEqual({ a: 2, c: 1 });
  });

  it('counts up and in per host from ceph osd tree (in = reweight above 0)', () => {
    const tree = {
      nodes: [
        { id: -1, name: 'default', type: 'root', children: [-3, -5] },
        { id: -3, name: 'a', type: 'host', children: [0, 1] },
        { id: -5, name: 'b', type: 'host', children: [2] },
        { id: 0, name: 'osd.0', type: 'osd', status: 'up', reweight: 1 },
        { id: 1, name: 'osd.1', type: 'osd', status: 'down', reweight: 1 },
        { id: 2, name: 'osd.2', type: 'osd', status: 'up', reweight: 0 },
      ],
    };
    expect(osdsPerHost(tree)).toEqual({ a: { total: 2, up: 1, in: 2 }, b: { total: 1, up: 1, in: 0 } });
  });

  it('reads ceph status as Ceph 16 prints it (osdmap nested), with a cephadm shell line before the JSON', () => {
    const status = {
      fsid: '7c1f3f4e-2b1a-4c39-9d0e-5a6b7c8d9e0f',
      health: { status: 'HEALTH_WARN', checks: { TOO_FEW_OSDS: { summary: { message: 'OSD count 1 < osd_pool_default_size 2' } } } },
      quorum_names: ['n1'],
      monmap: { num_mons: 1 },
      mgrmap: { available: true, num_standbys: 1, active_name: 'n1.abcdef' },
      osdmap: { osdmap: { num_osds: 1, num_up_osds: 1, num_in_osds: 1 } },
    };
    const tree = { nodes: [{ id: -2, name: 'n1', type: 'host', children: [0] }, { id: 0, name: 'osd.0', type: 'osd', status: 'up', reweight: 1 }] };
    const s = parseStatus(`Inferring fsid 1234\n${JSON.stringify(status)}\n----kseed----\n${JSON.stringify(tree)}\n`);
    expect(s).toEqual({
      fsid: '7c1f3f4e-2b1a-4c39-9d0e-5a6b7c8d9e0f',
      health: 'HEALTH_WARN',
      checks: [{ code: 'TOO_FEW_OSDS', summary: 'OSD count 1 < osd_pool_default_size 2' }],
      mons: { count: 1, quorum: ['n1'] },
      mgrs: { available: true, active: 'n1.abcdef', standbys: 1 },
      osds: { total: 1, up: 1, in: 1 },
      hosts: [{ host: 'n1', osds: 1, up: 1, in: 1 }],
    });
  });
});

describe('the active mgr of Ceph 16', () => {
  it("comes from ceph mgr stat: Ceph 16's status JSON has no active_name", () => {
    const status = { fsid: 'f1', health: { status: 'HEALTH_WARN' }, quorum_names: ['n1'], monmap: { num_mons: 1 }, mgrmap: { available: true, num_standbys: 0, modules: ['cephadm'] }, osdmap: { osdmap: { num_osds: 0, num_up_osds: 0, num_in_osds: 0 } } };
    const stat = { epoch: 9, available: true, active_name: 'n1.qwerty', num_standby: 0 };
    const s = parseStatus(`${JSON.stringify(status)}\n----kseed----\n{"nodes": []}\n----kseed----\n${JSON.stringify(stat)}\n`);
    expect(s.mgrs).toEqual({ available: true, active: 'n1.qwerty', standbys: 0 });
    expect(s.mons).toEqual({ count: 1, quorum: ['n1'] });
    // without the third document (an older kseed's record), none is named rather than a wrong one
    expect(parseStatus(`${JSON.stringify(status)}\n----kseed----\n{"nodes": []}`).mgrs.active).toBeNull();
  });
});

describe('kseed handoff --ceph --run --until', () => {
  const kseed = (args: string[]) => spawnSync(process.execPath, [KSEED_BIN, '--json', ...args], { encoding: 'utf8', cwd: tmp });
  it('stops after a named Ceph step only; anything else is bad input (exit 2) before the site is read', () => {
    const bad = kseed(['--config', path.join(tmp, 'no-site.yaml'), 'handoff', '--ceph', '--run', '--until', 'osd']);
    expect(bad.status, bad.stderr).toBe(2);
    expect(bad.stderr + bad.stdout).toMatch(/--until osd: not a Ceph step to stop after/);
    expect(bad.stderr + bad.stdout).toMatch(/one of bootstrap, settings, add-host, apply-spec, osds-up/);
    for (const args of [['--ceph', '--until', 'bootstrap'], ['--run', '--until', 'bootstrap'], ['--kolla', '--ceph', '--run', '--until', 'bootstrap']]) {
      const r = kseed(['--config', path.join(tmp, 'no-site.yaml'), 'handoff', ...args]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr + r.stdout, args.join(' ')).toMatch(/--until goes with --ceph --run/);
    }
    expect(CEPH_UNTIL).toEqual(['bootstrap', 'settings', 'add-host', 'apply-spec', 'osds-up']);
  });
});

describe('the Ceph line of kseed status (from the hand-off record)', () => {
  it('none before a bootstrap; bootstrapped without a status; the last status with its time', () => {
    expect(cephSummaryOf(undefined)).toBeUndefined();
    expect(cephSummaryOf({ steps: { 'trust-registry@n1': { status: 'ok' }, bootstrap: { status: 'failed' } } })).toBeUndefined();
    const bare = cephSummaryOf({ steps: { bootstrap: { status: 'ok' } } })!;
    expect(bare).toEqual({ fsid: null, health: null, mons: null, mgr_active: null, osds: null, as_of: null, source: 'hand-off record' });
    expect(cephSummaryLine(bare)).toBe('ceph: bootstrapped by kseed, no status recorded yet (kseed handoff --ceph --status asks the cluster)');
    const at = Date.UTC(2026, 11, 6, 16, 40, 1);
    const cluster = { fsid: 'f1', health: 'HEALTH_WARN', checks: [], mons: { count: 1, quorum: ['n1'] }, mgrs: { available: true, active: 'n1.x', standbys: 0 }, osds: { total: 1, up: 1, in: 1 }, hosts: [], at };
    const s = cephSummaryOf({ steps: { bootstrap: { status: 'ok' } }, cluster })!;
    expect(s).toEqual({ fsid: 'f1', health: 'HEALTH_WARN', mons: 1, mgr_active: 'n1.x', osds: { total: 1, up: 1, in: 1 }, as_of: '2026-12-06T16:40:01.000Z', source: 'hand-off record' });
    expect(cephSummaryLine(s)).toBe('ceph: HEALTH_WARN, fsid f1, 1 mon, mgr n1.x, OSDs 1 up 1 in of 1 (hand-off record of 2026-12-06T16:40:01.000Z; live: kseed handoff --ceph --status)');
  });
});

describe('node scripts under sh', () => {
  const sh = (script: string, env: Record<string, string> = {}) => spawnSync('sh', ['-s'], { input: script, encoding: 'utf8', env: { PATH: process.env.PATH!, ...env } });

  it('every script parses (sh -n)', () => {
    const scripts = [
      trustRegistryScript('10.0.0.1:5000'),
      installCephadmScript('http://10.0.0.1:8080/artifacts/cephadm_16.2.15%2Bds_amd64.deb', '16.2.15+ds-0+deb12u2'),
      bootstrapScript(['cephadm', '--image', 'r/kseed/ceph:16.2.15', 'bootstrap', '--mon-ip', '10.0.0.11'], '/root/kseed-ceph', '{"url":"r","username":"u","password":"p\'q"}\n'),
      bootstrapScript(['cephadm', '--image', 'r/kseed/ceph:16.2.15', 'bootstrap', '--mon-ip', '10.0.0.11', '--skip-pull'], '/root/kseed-ceph'),
      loadImageScript({ url: 'http://10.0.0.1:8080/artifacts/kseed-ceph_16.2.15.tar', sha256: 'a'.repeat(64), id: `sha256:${'b'.repeat(64)}`, ref: 'r/kseed/ceph:16.2.15' }),
      authorizeKeyScript('ssh-ed25519 AAAA cluster'),
      addHostsScript('r/kseed/ceph:16.2.15', [{ name: 'n2', addr: '10.0.0.12', labels: ['osd'] }]),
      applySpecScript('r/kseed/ceph:16.2.15', '/root/kseed-ceph', 'service_type: mon\n'),
    ];
    for (const s of scripts) {
      const r = spawnSync('sh', ['-n'], { input: s, encoding: 'utf8' });
      expect(r.status, `${s}\n${r.stderr}`).toBe(0);
    }
  });

  it('authorizes the cluster key once, whatever runs it again', () => {
    const home = path.join(tmp, 'home');
    mkdirSync(home);
    const key = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ ceph-1234';
    const a = sh(authorizeKeyScript(key), { HOME: home });
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/now authorized/);
    const b = sh(authorizeKeyScript(`${key}\n`), { HOME: home });
    expect(b.stdout).toMatch(/already authorized/);
    expect(readFileSync(path.join(home, '.ssh', 'authorized_keys'), 'utf8')).toBe(`${key}\n`);
  });

  it('carries secrets and specs through here-docs untouched, quotes and all', () => {
    const text = `{"password": "a'b\\"c $HOME \`x\`"}\nKSEED_EOF\n`;
    const r = sh(`cat ${heredoc(text)}\n`);
    expect(r.stdout).toBe(text);
  });

  it('never bootstraps a host that holds the admin keyring (a run killed after bootstrap, before its record)', () => {
    // the guard is the script's first command: run it against a fake /etc/ceph by rewriting the path only
    const etc = path.join(tmp, 'etc-ceph');
    mkdirSync(etc);
    writeFileSync(path.join(etc, 'ceph.conf'), '');
    writeFileSync(path.join(etc, 'ceph.client.admin.keyring'), '');
    const script = bootstrapScript(['false'], path.join(tmp, 'remote'), '{}').replaceAll('/etc/ceph/', `${etc}/`);
    const r = sh(script);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/already bootstrapped/);
  });

  it('bootstraps without registry credentials when the image came from the archive, and with them in a 0600 file otherwise', () => {
    const remote = path.join(tmp, 'remote-noreg');
    const without = bootstrapScript(['sh', '-c', `ls -A ${remote}`], remote);
    expect(without).not.toContain('registry.json');
    const r = sh(without);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    const remote2 = path.join(tmp, 'remote-reg');
    const r2 = sh(bootstrapScript(['sh', '-c', `stat -c '%a %s' ${remote2}/registry.json`], remote2, '{"url":"r"}\n'));
    expect(r2.status, r2.stderr).toBe(0);
    expect(r2.stdout).toBe('600 12\n');
    // and removed after bootstrap
    expect(existsSync(path.join(remote2, 'registry.json'))).toBe(false);
  });
});

describe("Kolla's external Ceph files", () => {
  const conf = '# minimal ceph.conf for 6a1b\n[global]\n\tfsid = 6a1b\n\tmon_host = [v2:10.0.0.11:3300/0,v1:10.0.0.11:6789/0]\n';
  const keyring = (n: string) => `[client.${n}]\n\tkey = AQBkZ2Vma2V5${n.length}==\n\tcaps mon = "profile rbd"\n`;
  const out = ['Inferring config', '----kseed-file---- ceph.conf', conf, ...['glance', 'cinder', 'cinder-backup'].flatMap((n) => [`----kseed-file---- ceph.client.${n}.keyring`, keyring(n)])].join('\n');

  it("lands where Kolla-Ansible 2024.1's external-Ceph guide reads them, conf without leading tabs, keyrings 0600", () => {
    const files = kollaCephFiles(out);
    expect(files.map((f) => [f.rel, f.mode.toString(8)])).toEqual([
      ['config/glance/ceph.conf', '644'],
      ['config/glance/ceph.client.glance.keyring', '600'],
      ['config/cinder/ceph.conf', '644'],
      ['config/cinder/cinder-volume/ceph.client.cinder.keyring', '600'],
      ['config/cinder/cinder-backup/ceph.client.cinder.keyring', '600'],
      ['config/cinder/cinder-backup/ceph.client.cinder-backup.keyring', '600'],
      ['config/nova/ceph.conf', '644'],
      ['config/nova/ceph.client.cinder.keyring', '600'],
    ]);
    expect(files[0]!.content).toBe('# minimal ceph.conf for 6a1b\n[global]\nfsid = 6a1b\nmon_host = [v2:10.0.0.11:3300/0,v1:10.0.0.11:6789/0]\n');
    expect(files[5]!.content).toBe(keyring('cinder-backup'));
  });

  it('refuses output without a keyring rather than writing half the files', () => {
    expect(() => kollaCephFiles(out.replace(/----kseed-file---- ceph\.client\.cinder\.keyring[\s\S]*?(?=----kseed-file----)/, ''))).toThrow(/no keyring for client\.cinder/);
  });

  it('makes the pools and the clients in one cephadm shell whose script parses', () => {
    const cmd = kollaCephScript('r/kseed/ceph:16.2.15');
    expect(cmd.startsWith("cephadm --image r/kseed/ceph:16.2.15 shell -- sh -c '")).toBe(true);
    // the shell's own word splitting of the command gives back the inner script
    const inner = spawnSync('sh', ['-c', 'eval "set -- $CMD"; shift 7; printf %s "$1"'], { encoding: 'utf8', env: { PATH: process.env.PATH!, CMD: cmd } }).stdout;
    expect(spawnSync('sh', ['-n'], { input: inner }).status).toBe(0);
    for (const p of ['images', 'volumes', 'backups', 'vms']) expect(inner).toContain(`ceph osd pool create ${p}`);
    expect(inner).toContain("ceph auth get-or-create client.glance mon 'profile rbd' osd 'profile rbd pool=images' mgr 'profile rbd pool=images'");
  });
});

describe("the image's way to the nodes", () => {
  const site = (ceph: Site['handoff']['ceph']) => ({ handoff: { ssh_user: 'root', ceph } }) as unknown as Site;
  it("kseed's own image comes as the archive unless the site says registry; a site's own image from the registry", () => {
    expect(imageDelivery(site(undefined))).toBe('archive');
    expect(imageDelivery(site({}))).toBe('archive');
    expect(imageDelivery(site({ image_delivery: 'registry' }))).toBe('registry');
    expect(imageDelivery(site({ image: 'quay.io/ceph/ceph:v16.2.15' }))).toBe('registry');
    expect(imageDelivery(site({ image: 'quay.io/ceph/ceph:v16.2.15', image_delivery: 'archive' }))).toBe('archive');
  });

  it('names one archive per image, and trusts a record only when its file is there at the recorded size', () => {
    expect(archiveNameOf('kseed/ceph:16.2.15')).toBe('kseed-ceph_16.2.15.tar');
    const dir = path.join(tmp, 'archive-records');
    mkdirSync(dir);
    const rec = { image: 'kseed/ceph:16.2.15', id: `sha256:${'c'.repeat(64)}`, sha256: 'd'.repeat(64), size: 5 };
    writeFileSync(path.join(dir, 'kseed-ceph_16.2.15.tar.json'), JSON.stringify(rec));
    expect(findCephArchive(dir, 'kseed/ceph:16.2.15')).toBeUndefined();
    writeFileSync(path.join(dir, 'kseed-ceph_16.2.15.tar'), '1234');
    expect(findCephArchive(dir, 'kseed/ceph:16.2.15')).toBeUndefined();
    writeFileSync(path.join(dir, 'kseed-ceph_16.2.15.tar'), '12345');
    expect(findCephArchive(dir, 'kseed/ceph:16.2.15')).toEqual({ ...rec, name: 'kseed-ceph_16.2.15.tar', file: path.join(dir, 'kseed-ceph_16.2.15.tar') });
    expect(findCephArchive(dir, 'kseed/ceph:16.2.14')).toBeUndefined();
  });
});

describe('preflight: nothing starts on a node before the seed has everything', () => {
  const plan = (over: Partial<CephPlan> = {}): CephPlan => ({
    site: 's',
    image: '127.0.0.1:1/kseed/ceph:16.2.15',
    localImage: 'kseed/ceph:16.2.15',
    delivery: 'registry',
    hosts: [{ name: 'n1', addr: '10.99.0.11', labels: ['mon', 'mgr', 'osd', '_admin'] }],
    osds: [],
    bootstrapHost: 'n1',
    bootstrapArgv: ['cephadm'],
    remoteDir: '/root/kseed-ceph',
    registry: { address: '127.0.0.1:1', username: 'kseed', password: 'pw' },
    httpUrl: 'http://127.0.0.1:2',
    artifactsDir: path.join(tmp, 'empty-artifacts'),
    login: { user: 'root', keyFile: '/nonexistent', knownHosts: '/nonexistent' },
    ...over,
  });
  const kv = (): KvStore & { data: Map<string, unknown> } => {
    const data = new Map<string, unknown>();
    return { data, get: <T,>(k: string) => data.get(k) as T | undefined, update: <T,>(k: string, fn: (o: T | undefined) => T) => { const v = fn(data.get(k) as T | undefined); data.set(k, v); return v; } };
  };

  it('names `kseed images ceph` when the seed serves no cephadm, and records nothing', async () => {
    const store = kv();
    await expect(runCeph(store, plan())).rejects.toThrow(/the seed serves no cephadm \.deb .*kseed images ceph.*nothing was started/);
    expect(store.data.has(CEPH_RUN_KEY)).toBe(false);
  });

  it('refuses an image of another release than the cephadm', async () => {
    const dir = path.join(tmp, 'a2');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'cephadm_16.2.15+ds-0+deb12u2_amd64.deb'), 'x');
    await expect(preflight(plan({ artifactsDir: dir, image: '127.0.0.1:1/kseed/ceph:18.2.4' }))).rejects.toThrow(/different releases/);
  });

  it('says the registry has no password yet (before kseed up)', async () => {
    const dir = path.join(tmp, 'a3');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'cephadm_16.2.15+ds-0+deb12u2_amd64.deb'), 'x');
    await expect(preflight(plan({ artifactsDir: dir, registry: { address: '127.0.0.1:1', username: 'kseed' } }))).rejects.toThrow(/no password yet.*kseed up/);
  });
});

describe('what one ssh run came to', () => {
  it('a run kseed killed for its time is a timeout with the last output, never "unreachable", even though ssh then exits 255', async () => {
    const { remoteResult, reasonOf } = await import('../../../src/handoff/remote.js');
    const killed = remoteResult({ exitCode: 255, timedOut: true, stdout: 'Pulling container image...\nCreating mon...\n', stderr: 'Killed by signal 15.' }, 1_800_000);
    expect(killed).toMatchObject({ code: 255, unreachable: false, timedOutMs: 1_800_000 });
    expect(reasonOf(killed)).toBe('no end after 30 min (kseed stopped waiting; last output: Creating mon...)');
    const down = remoteResult({ exitCode: 255, timedOut: false, stdout: '', stderr: 'ssh: connect to host 10.77.0.21 port 22: No route to host\n' }, 1_800_000);
    expect(down).toMatchObject({ code: 255, unreachable: true });
    expect(down.timedOutMs).toBeUndefined();
    expect(reasonOf(down)).toBe('ssh: connect to host 10.77.0.21 port 22: No route to host');
    expect(remoteResult({ exitCode: 1, stderr: 'boom\n' }, 1000)).toMatchObject({ code: 1, unreachable: false });
  });
});
