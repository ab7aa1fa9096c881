/**
 * What a driver of the node runner (node-runner.ts) is built with and gives
 * back: the runner's contract with the embedded and Ironic engines, kept apart
 * from the runner's own flow.
 */
import type { Bmc, BmcTarget } from '../bmc/types.js';
import type { HardwareProfile } from '../profiles/schema.js';
import type { Site } from '../site/types.js';
import type { Verb } from './lifecycle.js';
import type { Clock, OpRecord } from './runner.js';
import type { StateStore } from './state.js';
import type { PhaseTimeouts, ProgressEvent, RunLimits } from './types.js';

/** What every engine is built with. */
export interface NodeRunnerOptions {
  site: Site;
  store: StateStore;
  profiles: readonly HardwareProfile[];
  /** connectBmc (src/bmc/index.ts) in production. */
  connect: (target: BmcTarget) => Promise<Bmc>;
  clock?: Clock;
  /** Nodes worked on at once (default: each engine's, see NodeRunner's constructor). */
  concurrency?: number;
  /** Bounds on what costs the seed and the network at fleet size; unset fields take DEFAULT_LIMITS. */
  limits?: Partial<RunLimits>;
  timeouts?: Partial<PhaseTimeouts>;
  /** How often the event log (and Ironic) is read while waiting; each engine has its default. */
  pollMs?: number;
  onProgress?: (e: ProgressEvent) => void;
  /** Claim owner; default kseed-engine@<host>:<pid>. */
  owner?: string;
  /** Claim lifetime (default 12 h): a dead engine on another host frees its nodes after this. */
  claimTtlMs?: number;
  /** The lease owner this run acts for: a node leased to anyone else is refused (state-node-leases.ts). */
  leaseOwner?: string;
  /** The API token this run acts for (the seed service's verbs): the leases it acquired, or owned by its name, are its own. */
  leaseToken?: string;
}

/** What a verb's work is given. */
export interface WorkCtx {
  /** Id of the event the verb started at: what the ramdisk reports after it belongs to this run. */
  since: number;
  resumed: boolean;
  signal: AbortSignal;
  /** Names what the work waits for, for the timeout's message. */
  note: (w: string) => void;
}

export type Work = (ctx: WorkCtx) => Promise<void>;

/** What the engine found before any verb ran: a reason to stop, a busy verb to resume, or one its report already finished. */
export interface Prepared {
  error?: string;
  resume?: { verb: Verb; op: OpRecord };
  finished?: { verb: Verb; ok: boolean; since: number };
}
