/** The rows of the state store as kseed reads them, and their mapping from SQLite rows. */
import { KseedError } from '../errors.js';
import type { NodeState } from './lifecycle.js';

export type PowerStateRecord = 'on' | 'off' | 'unknown';

export interface NodeRecord {
  name: string;
  state: NodeState;
  power: PowerStateRecord | null;
  ip: string | null;
  profile: string | null;
  last_error: string | null;
  /** ms since the epoch */
  updated_at: number;
  data: Record<string, unknown>;
}

export interface EventRecord {
  id: number;
  node: string | null;
  ts: number;
  kind: string;
  from_state: NodeState | null;
  to_state: NodeState | null;
  detail: Record<string, unknown>;
}

export type LeaseState = 'offered' | 'bound' | 'released' | 'declined';
export interface LeaseRecord {
  mac: string;
  ip: string;
  hostname: string | null;
  /** ms since the epoch */
  expires_at: number;
  state: LeaseState;
}

export interface ResourceRecord {
  kind: string;
  name: string;
  pid: number | null;
  data: Record<string, unknown>;
  created_at: number;
}

/** A node leased to a user or a CI pipeline. */
export interface ClaimRecord {
  node: string;
  owner: string;
  expires_at: number;
  created_at: number;
  note: string | null;
}

export interface TransitionOptions {
  reason?: string;
  /** Names the phase this transition belongs to (enroll, inspect, deploy...): timings group by it. */
  phase?: string;
  /** Compare-and-set: only transition from one of these states, else StateConflict. */
  from?: NodeState | readonly NodeState[];
  /** Stored as last_error (cleared by a transition without one). */
  error?: string;
  detail?: Record<string, unknown>;
}

export interface StateSpan {
  state: NodeState;
  phase: string | null;
  start: number;
  /** undefined while the node is still in this state */
  end?: number;
  ms?: number;
}

export interface PhaseTiming {
  phase: string;
  start: number;
  end: number;
  ms: number;
}

/** A compare-and-set transition found the node in another state. */
export class StateConflict extends KseedError {
  constructor(
    readonly node: string,
    readonly actual: NodeState | undefined,
    expected: readonly NodeState[],
  ) {
    super(
      actual === undefined
        ? `node ${node} is not in the state store`
        : `node ${node} is ${actual}, expected ${expected.join(' or ')}`,
      { code: 'state-conflict' },
    );
    this.name = 'StateConflict';
  }
}

export type Row = Record<string, unknown>;
const parse = (s: unknown): Record<string, unknown> => (typeof s === 'string' && s ? (JSON.parse(s) as Record<string, unknown>) : {});

export function nodeOf(r: Row): NodeRecord {
  return {
    name: r.name as string,
    state: r.state as NodeState,
    power: (r.power as PowerStateRecord | null) ?? null,
    ip: (r.ip as string | null) ?? null,
    profile: (r.profile as string | null) ?? null,
    last_error: (r.last_error as string | null) ?? null,
    updated_at: r.updated_at as number,
    data: parse(r.data),
  };
}

export function eventOf(r: Row): EventRecord {
  return {
    id: r.id as number,
    node: (r.node as string | null) ?? null,
    ts: r.ts as number,
    kind: r.kind as string,
    from_state: (r.from_state as NodeState | null) ?? null,
    to_state: (r.to_state as NodeState | null) ?? null,
    detail: parse(r.detail),
  };
}

export function leaseOf(r: Row): LeaseRecord {
  return {
    mac: r.mac as string,
    ip: r.ip as string,
    hostname: (r.hostname as string | null) ?? null,
    expires_at: r.expires_at as number,
    state: r.state as LeaseState,
  };
}

export function resourceOf(r: Row): ResourceRecord {
  return { kind: r.kind as string, name: r.name as string, pid: (r.pid as number | null) ?? null, data: parse(r.data), created_at: r.created_at as number };
}
