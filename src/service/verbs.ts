/**
 * The provisioning verbs (`bmc power`, `provision`, `undeploy`, `rebuild`)
 * as both their runners run them: the CLI on the state store, and the seed
 * service for its API (api-verbs.ts). The same checks, in the same order,
 * with the same messages, produce the same document, so the CLI prints the
 * same bytes whichever ran it. Everything that can refuse a request (unknown
 * node, no image, a node leased to someone else, the boot services down)
 * runs in prepare, before a BMC is touched: a refusal changes nothing.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { PowerAction } from '../bmc/types.js';
import type { NodeState } from '../engine/lifecycle.js';
import { UNDEPLOYED_STATES } from '../engine/lifecycle.js';
import { openEngine } from '../engine/open.js';
import { bootServicePid } from '../engine/service.js';
import { type BmcWatch, errorText, onNodes, selectNodes } from '../engine/site-nodes.js';
import { openState, type StateStore } from '../engine/state.js';
import { leaseRefusal, type LeaseActor } from '../engine/state-node-leases.js';
import { type NodeOutcome, type PhaseTimeouts, type ProgressEvent, type RunLimits } from '../engine/types.js';
import { InputError, KseedError } from '../errors.js';
import type { NodeSpec, Site } from '../site/types.js';

export const POWER_ACTIONS: readonly (PowerAction | 'status')[] = ['on', 'off', 'cycle', 'reset', 'soft', 'status'];
export type PowerVerb = PowerAction | 'status';

/**
 * Refuses nodes held by a lease that is not `actor`'s (engine/state-node-
 * leases.ts leaseRefusal: the holder and the expiry, or the ended lease
 * whose failed wipe keeps the node), before anything is done; the engine
 * checks each node again when it claims it, for a lease made meanwhile.
 */
export function refuseLeased(store: StateStore, names: readonly string[], actor: LeaseActor, now = Date.now()): void {
  const why = names.map((n) => leaseRefusal(n, store.nodeLeases.holderOf(n), now, actor)).filter((w): w is string => Boolean(w));
  if (why.length) throw new KseedError(`${why.join('; ')}; nothing was done`, { code: 'node-leased' });
}

/** refuseLeased on the seed's store, when there is one (a seed never set up has no leases). */
export function refuseLeasedAt(stateDir: string, names: readonly string[], actor: LeaseActor): void {
  if (!existsSync(path.join(stateDir, 'state.db'))) return;
  const store = openState(stateDir);
  try {
    refuseLeased(store, names, actor);
  } finally {
    store.close();
  }
}

export interface PowerRow {
  node: string;
  ok: boolean;
  action: PowerVerb;
  power: string | undefined;
  ms: number;
  error?: string;
}

/** What `bmc power` is asked: `nodes` or `all`, and the action (`state` in the API). */
export interface PowerRequest {
  nodes: string[];
  all: boolean;
  action: PowerVerb;
}

/** The nodes `bmc power` works on, refused as a whole (nothing done) if one is leased to someone else; `status` only reads, and reads any node. */
export function preparePower(site: Site, req: PowerRequest, leases: (names: string[]) => void): NodeSpec[] {
  if (!POWER_ACTIONS.includes(req.action)) throw new InputError(`unknown power action "${req.action}" (one of ${POWER_ACTIONS.join(', ')})`, [], { code: 'usage' });
  const nodes = selectNodes(site, req.nodes, req.all);
  if (req.action !== 'status') leases(nodes.map((n) => n.name));
  return nodes;
}

/** One row per node: the power state after the action, or the node's error. */
export async function runPower(site: Site, nodes: NodeSpec[], action: PowerVerb, watch?: BmcWatch): Promise<PowerRow[]> {
  const res = await onNodes(site, nodes, async (b) => {
    if (action !== 'status') await b.power(action);
    // the state after the action: a BMC that accepted "on" may take a moment to report it
    return action === 'status' ? await b.powerStatus() : await b.powerStatus().catch(() => 'unknown' as const);
  }, { watch });
  return res.map((r, i) => ({ node: nodes[i]!.name, ok: r.ok, action, power: r.ok ? r.value : undefined, ms: r.ms, ...(r.ok ? {} : { error: errorText(r.error) }) }));
}

export type EngineVerb = 'provision' | 'undeploy' | 'rebuild';

/** The engine options of the CLI's flags, already numbers (the CLI's --timeout is seconds). */
export interface EngineVerbOptions {
  concurrency?: number;
  maxDeploying?: number;
  maxBmc?: number;
  timeout?: number;
  waitBooted?: boolean;
  /** provision only (default true). */
  inspect?: boolean;
}

export interface EngineVerbRequest {
  verb: EngineVerb;
  nodes: string[];
  /** provision only: every node of the site. */
  all: boolean;
  opts: EngineVerbOptions;
}

/** A node's outcome, with the note of a verb that had nothing to do. */
export type VerbOutcome = NodeOutcome & { note?: string };

/** The document `--json` prints: the engine and each node's outcome with its status. */
export interface VerbDoc {
  engine: string;
  nodes: (VerbOutcome & { status: unknown })[];
}

/** States in which undeploy has nothing to do (success, so it can be repeated), and what it says then. */
const UNDEPLOY_DONE = { is: (s: NodeState) => UNDEPLOYED_STATES.has(s), note: (s: NodeState) => (s === 'available' ? 'already available: nothing to undeploy' : `not deployed (${s}): nothing to undeploy`) };

/**
 * Refuses, before any BMC is touched, nodes that have no image to deploy:
 * otherwise they are enrolled and inspected and fail only at deploy.
 */
export function requireImages(site: Site, nodes: NodeSpec[]): void {
  const missing = nodes.filter((n) => !n.image);
  if (!missing.length) return;
  const names = missing.map((n) => n.name);
  throw new InputError(
    `${names.join(', ')} ${names.length === 1 ? 'has' : 'have'} no image to deploy: set defaults.image (or image on the node) in ${site.file}; \`kseed images testos\` builds a test image and prints its url and checksum`,
    missing.map((n) => ({ file: site.file, path: `nodes[${site.nodes.indexOf(n)}].image`, message: `node ${n.name}: no image here or in defaults` })),
    { code: 'no-image' },
  );
}

export interface PreparedVerb {
  nodes: string[];
  /** Runs the verb (closing the engine after); `note` gets the lines the CLI prints on stderr. */
  run(note: (line: string) => void): Promise<VerbDoc>;
  /** Closes the engine unrun (the request was refused after all). */
  close(): Promise<void>;
}

/**
 * Checks a provision/undeploy/rebuild and opens the site's engine for it.
 * `shown`: the site file as the user named it (the not-up message's
 * command); `actor`: who the lease guard lets through.
 */
export async function prepareEngineVerb(
  site: Site,
  stateDir: string,
  req: EngineVerbRequest,
  o: { actor: LeaseActor; shown: string; onProgress: (e: ProgressEvent) => void; claimOwner?: string },
): Promise<PreparedVerb> {
  if (req.all && req.verb !== 'provision') throw new InputError(`${req.verb} takes node names, not all`, [], { code: 'usage' });
  const nodes = selectNodes(site, req.nodes, req.all);
  if (req.verb !== 'undeploy') requireImages(site, nodes);
  const x = req.opts;
  const limits: Partial<RunLimits> = { ...(x.maxDeploying ? { ramdisks: Math.ceil(x.maxDeploying) } : {}), ...(x.maxBmc ? { bmc: Math.ceil(x.maxBmc) } : {}) };
  const timeouts: Partial<PhaseTimeouts> | undefined = x.timeout ? { inspect: x.timeout * 1000, deploy: x.timeout * 1000, undeploy: x.timeout * 1000, boot: x.timeout * 1000 } : undefined;
  const opened = await openEngine(site, stateDir, {
    onProgress: o.onProgress,
    ...(x.concurrency ? { concurrency: Math.floor(x.concurrency) } : {}),
    limits,
    ...(timeouts ? { timeouts } : {}),
    ...(o.actor.owner ? { leaseOwner: o.actor.owner } : {}),
    ...(o.actor.token ? { leaseToken: o.actor.token } : {}),
    ...(o.claimOwner ? { owner: o.claimOwner } : {}),
  });
  const engine = opened.engine;
  try {
    refuseLeased(opened.store, nodes.map((n) => n.name), o.actor);
    // rebuild redeploys active nodes too: only provision (active, handed-off) and undeploy have states that need nothing
    const done = req.verb === 'provision' ? (s: NodeState) => s === 'active' || s === 'handed-off' : req.verb === 'undeploy' ? UNDEPLOY_DONE.is : undefined;
    requireBootServices(site, stateDir, o.shown, engine.status(nodes.map((n) => n.name)).filter((s) => !done?.(s.state)).map((s) => s.node));
  } catch (err) {
    await opened.close();
    throw err;
  }
  const names = nodes.map((n) => n.name);
  return {
    nodes: names,
    close: () => opened.close(),
    run: async (note) => {
      try {
        let outcomes: VerbOutcome[];
        if (req.verb === 'provision') {
          note(`provisioning ${names.length} node${names.length === 1 ? '' : 's'} with the ${engine.engine} engine`);
          outcomes = await engine.provision(names, { inspect: x.inspect ?? true, waitBooted: Boolean(x.waitBooted) });
        } else {
          // the engine decides what is left alone, from the state it trusts (Ironic's, on the Ironic engine)
          outcomes = await Promise.all(
            names.map(async (n): Promise<VerbOutcome> => {
              const out = req.verb === 'undeploy' ? await engine.undeploy(n) : await engine.rebuild(n, { waitBooted: Boolean(x.waitBooted) });
              if (req.verb !== 'undeploy' || !(out.ok && out.skipped)) return out;
              const said = UNDEPLOY_DONE.note(out.state);
              note(`${n}: ${said}`);
              return { ...out, note: said };
            }),
          );
        }
        const status = engine.status(outcomes.map((oc) => oc.node));
        return { engine: engine.engine, nodes: outcomes.map((oc, i) => ({ ...oc, status: status[i] })) };
      } finally {
        await opened.close();
      }
    },
  };
}

/**
 * On the embedded engine, nodes boot from kseed's boot services: without
 * them running, a node to inspect, deploy or wipe would only time out after
 * minutes. Refused before any BMC is touched, naming the command that starts
 * them. `todo`: the nodes the verb has work for (a repeat converges).
 */
export function requireBootServices(site: Site, stateDir: string, shown: string, todo: string[]): void {
  if (site.engine !== 'embedded') return;
  // any `boot serve` of this state directory (a second site file beside the first shares it)
  if (!todo.length || bootServicePid(stateDir) !== undefined) return;
  throw new KseedError(`kseed's boot services are not running, and ${todo.join(', ')} must boot from them: \`kseed ${shown === './kseed.yaml' ? '' : `--config ${shown} `}up\` starts them`, { code: 'not-up' });
}

