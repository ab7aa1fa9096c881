/**
 * `kseed provision [NODE...|--all]`: enroll -> inspect -> provide -> deploy
 * each node, concurrently, one progress line per lifecycle transition. Busy
 * nodes a killed run left behind are resumed first; nodes already active are
 * left alone, so running it again converges.
 */
import type { Command } from 'commander';
import { DEFAULT_LIMITS } from '../engine/types.js';
import type { EngineVerb, EngineVerbOptions, VerbDoc } from '../service/verbs.js';
import type { JobView } from '../service/jobs.js';
import { loadSite } from '../site/load.js';
import { contextOf, shownSite, type CliContext } from './context.js';
import { ciOptions } from './ci.js';
import { followJob, positive, printVerb, progressLine, warnLine } from './verb-run.js';

export { progressLine };

export interface EngineCliOpts {
  concurrency?: string;
  maxDeploying?: string;
  maxBmc?: string;
  timeout?: string;
  waitBooted?: boolean;
}

/**
 * Runs an engine verb through the seed service when it runs (a job this
 * follows), else on the store, and prints its report. The flags are checked
 * here first, with the same messages either way.
 */
export async function runEngineVerb(ctx: CliContext, verb: EngineVerb, names: string[], all: boolean, opts: EngineCliOpts & { inspect?: boolean }): Promise<void> {
  const x: EngineVerbOptions = {};
  const set = <K extends keyof EngineVerbOptions>(k: K, v: EngineVerbOptions[K] | undefined) => v !== undefined && (x[k] = v);
  set('timeout', positive(opts.timeout, '--timeout'));
  set('concurrency', positive(opts.concurrency, '--concurrency'));
  set('maxDeploying', positive(opts.maxDeploying, '--max-deploying'));
  set('maxBmc', positive(opts.maxBmc, '--max-bmc'));
  if (opts.waitBooted) x.waitBooted = true;
  if (opts.inspect === false) x.inspect = false;
  // a lease's holder (a CI job) says who it is: a node leased to someone else is refused
  const owner = process.env.KSEED_OWNER || undefined;
  const { viaService } = await import('../service/client.js');
  const doc = await viaService<VerbDoc>(
    ctx.stateDir,
    async (call) => {
      const body = {
        nodes: names,
        ...(all ? { all: true } : {}),
        ...(x.inspect === false ? { inspect: false } : {}),
        ...(x.waitBooted ? { wait_booted: true } : {}),
        ...(x.concurrency !== undefined ? { concurrency: x.concurrency } : {}),
        ...(x.maxDeploying !== undefined ? { max_deploying: x.maxDeploying } : {}),
        ...(x.maxBmc !== undefined ? { max_bmc: x.maxBmc } : {}),
        ...(x.timeout !== undefined ? { timeout: x.timeout } : {}),
        ...(owner ? { owner } : {}),
      };
      return followJob<VerbDoc>(ctx, call, await call<JobView>('POST', `/${verb}`, body));
    },
    async () => {
      const { prepareEngineVerb } = await import('../service/verbs.js');
      const site = await loadSite(ctx.configPath);
      const p = await prepareEngineVerb(site, ctx.stateDir, { verb, nodes: names, all, opts: x }, { actor: owner ? { owner } : {}, shown: shownSite(ctx), onProgress: (e) => ctx.out.node(e, progressLine(e)) });
      return p.run((line) => ctx.out.progress(line));
    },
    warnLine,
    { site: ctx.configPath },
  );
  printVerb(ctx, doc);
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
 * A command that runs one engine verb on the named nodes at once
 * (`kseed rebuild`, `kseed undeploy`): the same node selection, engine
 * options and per-node report, exit 3 when some nodes failed.
 */
export function nodeVerbCommand(program: Command, name: 'undeploy' | 'rebuild', description: string, o: { deploys: boolean; example: string }): Command {
  const c = ciOptions(engineOptions(program.command(name).description(description).argument('<nodes...>', 'node names'), o));
  c.addHelpText('after', `\nExample:\n  ${o.example}`);
  return c.action(async (names: string[], opts: EngineCliOpts, cmd: Command) => runEngineVerb(contextOf(cmd), name, names, false, opts));
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
  )).action(async (names: string[], opts: EngineCliOpts & { all?: boolean; inspect: boolean }, cmd: Command) => runEngineVerb(contextOf(cmd), 'provision', names, Boolean(opts.all), opts));
}
