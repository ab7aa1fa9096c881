/**
 * CI mode on the long commands: `--events` streams the run as NDJSON on
 * stdout (events.ts), `--junit FILE` writes a JUnit report of it when it
 * ends (ci-report.ts, junit.ts), whatever the end: success, some nodes
 * failed (exit 3), an error, or SIGINT/SIGTERM (a CI job's timeout). Both
 * read the one stream the command reports through (Output, run sink): the
 * engine's progress events, the nodes' results, the result document.
 */
import { mkdirSync, readFileSync, statSync, accessSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import type { ProgressEvent } from '../engine/types.js';
import { ExitCode, InputError, KseedError } from '../errors.js';
import { writeAtomic } from '../handoff/files.js';
import { runSuites, type RunRecord } from './ci-report.js';
import { EventEncoder, fromProgress, scrub, type EventBody, type NodeResult, type RunError } from './events.js';
import { junitXml } from './junit.js';
import { runSink, setRunSink, type RunSink } from './output.js';

function kseedVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** What an error is in the stream: the document `--json` prints for it. */
export function runError(err: unknown): RunError {
  if (err instanceof KseedError) return err.toJSON() as unknown as RunError;
  return { error: 'internal', message: (err as Error)?.message ?? String(err) };
}

export class CiRun implements RunSink {
  private readonly enc = new EventEncoder();
  private readonly start = Date.now();
  private readonly nodeEvents: ProgressEvent[] = [];
  private readonly outcomes: NodeResult[] = [];
  private readonly lines: { ts: number; message: string }[] = [];
  private doc: unknown;
  private ended = false;

  constructor(
    readonly command: string,
    readonly events: boolean,
    readonly junit: string | undefined,
    private readonly write: (line: string) => void = (l) => process.stdout.write(l),
  ) {
    this.emit({ type: 'run-start', command, kseed: kseedVersion() });
  }

  private emit(body: EventBody, ts?: number): void {
    if (this.events) this.write(this.enc.line(body, ts));
  }

  progress(message: string): void {
    this.lines.push({ ts: Date.now(), message });
    this.emit({ type: 'progress', message });
  }

  node(e: ProgressEvent): void {
    this.nodeEvents.push(e);
    const { ts, body } = fromProgress(e);
    this.emit(body, ts);
  }

  outcome(o: NodeResult): void {
    this.outcomes.push(o);
    this.emit({ type: 'node-result', ...o });
  }

  result(data: unknown): void {
    this.doc = data;
  }

  /** The JUnit document of the run so far, ended with this code (or error). */
  report(exitCode: number, error?: RunError): string {
    const end = Date.now();
    const rec: RunRecord = { command: this.command, start: this.start, end, exitCode, events: this.nodeEvents, outcomes: this.outcomes, progress: this.lines, ...(error ? { error } : {}) };
    return junitXml(`kseed ${this.command}`, runSuites(scrub(rec)), { time: (end - this.start) / 1000, hostname: hostname() });
  }

  /**
   * Writes the report (temp file and rename: a reader never sees half of
   * one), then the last event. A report that cannot be written fails a run
   * that had not failed otherwise.
   */
  async end(exitCode: number, err?: unknown): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    let error = err === undefined ? undefined : runError(err);
    let failed: KseedError | undefined;
    if (this.junit) {
      try {
        await writeAtomic(this.junit, this.report(exitCode, error), 0o644);
      } catch (e) {
        failed = new KseedError(`cannot write the JUnit report ${this.junit}: ${(e as Error).message}`, { code: 'junit-write' });
      }
    }
    const raise = failed && err === undefined;
    if (raise) error = runError(failed);
    else if (failed) process.stderr.write(`kseed: ${failed.message}\n`);
    const n = (r: NodeResult['result']) => this.outcomes.filter((o) => o.result === r).length;
    this.emit({
      type: 'run-end',
      command: this.command,
      exit_code: raise ? failed!.exitCode : exitCode,
      nodes: { total: this.outcomes.length, ok: n('ok'), failed: n('failed'), skipped: n('skipped') },
      ...(this.doc !== undefined && !error ? { result: this.doc } : {}),
      ...(error ? { error } : {}),
    });
    if (raise) throw failed;
  }
}

/** The report file given to --junit, checked before any work: a run of 45 minutes must not fail on it at the end. */
function junitPath(file: string): string {
  const abs = path.resolve(file);
  const dir = path.dirname(abs);
  try {
    if (statSync(abs, { throwIfNoEntry: false })?.isDirectory()) throw new Error('it is a directory');
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new InputError(`--junit ${file}: cannot write a report there (${(err as Error).message})`, [], { code: 'bad-junit' });
  }
  return abs;
}

const SIGNALS = [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const;

/** Starts CI mode for the command about to run, if it was asked for. */
function startRun(cmd: Command): void {
  const o = cmd.opts() as { events?: boolean; junit?: string };
  if (!o.events && o.junit === undefined) return;
  const run = new CiRun(cmd.name(), Boolean(o.events), o.junit === undefined ? undefined : junitPath(o.junit));
  setRunSink(run);
  for (const [sig, code] of SIGNALS) {
    // a CI job that times out is stopped with SIGTERM: its report still lists every node, the unfinished ones as errors
    process.once(sig, () => {
      run
        .end(code, new KseedError(`interrupted by ${sig}`, { code: 'interrupted' }))
        .catch(() => undefined)
        .finally(() => process.exit(code));
    });
  }
}

/** Adds --events and --junit to a long command; the run starts before its action and ends after it (main.ts ends a run that threw). */
export function ciOptions(c: Command): Command {
  return c
    .option('--events', 'stream the run as NDJSON events on stdout, one per line (schema: README "CI mode"); the last carries the --json document')
    .option('--junit <file>', 'write a JUnit XML report: a test case per node and phase, failures with the node\'s error (written also when nodes fail)')
    .hook('preAction', (_self, action) => startRun(action))
    .hook('postAction', async () => {
      await runSink()?.end(typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok);
    });
}
