/**
 * A node as the engines drive it: site file settings first (node, then the
 * site's defaults, already merged by the loader), the hardware profile's
 * only where the site file says nothing.
 */
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

export function bootModeOf(node: NodeSpec, profile?: HardwareProfile): 'uefi' | 'bios' {
  // UEFI is what every current server ships with
  return node.boot_mode ?? profile?.boot.mode ?? 'uefi';
}

/** undefined means: no hint selects a disk, so nothing may be written. */
export function rootDeviceOf(node: NodeSpec, profile?: HardwareProfile): RootDeviceHint | undefined {
  return node.root_device ?? profile?.root_device;
}
