/**
 * Two parts of a node as the API shows it, shared by the node views
 * (GET /nodes, /nodes/NAME, the page's trace) and the lease documents, so a
 * node has one address and one lease line wherever it is shown.
 */
import type { NodeRecord, StateStore } from '../engine/state.js';
import type { NodeLeaseRecord } from '../engine/state-node-leases.js';

/**
 * The node's address: the one its record holds (the site's fixed `ip`, or
 * the one the engine learnt), else the address of a bound DHCP lease of
 * one of its MACs (what the node's firmware, ramdisk or OS was given when
 * the engine never recorded one: a simulated node, an OS that took DHCP).
 */
export function nodeAddress(store: StateStore, r: NodeRecord | undefined, macs: readonly string[]): string | null {
  if (r?.ip) return r.ip;
  for (const m of macs) {
    const l = store.getLease(m.toLowerCase());
    if (l && l.state === 'bound') return l.ip;
  }
  return null;
}

export interface NodeLeaseView {
  id: string;
  owner: string;
  expires_at: string;
  /** Null while the lease is live; set when it ended but still holds the node (its wipe failed). */
  ended_at: string | null;
  end_reason: 'released' | 'expired' | null;
  /** The error of the failed wipe that keeps an ended lease holding the node (`kseed lease release ID` retries it), else null. */
  wipe_failed: string | null;
}

/** The lease holding `node`: a live one, or an ended one whose wipe of this node failed. */
export function nodeLeaseView(l: NodeLeaseRecord | undefined, node: string): NodeLeaseView | null {
  if (!l) return null;
  const ended = l.ended_at !== null;
  return {
    id: l.id,
    owner: l.owner,
    expires_at: new Date(l.expires_at).toISOString(),
    ended_at: ended ? new Date(l.ended_at!).toISOString() : null,
    end_reason: l.end_reason,
    // an ended lease holds only the nodes whose wipe failed (engine/state-node-leases.ts finish)
    wipe_failed: ended ? (l.outcomes[node]?.error ?? 'the wipe failed') : null,
  };
}
