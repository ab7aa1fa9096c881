/**
 * What the node commands share: the nodes named on the command line, a BMC
 * conversation with each of them at once, one line per error, the exit code
 * of a run over several nodes.
 */
import { BmcError } from '../bmc/errors.js';
import { connectBmc } from '../bmc/index.js';
import { budgetOf } from '../bmc/budget.js';
import { runFleet, type FleetResult } from '../bmc/fleet.js';
import type { Bmc, BmcTarget } from '../bmc/types.js';
import { ExitCode, InputError, KseedError } from '../errors.js';
import { bmcTarget } from '../engine/bmc-target.js';
import type { HardwareProfile } from '../profiles/schema.js';
import type { NodeSpec, Site } from '../site/types.js';
import { reportWaiting } from './bmc-progress.js';
import type { Output } from './output.js';

/** The nodes named on the command line (in site order), or all with --all. */
export function selectNodes(site: Site, names: string[], all: boolean | undefined): NodeSpec[] {
  if (all && names.length) throw new InputError('give node names or --all, not both');
  if (all) return site.nodes;
  if (!names.length) throw new InputError('name at least one node, or use --all');
  const known = new Set(site.nodes.map((n) => n.name));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length) {
    throw new InputError(`unknown node${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (not in ${site.file})`, [], { code: 'unknown-node' });
  }
  const wanted = new Set(names);
  return site.nodes.filter((n) => wanted.has(n.name));
}

/**
 * The connection parameters for one node: its site bmc block first, then
 * the BMC settings of its pinned hardware profile (the engines' rule,
 * profiles/apply.ts). Secrets are resolved here and live only in the result.
 */
export async function targetOf(node: NodeSpec, site: Site, profiles: readonly HardwareProfile[] = []): Promise<BmcTarget> {
  return bmcTarget(node, site, node.profile ? profiles.find((p) => p.name === node.profile) : undefined);
}

/** Runs `work` on every node's BMC at once (bounded); one result per node. With `out`, says on stderr whom a long run waits for. */
export async function onNodes<T>(
  site: Site,
  nodes: NodeSpec[],
  work: (bmc: Bmc, node: NodeSpec) => Promise<T>,
  opts: { profiles?: readonly HardwareProfile[]; out?: Output; concurrency?: number } = {},
): Promise<FleetResult<T>[]> {
  const targets: BmcTarget[] = [];
  for (const n of nodes) targets.push(await targetOf(n, site, opts.profiles));
  const waiting = opts.out
    ? reportWaiting(
        opts.out,
        targets.map((t, i) => ({ name: nodes[i]!.name, bmc: `${t.address}:${t.port ?? (t.protocol === 'ipmi' ? 623 : 443)}`, budgetMs: budgetOf(t) })),
      )
    : undefined;
  try {
    return await runFleet(targets, (bmc, i) => work(bmc, nodes[i]!), {
      concurrency: opts.concurrency ?? 64,
      // Redfish (and anything not IPMI) goes through the factory
      connect: (t) => connectBmc(t),
      onResult: (r) => waiting?.done(r.index),
    });
  } finally {
    waiting?.stop();
  }
}

/** One line of error for tables and JSON; never contains a secret (BmcError messages name address:port only). */
export function errorText(e: unknown): string {
  if (e instanceof BmcError) return `${e.kind}: ${e.message.replace(`${e.bmc}: `, '')}`;
  if (e instanceof KseedError) return e.message;
  return (e as Error)?.message ?? String(e);
}

/** 0 all ok, 3 some failed, 1 all failed. */
export function exitFor(ok: number, failed: number): number {
  if (!failed) return ExitCode.ok;
  return ok ? ExitCode.partial : ExitCode.failure;
}
