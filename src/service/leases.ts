/**
 * Lease operations as the seed service and the CLI both run them, so `kseed
 * lease ...` prints the same document whether it went through the service's
 * API or opened the state store itself: the store's transaction is the one
 * place where nodes are handed out (engine/state-node-leases.ts).
 */
import type { NodeLeaseRecord, StateStore } from '../engine/state.js';
import { parseDuration } from './api-input.js';

export const DEFAULT_TTL = '1h';

export interface LeasedNode {
  name: string;
  /** Lifecycle state in the store; null for a node never enrolled. */
  state: string | null;
  ip: string | null;
}

export interface LeaseView {
  id: string;
  owner: string;
  nodes: LeasedNode[];
  created_at: string;
  expires_at: string;
  /** Set once the lease ended: released by its holder or expired. */
  ended_at: string | null;
  end_reason: 'released' | 'expired' | null;
  keep: boolean;
  created_by: string | null;
}

export interface AcquireInput {
  owner: string;
  count?: number;
  nodes?: string[];
  /** A duration (`2h`); default DEFAULT_TTL. */
  ttl?: string;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function leaseView(l: NodeLeaseRecord, store: StateStore): LeaseView {
  return {
    id: l.id,
    owner: l.owner,
    nodes: l.nodes.map((name) => {
      const r = store.getNode(name);
      return { name, state: r?.state ?? null, ip: r?.ip ?? null };
    }),
    created_at: iso(l.created_at)!,
    expires_at: iso(l.expires_at)!,
    ended_at: iso(l.ended_at),
    end_reason: l.end_reason,
    keep: l.keep,
    created_by: l.created_by,
  };
}

/** The lease operations on one store, over the site's nodes (`candidates`, in site order). */
export class LeaseDesk {
  constructor(
    readonly store: StateStore,
    readonly candidates: readonly string[],
  ) {}

  acquire(i: AcquireInput, createdBy?: string): LeaseView {
    const ttlMs = parseDuration(i.ttl ?? DEFAULT_TTL, 'ttl');
    const l = this.store.nodeLeases.acquire(
      { owner: i.owner, ttlMs, ...(i.count !== undefined ? { count: i.count } : {}), ...(i.nodes ? { nodes: i.nodes } : {}), ...(createdBy ? { createdBy } : {}) },
      this.candidates,
    );
    return leaseView(l, this.store);
  }

  list(all = false): LeaseView[] {
    return this.store.nodeLeases.list({ all }).map((l) => leaseView(l, this.store));
  }

  get(id: string): LeaseView | undefined {
    const l = this.store.nodeLeases.get(id);
    return l ? leaseView(l, this.store) : undefined;
  }

  renew(id: string, ttl = DEFAULT_TTL): LeaseView {
    return leaseView(this.store.nodeLeases.renew(id, parseDuration(ttl, 'ttl')), this.store);
  }

  release(id: string, keep = false): LeaseView {
    return leaseView(this.store.nodeLeases.release(id, { keep }), this.store);
  }

  /** Ends the leases past their expiry (the service's timer). */
  expire(): LeaseView[] {
    return this.store.nodeLeases.expire().map((l) => leaseView(l, this.store));
  }
}
