import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ComposeDriver } from '../compose/index.js';
import { bootServicePid, logFileOf } from '../engine/service.js';
import { openState } from '../engine/state.js';
import { IronicClient, IronicError, type IronicNode } from '../ironic/index.js';
import { ironicBootPlan } from '../render/index.js';
import { loadSite } from '../site/load.js';
import type { Site } from '../site/types.js';
import { contextOf, noSiteFile } from './context.js';
import { cephSummaryAt, cephSummaryLine } from '../handoff/ceph-status.js';
import { statusEmbedded, embeddedSiteOf } from './embedded.js';
import { table, timingsCell } from './output.js';
import { renderedStack } from './render.js';
import { statusTable } from './up.js';

/** Ironic's own view of the nodes: its API through the one Ironic client, 5 s at most; undefined + why when it does not answer. */
async function ironicNodes(site: Site, stateDir: string): Promise<{ nodes?: IronicNode[]; error?: string }> {
  const plan = ironicBootPlan(site, stateDir);
  if (!existsSync(plan.passwordFile)) return { error: 'no Ironic credentials yet (kseed up creates them)' };
  const client = new IronicClient({ url: plan.ironicUrl, username: plan.username, password: readFileSync(plan.passwordFile, 'utf8').trim(), timeoutMs: 5000 });
  try {
    return { nodes: await client.listNodes({ fields: ['uuid', 'name', 'provision_state', 'target_provision_state', 'power_state', 'last_error', 'maintenance'] }) };
  } catch (err) {
    if (err instanceof IronicError && err.status) return { error: `Ironic answered ${err.status} at ${plan.ironicUrl}` };
    return { error: `Ironic does not answer at ${plan.ironicUrl} (${(err as Error).message})` };
  }
}

export function register(program: Command): void {
  program
    .command('status')
    .description('state and health of every seed stack service; with a site file, kseed\'s and Ironic\'s view of each node')
    .option('--out <dir>', 'stack directory (default .kseed/stack)')
    .action(async (opts: { out?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const embedded = await embeddedSiteOf(ctx);
      if (embedded) return statusEmbedded(ctx, embedded);
      const stack = await renderedStack(ctx, opts.out);
      if (!stack) {
        if (!existsSync(ctx.configPath)) throw noSiteFile(ctx);
        ctx.out.result({ project: null, rendered: false, services: [] }, () => 'seed not up: no rendered stack (`kseed up` renders and starts it)');
        return;
      }
      const { manifest, dir } = stack;
      const driver = await ComposeDriver.detect();
      const running = await driver.ps({ name: manifest.project, file: `${dir}/${manifest.composeFile}`, dir });
      // Services of the stack without a container are reported too: "not created" is a state.
      const services = manifest.services.map(
        (s) =>
          running.find((r) => r.service === s) ?? { service: s, container: '-', image: manifest.images[s] ?? '-', state: 'not created', health: 'none' as const, exitCode: 0, restarts: 0 },
      );
      const healthy = services.every((s) => s.state === 'running' && (s.health === 'healthy' || s.health === 'none'));

      // With the site file: kseed's boot service and both views of every node (kseed's lifecycle, Ironic's provision state).
      const site = existsSync(ctx.configPath) ? await loadSite(ctx.configPath) : undefined;
      let extra: Record<string, unknown> = {};
      let lines: string[] = [];
      if (site && site.engine === 'ironic') {
        const pid = bootServicePid(ctx.stateDir, site.file);
        const ironic = await ironicNodes(site, ctx.stateDir);
        const store = existsSync(ctx.stateDir) ? openState(ctx.stateDir) : undefined;
        try {
          const nodes = site.nodes.map((n) => {
            const k = store?.getNode(n.name);
            const i = ironic.nodes?.find((x) => x.name === n.name);
            return {
              node: n.name,
              state: k?.state ?? null,
              power: k?.power ?? null,
              last_error: k?.last_error ?? null,
              timings: store && k ? store.phaseTimings(n.name) : [],
              booted_hostname: (k?.data.booted as { hostname?: string } | null | undefined)?.hostname ?? null,
              ironic: i
                ? { uuid: i.uuid, provision_state: i.provision_state, target_provision_state: i.target_provision_state, power_state: i.power_state, last_error: i.last_error, maintenance: i.maintenance ?? false }
                : null,
            };
          });
          extra = {
            boot_services: { running: pid !== undefined, ...(pid ? { pid } : {}), log: logFileOf(ctx.stateDir) },
            ...(ironic.error ? { ironic_error: ironic.error } : {}),
            nodes,
          };
          lines = [
            pid ? `boot service: running (pid ${pid})` : 'boot service: not running (kseed up starts it)',
            ...(ironic.error ? [`ironic: ${ironic.error}`] : []),
            table(
              ['NODE', 'STATE', 'IRONIC STATE', 'IRONIC POWER', 'TIMINGS', 'LAST ERROR'],
              nodes.map((n) => [
                n.node,
                n.state ?? '-',
                n.ironic ? `${n.ironic.provision_state ?? '-'}${n.ironic.target_provision_state ? ` -> ${n.ironic.target_provision_state}` : ''}` : 'not enrolled',
                n.ironic?.power_state ?? '-',
                timingsCell(n.timings),
                n.ironic?.last_error ?? n.last_error ?? undefined,
              ]),
            ),
          ];
        } finally {
          store?.close();
        }
      }
      const ceph = cephSummaryAt(ctx.stateDir);
      ctx.out.result({ project: manifest.project, rendered: true, healthy, services, ...extra, ...(ceph ? { ceph } : {}) }, () =>
        [statusTable(services), ...lines, ...(ceph ? [cephSummaryLine(ceph)] : []), `${manifest.project}: ${healthy ? 'all services up' : 'not all services are up'}`].join('\n'),
      );
    });
}
