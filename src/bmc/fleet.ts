/**
 * Drive many BMCs from one process: a bounded number at once, all IPMI
 * sessions multiplexed over a few shared UDP sockets, and every BMC
 * isolated: its failure or slowness is its own result, never the run's.
 */
import { budgetOf } from './budget.js';
import { BmcError } from './errors.js';
import { IpmiBmc } from './ipmi/client.js';
import { UdpTransport } from './ipmi/transport.js';
import type { Bmc, BmcTarget } from './types.js';

export interface FleetOptions {
  /** BMCs worked on at once (default 64). */
  concurrency?: number;
  /** UDP sockets shared by all IPMI sessions (default 4). */
  sockets?: number;
  /** Wait before an IPMI retransmit, ms. */
  requestTimeoutMs?: number;
  /** How to reach a non-IPMI target (Redfish): the caller brings the factory. */
  connect?: (target: BmcTarget) => Bmc | Promise<Bmc>;
  /** Called as each BMC finishes (progress output). */
  onResult?: (r: FleetResult<unknown>) => void;
}

export interface FleetResult<T> {
  /** Index of the item in the input. */
  index: number;
  /** `address:port`, never credentials. */
  bmc: string;
  ok: boolean;
  value?: T;
  error?: BmcError;
  ms: number;
}

/**
 * Runs `work` against every target; resolves with one result per target,
 * in input order. Never rejects because of a BMC.
 */
export async function runFleet<T>(
  targets: readonly BmcTarget[],
  work: (bmc: Bmc, index: number) => Promise<T>,
  opts: FleetOptions = {},
): Promise<FleetResult<T>[]> {
  const transport = new UdpTransport({ maxSockets: opts.sockets ?? 4 });
  const results: FleetResult<T>[] = new Array(targets.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= targets.length) return;
      const t = targets[i]!;
      const r = await runOne(t, i, work, transport, opts);
      results[i] = r;
      opts.onResult?.(r as FleetResult<unknown>);
    }
  };
  const n = Math.max(1, Math.min(opts.concurrency ?? 64, targets.length));
  try {
    await Promise.all(Array.from({ length: n }, worker));
  } finally {
    transport.close();
  }
  return results;
}

async function runOne<T>(
  t: BmcTarget,
  index: number,
  work: (bmc: Bmc, index: number) => Promise<T>,
  transport: UdpTransport,
  opts: FleetOptions,
): Promise<FleetResult<T>> {
  const bmcName = `${t.address}:${t.port ?? (t.protocol === 'ipmi' ? 623 : 443)}`;
  const start = performance.now();
  const budget = budgetOf(t);
  let bmc: Bmc | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    bmc =
      t.protocol === 'ipmi'
        ? new IpmiBmc(t, { transport, ...(opts.requestTimeoutMs ? { requestTimeoutMs: opts.requestTimeoutMs } : {}) })
        : opts.connect
          ? await opts.connect(t)
          : undefined;
    if (!bmc) throw new BmcError('protocol', bmcName, `no client for protocol ${t.protocol}`);
    const b = bmc;
    // a backstop: the client honours its budget per call, but `work` may make many calls
    const guard = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BmcError('timeout', bmcName, `no result within ${Math.round(budget * 2)} ms`)), budget * 2);
    });
    const value = await Promise.race([work(b, index), guard]);
    return { index, bmc: bmcName, ok: true, value, ms: Math.round(performance.now() - start) };
  } catch (err) {
    const error =
      err instanceof BmcError ? err : new BmcError('protocol', bmcName, (err as Error)?.message ?? String(err), { cause: err });
    return { index, bmc: bmcName, ok: false, error, ms: Math.round(performance.now() - start) };
  } finally {
    if (timer) clearTimeout(timer);
    await bmc?.close().catch(() => undefined);
  }
}
