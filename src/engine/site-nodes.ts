/**
 * The site's nodes as the node commands pick them (names, or all), and a
 * BMC conversation with each of them at once. Shared by the CLI, which runs
 * them on the store, and the seed service, which runs the same verbs for
 * its API (service/verbs.ts): both name the same nodes the same way.
 */
import { BmcError } from '../bmc/errors.js';
import { budgetOf } from '../bmc/budget.js';
import { connectBmc } from '../bmc/index.js';
import { runFleet, type FleetResult } from '../bmc/fleet.js';
import type { Bmc, BmcTarget } from '../bmc/types.js';
import { InputError, KseedError } from '../errors.js';
import { bmcTarget } from './bmc-target.js';
import type { HardwareProfile } from '../profiles/schema.js';
import type { NodeSpec, Site } from '../site/types.js';

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

/** Told of each node's BMC (name, address:port, time budget) when a run starts, and of each result: the CLI says on stderr whom a long run waits for. */
export type BmcWatch = (nodes: { name: string; bmc: string; budgetMs: number }[]) => { done(index: number): void; stop(): void };

/** Runs `work` on every node's BMC at once (bounded); one result per node. */
export async function onNodes<T>(
  site: Site,
  nodes: NodeSpec[],
  work: (bmc: Bmc, node: NodeSpec) => Promise<T>,
  opts: { profiles?: readonly HardwareProfile[]; watch?: BmcWatch | undefined; concurrency?: number } = {},
): Promise<FleetResult<T>[]> {
  const targets: BmcTarget[] = [];
  for (const n of nodes) targets.push(await targetOf(n, site, opts.profiles));
  const waiting = opts.watch?.(targets.map((t, i) => ({ name: nodes[i]!.name, bmc: `${t.address}:${t.port ?? (t.protocol === 'ipmi' ? 623 : 443)}`, budgetMs: budgetOf(t) })));
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
