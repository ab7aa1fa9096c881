/**
 * What every command prints goes through here, so `--json` is uniform:
 * data on stdout as one JSON document, progress and logs on stderr, and
 * secrets never printed (callers pass redacted data; `redact` is the net).
 */
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

export class Output {
  constructor(readonly opts: OutputOptions) {}

  get json(): boolean {
    return this.opts.json;
  }

  /** Human progress line (stderr), suppressed in --json unless verbose. */
  progress(msg: string): void {
    if (this.opts.quiet) return;
    if (this.opts.json && !this.opts.verbose) return;
    if (!this.opts.json && liveLine.enabled) liveLine.step(msg);
    else process.stderr.write(`${msg}\n`);
  }

  /** Human-only text on stdout (skipped under --json). */
  text(msg: string): void {
    liveLine.clear();
    if (!this.opts.json) process.stdout.write(`${msg}\n`);
  }

  /** The command's result: JSON under --json, else the human rendering. */
  result(data: unknown, human?: () => string): void {
    liveLine.stop();
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
