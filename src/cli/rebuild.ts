/** `kseed rebuild NODE...`: write the image again on active (or failed) nodes. */
import type { Command } from 'commander';
import { nodeVerbCommand } from './provision.js';

export function register(program: Command): void {
  nodeVerbCommand(program, 'rebuild', 'redeploy the image on active nodes (deploying -> active); exit 3 if some failed', (engine, node, opts) =>
    engine.rebuild(node, { waitBooted: Boolean(opts.waitBooted) }),
  );
}
