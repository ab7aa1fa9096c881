/**
 * BMC factory: one entry point over both protocols, so callers (enroll,
 * bmc commands, engines) never import protocol code directly.
 */
import type { Bmc, BmcTarget } from './types.js';
import { RedfishBmc } from './redfish/client.js';

export type { Bmc, BmcTarget } from './types.js';
export { BmcError } from './errors.js';
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

interface IpmiModule {
  IpmiBmc?: new (target: BmcTarget) => Bmc & { connect(): Promise<void> };
}

// The IPMI client (src/bmc/ipmi, branch ipmi) lands in parallel; a variable
// specifier keeps this file compiling without it. Once both are merged this
// can become a static `import { IpmiBmc } from './ipmi/index.js'`.
async function connectIpmi(target: BmcTarget): Promise<Bmc> {
  const spec = './ipmi/index.js';
  let mod: IpmiModule;
  try {
    mod = (await import(spec)) as IpmiModule;
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes('ipmi')) {
      throw new Error('IPMI support is not built into this kseed (src/bmc/ipmi/index.ts is missing)');
    }
    throw err;
  }
  if (typeof mod.IpmiBmc !== 'function') throw new Error('src/bmc/ipmi/index.ts does not export IpmiBmc');
  // IpmiBmc opens its RMCP+ session lazily; connect() authenticates now so that
  // both protocols fail (wrong password, no answer) at the same point.
  const bmc = new mod.IpmiBmc(target);
  try {
    await bmc.connect();
  } catch (err) {
    await bmc.close().catch(() => undefined);
    throw err;
  }
  return bmc;
}
