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

type Connect = (t: BmcTarget) => Promise<Bmc>;

// The IPMI client lands from a parallel branch; a variable specifier keeps this
// file compiling before ./ipmi/index.ts exists.
async function connectIpmi(target: BmcTarget): Promise<Bmc> {
  const spec = './ipmi/index.js';
  let mod: Record<string, unknown>;
  try {
    mod = (await import(spec)) as Record<string, unknown>;
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes('ipmi')) {
      throw new Error('IPMI support is not built into this kseed (src/bmc/ipmi/index.ts is missing)');
    }
    throw err;
  }
  if (typeof mod.connectIpmi === 'function') return (mod.connectIpmi as Connect)(target);
  const cls = mod.IpmiBmc as { connect?: Connect } | undefined;
  if (cls && typeof cls.connect === 'function') return cls.connect(target);
  throw new Error('src/bmc/ipmi/index.ts exports neither connectIpmi() nor IpmiBmc.connect()');
}
