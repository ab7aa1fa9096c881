/**
 * The seed service process (`kseed serve`): it opens the state store, serves
 * the API (api.ts) and ends leases past their expiry, until SIGTERM/SIGINT.
 *
 * It is its own process, beside the boot services rather than inside them:
 * `kseed boot serve` runs inside seed.netns in a lab (its 127.0.0.1 is the
 * namespace's, unreachable from the host's CLI and CI jobs) and exists only
 * on the embedded engine (the Ironic engine runs its agent service instead),
 * while the API must be the same on both engines; and a request the API
 * mishandles must never take DHCP and TFTP down with it. They share the
 * state store, which is safe across processes (BEGIN IMMEDIATE, WAL).
 * `.kseed/run/api.json` (0600) says where it listens, for `kseed status` and
 * the CLI; it is removed on a clean stop (a stale one names a dead PID).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderedStack } from '../engine/ironic-seed.js';
import { openState } from '../engine/state.js';
import { KseedError } from '../errors.js';
import { isIPv4 } from 'node:net';
import { startApi, type RunningApi } from './api.js';
import { ensureCliToken } from './cli-token.js';
import { ensureApiTls } from './tls.js';
import type { LeaseCandidate, LeaseWork } from './leases.js';
import { StackCounters } from './stack-counters.js';
import type { Site } from '../site/types.js';

export const DEFAULT_API_PORT = 9480;
/** How long a request waits for the store's write lock held by another process (a CLI, the boot services). */
export const STORE_BUSY_MS = 3000;

export interface ServiceOptions {
  stateDir: string;
  nodes: readonly LeaseCandidate[];
  host?: string;
  port?: number;
  /** HTTPS with kseed's CA (tls.ts); needed off loopback. */
  tls?: boolean;
  version: string;
  /** How often leases past their expiry are released (default 1 s). */
  expiryEveryMs?: number;
  /** How leases wipe and provision nodes (engineWork of the site); without it, nodes with an OS stay held by an ended lease. */
  work?: LeaseWork;
  /** The site whose verbs the API runs (power, provision, undeploy, rebuild). */
  site?: Site;
  log: (e: Record<string, unknown>) => void;
  /**
   * Called once when the run file stops naming this process (the seed's
   * .kseed/ was deleted, or another service of this seed took over): the
   * caller stops, so a service never outlives its seed.
   */
  orphaned?: () => void;
}

export interface RunningService extends RunningApi {
  runFile: string;
}

export const runFileOf = (stateDir: string) => path.join(stateDir, 'run', 'api.json');

/** Plain HTTP carries tokens in the clear: only on loopback, where nobody else on the network sees them. */
export function checkHost(host: string, tls: boolean): void {
  if (!isIPv4(host)) throw new KseedError(`the API listens on an IPv4 address, not "${host}"`, { code: 'bad-host', exitCode: 2 });
  if (!tls && !host.startsWith('127.')) {
    throw new KseedError(`the API serves plain HTTP on 127.0.0.0/8 only, not ${host}: serve it with --tls (a certificate of kseed's own CA, .kseed/secrets/api-ca.crt)`, { code: 'bad-host', exitCode: 2 });
  }
}

export async function startService(o: ServiceOptions): Promise<RunningService> {
  const host = o.host ?? '127.0.0.1';
  checkHost(host, Boolean(o.tls));
  const tlsFiles = o.tls ? await ensureApiTls(o.stateDir, [host]) : undefined;
  const tls = tlsFiles ? { key: readFileSync(tlsFiles.key, 'utf8'), cert: readFileSync(tlsFiles.cert, 'utf8') } : undefined;
  // FULL sync: a lease the API answered 201 for survives a kill -9 or a power cut. A request
  // waits at most STORE_BUSY_MS for another process's write lock, then answers 503 with
  // Retry-After (api.ts): a client that asks again beats one left hanging for the default 15 s
  const store = openState(o.stateDir, { busyTimeoutMs: STORE_BUSY_MS });
  try {
    ensureCliToken(store, o.stateDir);
  } catch (err) {
    store.close();
    throw err;
  }
  // the Ironic engine's stack (rendered into .kseed/stack): its dnsmasq and nginx logs are the boot traffic's counters
  const rendered = await renderedStack(o.stateDir).catch(() => undefined);
  const stack = rendered ? new StackCounters(rendered.manifest.project, { log: o.log }) : undefined;
  // not waited for: a slow docker CLI must not hold the API back (the first scrapes may come before the first counts)
  void stack?.start();
  let api: RunningApi;
  try {
    api = await startApi({ store, nodes: o.nodes, host, port: o.port ?? DEFAULT_API_PORT, version: o.version, tls, log: o.log, stateDir: o.stateDir, stack, ...(o.work ? { work: o.work } : {}), ...(o.site ? { site: o.site } : {}) });
  } catch (err) {
    stack?.close();
    store.close();
    const e = err as NodeJS.ErrnoException;
    throw new KseedError(`the seed service cannot listen on ${host}:${o.port ?? DEFAULT_API_PORT}: ${e.code ?? e.message}`, { code: 'api-listen', cause: err });
  }
  // a wipe takes minutes: a tick while the last one's releases run leaves them to it
  let expiring = false;
  const expireNow = async () => {
    if (expiring) return;
    expiring = true;
    try {
      for (const l of await api.desk.expire()) {
        const failed = l.nodes.filter((n) => n.released === 'failed');
        o.log({ service: 'api', type: 'lease-expired', lease: l.id, owner: l.owner, nodes: l.nodes.map((n) => n.name), ...(failed.length ? { failed: failed.map((n) => n.error) } : {}) });
      }
    } catch (err) {
      // a busy store this second is no reason to stop serving: the next tick tries again
      o.log({ service: 'api', type: 'error', message: `lease expiry: ${(err as Error).message}` });
    } finally {
      expiring = false;
    }
  };
  const runFile = runFileOf(o.stateDir);
  let orphaned = false;
  const stillOurs = () => {
    let pid: unknown;
    try {
      pid = (JSON.parse(readFileSync(runFile, 'utf8')) as { pid?: unknown }).pid;
    } catch (err) {
      // a run file being rewritten this instant is not a missing one
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return;
    }
    if (pid === process.pid || orphaned) return;
    orphaned = true;
    o.log({ service: 'api', type: 'orphaned', message: `${runFile} no longer names this process (pid ${process.pid}): stopping` });
    o.orphaned?.();
  };
  const tick = () => {
    void expireNow();
    stillOurs();
  };
  void expireNow();
  const timer = setInterval(tick, o.expiryEveryMs ?? 1000);
  mkdirSync(path.dirname(runFile), { recursive: true, mode: 0o700 });
  const ca = tlsFiles ? { ca: tlsFiles.ca } : {};
  // `site`: the site file whose verbs it runs (a CLI of another site file beside it works on the store)
  writeFileSync(runFile, `${JSON.stringify({ pid: process.pid, url: api.url, ...ca, ...(o.site ? { site: o.site.file } : {}), started_at: new Date().toISOString() })}\n`, { mode: 0o600 });
  o.log({ service: 'api', type: 'listening', url: api.url, ...ca, pid: process.pid });
  return {
    ...api,
    runFile,
    close: async () => {
      clearInterval(timer);
      stack?.close();
      await api.close();
      store.close();
      // only its own: a run file another service wrote stays that one's
      if (!orphaned) rmSync(runFile, { force: true });
    },
  };
}
