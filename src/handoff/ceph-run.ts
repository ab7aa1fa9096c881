/**
 * `kseed handoff --ceph --run`: cephadm brings Ceph up on the nodes from
 * what the seed serves. Steps, each recorded in the state store (kv
 * `handoff.ceph`) when it succeeds, so a killed run resumes where it was and
 * a run after success changes nothing:
 *   preflight (local: cephadm .deb, and the image's archive, or the image and
 *   credentials in the seed registry; nothing starts on a node before it
 *   passes) -> load the image from the seed's archive (each host; or, with
 *   image_delivery: registry, trust the registry) -> install cephadm (first mon) -> bootstrap (once, ever) -> settings ->
 *   cluster key to each other host -> add hosts -> apply the services spec ->
 *   wait until every planned OSD is up and in.
 * A host that cannot be reached fails alone: the others go on (exit 3).
 */
import path from 'node:path';
import { KseedError } from '../errors.js';
import { servedArtifactsDir } from '../engine/service.js';
import { ensureCephArchive, findCephArchive, type CephArchive } from '../images/ceph/archive.js';
import { findCephadmDeb, upstreamVersion } from '../images/ceph/version.js';
import { inspectImage } from '../images/seed/docker.js';
import type { CephHost, ImageDelivery, OsdSpec } from './ceph.js';
import { addHostsScript, applySpecScript, authorizeKeyScript, bootstrapScript, cephCli, installCephadmScript, loadImageScript, trustRegistryScript } from './ceph-scripts.js';
import { kollaCephFiles, kollaCephScript } from './ceph-kolla.js';
import { writeAll } from './files.js';
import { checkSeedImage } from './registry-check.js';
import { CEPH_RUN_KEY, cephStatus, osdsPerHost, type CephStatus, type OsdTree } from './ceph-status.js';
import { reasonOf, runRemote, type Login } from './remote.js';
import type { HandoffResult } from './generate.js';
import { REMOTE_CEPH_DIR } from './steps.js';
import { render } from './templates.js';
import type { Site } from '../site/types.js';

export { CEPH_RUN_KEY, osdsPerHost };

/** The state store's key-value half, all the run needs (engine's StateStore is one). */
export interface KvStore {
  get<T>(key: string): T | undefined;
  update<T>(key: string, fn: (old: T | undefined) => T): T;
}

export interface CephPlan {
  site: string;
  /** the name cephadm runs (under the seed registry) */
  image: string;
  /** the image's name on the seed's Docker engine and in its archive */
  localImage: string;
  delivery: ImageDelivery;
  hosts: CephHost[];
  osds: OsdSpec[];
  bootstrapHost: string;
  bootstrapArgv: string[];
  remoteDir: string;
  registry: { address: string; username: string; password?: string };
  /** the seed's boot HTTP base URL (the nodes fetch cephadm there) */
  httpUrl: string;
  artifactsDir: string;
  login: Login;
}

export interface StepRecord {
  status: 'ok' | 'failed';
  ms: number;
  at: number;
  detail?: string;
}

export interface CephRunRecord {
  image?: string;
  /** the first monitor and the known_hosts the run used: `--status` asks there */
  mon?: { name: string; addr: string; known_hosts: string };
  steps: Record<string, StepRecord>;
  /** what the cluster said at the end of the last run that changed something (or the last --status) */
  cluster?: CephStatus & { at: number };
}

/**
 * The steps `--until` may stop after. The full run (no --until) stays the default; a run that
 * stopped is resumed by running again (with a later --until, or none).
 */
export const CEPH_UNTIL = ['bootstrap', 'settings', 'add-host', 'apply-spec', 'osds-up'] as const;
export type CephUntil = (typeof CEPH_UNTIL)[number];

export interface CephRunReport {
  ok: boolean;
  /** set when the run stopped after this step as asked (the later steps were not run) */
  until?: CephUntil;
  /** steps in order: what this run did, or that an earlier run did them (seconds: what it took then) */
  steps: { name: string; host?: string; status: 'ok' | 'failed' | 'done before' | 'skipped'; seconds: number; detail?: string }[];
  /** the cluster as `ceph status` reported it after this run (or as recorded, when this run changed nothing) */
  cluster?: CephStatus;
  failed_hosts: { host: string; step: string; reason: string }[];
  osds_expected: number;
  osds_up: number;
}

export interface CephRunOptions {
  /** Kolla's config directory: when set, the pools, clients and Kolla's external-Ceph files are made there */
  kollaConfigDir?: string;
  /** default 40 min: one OSD took 268 s under emulation, after a 352 s bootstrap */
  osdTimeoutMs?: number;
  pollMs?: number;
  onProgress?: (line: string) => void;
  /** stop after this step (CI brings Ceph up to a running mon and mgr: `bootstrap`) */
  until?: CephUntil;
}

/**
 * With the registry delivery bootstrap pulls the Ceph image first: under emulation on a loaded
 * 2-core host that pull alone took 27 min (gunzip of 587 MB inside the VM), so the default 30 min
 * per command cut a bootstrap that was still going. The archive delivery loads the image in its
 * own step before; bootstrap keeps the room a loaded host needs.
 */
const BOOTSTRAP_TIMEOUT_MS = 90 * 60_000;

const secondsOf = (ms: number | undefined) => Math.round((ms ?? 0) / 100) / 10;

/** The OSD count the plan expects per host: one per listed device; a filter expects at least one. */
export function expectedOsds(osds: OsdSpec[], hosts: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const spec of osds) {
    for (const h of spec.hosts ?? []) {
      if (!hosts.includes(h)) continue;
      const paths = spec.data_devices.paths;
      out[h] = (out[h] ?? 0) + (Array.isArray(paths) ? paths.length : 1);
    }
  }
  return out;
}

/**
 * Checks on the seed only; throws (exit 1) naming what to build or fix, before any node is touched.
 * The one thing it may make: the image's archive, from the seed's Docker engine, when the image
 * is there without it (loaded from a bundle, or built before kseed wrote archives).
 */
export async function preflight(plan: CephPlan, say: (line: string) => void = () => {}): Promise<{ debFile: string; debVersion: string; archive?: CephArchive }> {
  const deb = findCephadmDeb(plan.artifactsDir);
  if (!deb) {
    throw new KseedError(`the seed serves no cephadm .deb (looked in ${plan.artifactsDir}): build it with \`kseed images ceph\` (it builds the Ceph image and puts the matching cephadm there); nothing was started on the nodes`, { code: 'cephadm-missing' });
  }
  const tag = plan.image.slice(plan.image.lastIndexOf(':') + 1);
  if (/^\d+\.\d+/.test(tag) && upstreamVersion(tag) !== upstreamVersion(deb.version)) {
    throw new KseedError(`the Ceph image ${plan.image} and the seed's cephadm ${deb.version} are different releases (cephadm refuses that): run \`kseed images ceph\` and \`kseed mirror sync --ceph\` again; nothing was started on the nodes`, { code: 'release-mismatch' });
  }
  if (plan.delivery === 'archive') {
    let archive = findCephArchive(plan.artifactsDir, plan.localImage);
    if (!archive) {
      const local = await inspectImage(plan.localImage).catch(() => undefined);
      if (!local) {
        throw new KseedError(`the seed serves no archive of ${plan.localImage} (looked in ${plan.artifactsDir}) and its Docker engine has no such image: build it with \`kseed images ceph\` (or set handoff.ceph.image_delivery: registry); nothing was started on the nodes`, { code: 'image-missing' });
      }
      archive = await ensureCephArchive({ image: plan.localImage, id: local.id, artifactsDir: plan.artifactsDir, onProgress: say });
    }
    return { debFile: deb.file, debVersion: deb.version, archive };
  }
  if (!plan.registry.password) {
    throw new KseedError('the seed registry has no password yet, so the nodes could not log in to pull the Ceph image: run `kseed up` first (or set registry.password); nothing was started on the nodes', { code: 'registry-auth' });
  }
  await checkSeedImage(plan.image, { username: plan.registry.username, password: plan.registry.password }, 'load it with `kseed mirror sync --ceph` (after `kseed images ceph`); nothing was started on the nodes');
  return { debFile: deb.file, debVersion: deb.version };
}

export async function runCeph(state: KvStore, plan: CephPlan, opts: CephRunOptions = {}): Promise<CephRunReport> {
  const say = opts.onProgress ?? (() => {});
  const { debFile, debVersion, archive } = await preflight(plan, say);
  const first = plan.hosts.find((h) => h.name === plan.bootstrapHost);
  if (!first) throw new KseedError('no host for the first Ceph monitor (give a node the control or storage role and an address)', { code: 'no-mon' });
  const rec0 = state.get<CephRunRecord>(CEPH_RUN_KEY);
  if (rec0?.image && rec0.image !== plan.image && rec0.steps['bootstrap']?.status === 'ok') {
    say(`note: the cluster was bootstrapped with ${rec0.image}; this run names ${plan.image} (kseed does not upgrade Ceph: \`ceph orch upgrade\` does)`);
  }
  const report: CephRunReport = { ok: true, steps: [], failed_hosts: [], osds_expected: 0, osds_up: 0 };
  const failedHosts = new Set<string>();

  /** After step NAME: true when the run stops there (--until); the cluster's status is then read. */
  const stopsAfter = async (name: CephUntil) => {
    if (opts.until !== name) return false;
    report.until = name;
    say(`stopping after ${name} as asked (--until ${name}); run again without --until to go on`);
    await conclude();
    return true;
  };
  const mon = { name: first.name, addr: first.addr, known_hosts: plan.login.knownHosts };
  const record = (name: string, r: StepRecord) => state.update<CephRunRecord>(CEPH_RUN_KEY, (old) => ({ image: plan.image, mon, steps: { ...(old?.steps ?? {}), [name]: r } }));
  const done = (name: string) => state.get<CephRunRecord>(CEPH_RUN_KEY)?.steps[name]?.status === 'ok';

  /** Runs one step unless done before; false when it failed. */
  const step = async (name: string, host: string | undefined, fn: () => Promise<{ ok: boolean; detail?: string }>): Promise<boolean> => {
    const key = host ? `${name}@${host}` : name;
    if (done(key)) {
      report.steps.push({ name, ...(host ? { host } : {}), status: 'done before', seconds: secondsOf(state.get<CephRunRecord>(CEPH_RUN_KEY)?.steps[key]?.ms) });
      return true;
    }
    const t0 = Date.now();
    say(`${name}${host ? ` (${host})` : ''} ...`);
    let r: { ok: boolean; detail?: string };
    try {
      r = await fn();
    } catch (err) {
      r = { ok: false, detail: (err as Error).message };
    }
    const ms = Date.now() - t0;
    record(key, { status: r.ok ? 'ok' : 'failed', ms, at: Date.now(), ...(r.detail ? { detail: r.detail } : {}) });
    report.steps.push({ name, ...(host ? { host } : {}), status: r.ok ? 'ok' : 'failed', seconds: secondsOf(ms), ...(r.detail ? { detail: r.detail } : {}) });
    say(`${name}${host ? ` (${host})` : ''}: ${r.ok ? 'ok' : 'FAILED'} in ${(ms / 1000).toFixed(1)} s${r.detail ? ` (${r.detail})` : ''}`);
    if (!r.ok && host) {
      failedHosts.add(host);
      report.failed_hosts.push({ host, step: name, reason: r.detail ?? 'failed' });
    }
    return r.ok;
  };
  const remote = async (host: CephHost, script: string, asUser = false, timeoutMs?: number) => {
    const r = await runRemote(plan.login, host.addr, script, { asUser, ...(timeoutMs ? { timeoutMs } : {}), onLine: (l) => say(`  [${host.name}] ${l}`) });
    return { ok: r.code === 0, detail: r.code === 0 ? undefined : r.unreachable ? `unreachable over SSH: ${reasonOf(r)}` : reasonOf(r) };
  };

  // 1. every host gets the image: loaded from the seed's archive, or pulled later from the seed registry
  if (archive) {
    const load = { url: `${plan.httpUrl}/artifacts/${encodeURIComponent(archive.name)}`, sha256: archive.sha256, id: archive.id, ref: plan.image };
    for (const h of plan.hosts) {
      // a host that loaded another build of the image loads this one
      const key = `load-image@${h.name}`;
      const old = state.get<CephRunRecord>(CEPH_RUN_KEY)?.steps[key];
      if (old?.status === 'ok' && old.detail !== archive.id) record(key, { ...old, status: 'failed' });
      await step('load-image', h.name, async () => {
        const r = await remote(h, loadImageScript(load));
        return r.ok ? { ok: true, detail: archive.id } : r;
      });
    }
  } else {
    for (const h of plan.hosts) await step('trust-registry', h.name, () => remote(h, trustRegistryScript(plan.registry.address)));
  }
  if (failedHosts.has(first.name)) return finish();

  // 2-4. the first monitor: cephadm, bootstrap, settings
  const url = `${plan.httpUrl}/artifacts/${encodeURIComponent(debFile)}`;
  if (!(await step('install-cephadm', first.name, () => remote(first, installCephadmScript(url, debVersion))))) return finish();
  const regJson = archive ? undefined : JSON.stringify({ url: plan.registry.address, username: plan.registry.username, password: plan.registry.password }) + '\n';
  if (!(await step('bootstrap', undefined, () => remote(first, bootstrapScript(plan.bootstrapArgv, plan.remoteDir, regJson), false, BOOTSTRAP_TIMEOUT_MS)))) return finish();
  if (await stopsAfter('bootstrap')) return finish();
  // Daemons then run the seed's tag itself. With the default (true), the mgr's serve loop first
  // runs `cephadm pull` of the image on a host to learn its repo digest (serve.py
  // convert_tags_to_repo_digest), and a failed pull ends that loop pass before any daemon is
  // deployed; the archive delivery has no registry to pull from, and a digest adds nothing
  // to one build per version.
  if (!(await step('settings', undefined, () => remote(first, cephCli(plan.image, ['config', 'set', 'mgr', 'mgr/cephadm/use_repo_digest', 'false']))))) return finish();
  if (await stopsAfter('settings')) return finish();

  // 5. the cluster's SSH key on every other host
  const others = plan.hosts.filter((h) => h !== first && !failedHosts.has(h.name));
  if (others.length) {
    const pub = await runRemote(plan.login, first.addr, 'cat /etc/ceph/ceph.pub');
    if (pub.code !== 0 || !/^ssh-/.test(pub.stdout.trim())) {
      await step('cluster-key', undefined, async () => ({ ok: false, detail: `cannot read /etc/ceph/ceph.pub on ${first.name}: ${reasonOf(pub)}` }));
      return finish();
    }
    for (const h of others) await step('authorize-key', h.name, () => remote(h, authorizeKeyScript(pub.stdout), true));
  }

  // 6. hosts into the cluster (the first one too: its labels)
  const toAdd = plan.hosts.filter((h) => !failedHosts.has(h.name) && !done(`add-host@${h.name}`));
  if (toAdd.length) {
    const t0 = Date.now();
    say(`add-host (${toAdd.map((h) => h.name).join(', ')}) ...`);
    const r = await runRemote(plan.login, first.addr, addHostsScript(plan.image, toAdd), { onLine: (l) => say(`  [${first.name}] ${l}`) });
    const ms = Date.now() - t0;
    for (const h of toAdd) {
      const line = r.stdout.split('\n').find((l) => l.startsWith(`kseed-host ${h.name} `));
      const ok = line?.endsWith(' ok') ?? false;
      const detail = ok ? undefined : line ? line.replace(`kseed-host ${h.name} failed: `, '') : reasonOf(r);
      record(`add-host@${h.name}`, { status: ok ? 'ok' : 'failed', ms, at: Date.now(), ...(detail ? { detail } : {}) });
      report.steps.push({ name: 'add-host', host: h.name, status: ok ? 'ok' : 'failed', seconds: secondsOf(ms), ...(detail ? { detail } : {}) });
      if (!ok) {
        failedHosts.add(h.name);
        report.failed_hosts.push({ host: h.name, step: 'add-host', reason: detail ?? 'failed' });
      }
    }
  }
  for (const h of plan.hosts) {
    if (done(`add-host@${h.name}`) && !toAdd.includes(h)) report.steps.push({ name: 'add-host', host: h.name, status: 'done before', seconds: secondsOf(state.get<CephRunRecord>(CEPH_RUN_KEY)?.steps[`add-host@${h.name}`]?.ms) });
  }

  if (await stopsAfter('add-host')) return finish();

  // 7. mon, mgr and OSD services over the hosts that made it
  const inCluster = plan.hosts.filter((h) => done(`add-host@${h.name}`)).map((h) => h.name);
  const osds = plan.osds.map((o) => ({ ...o, hosts: o.hosts?.filter((h) => inCluster.includes(h)) ?? null })).filter((o) => o.hosts === null || o.hosts.length > 0);
  const spec = render('cluster.yaml.hbs', { site: plan.site, assumptions: [], hosts: [], osds });
  // the spec and the OSDs to wait for change with the hosts in the cluster:
  // a host that joins on a later run makes both steps run again
  const hostsKey = `hosts ${inCluster.join(',')}`;
  for (const name of ['apply-spec', 'osds-up']) {
    const old = state.get<CephRunRecord>(CEPH_RUN_KEY)?.steps[name];
    if (old?.status === 'ok' && old.detail !== hostsKey) record(name, { ...old, status: 'failed' });
  }
  const keyed = (r: { ok: boolean; detail?: string }) => (r.ok ? { ok: true, detail: hostsKey } : r);
  if (!(await step('apply-spec', undefined, async () => keyed(await remote(first, applySpecScript(plan.image, plan.remoteDir, spec)))))) return finish();
  if (await stopsAfter('apply-spec')) return finish();

  // 8. every planned OSD up and in
  const expected = expectedOsds(osds, inCluster);
  report.osds_expected = Object.values(expected).reduce((a, b) => a + b, 0);
  const osdsOk = await step('osds-up', undefined, async () => keyed(await waitOsds(plan, first, expected, opts, (n) => (report.osds_up = n))));
  if (!osdsOk) return finish();
  if (report.steps.at(-1)?.status === 'done before') report.osds_up = report.osds_expected;
  if (await stopsAfter('osds-up')) return finish();

  // 9. Kolla's Glance, Cinder and Nova on this cluster
  if (opts.kollaConfigDir) {
    const dir = opts.kollaConfigDir;
    await step('kolla-ceph', undefined, async () => {
      const r = await runRemote(plan.login, first.addr, kollaCephScript(plan.image));
      if (r.code !== 0) return { ok: false, detail: reasonOf(r) };
      const files = kollaCephFiles(r.stdout);
      await writeAll(dir, files);
      return { ok: true, detail: `${files.length} files under ${dir}/config` };
    });
  }
  await conclude();
  return finish();

  /** What the cluster says now, for `kseed status`; a run that changed nothing asks nobody. */
  async function conclude(): Promise<void> {
    if (report.steps.some((s) => s.status === 'ok')) {
      try {
        const st = await cephStatus(plan.login, first!.addr, plan.image);
        state.update<CephRunRecord>(CEPH_RUN_KEY, (old) => ({ ...old!, cluster: { ...st, at: Date.now() } }));
        report.cluster = st;
      } catch (err) {
        say(`note: ceph status after the run failed: ${(err as Error).message}`);
      }
    } else {
      const c = state.get<CephRunRecord>(CEPH_RUN_KEY)?.cluster;
      if (c) {
        const { at: _at, ...st } = c;
        report.cluster = st;
      }
    }
  }

  function finish(): CephRunReport {
    report.ok = failedHosts.size === 0 && report.steps.every((s) => s.status !== 'failed');
    return report;
  }
}

async function waitOsds(plan: CephPlan, first: CephHost, expected: Record<string, number>, opts: CephRunOptions, seen: (n: number) => void): Promise<{ ok: boolean; detail?: string }> {
  const say = opts.onProgress ?? (() => {});
  const deadline = Date.now() + (opts.osdTimeoutMs ?? 40 * 60_000);
  const want = Object.values(expected).reduce((a, b) => a + b, 0);
  if (want === 0) return { ok: true, detail: 'no OSD planned' };
  let last = '';
  for (;;) {
    const r = await runRemote(plan.login, first.addr, cephCli(plan.image, ['osd', 'tree', '-f', 'json']));
    if (r.code === 0) {
      try {
        const per = osdsPerHost(JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as OsdTree);
        const short = Object.entries(expected).filter(([h, n]) => (per[h]?.up ?? 0) < n || (per[h]?.in ?? 0) < n);
        const up = Object.entries(expected).reduce((a, [h, n]) => a + Math.min(n, Math.min(per[h]?.up ?? 0, per[h]?.in ?? 0)), 0);
        seen(up);
        const line = `OSDs up and in: ${up}/${want}${short.length ? ` (waiting for ${short.map(([h, n]) => `${h} ${Math.min(per[h]?.up ?? 0, per[h]?.in ?? 0)}/${n}`).join(', ')})` : ''}`;
        if (line !== last) say(line);
        last = line;
        if (!short.length) return { ok: true };
      } catch {
        // a cephadm shell line before the JSON, or a mon still electing: ask again
      }
    }
    if (Date.now() > deadline) return { ok: false, detail: `timed out: ${last || 'no answer from ceph osd tree'}` };
    await new Promise((res) => setTimeout(res, opts.pollMs ?? 15_000));
  }
}

/** The run's inputs from the written hand-off. */
export function cephPlanOf(site: Site, r: HandoffResult, stateDir: string, password: string | undefined): CephPlan {
  const c = r.ceph!;
  if (!c.bootstrap_host) throw new KseedError('no host for the first Ceph monitor: give a node the control or storage role and an address', { code: 'no-mon' });
  return {
    site: site.site,
    image: c.image,
    localImage: c.local_image,
    delivery: c.image_delivery,
    hosts: c.hosts,
    osds: c.osds,
    bootstrapHost: c.bootstrap_host,
    bootstrapArgv: c.bootstrap_argv,
    remoteDir: REMOTE_CEPH_DIR,
    registry: { address: `${site.seed.address}:${site.seed.ports.registry}`, username: site.registry.username, password },
    httpUrl: `http://${site.seed.address}:${site.seed.ports.http}`,
    artifactsDir: servedArtifactsDir(stateDir, site.file),
    login: { user: site.handoff.ssh_user, keyFile: r.ssh_key_file, knownHosts: path.join(r.out, 'known_hosts') },
  };
}
