/**
 * `kseed bmc power|bootdev|info`: direct BMC control of inventory nodes.
 * All three go through the seed service when it runs (POST /api/v1/power,
 * POST /api/v1/nodes/NAME/bootdev, GET /api/v1/nodes/NAME/bmc), else work on
 * the store; power and bootdev refuse nodes leased to someone else either
 * way (service/verbs.ts, service/bmc-verbs.ts).
 */
import type { Command } from 'commander';
import type { BootDevice, PowerAction } from '../bmc/types.js';
import { InputError } from '../errors.js';
import { loadSite } from '../site/load.js';
import { contextOf } from './context.js';
import type { BootdevDoc, InfoDoc } from '../service/bmc-verbs.js';
import type { PowerRow, PowerVerb } from '../service/verbs.js';
import { exitFor } from './nodes.js';
import { table } from './output.js';
import { reportWaiting } from './bmc-progress.js';
import { warnLine } from './verb-run.js';

/** service/verbs.ts's and bmc-verbs.ts's, kept here too: commander's --help loads this file without the engine. */
const POWER_ACTIONS: readonly PowerVerb[] = ['on', 'off', 'cycle', 'reset', 'soft', 'status'];
const DEVICES: readonly BootDevice[] = ['pxe', 'disk', 'bios', 'cdrom', 'none'];

/** Why `bmc power ARGS` has no action last: the action is missing, misplaced or unknown. */
function powerUsage(args: string[], all: boolean, nodes: Set<string>): InputError {
  const last = args[args.length - 1]!;
  const one = `one of ${POWER_ACTIONS.join(', ')}`;
  const misplaced = args.find((a) => POWER_ACTIONS.includes(a as PowerAction));
  if (misplaced) {
    const rest = args.filter((a) => a !== misplaced);
    return new InputError(`the power action comes last: kseed bmc power ${all ? '--all ' : ''}${rest.join(' ')} ${misplaced}`, [], { code: 'usage' });
  }
  if (nodes.has(last) || (!all && args.length === 1)) {
    const shown = all ? '--all' : args.join(' ');
    return new InputError(`missing power action after "${shown}" (${one}): e.g. kseed bmc power ${shown} status`, [], { code: 'usage' });
  }
  return new InputError(`unknown power action "${last}" (${one})`, [], { code: 'usage' });
}

export function register(program: Command): void {
  const bmc = program.command('bmc').description('talk to the BMCs of inventory nodes (IPMI or Redfish)');

  bmc
    .command('power')
    .description('power on|off|cycle|reset|soft|status of nodes: kseed bmc power NODE... ACTION, or --all ACTION')
    .argument('<args...>', 'node names, then the action')
    .option('--all', 'every node of the site file')
    .addHelpText('after', '\nExamples:\n  kseed bmc power node01 status\n  kseed bmc power --all on')
    .action(async (args: string[], opts: { all?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const action = args[args.length - 1] as PowerVerb;
      // the service's client and the engine load when the command runs, not for its --help
      const [{ viaService }, { preparePower, refuseLeasedAt, runPower }] = await Promise.all([import('../service/client.js'), import('../service/verbs.js')]);
      if (!POWER_ACTIONS.includes(action)) throw powerUsage(args, Boolean(opts.all), new Set((await loadSite(ctx.configPath)).nodes.map((n) => n.name)));
      const req = { nodes: args.slice(0, -1), all: Boolean(opts.all), action };
      // a lease's holder (a CI job) says who it is: power of a node leased to someone else is refused, nothing done
      const owner = process.env.KSEED_OWNER || undefined;
      const rows = await viaService<PowerRow[]>(
        ctx.stateDir,
        async (call) => (await call<{ nodes: PowerRow[] }>('POST', '/power', { nodes: req.nodes, ...(req.all ? { all: true } : {}), state: action, ...(owner ? { owner } : {}) })).nodes,
        async () => {
          const site = await loadSite(ctx.configPath);
          return runPower(site, preparePower(site, req, (names) => refuseLeasedAt(ctx.stateDir, names, owner ? { owner } : {})), action, (ns) => reportWaiting(ctx.out, ns));
        },
        warnLine,
        { site: ctx.configPath },
      );
      ctx.out.result({ nodes: rows }, () =>
        table(
          ['NODE', 'RESULT', 'POWER', 'TIME', 'ERROR'],
          rows.map((r) => [r.node, r.ok ? (action === 'status' ? 'ok' : action) : 'failed', r.power, `${r.ms} ms`, r.error]),
        ),
      );
      process.exitCode = exitFor(rows.filter((r) => r.ok).length, rows.filter((r) => !r.ok).length);
    });

  bmc
    .command('bootdev')
    .description('set the next boot device of a node: pxe|disk|bios (legacy BIOS and next boot only unless told)')
    .argument('<node>')
    .argument('<device>', DEVICES.join('|'))
    .option('--uefi', 'boot in UEFI mode (default: legacy BIOS)')
    .option('--persistent', 'every boot, not only the next one')
    .action(async (node: string, device: string, opts: { uefi?: boolean; persistent?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const [{ viaService }, { prepareBootdev, runBootdev, badDevice }, { refuseLeasedAt }] = await Promise.all([import('../service/client.js'), import('../service/bmc-verbs.js'), import('../service/verbs.js')]);
      if (!DEVICES.includes(device as BootDevice)) throw badDevice(device);
      const req = { node, device, uefi: Boolean(opts.uefi), persistent: Boolean(opts.persistent) };
      // as with power: a node leased to someone else keeps its boot device, nothing done
      const owner = process.env.KSEED_OWNER || undefined;
      const doc = await viaService<BootdevDoc>(
        ctx.stateDir,
        (call) => call<BootdevDoc>('POST', `/nodes/${encodeURIComponent(node)}/bootdev`, { device, ...(req.uefi ? { uefi: true } : {}), ...(req.persistent ? { persistent: true } : {}), ...(owner ? { owner } : {}) }),
        async () => {
          const site = await loadSite(ctx.configPath);
          return runBootdev(site, prepareBootdev(site, req, (names) => refuseLeasedAt(ctx.stateDir, names, owner ? { owner } : {})), req, (ns) => reportWaiting(ctx.out, ns));
        },
        warnLine,
        { site: ctx.configPath },
      );
      ctx.out.result(doc, () => {
        const { set, reported: rep } = doc;
        return `${node}: boot device ${set.device} (${set.uefi ? 'UEFI' : 'legacy BIOS'}, ${set.persistent ? 'persistent' : 'next boot'}); BMC reports ${rep.device}${rep.uefi ? ' UEFI' : ''}${rep.persistent ? ' persistent' : ''}`;
      });
    });

  bmc
    .command('info')
    .description("what a node's BMC says: power, device id, GUID, FRU, BMC MAC and IP")
    .argument('<node>')
    .action(async (node: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const [{ viaService }, { prepareInfo, runInfo }] = await Promise.all([import('../service/client.js'), import('../service/bmc-verbs.js')]);
      const v = await viaService<InfoDoc>(
        ctx.stateDir,
        (call) => call<InfoDoc>('GET', `/nodes/${encodeURIComponent(node)}/bmc`),
        async () => {
          const site = await loadSite(ctx.configPath);
          return runInfo(site, prepareInfo(site, node), (ns) => reportWaiting(ctx.out, ns));
        },
        warnLine,
        { site: ctx.configPath },
      );
      ctx.out.result(v, () =>
        table(
          ['FIELD', 'VALUE'],
          [
            ['node', node],
            ['bmc', v.bmc],
            ['power', v.power],
            ['boot device', v.boot ? `${v.boot.device}${v.boot.uefi ? ' (UEFI)' : ''}${v.boot.persistent ? ' persistent' : ''}` : undefined],
            ...Object.entries(v.identity).map(([k, x]) => [k, Array.isArray(x) ? x.join(', ') : String(x)]),
          ],
        ),
      );
    });
}
