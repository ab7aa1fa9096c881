/**
 * Redfish discovery probe for `kseed discover --redfish`: one unauthenticated
 * GET of the service root (DSP0266 says /redfish/v1/ needs no credentials),
 * so probing never sends a password to an address that merely answered.
 */
import { BmcError } from '../errors.js';
import { RedfishHttp } from './http.js';
import { isObject, str } from './model.js';

export interface RedfishProbeOptions {
  port?: number;
  scheme?: 'http' | 'https';
  timeoutMs?: number;
  insecureTls?: boolean;
}

export interface RedfishProbe {
  found: boolean;
  vendor?: string;
  product?: string;
  redfishVersion?: string;
  uuid?: string;
  /** Why nothing was found (refused, timeout, untrusted certificate, not Redfish). */
  reason?: string;
}

export async function probeRedfish(address: string, opts: RedfishProbeOptions = {}): Promise<RedfishProbe> {
  const scheme = opts.scheme ?? 'https';
  const port = opts.port ?? (scheme === 'https' ? 443 : 80);
  const timeoutMs = opts.timeoutMs ?? 3_000;
  const host = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
  const http = new RedfishHttp({
    origin: `${scheme}://${host}:${port}`,
    label: `${address}:${port}`,
    insecureTls: opts.insecureTls === true,
    requestTimeoutMs: timeoutMs,
    // A scan must not triple its time on dead addresses.
    retries: 0,
    secrets: [],
  });
  try {
    const res = await http.send({ method: 'GET', path: '/redfish/v1/', deadline: Date.now() + timeoutMs, auth: false });
    const root = res.body;
    if (res.status !== 200 || !isObject(root)) return { found: false, reason: `HTTP ${res.status} without a service root` };
    const type = str(root['@odata.type']);
    const version = str(root.RedfishVersion);
    if (!version && !type?.includes('ServiceRoot')) return { found: false, reason: 'not a Redfish service root' };
    const out: RedfishProbe = { found: true };
    // ServiceRoot.Vendor/Product exist since v1_5; older services only name themselves under Oem.
    const oemKeys = isObject(root.Oem) ? Object.keys(root.Oem) : [];
    const vendor = str(root.Vendor) ?? oemKeys[0];
    if (vendor) out.vendor = vendor;
    const product = str(root.Product);
    if (product) out.product = product;
    if (version) out.redfishVersion = version;
    const uuid = str(root.UUID);
    if (uuid) out.uuid = uuid.toLowerCase();
    return out;
  } catch (err) {
    if (err instanceof BmcError) return { found: false, reason: err.message };
    throw err;
  } finally {
    await http.close();
  }
}
