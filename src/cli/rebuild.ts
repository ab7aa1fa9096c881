/** `kseed rebuild NODE...`: write the image again on active (or failed) nodes. */
import type { Command } from 'commander';
import { nodeVerbCommand } from './provision.js';

export function register(program: Command): void {
  nodeVerbCommand(
    program,
    'rebuild',
    'redeploy the image on active nodes (deploying -> active) and wait for it; exit 3 if some failed',
    { deploys: true, example: 'kseed rebuild node01 --wait-booted' },
  )
    // provision's flag, accepted so scripts can pass the same flags to both
    .option('--wait', 'accepted for symmetry with provision: rebuild always waits until the node is active or failed');
}
