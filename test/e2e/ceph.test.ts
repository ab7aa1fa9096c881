/**
 * The Ceph hand-off for real (issue 17): ONE lab node (4 GiB, `-cpu max`, a
 * data disk) gets the Debian 12 cloud image from `kseed images os` through
 * the embedded engine, then only what the seed serves brings Ceph up on it:
 * `kseed images ceph` (the Ceph 16.2 image from Debian's packages, its
 * `docker save` archive and the matching cephadm .deb among the served
 * artifacts), `kseed handoff --ceph --run` (the node loads the archive from
 * the seed's boot HTTP: no registry, no pull). Then `ceph`
 * through `cephadm shell` on the node over SSH judges the outcome: 1 mon,
 * an active mgr, the one OSD on the data disk up and in, the pools Kolla
 * uses, and Kolla's external-Ceph files carrying this cluster's fsid and
 * client keys. A second run changes nothing and succeeds.
 *
 * CI runs the part up to a running mon and mgr (`--until bootstrap`) on the
 * node OS e2e's lab instead (test/e2e/nodeos.test.ts): it is already
 * provisioned there, and this file's hour does not fit CI's budget.
 *
 * One node, not three: under TCG bootstrap alone took 352 s and one OSD
 * 268 s more (shared/reference/node-os-and-ceph.md); more nodes would push
 * CI past its budget. Lab "cp1" (netns ksl-cp1), BMC ports 18000+.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { buildOsImage } from '../../src/images/nodeos.js';
import { buildRamdisk } from '../../src/images/ramdisk.js';
import { createLab, destroyLab, type CreateLabResult } from '../../src/lab/index.js';
import { stageArtifacts } from '../helpers/artifacts.js';
import { ensureBuilt, REPO, runKseed } from '../helpers/cli.js';
import { needDocker, needPeers, needRoot } from '../helpers/peers.js';

const LAB = 'cp1';
const BMC_BASE = 18000;
const CACHE = process.env.KSEED_CACHE ?? path.join(REPO, 'cache');
const SEED = 'http://10.77.0.1:8080/artifacts';
const NODE_IP = '10.77.0.21';
const REGISTRY = '10.77.0.1:5000';
/**
 * The health checks one host with one OSD has, and nothing else: bootstrap's
 * --single-host-defaults asks for 2 replicas (osd_pool_default_size 2), so one
 * OSD is too few and the pools' PGs are undersized (active: min_size is 1);
 * Ceph 16 warns while mons allow the old global_id reclaim (its default).
 */
const EXPECTED_WARNINGS = ['TOO_FEW_OSDS', 'PG_DEGRADED', 'AUTH_INSECURE_GLOBAL_ID_RECLAIM_ALLOWED', 'POOL_NO_REDUNDANCY'];
const STEPS = ['load-image', 'install-cephadm', 'bootstrap', 'settings', 'add-host', 'apply-spec', 'osds-up', 'kolla-ceph'];
const SPLIT = '----e2e----';

/**
 * Opt-in: KSEED_CEPH_E2E=1. Its run of 7 Dec 2026 on this 2-core host took
 * about an hour (provision 1206 s, image load 535 s, bootstrap 1195 s), more
 * than CI's 75-minute budget holds beside the other lanes; README's Ceph
 * section gives the command. Unset, the file is skipped before any peer is
 * looked for, so CI counts it as skipped, never as passed.
 */
const wanted = process.env.KSEED_CEPH_E2E === '1';
const ok = wanted && needRoot() && needDocker() && needPeers('ip', 'ipmi_sim', 'ipmitool', 'qemu-system-x86_64', 'qemu-img', 'debootstrap', 'sgdisk', 'mkfs.ext4', 'mkfs.fat', 'mcopy', 'zstd', 'skopeo', 'ssh');

describe.skipIf(!ok)('Ceph from the seed: kseed handoff --ceph --run bootstraps a cluster on a provisioned Debian node, offline', () => {
  let root = '';
  let stateDir = '';
  let site = '';
  let lab: CreateLabResult;
  let key = '';
  let image = '';
  let firstRun: any;
  const kseed = async (args: string[], timeoutMs = 2_400_000) => {
    const t0 = Date.now();
    const r = await runKseed(['--config', site, ...args], { cwd: root, timeoutMs });
    let json: any;
    if (args.includes('--json') && r.stdout.trim()) {
      try {
        json = JSON.parse(r.stdout);
      } catch {
        /* left undefined: the assertion shows stdout */
      }
    }
    return { ...r, json, seconds: (Date.now() - t0) / 1000 };
  };
  /** A command on the node as root, from inside the lab namespace. */
  const ssh = (cmd: string, timeout = 600_000) =>
    spawnSync('ip', ['netns', 'exec', lab.netns, 'ssh', '-i', key, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=10', '-o', 'BatchMode=yes', `root@${NODE_IP}`, cmd], { encoding: 'utf8', timeout });
  /** `ceph` commands in one `cephadm shell` on the node (one container start), their outputs apart. */
  const ceph = (cmds: string[]) => {
    const inner = cmds.join(` && echo ${SPLIT} && `);
    const r = ssh(`cephadm --image ${image} shell -- sh -c '${inner}'`);
    expect(r.status, `${r.stderr}\n${r.stdout}`).toBe(0);
    return r.stdout.split(SPLIT).map((s) => s.trim());
  };
  const json = (s: string) => JSON.parse(s.slice(s.search(/[[{]/))) as any;

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'ksl-cp1-'));
    chmodSync(root, 0o755);
    stateDir = path.join(root, '.kseed');
    site = path.join(root, 'kseed.yaml');
    ensureBuilt();
    const ramdisk = await buildRamdisk({ cacheDir: CACHE });
    const os = await buildOsImage({ cacheDir: CACHE });
    const artifacts = path.join(root, 'artifacts');
    stageArtifacts(artifacts, { vmlinuz: ramdisk.kernel, 'initramfs.gz': ramdisk.initramfs, 'debian.qcow2': os.path });
    lab = await createLab({
      stateDir,
      name: LAB,
      nodes: 1,
      uefiNodes: 0,
      // the 4 GiB image grows to the disk: room for the Ceph image's layers and the mon's store
      diskGb: 12,
      // the reference run: 4 GiB for mon, mgr, OSD and docker under emulation
      memoryMb: 4096,
      dataDisks: 1,
      // ceph-volume takes no device under 5 GB (qcow2: sparse, costs nothing)
      dataDiskGb: 8,
      bmcPortBase: BMC_BASE,
      image: { url: `${SEED}/debian.qcow2`, checksum: os.checksum, format: 'qcow2' },
      siteFile: site,
    });
    const doc = YAML.parseDocument(readFileSync(site, 'utf8'));
    // a fixed lease: the OS's DHCP client (another client id than the ramdisk's) gets the same address
    ((doc.get('nodes') as YAML.YAMLSeq).items[0] as YAML.YAMLMap).set('ip', NODE_IP);
    doc.set('handoff', doc.createNode({ ssh_user: 'root', kolla: { vip: '10.77.0.250' }, ceph: {} }));
    writeFileSync(site, doc.toString());
    const up = await kseed(['--json', 'up', '--no-api', '--artifacts', artifacts]);
    expect(up.code, up.stderr).toBe(0);
    key = path.join(stateDir, 'secrets', 'handoff-ssh-key');
    // the Ceph image (built once; reused) and its cephadm .deb among what the seed serves
    const img = await kseed(['--json', 'images', 'ceph', '--cache', CACHE, '--artifacts', artifacts]);
    expect(img.code, img.stderr).toBe(0);
    console.log(`kseed images ceph: ${img.json.image} ${(img.json.size / 1e6).toFixed(0)} MB, ${img.json.status} in ${img.json.seconds} s; archive ${(img.json.archive.size / 1e6).toFixed(0)} MB`);
    expect(img.json.archive.file).toBe(path.join(artifacts, `kseed-ceph_${img.json.image.split(':')[1]}.tar`));
    image = `${REGISTRY}/${img.json.image}`;
  }, 1_800_000);

  afterAll(async () => {
    try {
      if (site && existsSync(site)) {
        await kseed(['mirror', 'down']);
        await kseed(['down']);
      }
      spawnSync('docker', ['volume', 'rm', '-f', `kseed-${LAB}-registry-data`]);
      if (stateDir) await destroyLab({ stateDir, name: LAB });
    } finally {
      if (root && !process.env.E2E_KEEP) rmSync(root, { recursive: true, force: true });
    }
  }, 180_000);

  it('provision: the node boots the Debian image from its own disk', async () => {
    // 2049 s on a host at load 10-27 (1218 s of it the image write): the test's own bound is above that
    const r = await kseed(['--json', 'provision', '--all', '--wait', '--wait-booted', '--timeout', '2700'], 3_000_000);
    console.log(`provision (1 Debian node): ${r.seconds.toFixed(0)} s`);
    expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
    expect(r.json.nodes[0]).toMatchObject({ node: 'node01', ok: true, state: 'active', status: { booted_hostname: 'node01' } });
  }, 3_300_000);

  it('kseed handoff --ceph --run: every step on the node succeeds, with its time, and the OSD on the data disk is up and in', async () => {
    // bootstrap alone may take 90 min (BOOTSTRAP_TIMEOUT_MS in src/handoff/ceph-run.ts)
    const r = await kseed(['--json', 'handoff', '--ceph', '--run'], 7_200_000);
    firstRun = r.json?.ceph_run;
    console.log(`handoff --ceph --run: ${r.seconds.toFixed(0)} s`);
    for (const s of firstRun?.steps ?? []) console.log(`  ${s.name}${s.host ? ` (${s.host})` : ''}: ${s.status} ${s.seconds} s${s.detail ? ` ${s.detail}` : ''}`);
    expect(r.code, `${r.stderr.slice(-4000)}\n${r.stdout.slice(0, 4000)}`).toBe(0);
    expect(firstRun.ok).toBe(true);
    expect(firstRun.steps.map((s: any) => s.name)).toEqual(STEPS);
    for (const s of firstRun.steps) {
      expect(s.status, s.name).toBe('ok');
      expect(s.seconds, s.name).toBeGreaterThan(0);
    }
    expect(firstRun).toMatchObject({ osds_expected: 1, osds_up: 1, failed_hosts: [] });
    // nothing was pulled: the node's Docker has the image by the name cephadm runs, loaded, without a repo digest
    const img = ssh(`docker image inspect --format '{{json .RepoDigests}}' ${image}`);
    expect(img.status, img.stderr).toBe(0);
    expect(img.stdout.trim()).toBe('[]');
    // the record keeps each step's time
    const { openState } = await import('../../src/engine/state.js');
    const st = openState(stateDir);
    try {
      const rec = st.get<any>('handoff.ceph');
      expect(Object.keys(rec.steps).sort()).toEqual(['add-host@node01', 'apply-spec', 'bootstrap', 'install-cephadm@node01', 'kolla-ceph', 'load-image@node01', 'osds-up', 'settings']);
      for (const s of Object.values<any>(rec.steps)) expect(s).toMatchObject({ status: 'ok', ms: expect.any(Number) });
      expect(rec.image).toBe(image);
    } finally {
      st.close();
    }
  }, 7_500_000);

  it('ceph on the node: 1 mon, an active mgr, 1 OSD up and in, the pools; Kolla files carry its fsid and keys', async () => {
    // a fresh pool's PGs peer for a while: wait until only the named warnings remain
    let status: any;
    const deadline = Date.now() + 300_000;
    for (;;) {
      status = json(ceph(['ceph -s -f json'])[0]!);
      const codes = Object.keys(status.health.checks ?? {});
      if (codes.every((c) => EXPECTED_WARNINGS.includes(c)) || Date.now() > deadline) break;
      await new Promise((res) => setTimeout(res, 15_000));
    }
    console.log(`ceph -s: ${status.health.status} ${JSON.stringify(Object.fromEntries(Object.entries(status.health.checks ?? {}).map(([k, v]: [string, any]) => [k, v.summary.message])))}`);
    expect(['HEALTH_OK', 'HEALTH_WARN']).toContain(status.health.status);
    for (const code of Object.keys(status.health.checks ?? {})) expect(EXPECTED_WARNINGS, `${code}: ${status.health.checks[code].summary.message}`).toContain(code);
    expect(status.monmap.num_mons).toBe(1);
    expect(status.quorum_names).toEqual(['node01']);
    expect(status.mgrmap.available).toBe(true);
    const om = status.osdmap.osdmap ?? status.osdmap;
    expect(om).toMatchObject({ num_osds: 1, num_up_osds: 1, num_in_osds: 1 });

    const [fsid, pools, tree, glance, cinder, backup] = ceph([
      'ceph fsid',
      'ceph osd pool ls detail -f json',
      'ceph osd tree -f json',
      'ceph auth get-key client.glance',
      'ceph auth get-key client.cinder',
      'ceph auth get-key client.cinder-backup',
    ]);
    const id = fsid!.split('\n').at(-1)!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(status.fsid).toBe(id);
    // the pools the hand-off makes for Glance, Cinder and Nova, each tagged for rbd
    const byName = Object.fromEntries(json(pools!).map((p: any) => [p.pool_name, p]));
    for (const p of ['images', 'volumes', 'backups', 'vms']) expect(Object.keys(byName[p]?.application_metadata ?? {}), p).toContain('rbd');
    // the one OSD is on node01: the data disk, never the root disk
    const osd = json(tree!).nodes.filter((n: any) => n.type === 'osd');
    expect(osd).toEqual([expect.objectContaining({ status: 'up', reweight: 1 })]);
    const dev = ssh(`cephadm --image ${image} ceph-volume -- lvm list --format json`);
    expect(dev.status, dev.stderr).toBe(0);
    expect(JSON.stringify(json(dev.stdout))).toContain('"/dev/vdb"');
    expect(JSON.stringify(json(dev.stdout))).not.toContain('"/dev/vda');

    // Kolla's external-Ceph files, written by kseed from this cluster
    const cfg = path.join(stateDir, 'handoff', 'kolla', 'config');
    const conf = readFileSync(path.join(cfg, 'glance', 'ceph.conf'), 'utf8');
    expect(conf).toMatch(new RegExp(`^fsid = ${id}$`, 'm'));
    expect(conf).toMatch(new RegExp(`^mon_host = .*${NODE_IP.replace(/\./g, '\\.')}`, 'm'));
    const keyOf = (rel: string) => /key = (\S+)/.exec(readFileSync(path.join(cfg, rel), 'utf8'))?.[1];
    expect(keyOf('glance/ceph.client.glance.keyring')).toBe(glance!.split('\n').at(-1));
    expect(keyOf('cinder/cinder-volume/ceph.client.cinder.keyring')).toBe(cinder!.split('\n').at(-1));
    expect(keyOf('nova/ceph.client.cinder.keyring')).toBe(cinder!.split('\n').at(-1));
    expect(keyOf('cinder/cinder-backup/ceph.client.cinder-backup.keyring')).toBe(backup!.split('\n').at(-1));
  }, 900_000);

  it('a second kseed handoff --ceph --run changes nothing and succeeds; status shows the cluster', async () => {
    const r = await kseed(['--json', 'handoff', '--ceph', '--run']);
    console.log(`handoff --ceph --run again: ${r.seconds.toFixed(0)} s`);
    expect(r.code, `${r.stderr.slice(-4000)}\n${r.stdout.slice(0, 2000)}`).toBe(0);
    const again = r.json.ceph_run;
    expect(again.ok).toBe(true);
    expect(again.steps.map((s: any) => s.name)).toEqual(STEPS);
    for (const s of again.steps) expect(s.status, s.name).toBe('done before');
    // the times kept are the first run's
    expect(again.steps.map((s: any) => s.seconds)).toEqual(firstRun.steps.map((s: any) => s.seconds));

    const live = await kseed(['--json', 'handoff', '--ceph', '--status'], 600_000);
    expect(live.code, live.stderr).toBe(0);
    expect(live.json).toMatchObject({ bootstrap_host: 'node01', mons: { count: 1 }, mgrs: { available: true }, osds: { total: 1, up: 1, in: 1 }, hosts: [{ host: 'node01', osds: 1, up: 1, in: 1 }] });
    const st = await kseed(['--json', 'status']);
    expect(st.code, st.stderr).toBe(0);
    expect(st.json.ceph).toMatchObject({ fsid: live.json.fsid, health: live.json.health, mons: 1, osds: { total: 1, up: 1, in: 1 }, source: 'hand-off record' });
    const human = await kseed(['status']);
    expect(human.stdout).toContain(`ceph: ${live.json.health}, fsid ${live.json.fsid}, 1 mon`);
  }, 1_200_000);
});
