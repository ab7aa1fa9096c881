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

type IpmiModule = Record<string, unknown>;

// The IPMI client lands from a parallel branch; a variable specifier keeps this
// file compiling before ./ipmi/index.ts exists.
async function connectIpmi(target: BmcTarget): Promise<Bmc> {
  const spec = './ipmi/index.js';
  let mod: IpmiModule;
  try {
    mod = (await import(spec)) as IpmiModule;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND') throw new Error('IPMI support is not built into this kseed (src/bmc/ipmi missing)');
    throw err;
  }
  const connect = mod.connectIpmi ?? (mod.IpmiBmc as { connect?: unknown } | undefined)?.connect;
  if (typeof connect !== 'function') throw new Error('src/bmc/ipmi/index.ts exports neither connectIpmi nor IpmiBmc.connect');
  return (await (connect as (t: BmcTarget) => Promise<Bmc>).call(mod.IpmiBmc ?? mod, target)) as Bmc;
}
