/**
 * A node as the engines drive it: site file settings first (node, then the
 * site's defaults, already merged by the loader), the hardware profile's
 * only where the site file says nothing.
 */
import type { BmcTarget } from '../bmc/types.js';
import { InputError } from '../errors.js';
import { resolveSecret } from '../site/secrets.js';
import type { BmcSpec, NodeSpec, RootDeviceHint, Site } from '../site/types.js';
import type { HardwareProfile } from './schema.js';

/** The node's BMC settings with the profile's timeouts, cipher suite, TLS leniency underneath. */
export function effectiveBmc(node: NodeSpec, profile?: HardwareProfile): BmcSpec {
  const b = node.bmc;
  const p = profile?.bmc;
  const out: BmcSpec = { ...b };
  const timeout = b.timeout_ms ?? p?.timeout_ms;
  const retries = b.retries ?? p?.retries;
  const privilege = b.privilege ?? p?.privilege;
  if (timeout !== undefined) out.timeout_ms = timeout;
  if (retries !== undefined) out.retries = retries;
  if (privilege !== undefined) out.privilege = privilege;
  if (b.type === 'ipmi') {
    const cs = b.cipher_suite ?? p?.cipher_suite;
    if (cs !== undefined) out.cipher_suite = cs;
  } else {
    const tls = b.insecure_tls ?? p?.insecure_tls;
    if (tls !== undefined) out.insecure_tls = tls;
  }
  return out;
}

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

export function bootModeOf(node: NodeSpec, profile?: HardwareProfile): 'uefi' | 'bios' {
  // UEFI is what every current server ships with
  return node.boot_mode ?? profile?.boot.mode ?? 'uefi';
}

/** undefined means: no hint selects a disk, so nothing may be written. */
export function rootDeviceOf(node: NodeSpec, profile?: HardwareProfile): RootDeviceHint | undefined {
  return node.root_device ?? profile?.root_device;
}
