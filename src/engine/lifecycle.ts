/**
 * The node lifecycle, in Ironic's words so Ironic users feel at home
 * (Ironic's "Bare Metal state machine" doc), plus kseed's `handed-off`.
 * Pure: no I/O. The engines ask `next()` what a verb does from a state and
 * record the transition in the state store.
 */
export type NodeState =
  | 'enroll'
  | 'enroll failed'
  | 'manageable'
  | 'inspecting'
  | 'inspect failed'
  | 'available'
  | 'deploying'
  | 'deploy failed'
  | 'active'
  | 'deleting'
  | 'clean failed'
  | 'handed-off';

export const NODE_STATES: readonly NodeState[] = [
  'enroll',
  'enroll failed',
  'manageable',
  'inspecting',
  'inspect failed',
  'available',
  'deploying',
  'deploy failed',
  'active',
  'deleting',
  'clean failed',
  'handed-off',
];

/** User-facing verbs (DESIGN: enroll, inspect, provide, deploy, rebuild, undeploy) plus hand-off. */
export type Verb = 'enroll' | 'inspect' | 'provide' | 'deploy' | 'rebuild' | 'undeploy' | 'handoff';

/** Outcome of a phase that runs asynchronously (BMC checks, ramdisk work). */
export type Outcome = 'done' | 'fail';

interface Edge {
  from: readonly NodeState[];
  /** State while the verb's work runs; equal to `done` for instant verbs. */
  during: NodeState;
  done: NodeState;
  fail: NodeState;
}

const EDGES: Record<Verb, Edge> = {
  // Ironic's "manage": credentials are checked before the node is usable.
  enroll: { from: ['enroll', 'enroll failed', 'manageable'], during: 'enroll', done: 'manageable', fail: 'enroll failed' },
  // In-band inspection returns to manageable, as in Ironic; `provide` then makes it available.
  inspect: { from: ['manageable', 'inspect failed', 'available'], during: 'inspecting', done: 'manageable', fail: 'inspect failed' },
  provide: { from: ['manageable'], during: 'available', done: 'available', fail: 'manageable' },
  deploy: { from: ['available', 'deploy failed'], during: 'deploying', done: 'active', fail: 'deploy failed' },
  rebuild: { from: ['active', 'deploy failed', 'handed-off'], during: 'deploying', done: 'active', fail: 'deploy failed' },
  // Ironic's "deleted": the disk's metadata is erased in the ramdisk (Ironic's
  // automated cleaning, erase_devices_metadata) and the node returns to the pool.
  // A wipe that fails or times out ends in Ironic's "clean failed": the disk may
  // still hold a bootable OS, so the node is not available; undeploy retries.
  undeploy: { from: ['active', 'deploy failed', 'handed-off', 'clean failed'], during: 'deleting', done: 'available', fail: 'clean failed' },
  handoff: { from: ['active', 'handed-off'], during: 'handed-off', done: 'handed-off', fail: 'active' },
};

/** States in which work is under way; a restarted seed resumes or fails them. */
export const BUSY_STATES: ReadonlySet<NodeState> = new Set(['inspecting', 'deploying', 'deleting']);
export const FAILED_STATES: ReadonlySet<NodeState> = new Set(['enroll failed', 'inspect failed', 'deploy failed', 'clean failed']);

/**
 * States in which the node holds no OS kseed wrote: never deployed, or wiped
 * by an undeploy (every way out of active, deploy failed or clean failed
 * passes through a wipe). Undeploy asked of such a node is already done.
 */
export const UNDEPLOYED_STATES: ReadonlySet<NodeState> = new Set(['enroll', 'enroll failed', 'manageable', 'inspect failed', 'available']);

export class TransitionError extends Error {
  constructor(
    readonly node: string,
    readonly verb: Verb,
    readonly state: NodeState,
  ) {
    super(`${node}: cannot ${verb} from state "${state}" (allowed from: ${EDGES[verb].from.join(', ')})`);
    this.name = 'TransitionError';
  }
}

export function canApply(verb: Verb, state: NodeState): boolean {
  return EDGES[verb].from.includes(state);
}

/** The state a node enters when `verb` starts. Throws when the verb is not allowed. */
export function start(node: string, verb: Verb, state: NodeState): NodeState {
  if (!canApply(verb, state)) throw new TransitionError(node, verb, state);
  return EDGES[verb].during;
}

/** The state a node ends in when `verb`'s work finishes with `outcome`. */
export function finish(verb: Verb, outcome: Outcome): NodeState {
  return outcome === 'done' ? EDGES[verb].done : EDGES[verb].fail;
}

/** How far along the lifecycle a state is: 0 enrolling, 1 manageable, 2 available, 3 active. */
function level(s: NodeState): number {
  switch (s) {
    case 'enroll':
    case 'enroll failed':
      return 0;
    case 'manageable':
    case 'inspecting':
    case 'inspect failed':
      return 1;
    case 'available':
    case 'deploying':
    case 'deploy failed':
    case 'deleting':
    case 'clean failed':
      return 2;
    case 'active':
    case 'handed-off':
      return 3;
  }
}

const TARGET_LEVEL = { manageable: 1, available: 2, active: 3 } as const;

/**
 * The verbs that take a node from `state` to at least `target`: what
 * `kseed provision` runs (enroll -> inspect -> provide -> deploy). A node
 * already there needs nothing; a failed phase is retried. Busy states belong
 * to a running phase, which the engine resolves first.
 */
export function plan(state: NodeState, target: keyof typeof TARGET_LEVEL, opts: { inspect: boolean }): Verb[] {
  if (BUSY_STATES.has(state)) return [];
  const goal = TARGET_LEVEL[target];
  // Only nodes not yet provided are inspected: an available node keeps its data.
  let inspectPending = opts.inspect && level(state) <= 1;
  const verbs: Verb[] = [];
  let s = state;
  // a clean-failed node has not reached any level: its disk must be wiped first
  while (!(level(s) >= goal && !(inspectPending && level(s) <= 1) && s !== 'clean failed')) {
    let v: Verb;
    if (level(s) === 0) v = 'enroll';
    else if (s === 'inspect failed' || (s === 'manageable' && inspectPending)) v = 'inspect';
    else if (s === 'manageable') v = 'provide';
    else if (s === 'available' || s === 'deploy failed') v = 'deploy';
    // a disk whose wipe failed is wiped again before the node is used
    else if (s === 'clean failed') v = 'undeploy';
    else break;
    if (v === 'inspect') inspectPending = false;
    verbs.push(v);
    s = finish(v, 'done');
  }
  return verbs;
}
