/**
 * What every command prints goes through here, so `--json` is uniform:
 * data on stdout as one JSON document, progress and logs on stderr, and
 * secrets never printed (callers pass redacted data; `redact` is the net).
 * In CI mode (`--events`, `--junit`: ci.ts) a run sink takes the progress,
 * the nodes' events and results and the result document as well.
 */
import type { ProgressEvent } from '../engine/types.js';
import type { NodeResult } from './events.js';
import { liveLine } from './spinner.js';

export interface OutputOptions {
  json: boolean;
  verbose: boolean;
  quiet?: boolean;
}

const SECRET_KEY = /pass(word)?|secret|token|key$|htpasswd|credential/i;

/** Deep copy with values of secret-looking keys replaced. */
export function redact<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => redact(v)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = SECRET_KEY.test(k) && (typeof v === 'string' || typeof v === 'number') ? '******' : redact(v);
    }
    return out as T;
  }
  return value;
}

/** Where a CI-mode run takes what the command reports (ci.ts); one per process, like the terminal. */
export interface RunSink {
  /** Stdout carries the event stream: nothing else may be written there. */
  readonly events: boolean;
  progress(message: string): void;
  node(e: ProgressEvent): void;
  outcome(o: NodeResult): void;
  result(data: unknown): void;
  /** The run is over, with its exit code or the error that ended it: the last event, the report. */
  end(exitCode: number, err?: unknown): Promise<void>;
}

let sink: RunSink | undefined;

export function setRunSink(s: RunSink | undefined): void {
  sink = s;
}

export function runSink(): RunSink | undefined {
  return sink;
}

export class Output {
  constructor(readonly opts: OutputOptions) {}

  get json(): boolean {
    return this.opts.json;
  }

  /** Human progress line (stderr), suppressed in --json unless verbose. */
  progress(msg: string): void {
    sink?.progress(msg);
    this.say(msg);
  }

  /** A node's progress event from the engine; `line` is what a human sees of it (none: the command prints no line per event). */
  node(e: ProgressEvent, line?: string): void {
    sink?.node(e);
    if (line !== undefined) this.say(line);
  }

  /** A node's end result, for CI mode's stream and report (the command's table or document says it to humans). */
  outcome(o: NodeResult): void {
    sink?.outcome(o);
  }

  private say(msg: string): void {
    if (this.opts.quiet) return;
    if (this.opts.json && !this.opts.verbose) return;
    if (!this.opts.json && liveLine.enabled) liveLine.step(msg);
    else process.stderr.write(`${msg}\n`);
  }

  /** Human-only text on stdout (skipped under --json). */
  text(msg: string): void {
    liveLine.clear();
    if (!this.opts.json) (sink?.events ? process.stderr : process.stdout).write(`${msg}\n`);
  }

  /** The command's result: JSON under --json, else the human rendering. */
  result(data: unknown, human?: () => string): void {
    liveLine.stop();
    if (sink?.events) {
      // stdout is the event stream: the document is the last event's, the table goes to stderr
      sink.result(redact(data));
      const s = !this.opts.json && human ? human() : '';
      if (s) process.stderr.write(s.endsWith('\n') ? s : `${s}\n`);
      return;
    }
    sink?.result(redact(data));
    if (this.opts.json) {
      process.stdout.write(`${JSON.stringify(redact(data), null, 2)}\n`);
    } else if (human) {
      const s = human();
      if (s) process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
    }
  }
}

/** Plain aligned table for terminals; no colours so logs stay greppable. */
export function table(headers: string[], rows: (string | number | undefined)[][]): string {
  const cells = rows.map((r) => r.map((c) => (c === undefined ? '-' : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

export interface TimingLike {
  phase: string;
  start: number;
  ms: number;
}

/** Phases whose result an undeploy wipes: their times describe an OS that is gone. */
const OS_PHASES = new Set(['deploy', 'boot', 'handoff']);

export const fmtMs = (ms: number) => (ms >= 60_000 ? `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s` : `${(ms / 1000).toFixed(1)}s`);

/**
 * The TIMINGS cell of a status table: the node as it is now, not its
 * history (--json keeps every run): the last run of each phase, and none of
 * the deployed OS's phases once an undeploy ran after them.
 */
export function timingsCell(timings: readonly TimingLike[]): string | undefined {
  const last = new Map<string, TimingLike>();
  for (const t of timings) last.set(t.phase, t);
  const undeploy = last.get('undeploy');
  const now = [...last.values()].filter((t) => !(undeploy && OS_PHASES.has(t.phase) && t.start < undeploy.start)).sort((a, b) => a.start - b.start);
  return now.map((t) => `${t.phase} ${fmtMs(t.ms)}`).join(', ') || undefined;
}
