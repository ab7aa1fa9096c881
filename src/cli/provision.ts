/**
 * `kseed provision [NODE...|--all]`: enroll -> inspect -> provide -> deploy
 * each node, concurrently, one progress line per lifecycle transition. Busy
 * nodes a killed run left behind are resumed first; nodes already active are
 * left alone, so running it again converges.
 */
import type { Command } from 'commander';
import { openEngine } from '../engine/open.js';
import type { NodeState } from '../engine/lifecycle.js';
import { DEFAULT_LIMITS, type NodeOutcome, type PhaseTimeouts, type ProgressEvent, type Provisioner, type RunLimits } from '../engine/types.js';
import { InputError, KseedError } from '../errors.js';
import { bootServicePid } from '../engine/service.js';
import { loadSite } from '../site/load.js';
import type { NodeSpec, Site } from '../site/types.js';
import { exitFor, selectNodes } from './nodes.js';
import { contextOf, shownSite, type CliContext } from './context.js';
import { ciOptions } from './ci.js';
import { describeProgress } from './events.js';
import { table } from './output.js';

export interface EngineCliOpts {
  concurrency?: string;
  maxDeploying?: string;
  maxBmc?: string;
  timeout?: string;
  waitBooted?: boolean;
}

function stamp(ts: number): string {
  return new Date(ts).toISOString().slice(11, 19);
}

/** One line per transition: `12:00:01 node01 available -> deploying (deploy)`. */
export function progressLine(e: ProgressEvent): string {
  return `${stamp(e.ts)} ${e.node} ${describeProgress(e)}`;
}

function positive(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InputError(`${flag} must be a positive number, not "${v}"`);
  return n;
}

/** Opens the site's engine with the CLI's progress printer and limits. */
export async function engineFor(ctx: CliContext, site: Site, opts: EngineCliOpts) {
  const timeout = positive(opts.timeout, '--timeout');
  const concurrency = positive(opts.concurrency, '--concurrency');
  const ramdisks = positive(opts.maxDeploying, '--max-deploying');
  const bmc = positive(opts.maxBmc, '--max-bmc');
  const limits: Partial<RunLimits> = { ...(ramdisks ? { ramdisks: Math.ceil(ramdisks) } : {}), ...(bmc ? { bmc: Math.ceil(bmc) } : {}) };
  const timeouts: Partial<PhaseTimeouts> | undefined = timeout ? { inspect: timeout * 1000, deploy: timeout * 1000, undeploy: timeout * 1000, boot: timeout * 1000 } : undefined;
  return openEngine(site, ctx.stateDir, {
    onProgress: (e) => ctx.out.node(e, progressLine(e)),
    ...(concurrency ? { concurrency: Math.floor(concurrency) } : {}),
    limits,
    ...(timeouts ? { timeouts } : {}),
    // a lease's holder (a CI job) says who it is: a node leased to someone else is refused
    ...(process.env.KSEED_OWNER ? { leaseOwner: process.env.KSEED_OWNER } : {}),
  });
}

/** Prints outcomes (table or the --json document) and sets the exit code: 0 ok, 3 some failed, 1 all failed. */
export function report(ctx: CliContext, engine: Provisioner, outcomes: NodeOutcome[]): void {
  const status = engine.status(outcomes.map((o) => o.node));
  const nodes = outcomes.map((o, i) => ({ ...o, status: status[i] }));
  for (const o of outcomes as (NodeOutcome & { note?: string })[]) {
    ctx.out.outcome({ node: o.node, result: !o.ok ? 'failed' : o.skipped ? 'skipped' : 'ok', state: o.state, verbs: o.verbs, ms: o.ms, ...(o.error ? { error: o.error } : {}), ...(o.note ? { note: o.note } : {}) });
  }
  ctx.out.result({ engine: engine.engine, nodes }, () =>
    table(
      ['NODE', 'RESULT', 'STATE', 'VERBS', 'TIME', 'ERROR'],
      outcomes.map((o) => [o.node, o.ok ? (o.skipped ? 'unchanged' : 'ok') : 'failed', o.state, o.verbs.join(',') || '-', `${(o.ms / 1000).toFixed(1)} s`, o.error]),
    ),
  );
  const failed = outcomes.filter((o) => !o.ok).length;
  process.exitCode = exitFor(outcomes.length - failed, failed);
}

export function engineOptions(c: Command, o: { deploys?: boolean } = { deploys: true }): Command {
  c.option('--concurrency <n>', 'nodes worked on at once (default: every node on the embedded engine, whose ramdisk and BMC limits bound the work; 16 on the Ironic engine)')
    .option('--max-deploying <n>', `nodes in the deploy ramdisk at once: inspecting, deploying or cleaning (default ${DEFAULT_LIMITS.ramdisks})`)
    .option('--max-bmc <n>', `BMC conversations in flight at once (default ${DEFAULT_LIMITS.bmc})`)
    .option('--timeout <seconds>', 'per-phase time limit for inspect, deploy and undeploy (default 15 min / 45 min / 15 min)');
  // only a verb that writes an OS has an OS to wait for
  return o.deploys ? c.option('--wait-booted', 'after deploy, wait for the installed OS to call back from its own disk') : c;
}

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

/**
 * On the embedded engine, nodes boot from kseed's boot services: without
 * them running, a node to inspect, deploy or wipe would only time out after
 * minutes. Refused before any BMC is touched, naming the command that starts
 * them. Nodes already where the verb leads need nothing (a repeat converges).
 */
export function requireBootServices(ctx: CliContext, site: Site, engine: Provisioner, nodes: NodeSpec[], done?: (state: NodeState) => boolean): void {
  if (site.engine !== 'embedded') return;
  const todo = engine.status(nodes.map((n) => n.name)).filter((s) => !done?.(s.state));
  // any `boot serve` of this state directory (a second site file beside the first shares it)
  if (!todo.length || bootServicePid(ctx.stateDir) !== undefined) return;
  const shown = shownSite(ctx);
  throw new KseedError(
    `kseed's boot services are not running, and ${todo.map((s) => s.node).join(', ')} must boot from them: \`kseed ${shown === './kseed.yaml' ? '' : `--config ${shown} `}up\` starts them`,
    { code: 'not-up' },
  );
}

/**
 * A command that runs one engine verb on the named nodes at once
 * (`kseed rebuild`, `kseed undeploy`): the same node selection, engine
 * options and per-node report, exit 3 when some nodes failed.
 */
export function nodeVerbCommand(
  program: Command,
  name: string,
  description: string,
  verb: (engine: Provisioner, node: string, opts: EngineCliOpts) => Promise<NodeOutcome>,
  o: {
    deploys: boolean;
    /**
     * The states in which the verb has nothing to do (the engine leaves such
     * a node alone: success, so the verb can be repeated), and the note that
     * says so.
     */
    done?: { is: (state: NodeState) => boolean; note: (state: NodeState) => string };
    example: string;
  },
): Command {
  const c = ciOptions(engineOptions(program.command(name).description(description).argument('<nodes...>', 'node names'), o));
  c.addHelpText('after', `\nExample:\n  ${o.example}`);
  return c.action(async (names: string[], opts: EngineCliOpts, cmd: Command) => {
    const ctx = contextOf(cmd);
    const site = await loadSite(ctx.configPath);
    const nodes = selectNodes(site, names, false);
    if (o.deploys) requireImages(site, nodes);
    const opened = await engineFor(ctx, site, opts);
    try {
      // rebuild redeploys active nodes too: only undeploy has states that need nothing
      requireBootServices(ctx, site, opened.engine, nodes, o.done?.is);
      // the engine decides what is left alone, from the state it trusts (Ironic's, on the Ironic engine)
      const outcomes = await Promise.all(
        nodes.map(async (n): Promise<NodeOutcome & { note?: string }> => {
          const out = await verb(opened.engine, n.name, opts);
          if (!(o.done && out.ok && out.skipped)) return out;
          const note = o.done.note(out.state);
          ctx.out.progress(`${n.name}: ${note}`);
          return { ...out, note };
        }),
      );
      report(ctx, opened.engine, outcomes);
    } finally {
      await opened.close();
    }
  });
}

export function register(program: Command): void {
  ciOptions(engineOptions(
    program
      .command('provision')
      .description('enroll, inspect and deploy nodes until they are active (resumes what a killed run left); exit 3 if some failed')
      .argument('[nodes...]', 'node names (or --all)')
      .option('--all', 'every node of the site file')
      .option('--wait', 'wait until every node is active or failed (the embedded engine always does)')
      .option('--no-inspect', 'skip in-band inspection (the ramdisk still reports its inventory at deploy time)'),
  )).action(async (names: string[], opts: EngineCliOpts & { all?: boolean; inspect: boolean }, cmd: Command) => {
    const ctx = contextOf(cmd);
    const site = await loadSite(ctx.configPath);
    const nodes = selectNodes(site, names, opts.all);
    requireImages(site, nodes);
    const opened = await engineFor(ctx, site, opts);
    try {
      // handed-off is kseed's word for an active node that was handed to its users
      requireBootServices(ctx, site, opened.engine, nodes, (s) => s === 'active' || s === 'handed-off');
      ctx.out.progress(`provisioning ${nodes.length} node${nodes.length === 1 ? '' : 's'} with the ${opened.engine.engine} engine`);
      const outcomes = await opened.engine.provision(
        nodes.map((n) => n.name),
        { inspect: opts.inspect, waitBooted: Boolean(opts.waitBooted) },
      );
      report(ctx, opened.engine, outcomes);
    } finally {
      await opened.close();
    }
  });
}
