/**
 * A site node's BMC as src/bmc/ takes it: the site file's settings over the
 * hardware profile's (profiles/apply.ts effectiveBmc), secrets resolved.
 */
import type { BmcTarget } from '../bmc/types.js';
import { InputError } from '../errors.js';
import { effectiveBmc } from '../profiles/apply.js';
import type { HardwareProfile } from '../profiles/schema.js';
import { resolveSecret } from '../site/secrets.js';
import type { NodeSpec, Site } from '../site/types.js';

/** What src/bmc/ needs to talk to the node's BMC, secrets resolved (never log it). */
export async function bmcTarget(node: NodeSpec, site: Pick<Site, 'dir'>, profile?: HardwareProfile): Promise<BmcTarget> {
  const b = effectiveBmc(node, profile);
  const t: BmcTarget = {
    protocol: b.type,
    address: b.address,
    port: b.port,
    username: b.username,
    password: await resolveSecret(b.password, site),
  };
  if (b.timeout_ms !== undefined) t.timeoutMs = b.timeout_ms;
  if (b.retries !== undefined) t.retries = b.retries;
  if (b.privilege !== undefined) t.privilege = b.privilege;
  if (b.type === 'ipmi') {
    if (b.cipher_suite !== undefined) t.cipherSuite = b.cipher_suite;
    if (b.kg) {
      const hex = (await resolveSecret(b.kg, site)).replace(/^0x/i, '');
      // Buffer.from(hex) silently drops what is not hex: a wrong key must fail loudly, without echoing it.
      // Kg is at most 20 bytes (IPMI v2.0 13.31: K_G is a 160-bit key, zero-padded).
      if (!/^([0-9a-f]{2}){1,20}$/i.test(hex)) {
        throw new InputError(`node ${node.name}: the BMC key kg must be 1 to 20 bytes of hexadecimal digits`, [], { code: 'bad-secret' });
      }
      t.kg = Buffer.from(hex, 'hex');
    }
  } else {
    if (b.scheme !== undefined) t.scheme = b.scheme;
    if (b.insecure_tls !== undefined) t.insecureTls = b.insecure_tls;
  }
  return t;
}

/** A BMC secret of the site file read from an environment variable that is not set in this process. */
export interface UnsetBmcEnv {
  node: string;
  field: 'bmc.password' | 'bmc.kg';
  env: string;
}

/** The nodes' BMC secrets given as `{env: NAME}` whose variable is unset (or empty) here, as resolveSecret would refuse them. */
export function unsetBmcEnv(nodes: readonly NodeSpec[], env: NodeJS.ProcessEnv = process.env): UnsetBmcEnv[] {
  const out: UnsetBmcEnv[] = [];
  for (const n of nodes) {
    const refs: [UnsetBmcEnv['field'], NodeSpec['bmc']['password'] | undefined][] = [['bmc.password', n.bmc.password], ['bmc.kg', n.bmc.type === 'ipmi' ? n.bmc.kg : undefined]];
    for (const [field, ref] of refs) if (ref && 'env' in ref && !env[ref.env]) out.push({ node: n.name, field, env: ref.env });
  }
  return out;
}
