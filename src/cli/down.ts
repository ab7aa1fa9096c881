import type { Command } from 'commander';
import { ComposeDriver } from '../compose/index.js';
import { contextOf } from './context.js';
import { downEmbedded, embeddedSiteOf } from './embedded.js';
import { renderedStack } from './render.js';

export function register(program: Command): void {
  program
    .command('down')
    .description('stop and remove the seed stack containers (volumes are kept unless --volumes)')
    .option('--volumes', 'also delete the volumes: Ironic database (enrolled nodes), DHCP leases, registry images')
    .option('--out <dir>', 'stack directory (default .kseed/stack)')
    .action(async (opts: { volumes?: boolean; out?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const embedded = await embeddedSiteOf(ctx);
      if (embedded) return downEmbedded(ctx, embedded);
      const stack = await renderedStack(ctx, opts.out);
      if (!stack) {
        ctx.out.result({ project: null, down: false, reason: 'no rendered stack' }, () => 'nothing to take down: no rendered stack (run `kseed render` or `kseed up`)');
        return;
      }
      const { manifest, dir } = stack;
      const volumes = Object.entries(manifest.volumes);
      if (opts.volumes) {
        ctx.out.progress(`deleting volumes of ${manifest.project}; this loses:`);
        for (const [v, what] of volumes) ctx.out.progress(`  ${v}: ${what}`);
      }
      const driver = await ComposeDriver.detect();
      await driver.down({ name: manifest.project, file: `${dir}/${manifest.composeFile}`, dir }, { volumes: Boolean(opts.volumes) });
      ctx.out.result(
        { project: manifest.project, down: true, volumesDeleted: opts.volumes ? volumes.map(([v]) => v) : [], volumesKept: opts.volumes ? [] : volumes.map(([v]) => v) },
        () =>
          opts.volumes
            ? `seed stack ${manifest.project} removed, with its volumes`
            : `seed stack ${manifest.project} removed; volumes kept (${volumes.map(([v]) => v).join(', ')}): \`kseed down --volumes\` deletes them`,
      );
    });
}
