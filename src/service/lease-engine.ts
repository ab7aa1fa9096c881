/**
 * What a lease does to its nodes through the site's engine: the deploy of
 * `acquire --provision` (enroll -> inspect -> deploy, waiting for the first
 * boot, as `kseed provision --wait-booted`), and the wipe a lease's release runs on the nodes it held: the engine's
 * undeploy, the same path as `kseed undeploy` (the deploy ramdisk erases the
 * partition tables and filesystem signatures at both ends of the disk the
 * root-device hint selects, as Ironic's `erase_devices_metadata` clean step
 * does; the Ironic engine runs Ironic's own automated cleaning), then power
 * off, node available. Runs as the lease's owner, so the engine's guard on
 * leased nodes lets it through.
 */
import { bootServicePid } from '../engine/service.js';
import { openEngine } from '../engine/open.js';
import type { ProgressEvent, Provisioner } from '../engine/types.js';
import type { Site } from '../site/types.js';
import path from 'node:path';
import type { LeaseWork } from './leases.js';

type Outcome = { node: string; ok: boolean; error?: string };

/** Runs `run` on the site's engine opened as the lease's owner; a seed that is not up, or an engine that cannot open, is every node's error. */
async function withEngine(site: Site, stateDir: string, owner: string, nodes: string[], what: string, onProgress: ((e: ProgressEvent) => void) | undefined, run: (engine: Provisioner) => Promise<Outcome[]>): Promise<Outcome[]> {
  // the embedded engine's nodes boot from kseed's boot services: without them each node would only time out
  if (site.engine === 'embedded' && bootServicePid(stateDir) === undefined) {
    return nodes.map((node) => ({ node, ok: false, error: `kseed's boot services are not running, so it cannot be ${what} (\`kseed up\` starts them)` }));
  }
  let opened: Awaited<ReturnType<typeof openEngine>>;
  try {
    opened = await openEngine(site, stateDir, { leaseOwner: owner, ...(onProgress ? { onProgress } : {}) });
  } catch (err) {
    return nodes.map((node) => ({ node, ok: false, error: `the ${site.engine} engine cannot be opened: ${(err as Error).message}` }));
  }
  try {
    return (await run(opened.engine)).map((o) => ({ node: o.node, ok: o.ok, ...(o.ok ? {} : { error: o.error ?? `it was not ${what}` }) }));
  } finally {
    await opened.close();
  }
}

export function engineWork(site: Site, stateDir: string, onProgress?: (e: ProgressEvent) => void): LeaseWork {
  return {
    secretsDir: path.join(stateDir, 'secrets'),
    wipe: (nodes, owner) =>
      withEngine(site, stateDir, owner, nodes, 'wiped (then release the lease again)', onProgress, (engine) =>
        Promise.all(nodes.map((n) => engine.undeploy(n).catch((err: unknown) => ({ node: n, ok: false, error: (err as Error).message })))),
      ),
    provision: (nodes, owner) => withEngine(site, stateDir, owner, nodes, 'provisioned', onProgress, (engine) => engine.provision(nodes, { waitBooted: true })),
  };
}
