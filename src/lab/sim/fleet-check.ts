/**
 * What a provision run of a faulty fleet (faults.ts) must leave behind, read
 * from the state store and the simulator's node files, and checked: the
 * invariants of issue 19 item 5. bench/fleet --faults and the fleet fault
 * test both read a run through here.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { openState } from '../../engine/state.js';

/** A node as `kseed status --json` reports it. */
export interface FleetNodeRow {
  node: string;
  state: string;
  booted_hostname?: string | null;
  last_error?: string | null;
}

/** What one provision run of a faulty fleet left, as the checker needs it. */
export interface FleetRun {
  exitCode: number;
  rows: FleetNodeRow[];
  /** Claims still held in the state store. */
  claims: string[];
  /** Per node: deploy results `ok` in the state store, and images the simulated disk took ("deployed" phases), over all runs. */
  deploysOk: Record<string, number>;
  imagesWritten: Record<string, number>;
  /** Per node: deploy tasks handed out during this run (for the convergence check). */
  deployTasks: Record<string, number>;
}

const FAILED = new Set(['enroll failed', 'inspect failed', 'deploy failed', 'clean failed']);

/**
 * The invariants of issue 19 item 5 for one run (and, given the run before,
 * convergence): every node active (booted under its own name) or failed
 * with a reason; no image written twice to a node; no claim left held;
 * exit 3 when some node failed. A second run converges when nothing that
 * was active fails or is deployed again. The violations, one line each;
 * none is a pass.
 */
export function fleetViolations(nodes: readonly string[], run: FleetRun, before?: FleetRun): string[] {
  const v: string[] = [];
  const row = new Map(run.rows.map((r) => [r.node, r]));
  for (const n of nodes) {
    const r = row.get(n);
    if (!r) v.push(`${n}: lost (not in status)`);
    else if (r.state === 'active') {
      if (r.booted_hostname !== n) v.push(`${n}: active but its OS never called back as ${n} (${String(r.booted_hostname)})`);
    } else if (!FAILED.has(r.state)) v.push(`${n}: ended in ${r.state}, neither active nor failed`);
    else if (!r.last_error?.trim()) v.push(`${n}: ${r.state} without a reason`);
    if ((run.deploysOk[n] ?? 0) > 1) v.push(`${n}: ${run.deploysOk[n]} successful deploys`);
    if ((run.imagesWritten[n] ?? 0) > 1) v.push(`${n}: its disk took the image ${run.imagesWritten[n]} times`);
  }
  if (run.claims.length) v.push(`claims left held: ${run.claims.join(', ')}`);
  const failed = run.rows.filter((r) => r.state !== 'active').length;
  const want = failed ? 3 : 0;
  if (run.exitCode !== want) v.push(`provision exited ${run.exitCode} with ${failed} node(s) failed, not ${want}`);
  if (before) {
    const was = new Map(before.rows.map((r) => [r.node, r.state]));
    for (const n of nodes) {
      const now = row.get(n)?.state;
      if (was.get(n) === 'active' && now !== 'active') v.push(`${n}: was active, now ${String(now)}`);
      if (was.get(n) === 'active' && (run.deployTasks[n] ?? 0) > 0) v.push(`${n}: was active, deployed again`);
    }
  }
  return v;
}

/** The run's record: `rows` from `kseed status --json`, `sinceEventId` the last event id before the run. */
export function readFleetRun(o: { stateDir: string; labDir: string; nodes: readonly string[]; exitCode: number; rows: FleetNodeRow[]; sinceEventId: number }): FleetRun {
  const store = openState(o.stateDir);
  try {
    const run: FleetRun = { exitCode: o.exitCode, rows: o.rows, claims: store.listClaims().map((c) => c.node), deploysOk: {}, imagesWritten: {}, deployTasks: {} };
    for (const n of o.nodes) {
      run.deploysOk[n] = store.listEvents(n, { kind: 'agent-result' }).filter((e) => e.detail.stage === 'deploy' && e.detail.status === 'ok').length;
      run.deployTasks[n] = store.listEvents(n, { kind: 'task', sinceId: o.sinceEventId }).filter((e) => e.detail.task === 'deploy').length;
      try {
        const sim = JSON.parse(readFileSync(path.join(o.labDir, 'nodes', n, 'sim.json'), 'utf8')) as { phases: { phase: string }[] };
        run.imagesWritten[n] = sim.phases.filter((p) => p.phase === 'deployed').length;
      } catch {
        run.imagesWritten[n] = 0;
      }
    }
    return run;
  } finally {
    store.close();
  }
}

/** The last event id of the state store: what happens after it belongs to the next run. */
export function lastEventId(stateDir: string): number {
  const store = openState(stateDir);
  try {
    return store.listEvents(undefined, {}).at(-1)?.id ?? 0;
  } finally {
    store.close();
  }
}
