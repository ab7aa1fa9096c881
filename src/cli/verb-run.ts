/**
 * How the provisioning verbs run from the CLI: through the seed service when
 * one runs (service/client.ts viaService: the service runs the verb as a
 * job, this follows it and prints its lines as they come), else on the
 * store in this process (service/verbs.ts, the same code the service runs).
 * Either way the same lines on stderr, the same table or --json on stdout,
 * the same exit code: 0 all ok, 3 some failed, 1 all failed or refused.
 */
import type { ApiCall } from '../service/client.js';
import type { JobView } from '../service/jobs.js';
import type { VerbDoc } from '../service/verbs.js';
import { InputError, KseedError, type ExitCodeValue } from '../errors.js';
import type { CliContext } from './context.js';
import { exitFor } from './nodes.js';
import { table } from './output.js';
import { describeProgress } from './events.js';
import type { ProgressEvent } from '../engine/types.js';

function stamp(ts: number): string {
  return new Date(ts).toISOString().slice(11, 19);
}

/** One line per transition: `12:00:01 node01 available -> deploying (deploy)`. */
export function progressLine(e: ProgressEvent): string {
  return `${stamp(e.ts)} ${e.node} ${describeProgress(e)}`;
}

/** How often a running job is asked for its new lines. */
const FOLLOW_MS = 500;

/**
 * Follows a job of the service to its end, printing its lines as the store
 * path prints them (`nodeLines: false`: the engine's node events only to
 * CI mode, --events and --junit); its result, or its error with the exit
 * code it had.
 */
export async function followJob<T>(ctx: CliContext, call: ApiCall, first: JobView, o: { nodeLines?: boolean } = {}): Promise<T> {
  let j = first;
  for (;;) {
    for (const l of j.lines) {
      if (l.type === 'progress') ctx.out.progress(l.message);
      // enroll's human output is its one table: its node events are for CI mode only, as on the store
      else ctx.out.node(l.event, o.nodeLines === false ? undefined : progressLine(l.event));
    }
    if (j.state === 'succeeded') return j.result as T;
    if (j.state === 'failed') throw new KseedError(j.error?.message ?? `job ${j.id} failed`, { code: j.error?.error ?? 'failure', exitCode: (j.error?.exit_code ?? 1) as ExitCodeValue });
    await new Promise((r) => setTimeout(r, FOLLOW_MS));
    try {
      j = await call<JobView>('GET', `/jobs/${encodeURIComponent(first.id)}?since=${j.next}`);
    } catch (err) {
      // the nodes' states are in the store whatever happened to the service
      if (err instanceof KseedError && err.code === 'job-not-found') throw new KseedError(`the seed service lost job ${first.id} (${first.kind} of ${first.nodes.join(', ')}): it restarted; \`kseed status\` shows where the nodes are`, { code: 'job-lost' });
      throw err;
    }
  }
}

/** The per-node results and the table of provision, undeploy and rebuild; sets the exit code. */
export function printVerb(ctx: CliContext, doc: VerbDoc): void {
  for (const o of doc.nodes) {
    ctx.out.outcome({ node: o.node, result: !o.ok ? 'failed' : o.skipped ? 'skipped' : 'ok', state: o.state, verbs: o.verbs, ms: o.ms, ...(o.error ? { error: o.error } : {}), ...(o.note ? { note: o.note } : {}) });
  }
  ctx.out.result(doc, () =>
    table(
      ['NODE', 'RESULT', 'STATE', 'VERBS', 'TIME', 'ERROR'],
      doc.nodes.map((o) => [o.node, o.ok ? (o.skipped ? 'unchanged' : 'ok') : 'failed', o.state, o.verbs.join(',') || '-', `${(o.ms / 1000).toFixed(1)} s`, o.error]),
    ),
  );
  const failed = doc.nodes.filter((o) => !o.ok).length;
  process.exitCode = exitFor(doc.nodes.length - failed, failed);
}

/** A numeric flag of the engine verbs (`--timeout`, `--concurrency`, ...): positive, or unset. */
export function positive(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InputError(`${flag} must be a positive number, not "${v}"`);
  return n;
}

export const warnLine = (w: string) => process.stderr.write(`warning: ${w}\n`);
