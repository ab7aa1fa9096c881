import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import type { NodeStatus } from '../engine/types.js';
import { contextOf, noSiteFile } from './context.js';
import { siteIfAny } from './embedded.js';
import { table, timingsCell } from './output.js';
import { statusTable } from './up.js';

export function register(program: Command): void {
  program
    .command('status')
    .description('state and health of every seed stack service; with a site file, kseed\'s and Ironic\'s view of each node')
    .option('--out <dir>', 'stack directory (default .kseed/stack)')
    .action(async (opts: { out?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      // the engines load when the command runs, not for its --help
      const [{ openSeed }, { cephSummaryAt, cephSummaryLine }] = await Promise.all([import('../engine/seed.js'), import('../handoff/ceph-status.js')]);
      const [{ apiServiceLine, apiServiceStatus }, { viaService }] = await Promise.all([import('../service/daemon.js'), import('../service/client.js')]);
      const siteFile = await siteIfAny(ctx);
      const seed = openSeed(ctx, siteFile);
      const o = opts.out ? { out: opts.out } : {};
      // embedded: the nodes through the seed service when it runs (the same document the store gives);
      // the Ironic engine's status asks Ironic itself, beside the store
      const s =
        siteFile?.engine === 'embedded'
          ? await viaService(ctx.stateDir, async (call) => seed.status({ ...o, nodes: (await call<{ nodes: NodeStatus[] }>('GET', '/status')).nodes }), () => seed.status(o), (w) => process.stderr.write(`warning: ${w}\n`))
          : await seed.status(o);
      const api = await apiServiceStatus(ctx.stateDir);
      if (s.engine === 'embedded') {
        const { boot_services, nodes } = s;
        const ceph = cephSummaryAt(ctx.stateDir);
        ctx.out.result({ engine: 'embedded', boot_services, api, nodes, ...(ceph ? { ceph } : {}) }, () =>
          [
            apiServiceLine(api),
            boot_services.pid ? `boot services: running (pid ${boot_services.pid})` : `boot services: not running (kseed up starts them)`,
            table(
              ['NODE', 'STATE', 'POWER', 'IP', 'PROFILE', 'TIMINGS', 'LAST ERROR'],
              nodes.map((n) => [n.node, n.state, n.power ?? undefined, n.ip ?? undefined, n.profile ?? undefined, timingsCell(n.timings), n.last_error ?? undefined]),
            ),
            ...(ceph ? [cephSummaryLine(ceph)] : []),
          ].join('\n'),
        );
        return;
      }
      if (!s.rendered) {
        if (!existsSync(ctx.configPath)) throw noSiteFile(ctx);
        ctx.out.result({ project: null, rendered: false, services: [], api }, () => [apiServiceLine(api), 'seed not up: no rendered stack (`kseed up` renders and starts it)'].join('\n'));
        return;
      }
      const { project, healthy, services, site } = s;
      const lines = site
        ? [
            site.boot_services.pid ? `boot service: running (pid ${site.boot_services.pid})` : 'boot service: not running (kseed up starts it)',
            ...(site.ironic_error ? [`ironic: ${site.ironic_error}`] : []),
            table(
              ['NODE', 'STATE', 'IRONIC STATE', 'IRONIC POWER', 'TIMINGS', 'LAST ERROR'],
              site.nodes.map((n) => [
                n.node,
                n.state ?? '-',
                n.ironic ? `${n.ironic.provision_state ?? '-'}${n.ironic.target_provision_state ? ` -> ${n.ironic.target_provision_state}` : ''}` : 'not enrolled',
                n.ironic?.power_state ?? '-',
                timingsCell(n.timings),
                n.ironic?.last_error ?? n.last_error ?? undefined,
              ]),
            ),
          ]
        : [];
      const ceph = cephSummaryAt(ctx.stateDir);
      ctx.out.result({ project, rendered: true, healthy, services, api, ...(site ?? {}), ...(ceph ? { ceph } : {}) }, () =>
        [statusTable(services), apiServiceLine(api), ...lines, ...(ceph ? [cephSummaryLine(ceph)] : []), `${project}: ${healthy ? 'all services up' : 'not all services are up'}`].join('\n'),
      );
    });
}
