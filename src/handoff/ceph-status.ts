/**
 * `kseed handoff --ceph --status`: what the cluster says about itself,
 * asked on the first monitor through `cephadm shell` (`ceph status` and
 * `ceph osd tree`, both as JSON, in one container start).
 */
import { existsSync } from 'node:fs';
import { openState } from '../engine/state.js';
import { KseedError } from '../errors.js';
import { reasonOf, runRemote, type Login } from './remote.js';
import { shq } from './steps.js';

export interface CephStatus {
  fsid: string;
  health: string;
  /** health check codes and their one-line summaries */
  checks: { code: string; summary: string }[];
  mons: { count: number; quorum: string[] };
  mgrs: { available: boolean; active: string | null; standbys: number };
  osds: { total: number; up: number; in: number };
  hosts: { host: string; osds: number; up: number; in: number }[];
}

export interface OsdTree {
  nodes: { id: number; name: string; type: string; status?: string; reweight?: number; children?: number[] }[];
}

/** Per host: OSDs up and in (`ceph osd tree`: in = reweight > 0). */
export function osdsPerHost(tree: OsdTree): Record<string, { total: number; up: number; in: number }> {
  const byId = new Map(tree.nodes.map((n) => [n.id, n]));
  const out: Record<string, { total: number; up: number; in: number }> = {};
  for (const host of tree.nodes.filter((n) => n.type === 'host')) {
    const osds = (host.children ?? []).map((id) => byId.get(id)).filter((n): n is NonNullable<typeof n> => n?.type === 'osd');
    out[host.name] = { total: osds.length, up: osds.filter((o) => o.status === 'up').length, in: osds.filter((o) => (o.reweight ?? 0) > 0).length };
  }
  return out;
}

/** The state store key of the run's record (ceph-run.ts re-exports it). */
export const CEPH_RUN_KEY = 'handoff.ceph';

const SPLIT = '----kseed----';

interface RawStatus {
  fsid?: string;
  health?: { status?: string; checks?: Record<string, { summary?: { message?: string } }> };
  quorum_names?: string[];
  monmap?: { num_mons?: number; mons?: unknown[] };
  mgrmap?: { available?: boolean; active_name?: string; num_standbys?: number; standbys?: unknown[] };
  osdmap?: { num_osds?: number; num_up_osds?: number; num_in_osds?: number; osdmap?: { num_osds?: number; num_up_osds?: number; num_in_osds?: number } };
}

/** `ceph mgr stat -f json`: the only place Ceph 16 names the active mgr. */
interface RawMgrStat {
  available?: boolean;
  active_name?: string;
  num_standby?: number;
}

/**
 * Parses `ceph status`, `ceph osd tree` and `ceph mgr stat` (JSON, in that order). Ceph 16
 * nests osdmap one level deeper than later releases, and its status's mgrmap has no
 * active_name: `ceph mgr stat` has it.
 */
export function parseStatus(text: string): CephStatus {
  const [a, b, c] = text.split(SPLIT) as [string, string | undefined, string | undefined];
  const json = (s: string) => JSON.parse(s.slice(s.indexOf('{'), s.lastIndexOf('}') + 1)) as unknown;
  const st = json(a) as RawStatus;
  const tree = b ? (json(b) as OsdTree) : { nodes: [] };
  const mgr = c ? (json(c) as RawMgrStat) : {};
  const om = st.osdmap?.osdmap ?? st.osdmap ?? {};
  const per = osdsPerHost(tree);
  return {
    fsid: st.fsid ?? '',
    health: st.health?.status ?? 'unknown',
    checks: Object.entries(st.health?.checks ?? {}).map(([code, c]) => ({ code, summary: c.summary?.message ?? '' })),
    mons: { count: st.monmap?.num_mons ?? st.monmap?.mons?.length ?? st.quorum_names?.length ?? 0, quorum: st.quorum_names ?? [] },
    mgrs: { available: Boolean(st.mgrmap?.available), active: st.mgrmap?.active_name || mgr.active_name || null, standbys: st.mgrmap?.num_standbys ?? st.mgrmap?.standbys?.length ?? 0 },
    osds: { total: om.num_osds ?? 0, up: om.num_up_osds ?? 0, in: om.num_in_osds ?? 0 },
    hosts: Object.entries(per).map(([host, o]) => ({ host, osds: o.total, up: o.up, in: o.in })),
  };
}

export async function cephStatus(login: Login, addr: string, image: string): Promise<CephStatus> {
  const inner = `ceph status -f json && echo ${SPLIT} && ceph osd tree -f json && echo ${SPLIT} && ceph mgr stat -f json`;
  const r = await runRemote(login, addr, ['cephadm', '--image', image, 'shell', '--', 'sh', '-c', inner].map(shq).join(' '), { timeoutMs: 300_000 });
  if (r.code !== 0) {
    throw new KseedError(r.unreachable ? `cannot reach the first monitor ${addr} over SSH: ${reasonOf(r)}` : `ceph status on ${addr} failed: ${reasonOf(r)} (has \`kseed handoff --ceph --run\` bootstrapped it?)`, { code: 'ceph-status' });
  }
  try {
    return parseStatus(r.stdout);
  } catch (err) {
    throw new KseedError(`ceph status on ${addr} gave no JSON: ${(err as Error).message}`, { code: 'ceph-status', detail: r.stdout.slice(0, 2000) });
  }
}

/** The Ceph line of `kseed status`: what the hand-off recorded, not a live query (that is `--status`, a container start on the mon). */
export interface CephSummary {
  fsid: string | null;
  health: string | null;
  mons: number | null;
  mgr_active: string | null;
  osds: { total: number; up: number; in: number } | null;
  /** when the cluster said so (ISO time); null: bootstrapped, never asked since */
  as_of: string | null;
  source: 'hand-off record';
}

export function cephSummaryOf(rec: { steps: Record<string, { status: string }>; cluster?: CephStatus & { at: number } } | undefined): CephSummary | undefined {
  if (rec?.steps['bootstrap']?.status !== 'ok') return undefined;
  const c = rec.cluster;
  return {
    fsid: c?.fsid || null,
    health: c?.health ?? null,
    mons: c?.mons.count ?? null,
    mgr_active: c?.mgrs.active ?? null,
    osds: c?.osds ?? null,
    as_of: c ? new Date(c.at).toISOString() : null,
    source: 'hand-off record',
  };
}

export function cephSummaryLine(s: CephSummary): string {
  if (!s.as_of) return 'ceph: bootstrapped by kseed, no status recorded yet (kseed handoff --ceph --status asks the cluster)';
  return `ceph: ${s.health}, fsid ${s.fsid}, ${s.mons} mon, mgr ${s.mgr_active ?? 'none'}, OSDs ${s.osds!.up} up ${s.osds!.in} in of ${s.osds!.total} (hand-off record of ${s.as_of}; live: kseed handoff --ceph --status)`;
}

/** The summary from the state store under stateDir, if kseed bootstrapped Ceph there. */
export function cephSummaryAt(stateDir: string): CephSummary | undefined {
  if (!existsSync(stateDir)) return undefined;
  const st = openState(stateDir);
  try {
    return cephSummaryOf(st.get(CEPH_RUN_KEY));
  } finally {
    st.close();
  }
}
