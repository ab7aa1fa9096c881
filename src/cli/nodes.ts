/**
 * What the node commands share: the nodes named on the command line, a BMC
 * conversation with each of them at once (both in engine/site-nodes.ts,
 * which the seed service uses too; here with the CLI's line on stderr
 * naming the BMCs a long run still waits on), one line per error, the exit
 * code of a run over several nodes.
 */
import type { FleetResult } from '../bmc/fleet.js';
import type { Bmc } from '../bmc/types.js';
import { onNodes as onSiteNodes } from '../engine/site-nodes.js';
import { ExitCode } from '../errors.js';
import type { HardwareProfile } from '../profiles/schema.js';
import type { NodeSpec, Site } from '../site/types.js';
import { reportWaiting } from './bmc-progress.js';
import type { Output } from './output.js';

export { errorText, selectNodes, targetOf } from '../engine/site-nodes.js';

/** Runs `work` on every node's BMC at once (bounded); one result per node. With `out`, says on stderr whom a long run waits for. */
export function onNodes<T>(
  site: Site,
  nodes: NodeSpec[],
  work: (bmc: Bmc, node: NodeSpec) => Promise<T>,
  opts: { profiles?: readonly HardwareProfile[]; out?: Output; concurrency?: number } = {},
): Promise<FleetResult<T>[]> {
  const { out, ...rest } = opts;
  return onSiteNodes(site, nodes, work, { ...rest, ...(out ? { watch: (ns) => reportWaiting(out, ns) } : {}) });
}

/** 0 all ok, 3 some failed, 1 all failed. */
export function exitFor(ok: number, failed: number): number {
  if (!failed) return ExitCode.ok;
  return ok ? ExitCode.partial : ExitCode.failure;
}
