/**
 * `kseed handoff --ceph --status`: what the cluster says about itself,
 * asked on the first monitor through `cephadm shell` (`ceph status` and
 * `ceph osd tree`, both as JSON, in one container start).
 */
import { KseedError } from '../errors.js';
import { osdsPerHost } from './ceph-run.js';
import { reasonOf, runRemote, type Login } from './remote.js';
import { shq } from './steps.js';

export interface CephStatus {
  health: string;
  /** health check codes and their one-line summaries */
  checks: { code: string; summary: string }[];
  mons: { count: number; quorum: string[] };
  mgrs: { available: boolean; active: string | null; standbys: number };
  osds: { total: number; up: number; in: number };
  hosts: { host: string; osds: number; up: number; in: number }[];
}

const SPLIT = '----kseed----';

interface RawStatus {
  health?: { status?: string; checks?: Record<string, { summary?: { message?: string } }> };
  quorum_names?: string[];
  monmap?: { num_mons?: number; mons?: unknown[] };
  mgrmap?: { available?: boolean; active_name?: string; num_standbys?: number; standbys?: unknown[] };
  osdmap?: { num_osds?: number; num_up_osds?: number; num_in_osds?: number; osdmap?: { num_osds?: number; num_up_osds?: number; num_in_osds?: number } };
}

/** Parses the two JSON documents; Ceph 16 nests osdmap one level deeper than later releases. */
export function parseStatus(text: string): CephStatus {
  const [a, b] = text.split(SPLIT) as [string, string | undefined];
  const json = (s: string) => JSON.parse(s.slice(s.indexOf('{'), s.lastIndexOf('}') + 1)) as unknown;
  const st = json(a) as RawStatus;
  const tree = b ? (json(b) as Parameters<typeof osdsPerHost>[0]) : { nodes: [] };
  const om = st.osdmap?.osdmap ?? st.osdmap ?? {};
  const per = osdsPerHost(tree);
  return {
    health: st.health?.status ?? 'unknown',
    checks: Object.entries(st.health?.checks ?? {}).map(([code, c]) => ({ code, summary: c.summary?.message ?? '' })),
    mons: { count: st.monmap?.num_mons ?? st.monmap?.mons?.length ?? st.quorum_names?.length ?? 0, quorum: st.quorum_names ?? [] },
    mgrs: { available: Boolean(st.mgrmap?.available), active: st.mgrmap?.active_name ?? null, standbys: st.mgrmap?.num_standbys ?? st.mgrmap?.standbys?.length ?? 0 },
    osds: { total: om.num_osds ?? 0, up: om.num_up_osds ?? 0, in: om.num_in_osds ?? 0 },
    hosts: Object.entries(per).map(([host, o]) => ({ host, osds: o.total, up: o.up, in: o.in })),
  };
}

export async function cephStatus(login: Login, addr: string, image: string): Promise<CephStatus> {
  const inner = `ceph status -f json && echo ${SPLIT} && ceph osd tree -f json`;
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
