/**
 * `kseed undeploy NODE...`: boot the deploy ramdisk to erase the metadata
 * (partition tables, filesystem signatures) of the disk the root-device hint
 * selects, power off, revoke the node's credentials, return it to available.
 * A wipe that fails or times out leaves the node in "clean failed".
 */
import type { Command } from 'commander';
import { loadSite } from '../site/load.js';
import { selectNodes } from './bmc.js';
import { contextOf } from './context.js';
import { engineFor, engineOptions, report, type EngineCliOpts } from './provision.js';

export function register(program: Command): void {
  engineOptions(
    program
      .command('undeploy')
      .description('wipe the disk of deployed nodes and return them to available (deleting -> available, or clean failed); exit 3 if some failed')
      .argument('<nodes...>', 'node names'),
  ).action(async (names: string[], opts: EngineCliOpts, cmd: Command) => {
    const ctx = contextOf(cmd);
    const site = await loadSite(ctx.configPath);
    const nodes = selectNodes(site, names, false);
    const opened = await engineFor(ctx, site, opts);
    try {
      const outcomes = await Promise.all(nodes.map((n) => opened.engine.undeploy(n.name)));
      report(ctx, opened.engine, outcomes);
    } finally {
      await opened.close();
    }
  });
}
