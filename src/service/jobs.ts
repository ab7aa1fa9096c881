/**
 * The seed service's long verbs as jobs: a provision, an undeploy or a
 * lease's release takes minutes, longer than a client should hold a request
 * open (and longer than the server's request timeout), so the route answers
 * 202 with a job id once the request was checked, and the verb runs on here.
 * The client follows GET /jobs/ID?since=N: the lines the CLI prints on
 * stderr (progress, the engine's per-node events) in order, then the
 * result document, or the error, with the exit code the CLI would give.
 * Each node's start and end of a job is also a store event (job-started,
 * job-ended), so the status page's live stream shows it. Jobs live in the
 * service's memory: a finished one is kept an hour (at most MAX_KEPT), and
 * a service restart forgets them (the nodes' states and events stay in the
 * store, and `kseed status` reads them).
 */
import { randomBytes } from 'node:crypto';
import type { StateStore } from '../engine/state.js';
import type { ProgressEvent } from '../engine/types.js';
import { KseedError } from '../errors.js';

export type JobLine = { seq: number; type: 'progress'; message: string } | { seq: number; type: 'node'; event: ProgressEvent };

export interface JobView {
  id: string;
  kind: string;
  user: string;
  nodes: string[];
  state: 'running' | 'succeeded' | 'failed';
  created_at: string;
  ended_at: string | null;
  /** The lines after `since`, and the seq to ask for next. */
  lines: JobLine[];
  next: number;
  /** What the verb returned (its --json document), once succeeded. */
  result: unknown;
  /** Why it failed: the error document, and the exit code of the CLI on the store. */
  error: { error: string; message: string; exit_code: number } | null;
}

export interface JobSink {
  progress(message: string): void;
  node(e: ProgressEvent): void;
}

interface Job {
  view: Omit<JobView, 'lines' | 'next'>;
  lines: JobLine[];
  ended: number | undefined;
}

const KEEP_MS = 3600_000;
const MAX_KEPT = 200;
/** A job's lines past this are dropped from the front (a fleet's provision is a few thousand). */
const MAX_LINES = 20_000;

export class Jobs {
  private readonly jobs = new Map<string, Job>();

  constructor(
    private readonly store: StateStore,
    private readonly log?: (e: Record<string, unknown>) => void,
  ) {}

  /** Starts `run` as a job of `user` on `nodes`; the answer is at once, the run goes on. */
  start<T>(kind: string, user: string, nodes: string[], run: (sink: JobSink) => Promise<T>): JobView {
    this.prune();
    const id = `job-${randomBytes(5).toString('hex')}`;
    const job: Job = { view: { id, kind, user, nodes, state: 'running', created_at: new Date().toISOString(), ended_at: null, result: null, error: null }, lines: [], ended: undefined };
    this.jobs.set(id, job);
    let seq = 0;
    const push = (l: { type: 'progress'; message: string } | { type: 'node'; event: ProgressEvent }) => {
      job.lines.push({ ...l, seq: ++seq } as JobLine);
      if (job.lines.length > MAX_LINES) job.lines.shift();
    };
    this.event(nodes, 'job-started', { job: id, kind, user });
    const end = (state: 'succeeded' | 'failed') => {
      job.view.state = state;
      job.view.ended_at = new Date().toISOString();
      job.ended = Date.now();
      this.event(nodes, 'job-ended', { job: id, kind, user, state });
      this.log?.({ service: 'api', type: 'job', job: id, kind, user, state, ...(job.view.error ? { error: job.view.error.message } : {}) });
    };
    void run({ progress: (message) => push({ type: 'progress', message }), node: (event) => push({ type: 'node', event }) }).then(
      (r) => {
        job.view.result = r;
        end('succeeded');
      },
      (err: unknown) => {
        const e = err instanceof KseedError ? err : undefined;
        job.view.error = { error: e?.code ?? 'internal', message: (err as Error)?.message ?? String(err), exit_code: e?.exitCode ?? 1 };
        end('failed');
      },
    );
    return this.get(id)!;
  }

  /** The job with its lines after `since`. */
  get(id: string, since = 0): JobView | undefined {
    const j = this.jobs.get(id);
    if (!j) return undefined;
    const lines = j.lines.filter((l) => l.seq > since);
    return { ...j.view, lines, next: j.lines.at(-1)?.seq ?? since };
  }

  /** Jobs still running (the service's stop waits for none of them: their nodes' states say where they stopped). */
  get running(): number {
    return [...this.jobs.values()].filter((j) => j.view.state === 'running').length;
  }

  private prune(): void {
    const now = Date.now();
    for (const [id, j] of this.jobs) if (j.ended !== undefined && now - j.ended > KEEP_MS) this.jobs.delete(id);
    const done = [...this.jobs.entries()].filter(([, j]) => j.ended !== undefined);
    while (this.jobs.size >= MAX_KEPT && done.length) this.jobs.delete(done.shift()![0]);
  }

  /** A store event per node (the live stream's), never a reason to fail the job: a busy store this instant loses only the event. */
  private event(nodes: string[], kind: string, detail: Record<string, unknown>): void {
    for (const n of nodes) {
      try {
        this.store.recordEvent(n, kind, detail);
      } catch (err) {
        this.log?.({ service: 'api', type: 'error', message: `job event ${kind} of ${n}: ${(err as Error).message}` });
      }
    }
  }
}
