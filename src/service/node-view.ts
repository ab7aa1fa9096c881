/**
 * The lease line of a node as the API shows it, shared by the node views
 * (GET /nodes, /nodes/NAME, the page's trace) and the lease documents, so a
 * node has one lease line wherever it is shown (its one address is
 * engine/node-status.ts nodeAddress).
 */
import type { NodeLeaseRecord } from '../engine/state-node-leases.js';

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
