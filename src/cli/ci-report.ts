/**
 * A run's JUnit report, from what its event stream carried: a suite per
 * node with a test case per phase the node went through (enroll, inspect,
 * provide, deploy, boot, undeploy), failing with the node's error; a node
 * that went through no phase still gets one case, named after the command
 * (skipped when it had nothing to do, failing when it could not start);
 * and a suite for the run itself when it broke or has no nodes (`up`).
 *
 * Pure: the same events in, the same suites out.
 */
import { FAILED_STATES, finish, type NodeState, type Verb } from '../engine/lifecycle.js';
import type { ProgressEvent } from '../engine/types.js';
import { describeProgress, type NodeResult, type RunError } from './events.js';
import type { JunitCase, JunitSuite } from './junit.js';

export interface RunRecord {
  command: string;
  start: number;
  end: number;
  exitCode: number;
  /** Engine progress events, in the order they came. */
  events: readonly ProgressEvent[];
  outcomes: readonly NodeResult[];
  /** The command's own progress lines (`up`'s), for the run suite's output. */
  progress: readonly { ts: number; message: string }[];
  error?: RunError;
}

const VERBS: ReadonlySet<string> = new Set<Verb>(['enroll', 'inspect', 'provide', 'deploy', 'rebuild', 'undeploy', 'handoff']);

interface Phase {
  name: string;
  first: number;
  last: number;
  events: ProgressEvent[];
}

/** The line a human saw for the event, with the full time. */
const eventLine = (e: ProgressEvent) => `${new Date(e.ts).toISOString()} ${describeProgress(e)}`;

/** Why the phase failed, if it did: its last event says so (an error, or a failed state). */
function phaseFailure(p: Phase): { message: string; type: string } | undefined {
  const last = p.events[p.events.length - 1]!;
  const failedState = last.kind === 'transition' && last.to !== undefined && FAILED_STATES.has(last.to as NodeState);
  if (!last.error && !failedState) return undefined;
  return { message: last.error ?? `ended ${last.to}`, type: failedState ? last.to! : `${p.name} failed` };
}

/** The node's phases in the order they began; a phase run twice (a resume) is one case. */
function phasesOf(events: readonly ProgressEvent[]): Phase[] {
  const byName = new Map<string, Phase>();
  for (const e of events) {
    if (!e.phase) continue;
    const p = byName.get(e.phase) ?? { name: e.phase, first: e.ts, last: e.ts, events: [] };
    p.last = e.ts;
    p.events.push(e);
    byName.set(e.phase, p);
  }
  return [...byName.values()];
}

/**
 * Whether the phase's last event is its end: an error, or the move to where
 * its verb ends (lifecycle.ts). Phases that are no verb (boot) announce
 * only their end. A node the run never reported on is unfinished where a
 * phase has not ended.
 */
function ended(p: Phase): boolean {
  const last = p.events[p.events.length - 1]!;
  if (last.error || !VERBS.has(p.name)) return true;
  const v = p.name as Verb;
  return last.kind === 'transition' && (last.to === finish(v, 'done') || last.to === finish(v, 'fail'));
}

function nodeSuite(command: string, node: string, events: readonly ProgressEvent[], outcome: NodeResult | undefined, runStart: number): JunitSuite {
  const cases: JunitCase[] = [];
  let prevEnd: number | undefined;
  for (const p of phasesOf(events)) {
    // a phase that announces only its end (boot: "booted from disk") began when the one before it ended
    const begin = prevEnd !== undefined && prevEnd < p.first ? prevEnd : p.first;
    const failure = phaseFailure(p);
    const c: JunitCase = { name: p.name, classname: node, time: (p.last - begin) / 1000 };
    if (failure) c.failure = { ...failure, text: p.events.map(eventLine).join('\n') };
    else if (!outcome && !ended(p)) c.error = { message: 'the run ended before this node finished', type: 'unfinished' };
    cases.push(c);
    prevEnd = p.last;
  }
  const secs = (outcome?.ms ?? 0) / 1000;
  if (!outcome) {
    if (!cases.length) cases.push({ name: command, classname: node, time: 0, error: { message: 'the run ended before this node finished', type: 'unfinished' } });
  } else if (outcome.result === 'failed' && !cases.some((c) => c.failure)) {
    // an error outside any phase: the node could not even start (claimed by another run, a state the verb does not apply to)
    const message = outcome.error ?? `${command} failed`;
    cases.push({ name: command, classname: node, time: secs, failure: { message, type: `${command} failed` } });
  } else if (!cases.length) {
    const note = outcome.note ?? outcome.error ?? `already ${outcome.state}: nothing to do`;
    cases.push({ name: command, classname: node, time: secs, ...(outcome.result === 'skipped' || outcome.verbs.length === 0 ? { skipped: note } : {}) });
  }
  const first = events[0]?.ts ?? runStart;
  const last = events[events.length - 1]?.ts ?? first;
  return {
    name: node,
    start: first,
    time: Math.max((last - first) / 1000, secs),
    cases,
    properties: { state: outcome?.state ?? 'unknown', ...(outcome?.verbs.length ? { verbs: outcome.verbs.join(',') } : {}) },
    ...(events.length ? { systemOut: events.map(eventLine).join('\n') } : {}),
  };
}

/** Every node the run reported on or heard of, in that order; then the run's own suite when it broke or had no nodes. */
export function runSuites(r: RunRecord): JunitSuite[] {
  const names: string[] = [];
  for (const n of [...r.outcomes.map((o) => o.node), ...r.events.map((e) => e.node)]) if (!names.includes(n)) names.push(n);
  const outcomes = new Map(r.outcomes.map((o) => [o.node, o]));
  const suites = names.map((n) =>
    nodeSuite(
      r.command,
      n,
      r.events.filter((e) => e.node === n),
      outcomes.get(n),
      r.start,
    ),
  );
  if (r.error || !suites.length) {
    const time = (r.end - r.start) / 1000;
    const c: JunitCase = { name: r.command, classname: 'kseed', time };
    if (r.error) c.error = { message: r.error.message, type: r.error.error, ...(r.error.detail ? { text: `${r.error.message}\n${r.error.detail}` } : {}) };
    else if (r.exitCode !== 0) c.error = { message: `exit code ${r.exitCode}`, type: 'exit' };
    const out = r.progress.map((p) => `${new Date(p.ts).toISOString()} ${p.message}`).join('\n');
    suites.push({ name: `kseed ${r.command}`, start: r.start, time, cases: [c], properties: { exit_code: String(r.exitCode) }, ...(out ? { systemOut: out } : {}) });
  }
  return suites;
}
