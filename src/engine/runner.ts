/**
 * The pure pieces of the phase runner: a clock (fake in unit tests), a
 * concurrency cap, per-phase timeouts, reading what the deploy ramdisk
 * reported from the event log, and the decision a restarted seed takes for
 * a node it finds busy. No I/O here, so all of it is unit-tested without
 * sockets, VMs or a real clock.
 */
import { BmcError } from '../bmc/errors.js';
import type { NodeState, Verb } from './lifecycle.js';
import { abortableSleep } from '../util/sleep.js';
import type { NodeOutcome } from './types.js';

export interface Clock {
  now(): number;
  /** Resolves after ms; rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: abortableSleep,
};

/** A phase ran out of time: the node fails with this message, the run goes on. */
export class PhaseTimeout extends Error {
  constructor(
    readonly phase: string,
    readonly ms: number,
    readonly waitingFor?: string,
  ) {
    super(`${phase} timed out after ${Math.round(ms / 1000)} s${waitingFor ? ` waiting for ${waitingFor}` : ''}`);
    this.name = 'PhaseTimeout';
  }
}

/**
 * Runs work with a deadline. The work gets an AbortSignal that fires at the
 * deadline so its waiting loops stop instead of leaking; the returned promise
 * rejects with PhaseTimeout at the deadline even if the work ignores it (a BMC
 * that never answers must not hold the node's slot forever).
 */
export async function withTimeout<T>(
  clock: Clock,
  ms: number,
  phase: string,
  work: (signal: AbortSignal, note: (waitingFor: string) => void) => Promise<T>,
): Promise<T> {
  const ac = new AbortController();
  let waitingFor: string | undefined;
  const timer = clock.sleep(ms, ac.signal).then(
    () => {
      const err = new PhaseTimeout(phase, ms, waitingFor);
      ac.abort(err);
      throw err;
    },
    () => new Promise<never>(() => {}),
  );
  try {
    return await Promise.race([work(ac.signal, (w) => (waitingFor = w)), timer]);
  } finally {
    if (!ac.signal.aborted) ac.abort(new Error('phase finished'));
  }
}

/** A counting semaphore: at most `n` holders; waiters are served in call order, those asking `first` before the others. */
export interface Semaphore {
  /** Resolves once a slot is held; rejects with the signal's reason (and queues no more) when it is aborted first. */
  acquire(signal?: AbortSignal, first?: boolean): Promise<void>;
  release(): void;
  readonly active: number;
  readonly waiting: number;
}

export function semaphore(n: number, what = 'concurrency'): Semaphore {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what} must be a positive integer, got ${n}`);
  let active = 0;
  const queue: (() => void)[] = [];
  /** How many of the queue's head asked to go first (they keep their own call order). */
  let firsts = 0;
  return {
    get active() {
      return active;
    },
    get waiting() {
      return queue.length;
    },
    acquire(signal?: AbortSignal, first = false): Promise<void> {
      signal?.throwIfAborted();
      if (active < n) {
        active++;
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        const grant = () => {
          signal?.removeEventListener('abort', abort);
          active++;
          resolve();
        };
        const abort = () => {
          const i = queue.indexOf(grant);
          if (i >= 0) queue.splice(i, 1);
          if (i >= 0 && i < firsts) firsts--;
          reject(signal!.reason);
        };
        if (first) queue.splice(firsts++, 0, grant);
        else queue.push(grant);
        signal?.addEventListener('abort', abort, { once: true });
      });
    },
    release(): void {
      active--;
      if (firsts > 0) firsts--;
      queue.shift()?.();
    },
  };
}

/** Slots a node holds across several steps; taking one it holds, or freeing one it does not, does nothing. */
export class NodeSlots {
  private readonly holders = new Set<string>();
  constructor(private readonly sem: Semaphore) {}
  holds(node: string): boolean {
    return this.holders.has(node);
  }
  async take(node: string): Promise<void> {
    if (this.holders.has(node)) return;
    await this.sem.acquire();
    this.holders.add(node);
  }
  free(node: string): void {
    if (this.holders.delete(node)) this.sem.release();
  }
}

/** At most `n` of the returned function's tasks run at once; the others queue in call order. */
export function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  const s = semaphore(n);
  return async <T>(task: () => Promise<T>): Promise<T> => {
    await s.acquire();
    try {
      return await task();
    } finally {
      s.release();
    }
  };
}

/** The subset of an event record the decisions read. */
export interface EventLike {
  id: number;
  kind: string;
  detail: Record<string, unknown>;
}

export type AgentOutcome = { status: 'ok'; msg: string } | { status: 'fail'; stage: string; reason: string };

/** Which agent result stage ends which verb (templates/ramdisk/init). */
const RESULT_STAGE: Partial<Record<Verb, string>> = { inspect: 'inspect', deploy: 'deploy', rebuild: 'deploy', undeploy: 'wipe' };

/**
 * What the ramdisk said about the verb's work in these events (those after
 * the verb started): the first failure, or its success, or undefined while
 * it is still at work. A success of another stage (e.g. an inspection
 * result seen during a deploy) does not count.
 */
export function agentOutcome(verb: Verb, events: readonly EventLike[]): AgentOutcome | undefined {
  const want = RESULT_STAGE[verb];
  for (const e of events) {
    if (e.kind !== 'agent-result') continue;
    const stage = String(e.detail.stage ?? '');
    const msg = String(e.detail.msg ?? '');
    if (e.detail.status === 'fail') return { status: 'fail', stage, reason: msg || `${stage} failed` };
    if (e.detail.status === 'ok' && stage === want) return { status: 'ok', msg };
  }
  return undefined;
}

/**
 * The node's last word among the events since a verb started, for the reason
 * of a timeout: an operator reading "deploy timed out" must see whether the
 * node never network-booted, stopped in its ramdisk, or froze mid-write.
 */
export function lastHeard(events: readonly (EventLike & { ts: number })[]): string {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    const d = e.detail;
    const what =
      e.kind === 'boot-script' ? 'it fetched its iPXE boot script'
      : e.kind === 'inventory' ? 'its ramdisk posted its inventory'
      : e.kind === 'task' ? `its ramdisk took the task ${String(d.task)}`
      : e.kind === 'agent-progress' ? `its ramdisk reported ${String(d.stage)} ${String(d.pct)}%${d.msg ? ` (${String(d.msg)})` : ''}`
      : e.kind === 'agent-result' ? `its ramdisk's ${String(d.stage)} result was ${String(d.status)}`
      : undefined;
    if (what) return `last heard at ${new Date(e.ts).toISOString()}: ${what}`;
  }
  return 'nothing heard from the node since it began: no iPXE boot script was fetched, so its network boot never reached the seed';
}

/** The installed OS's first-boot callback among the events, if any. */
export function bootCallback(events: readonly EventLike[]): { hostname?: string; stage: string } | undefined {
  for (const e of events) {
    if (e.kind === 'callback' && e.detail.stage === 'booted') {
      const h = e.detail.hostname;
      return { stage: 'booted', ...(typeof h === 'string' ? { hostname: h } : {}) };
    }
  }
  return undefined;
}

/**
 * The events of an active node whose wait for the first-boot callback a
 * killed seed cut short (a `boot-wait` with neither `booted` nor
 * `boot-wait-failed` after it): the event id from which that wait took a
 * callback (its deploy's start: an OS may call back before the wait is
 * recorded, while no engine runs), so the next
 * `provision --wait-booted` finishes it instead of calling the node done
 * without its OS: the callback may have come meanwhile (the boot services
 * only recorded it), else the disk boots again. Undefined when no wait was
 * cut short.
 */
export function interruptedBootWait(events: readonly EventLike[]): number | undefined {
  const last = events.filter((e) => e.kind === 'boot-wait' || e.kind === 'booted' || e.kind === 'boot-wait-failed').at(-1);
  if (last?.kind !== 'boot-wait') return undefined;
  return typeof last.detail.since === 'number' ? last.detail.since : last.id;
}

/** What the engine wrote in node data before a busy state's work (the "intent"). */
export interface OpRecord {
  verb: Verb;
  /** Id of the event that started the verb: what the ramdisk reports after it belongs to this run. */
  since: number;
  started_at: number;
  owner: string;
  /** How many times the work was (re)started, including resumes. */
  attempt: number;
  /**
   * The verb the engine runs right after this one (inspect -> deploy in one
   * `provision`): the boot services then tell the ramdisk to stay up (WAIT=1)
   * and serve it the next task in the same boot, as Ironic's fast track does.
   */
  next?: Verb;
}

export type ResumeDecision =
  | { action: 'finish'; outcome: 'done' | 'fail'; verb: Verb; reason?: string }
  /** Boot the ramdisk again: the interrupted run's work starts from scratch, once. */
  | { action: 'restart'; verb: Verb }
  | { action: 'skip'; reason: string };

/**
 * A restarted seed finds a node busy (inspecting, deploying, deleting): the
 * previous seed died during the verb. If the ramdisk already reported, the
 * verb is finished from that report (nothing runs again); otherwise the work
 * restarts with a fresh network boot, which power-cycles the node, so the old
 * ramdisk instance (and its image write) is gone before a new one starts.
 */
export function resumeDecision(state: NodeState, op: OpRecord | undefined, events: readonly EventLike[], maxAttempts = 3): ResumeDecision {
  const byState: Partial<Record<NodeState, Verb[]>> = { inspecting: ['inspect'], deploying: ['deploy', 'rebuild'], deleting: ['undeploy'] };
  const verbs = byState[state];
  if (!verbs) return { action: 'skip', reason: `${state} is not a busy state` };
  // A seed from before op records existed (or one killed between transition and intent): the state names the verb.
  const verb = op && verbs.includes(op.verb) ? op.verb : verbs[0]!;
  const since = op?.since ?? 0;
  const out = agentOutcome(verb, events.filter((e) => e.id > since));
  if (out?.status === 'ok') return { action: 'finish', outcome: 'done', verb };
  if (out?.status === 'fail') return { action: 'finish', outcome: 'fail', verb, reason: out.reason };
  if (op && op.attempt >= maxAttempts) {
    return { action: 'finish', outcome: 'fail', verb, reason: `${verb} interrupted ${op.attempt} times; giving up (run it again to retry)` };
  }
  return { action: 'restart', verb };
}

/** `kseed-engine@<host>:<pid>`: a claim owner another process can check for liveness. */
export function ownerName(host: string, pid: number): string {
  return `kseed-engine@${host}:${pid}`;
}

/**
 * True when the claim's owner is an engine process on this host that no
 * longer runs (SIGKILLed seed): its claim may be taken over at once instead
 * of waiting for the claim to expire. Owners on other hosts or of other kinds
 * (a CI pipeline's lease) are never considered dead.
 */
export function ownerIsDead(owner: string, host: string, isAlive: (pid: number) => boolean): boolean {
  // `#job` after the pid: one of several engines of one process (the seed service's jobs)
  const m = /^kseed-engine@([^#]+):(\d+)(?:#[^#]+)?$/.exec(owner);
  if (!m || m[1] !== host) return false;
  return !isAlive(Number(m[2]));
}

/** Whether a claim owner's process still runs on this host (EPERM: it does, as another user). */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * An error as one line of a node's last_error. A BMC's error starts with its
 * kind (auth, timeout...), as `kseed bmc` prints it, then the BMC's address.
 */
export function errText(e: unknown): string {
  const m = e instanceof BmcError ? `${e.kind}: ${e.message}` : e instanceof Error ? e.message : String(e);
  return m.replace(/[\r\n]+/g, ' ');
}

/** The claim is held by someone else who is alive. */
export class NodeBusy extends Error {}

/** The outcome of a node whose verb could not even start (busy, not allowed from its state). */
export function failedOutcome(node: string, state: NodeState | undefined, err: unknown): NodeOutcome {
  return { node, ok: false, state: state ?? 'enroll', verbs: [], error: errText(err), ms: 0 };
}
