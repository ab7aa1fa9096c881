/**
 * Time budgets of BMC conversations. timeoutMs (the site's timeout_ms) is one
 * deadline per operation: opening the session, every request and every
 * retransmission together, never a time per try. A caller that runs several
 * operations as one step (enroll: connect, power, identity) also gives the
 * target an absolute deadline that no operation runs past.
 */
import type { BmcProtocol, BmcTarget } from './types.js';

/**
 * Defaults per protocol. IPMI: 60 s, Ironic's own `[ipmi] command_retry_timeout`
 * default; IPMI runs over UDP, where a lossy link costs whole handshakes
 * (a lost RAKP answer restarts from Open Session). Redfish: 30 s; TCP
 * retransmits on its own.
 */
export const DEFAULT_BUDGET_MS: Readonly<Record<BmcProtocol, number>> = { ipmi: 60_000, redfish: 30_000 };

/** The budget a target's operations get, ms. */
export function budgetOf(target: Pick<BmcTarget, 'protocol' | 'timeoutMs'>): number {
  return target.timeoutMs ?? DEFAULT_BUDGET_MS[target.protocol];
}

/** Absolute end (Date.now() ms) of an operation starting now. */
export function operationDeadline(target: Pick<BmcTarget, 'protocol' | 'timeoutMs' | 'deadline'>): number {
  return Math.min(Date.now() + budgetOf(target), target.deadline ?? Infinity);
}
