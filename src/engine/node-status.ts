/**
 * One node as `kseed status` shows it, from the state store alone: the
 * engines' status() and the seed service's GET /api/v1/status both build it
 * here, so the CLI prints the same bytes whether it read the store itself or
 * asked the service.
 */
import type { NodeState } from './lifecycle.js';
import type { NodeRecord, StateStore } from './state.js';
import type { NodeStatus } from './types.js';

/** States between runs, when no ramdisk or OS of ours holds a lease: one left from an earlier boot is not the address of the node. */
export const AT_REST: ReadonlySet<NodeState> = new Set(['enroll', 'manageable', 'available']);

/**
 * The node's address, the same in `kseed status`, the API's node views, the
 * page and the lease documents: the one its record holds (the site's fixed
 * `ip`, or the one the engine learnt), else, while it runs something of ours
 * (a ramdisk, an OS that took DHCP, a simulated node), the address of a bound
 * DHCP lease of one of its MACs. A node at rest has none: a lease left from an
 * earlier boot is not where it can be reached.
 */
export function nodeAddress(store: StateStore, r: NodeRecord | undefined, macs: readonly string[]): string | null {
  if (r?.ip) return r.ip;
  if (!r || AT_REST.has(r.state)) return null;
  for (const m of macs) {
    const l = store.getLease(m.toLowerCase());
    if (l && l.state === 'bound') return l.ip;
  }
  return null;
}

/** `macs`: the node's site MACs, for its address (nodeAddress). */
export function nodeStatusOf(store: StateStore, name: string, macs: readonly string[]): NodeStatus {
  const r = store.getNode(name);
  if (!r) return { node: name, state: 'enroll', power: null, ip: null, profile: null, last_error: null, timings: [], updated_at: 0 };
  const booted = r.data.booted as { hostname?: string } | null | undefined;
  return {
    node: name,
    state: r.state,
    power: r.power,
    ip: nodeAddress(store, r, macs),
    profile: r.profile,
    last_error: r.last_error,
    timings: store.phaseTimings(name),
    ...(booted?.hostname ? { booted_hostname: booted.hostname } : {}),
    updated_at: r.updated_at,
  };
}
