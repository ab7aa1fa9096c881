/**
 * One node as `kseed status` shows it, from the state store alone: the
 * engines' status() and the seed service's GET /api/v1/status both build it
 * here, so the CLI prints the same bytes whether it read the store itself or
 * asked the service.
 */
import type { NodeState } from './lifecycle.js';
import type { StateStore } from './state.js';
import type { NodeStatus } from './types.js';

/** States between runs, when no ramdisk or OS of ours holds a lease: one left from an earlier boot is not the address of the node. */
export const AT_REST: ReadonlySet<NodeState> = new Set(['enroll', 'manageable', 'available']);

/** `macs`: the node's site MACs; the first one's DHCP lease is its address while it runs something of ours. */
export function nodeStatusOf(store: StateStore, name: string, macs: readonly string[]): NodeStatus {
  const r = store.getNode(name);
  if (!r) return { node: name, state: 'enroll', power: null, ip: null, profile: null, last_error: null, timings: [], updated_at: 0 };
  const booted = r.data.booted as { hostname?: string } | null | undefined;
  const mac = macs[0];
  return {
    node: name,
    state: r.state,
    power: r.power,
    // the address DHCP gave its PXE NIC, unless the site fixes one; a node at rest
    // (powered off, no OS of ours on it) has none, whatever lease is left
    ip: r.ip ?? (AT_REST.has(r.state) ? null : (mac && store.getLease(mac)?.ip) || null),
    profile: r.profile,
    last_error: r.last_error,
    timings: store.phaseTimings(name),
    ...(booted?.hostname ? { booted_hostname: booted.hostname } : {}),
    updated_at: r.updated_at,
  };
}
