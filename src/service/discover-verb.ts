/**
 * `kseed discover` as both its runners run it: the CLI, and the seed service
 * as a job (POST /api/v1/discover, api-verbs.ts): a scan of a /16 at the
 * default rate takes minutes. Through the service the scan runs from the
 * seed, where the BMC network is; the CLI writes the site-file fragment
 * (--write) from the result either way. A scan that logs in (--username)
 * stays in the CLI: its password is in the CLI's environment only.
 */
import { discover, expandCidr, type DiscoveredBmc } from '../bmc/discover.js';
import { probeRedfish, type RedfishProbe } from '../bmc/redfish/discover.js';
import { InputError } from '../errors.js';

export interface Found {
  address: string;
  protocols: ('ipmi' | 'redfish')[];
  ipmi?: DiscoveredBmc;
  redfish?: RedfishProbe & { port: number; scheme: string };
}

export interface DiscoverRequest {
  range: string;
  redfish: boolean;
  port: number;
  redfishPort?: number;
  redfishScheme: string;
  concurrency: number;
  rate: number;
  timeout: number;
  credentials?: { username: string; password: string };
}

/** What `discover --json` prints (and `written` when the CLI wrote the fragment). */
export interface DiscoverDoc {
  range: string;
  scanned: number;
  found: Found[];
}

/** The addresses of the range, or the bad input named as the CLI names it. */
export function discoverAddresses(req: Pick<DiscoverRequest, 'range' | 'redfishScheme'>): string[] {
  let addresses: string[];
  try {
    addresses = expandCidr(req.range);
  } catch (err) {
    throw new InputError(`--range ${req.range}: ${(err as Error).message}`);
  }
  if (req.redfishScheme !== 'http' && req.redfishScheme !== 'https') throw new InputError('--redfish-scheme must be http or https');
  return addresses;
}

/** Redfish probes in parallel, bounded like the IPMI scan. */
async function scanRedfish(addresses: string[], o: { port?: number; scheme: 'http' | 'https'; concurrency: number; timeoutMs: number }) {
  const out = new Map<string, RedfishProbe>();
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= addresses.length) return;
      const a = addresses[i]!;
      // no credentials are sent to a probe, so a self-signed certificate costs nothing here;
      // enrolling the BMC later still needs insecure_tls in the site file
      const r = await probeRedfish(a, { scheme: o.scheme, ...(o.port ? { port: o.port } : {}), timeoutMs: o.timeoutMs, insecureTls: true }).catch(
        () => ({ found: false }) as RedfishProbe,
      );
      if (r.found) out.set(a, r);
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, addresses.length) }, worker));
  return out;
}

export async function runDiscover(req: DiscoverRequest, note: (line: string) => void): Promise<DiscoverDoc> {
  const addresses = discoverAddresses(req);
  const o = req;
  const scheme = o.redfishScheme as 'http' | 'https';
  note(`scanning ${addresses.length} addresses of ${o.range} (UDP ${o.port}${o.redfish ? ', Redfish' : ''})...`);
  const [ipmi, redfish] = await Promise.all([
    discover({ range: o.range, port: o.port, concurrency: o.concurrency, rate: o.rate, timeoutMs: o.timeout, ...(o.credentials ? { credentials: o.credentials } : {}) }),
    o.redfish
      ? scanRedfish(addresses, { scheme, ...(o.redfishPort ? { port: o.redfishPort } : {}), concurrency: o.concurrency, timeoutMs: Math.max(o.timeout, 1000) })
      : Promise.resolve(new Map<string, RedfishProbe>()),
  ]);
  const byAddr = new Map<string, Found>();
  for (const b of ipmi) byAddr.set(b.address, { address: b.address, protocols: ['ipmi'], ipmi: b });
  const rfPort = o.redfishPort ?? (scheme === 'http' ? 80 : 443);
  for (const [a, r] of redfish) {
    const f = byAddr.get(a) ?? { address: a, protocols: [] };
    f.protocols.push('redfish');
    f.redfish = { ...r, port: rfPort, scheme };
    byAddr.set(a, f);
  }
  const key = (a: string) => a.split('.').reduce((n, x) => n * 256 + Number(x), 0);
  return { range: o.range, scanned: addresses.length, found: [...byAddr.values()].sort((a, b) => key(a.address) - key(b.address)) };
}
