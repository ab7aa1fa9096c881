/**
 * `kseed undeploy NODE...`: boot the deploy ramdisk to erase the metadata
 * (partition tables, filesystem signatures) of the disk the root-device hint
 * selects, power off, revoke the node's credentials, return it to available.
 * A wipe that fails or times out leaves the node in "clean failed". A node
 * already available, or never deployed (enrolled, manageable), is left alone
 * (exit 0, with a note): it can be repeated.
 */
import type { Command } from 'commander';
import { nodeVerbCommand } from './provision.js';

export function register(program: Command): void {
  nodeVerbCommand(
    program,
    'undeploy',
    'wipe the disk of deployed nodes and return them to available (deleting -> available, or clean failed); exit 3 if some failed',
    {
      deploys: false,
      // a node never deployed (or already wiped) holds nothing to undeploy: service/verbs.ts says so and succeeds
      example: 'kseed undeploy node01 node02',
    },
  );
}
