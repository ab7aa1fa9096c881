/**
 * BMC factory: one entry point over both protocols, so callers (enroll,
 * bmc commands, engines) never import protocol code directly.
 */
import type { Bmc, BmcTarget } from './types.js';
import { IpmiBmc } from './ipmi/index.js';
import { RedfishBmc } from './redfish/client.js';

export type { Bmc, BmcTarget } from './types.js';
export { BmcError } from './errors.js';
export { budgetOf, DEFAULT_BUDGET_MS } from './budget.js';
export { IpmiBmc } from './ipmi/index.js';
export { RedfishBmc } from './redfish/client.js';
export { probeRedfish, type RedfishProbe, type RedfishProbeOptions } from './redfish/discover.js';

/** Connect and authenticate; the caller owns the result and must close() it. */
export async function connectBmc(target: BmcTarget): Promise<Bmc> {
  switch (target.protocol) {
    case 'redfish':
      return RedfishBmc.connect(target);
    case 'ipmi':
      return connectIpmi(target);
    default:
      throw new TypeError(`unknown BMC protocol ${String((target as { protocol: unknown }).protocol)}`);
  }
}

async function connectIpmi(target: BmcTarget): Promise<Bmc> {
  // IpmiBmc opens its RMCP+ session lazily; connect() authenticates now so that
  // both protocols fail (wrong password, no answer) at the same point.
  const bmc = new IpmiBmc(target);
  try {
    await bmc.connect();
  } catch (err) {
    await bmc.close().catch(() => undefined);
    throw err;
  }
  return bmc;
}
