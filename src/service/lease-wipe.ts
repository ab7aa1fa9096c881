/**
 * The wipe a lease's release runs on the nodes it held: the engine's
 * undeploy, the same path as `kseed undeploy` (the deploy ramdisk erases the
 * partition tables and filesystem signatures at both ends of the disk the
 * root-device hint selects, as Ironic's `erase_devices_metadata` clean step
 * does; the Ironic engine runs Ironic's own automated cleaning), then power
 * off, node available. Runs as the lease's owner, so the engine's guard on
 * leased nodes lets it through.
 */
import { bootServicePid } from '../engine/service.js';
import { openEngine } from '../engine/open.js';
import type { ProgressEvent } from '../engine/types.js';
import type { Site } from '../site/types.js';
import type { NodeWiper } from './leases.js';

export function engineWiper(site: Site, stateDir: string, onProgress?: (e: ProgressEvent) => void): NodeWiper {
  return async (nodes, owner) => {
    // the embedded engine's nodes boot the wipe from kseed's boot services: without them each wipe would only time out
    if (site.engine === 'embedded' && bootServicePid(stateDir) === undefined) {
      return nodes.map((node) => ({ node, ok: false, error: `kseed's boot services are not running, so its disk cannot be wiped (\`kseed up\` starts them; then release the lease again)` }));
    }
    let opened: Awaited<ReturnType<typeof openEngine>>;
    try {
      opened = await openEngine(site, stateDir, { leaseOwner: owner, ...(onProgress ? { onProgress } : {}) });
    } catch (err) {
      return nodes.map((node) => ({ node, ok: false, error: `the ${site.engine} engine cannot be opened: ${(err as Error).message}` }));
    }
    try {
      const outcomes = await Promise.all(nodes.map((n) => opened.engine.undeploy(n).catch((err: unknown) => ({ node: n, ok: false, error: (err as Error).message }))));
      return outcomes.map((o) => ({ node: o.node, ok: o.ok, ...(o.ok ? {} : { error: o.error ?? 'the wipe failed' }) }));
    } finally {
      await opened.close();
    }
  };
}
