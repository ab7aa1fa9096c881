/**
 * `kseed enroll`: Ironic's "manage" step, run by the site's engine (the same
 * verb `kseed provision` starts with). Every selected node's BMC is reached
 * and authenticated at once (bounded), asked what it is (power, device id,
 * GUID, FRU, BMC MAC), matched to a hardware profile, and the node recorded
 * as `manageable` or `enroll failed` with the reason. With the Ironic engine
 * the node is then created in Ironic (with its ports) and managed there.
 * Through the seed service when it runs (a job this follows, POST
 * /api/v1/enroll), else on the store (service/enroll-verb.ts either way).
 */
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import type { EnrollDoc } from '../service/enroll-verb.js';
import type { JobView } from '../service/jobs.js';
import { ciOptions } from './ci.js';
import { type CliContext, contextOf } from './context.js';
import { table } from './output.js';

export function register(program: Command): void {
  ciOptions(program.command('enroll'))
    .description('check every node BMC (authenticate, power, identity, profile) and record it manageable or enroll failed')
    .argument('[nodes...]', 'node names (default: none; use --all)')
    .option('--all', 'every node of the site file')
    .option(
      '--concurrency <n>',
      'BMCs checked at once',
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 1024) throw new InputError('--concurrency must be an integer from 1 to 1024');
        return n;
      },
      64,
    )
    .action(async (names: string[], opts: { all?: boolean; concurrency: number }, cmd: Command) => {
      const ctx = contextOf(cmd);
      // the engine, BMC and site code load when the command runs, not for its --help
      const [{ viaService }, { loadSite }, { exitFor }, { followJob, warnLine }] = await Promise.all([import('../service/client.js'), import('../site/load.js'), import('./nodes.js'), import('./verb-run.js')]);
      // a lease's holder (a CI job) says who it is: a node leased to someone else is refused alone
      const owner = process.env.KSEED_OWNER || undefined;
      const doc = await viaService<EnrollDoc>(
        ctx.stateDir,
        async (call) => {
          const body = { nodes: names, ...(opts.all ? { all: true } : {}), concurrency: opts.concurrency, ...(owner ? { owner } : {}) };
          return followJob<EnrollDoc>(ctx, call, await call<JobView>('POST', '/enroll', body), { nodeLines: false });
        },
        async () => {
          const { prepareEnroll } = await import('../service/enroll-verb.js');
          const site = await loadSite(ctx.configPath);
          // per-node events for CI mode only: the human output stays the one table
          const p = await prepareEnroll(site, ctx.stateDir, { nodes: names, all: Boolean(opts.all), concurrency: opts.concurrency }, { actor: owner ? { owner } : {}, onProgress: (e) => ctx.out.node(e) });
          return p.run((line) => ctx.out.progress(line));
        },
        warnLine,
        { site: ctx.configPath },
      );
      for (const o of doc.outcomes) ctx.out.outcome(o);
      const rows = doc.nodes;
      const bad = rows.filter((r) => r.result === 'enroll failed');
      // loaded only on a failure: the lab code is no part of a good enroll's start-up; the lab is the CLI's machine's
      const hint = bad.length ? await labHint(ctx, bad.map((r) => r.node)) : undefined;
      ctx.out.result({ nodes: rows, ...(hint ? { hint } : {}) }, () =>
        [
          table(
            ['NODE', 'RESULT', 'PROFILE', 'POWER', 'TIME', 'REASON'],
            rows.map((r) => [r.node, r.result, r.profile, r.power, r.ms === undefined ? undefined : `${r.ms} ms`, r.error]),
          ),
          ...(hint ? [`hint: ${hint}`] : []),
        ].join('\n'),
      );
      process.exitCode = exitFor(rows.length - bad.length, bad.length);
    });
}

/** Whether the failed nodes' BMCs are a virtual lab's that is down (then the hint says how to start it). */
async function labHint(ctx: CliContext, failed: string[]): Promise<string | undefined> {
  const [{ labDownHint }, { loadSite }] = await Promise.all([import('./lab.js'), import('../site/load.js')]);
  const site = await loadSite(ctx.configPath);
  const specs = site.nodes.filter((n) => failed.includes(n.name));
  return labDownHint(ctx, specs.map((n) => ({ node: n.name, address: n.bmc.address, port: n.bmc.port })));
}
