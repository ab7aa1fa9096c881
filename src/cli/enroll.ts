/**
 * `kseed enroll`: Ironic's "manage" step, run by the site's engine (the same
 * verb `kseed provision` starts with). Every selected node's BMC is reached
 * and authenticated at once (bounded), asked what it is (power, device id,
 * GUID, FRU, BMC MAC), matched to a hardware profile, and the node recorded
 * as `manageable` or `enroll failed` with the reason. With the Ironic engine
 * the node is then created in Ironic (with its ports) and managed there.
 */
import type { Command } from 'commander';
import type { BmcIdentity, PowerState } from '../bmc/types.js';
import { InputError } from '../errors.js';
import { ciOptions } from './ci.js';
import { contextOf } from './context.js';
import { table } from './output.js';

interface EnrollRow {
  node: string;
  result: 'manageable' | 'enroll failed' | 'skipped';
  profile?: string;
  power?: PowerState;
  ms?: number;
  error?: string;
  identity?: BmcIdentity;
}

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
      const [{ canApply }, { openEngine }, { loadSite }, { exitFor, selectNodes }] = await Promise.all([
        import('../engine/lifecycle.js'),
        import('../engine/open.js'),
        import('../site/load.js'),
        import('./nodes.js'),
      ]);
      const site = await loadSite(ctx.configPath);
      const nodes = selectNodes(site, names, opts.all);
      // per-node events for CI mode only: the human output stays the one table
      const opened = await openEngine(site, ctx.stateDir, { concurrency: opts.concurrency, onProgress: (e) => ctx.out.node(e), ...(process.env.KSEED_OWNER ? { leaseOwner: process.env.KSEED_OWNER } : {}) });
      try {
        ctx.out.progress(`enrolling ${nodes.length} node${nodes.length === 1 ? '' : 's'}...`);
        const outcomes = await Promise.all(nodes.map((n) => opened.engine.enroll(n.name)));
        const rows = new Map<string, EnrollRow>();
        for (const o of outcomes) {
          const rec = opened.store.getNode(o.node);
          // a node the verb never started for (not in an enroll state, claimed by another run) is left as it is
          const skipped = !o.ok && o.verbs.length === 0 && !canApply('enroll', o.state);
          rows.set(o.node, {
            node: o.node,
            result: skipped ? 'skipped' : o.ok ? 'manageable' : 'enroll failed',
            ...(o.ok && rec?.profile ? { profile: rec.profile } : {}),
            ...(o.ok && rec?.power ? { power: rec.power as PowerState } : {}),
            ...(skipped ? {} : { ms: o.ms }),
            ...(o.error ? { error: o.error } : {}),
            ...(o.ok && rec?.data.bmc ? { identity: rec.data.bmc as BmcIdentity } : {}),
          });
          ctx.out.outcome({ node: o.node, result: skipped ? 'skipped' : o.ok ? 'ok' : 'failed', state: o.state, verbs: o.verbs, ms: o.ms, ...(o.error ? { error: o.error } : {}) });
        }
        const ordered = nodes.map((n) => rows.get(n.name)!);
        const bad = nodes.filter((n) => rows.get(n.name)!.result === 'enroll failed');
        // loaded only on a failure: the lab code is no part of a good enroll's start-up
        const hint = bad.length ? await (await import('./lab.js')).labDownHint(ctx, bad.map((n) => ({ node: n.name, address: n.bmc.address, port: n.bmc.port }))) : undefined;
        ctx.out.result({ nodes: ordered, ...(hint ? { hint } : {}) }, () =>
          [
            table(
              ['NODE', 'RESULT', 'PROFILE', 'POWER', 'TIME', 'REASON'],
              ordered.map((r) => [r.node, r.result, r.profile, r.power, r.ms === undefined ? undefined : `${r.ms} ms`, r.error]),
            ),
            ...(hint ? [`hint: ${hint}`] : []),
          ].join('\n'),
        );
        const failed = ordered.filter((r) => r.result === 'enroll failed').length;
        process.exitCode = exitFor(ordered.length - failed, failed);
      } finally {
        await opened.close();
      }
    });
}
