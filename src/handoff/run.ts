/**
 * `kseed handoff --run`: the installers' steps in order, each one's status
 * kept in the state store (kv `handoff.run`), so a failed run resumes at the
 * step that failed instead of starting over (a second `cephadm bootstrap`
 * on a bootstrapped host fails; a second `kolla-ansible deploy` costs an hour).
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { KseedError } from '../errors.js';
import { missingTools as findMissing, runQuiet, TOOL_ERROR } from '../util/tools.js';
import type { StateStore } from '../engine/state.js';
import { shq, type Step } from './steps.js';

export const RUN_KEY = 'handoff.run';

export interface StepStatus {
  status: 'ok' | 'failed';
  exit_code: number | null;
  at: number;
  ms: number;
  log: string;
}

export type RunRecord = Record<string, StepStatus>;

/** Local tools the steps need that are not installed. */
export async function missingTools(steps: Step[]): Promise<string[]> {
  return findMissing(steps.map((s) => s.tool));
}

export function commandLine(s: Step): string {
  return s.argv.map(shq).join(' ') + (s.stdinFile ? ` < ${shq(s.stdinFile)}` : '');
}

/** The steps still to run: from `from` if given, else from the first not done. */
export function pendingSteps(steps: Step[], record: RunRecord | undefined, from?: string): Step[] {
  if (from !== undefined) {
    const i = steps.findIndex((s) => s.name === from);
    if (i < 0) throw new Error(`unknown step ${from} (steps: ${steps.map((s) => s.name).join(', ')})`);
    return steps.slice(i);
  }
  const i = steps.findIndex((s) => record?.[s.name]?.status !== 'ok');
  return i < 0 ? [] : steps.slice(i);
}

export interface RunOutcome {
  ran: { name: string; status: 'ok' | 'failed'; exit_code: number | null; log: string }[];
  skipped: string[];
  failed?: string;
}

/** Runs the pending steps in order, logging each to `<logDir>/handoff-<step>.log`; stops at the first failure. */
export async function runSteps(
  state: StateStore,
  steps: Step[],
  opts: { logDir: string; from?: string; cwd: string; onLine?: (step: string, line: string) => void },
): Promise<RunOutcome> {
  const record = state.get<RunRecord>(RUN_KEY);
  const todo = pendingSteps(steps, record, opts.from);
  const outcome: RunOutcome = { ran: [], skipped: steps.filter((s) => !todo.includes(s)).map((s) => s.name) };
  await mkdir(opts.logDir, { recursive: true, mode: 0o700 });
  for (const step of todo) {
    const log = path.join(opts.logDir, `handoff-${step.name}.log`);
    const stream = createWriteStream(log, { mode: 0o600 });
    const t0 = Date.now();
    stream.write(`$ ${commandLine(step)}\n`);
    let r: { exitCode: number };
    try {
      r = await runQuiet(step.argv[0]!, step.argv.slice(1), {
        cwd: opts.cwd,
        // a deploy runs as long as it runs
        timeoutMs: 0,
        buffer: false,
        ...(step.stdinFile ? { inputFile: path.resolve(opts.cwd, step.stdinFile) } : {}),
        onChunk: (c) => stream.write(c),
        ...(opts.onLine ? { onLine: (l: string) => opts.onLine!(step.name, l) } : {}),
      });
    } catch (err) {
      // a tool gone since the check before the run: that step fails, recorded and logged, as a shell says it
      if (!(err instanceof KseedError && err.code === TOOL_ERROR.missing)) throw err;
      stream.write(`${err.message}\n`);
      r = { exitCode: 127 };
    }
    await new Promise<void>((res) => stream.end(res));
    const ok = r.exitCode === 0;
    const st: StepStatus = { status: ok ? 'ok' : 'failed', exit_code: r.exitCode ?? null, at: Date.now(), ms: Date.now() - t0, log };
    state.update<RunRecord>(RUN_KEY, (old) => ({ ...(old ?? {}), [step.name]: st }));
    outcome.ran.push({ name: step.name, status: st.status, exit_code: st.exit_code, log });
    if (!ok) {
      outcome.failed = step.name;
      break;
    }
  }
  return outcome;
}
