import type { Command } from 'commander';
import { ComposeDriver } from '../compose/index.js';
import { stopBootService } from '../engine/service.js';
import { contextOf } from './context.js';
import { downEmbedded, embeddedSiteOf } from './embedded.js';
import { renderedStack } from './render.js';

export function register(program: Command): void {
  program
    .command('down')
    .description('stop and remove the seed stack containers and kseed\'s boot service (volumes are kept unless --volumes)')
    .option('--volumes', 'also delete the volumes: Ironic database (enrolled nodes), DHCP leases, registry images')
    .option('--out <dir>', 'stack directory (default .kseed/stack)')
    .action(async (opts: { volumes?: boolean; out?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const embedded = await embeddedSiteOf(ctx);
      if (embedded) return downEmbedded(ctx, embedded);
      // kseed's boot service first: nodes asking for a script get none rather than a half-gone stack's
      const boot = await stopBootService(ctx.stateDir, ctx.configPath);
      const stack = await renderedStack(ctx, opts.out);
      if (!stack) {
        ctx.out.result({ project: null, down: false, reason: 'no rendered stack', boot_services: boot }, () =>
          'nothing to take down: no rendered stack (run `kseed render` or `kseed up`)',
        );
        return;
      }
      const { manifest, dir } = stack;
      const volumes = Object.entries(manifest.volumes);
      if (opts.volumes) {
        // a warning about data loss, not progress: on stderr even under --json
        const warn = (m: string) => process.stderr.write(`${m}\n`);
        warn(`deleting the volumes of ${manifest.project}; this loses, for good:`);
        for (const [v, what] of volumes) warn(`  ${v}: ${what}`);
        // the state store is not a volume: what kseed itself knows about the nodes survives
        warn(`kept: kseed's own node states and events (${ctx.stateDir}/state.db); the next provision enrolls the nodes in Ironic again`);
      }
      const driver = await ComposeDriver.detect();
      await driver.down({ name: manifest.project, file: `${dir}/${manifest.composeFile}`, dir }, { volumes: Boolean(opts.volumes) });
      ctx.out.result(
        {
          project: manifest.project,
          down: true,
          boot_services: boot,
          volumesDeleted: opts.volumes ? volumes.map(([v]) => v) : [],
          volumesKept: opts.volumes ? [] : volumes.map(([v]) => v),
          ...(opts.volumes ? { lost: Object.fromEntries(volumes) } : {}),
        },
        () =>
          [
            boot.stopped ? `boot service stopped (pid ${boot.pid})` : undefined,
            opts.volumes
              ? `seed stack ${manifest.project} removed, with its volumes (${volumes.map(([v]) => v).join(', ')})`
              : `seed stack ${manifest.project} removed; volumes kept (${volumes.map(([v]) => v).join(', ')}): \`kseed down --volumes\` deletes them`,
          ]
            .filter(Boolean)
            .join('\n'),
      );
    });
}
