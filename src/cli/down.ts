import type { Command } from 'commander';
import { contextOf } from './context.js';
import { siteIfAny } from './embedded.js';

export function register(program: Command): void {
  program
    .command('down')
    .description('stop the seed service, and remove the seed stack containers and kseed\'s boot service (volumes are kept unless --volumes)')
    .option('--volumes', 'also delete the volumes: Ironic database (enrolled nodes), DHCP leases, registry images')
    .option('--out <dir>', 'stack directory (default .kseed/stack)')
    .action(async (opts: { volumes?: boolean; out?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      // the engines load when the command runs, not for its --help
      const { openSeed } = await import('../engine/seed.js');
      const site = await siteIfAny(ctx);
      // the service first: it answers about the seed, so it goes before what it describes
      const { stopApiService } = await import('../service/daemon.js');
      const a = await stopApiService(ctx.stateDir);
      const api = { api: a };
      const apiLine = a.stopped ? `seed service stopped (pid ${a.pid}${a.forced ? ', killed after 10 s' : ''})` : undefined;
      const r = await openSeed(ctx, site).down({
        volumes: Boolean(opts.volumes),
        ...(opts.out ? { out: opts.out } : {}),
        // a warning about data loss, not progress: on stderr even under --json
        warn: (m) => process.stderr.write(`${m}\n`),
      });
      if (r.engine === 'embedded') {
        const { boot_services: b, registry } = r;
        ctx.out.result({ engine: 'embedded', boot_services: b, registry, ...api }, () =>
          [
            apiLine,
            b.stopped ? `boot services stopped (pid ${b.pid}${b.forced ? ', killed after 10 s' : ''})` : 'boot services were not running',
            registry.stopped ? `seed registry stopped (${registry.container}; its images stay in volume ${registry.container}-data)` : undefined,
          ]
            .filter(Boolean)
            .join('\n'),
        );
        return;
      }
      const boot = r.boot_services;
      if (!r.down) {
        ctx.out.result({ project: null, down: false, reason: 'no rendered stack', boot_services: boot, ...api }, () =>
          [apiLine, 'nothing to take down: no rendered stack (run `kseed render` or `kseed up`)'].filter(Boolean).join('\n'),
        );
        return;
      }
      const volumes = Object.entries(r.volumes);
      const names = volumes.map(([v]) => v);
      ctx.out.result(
        {
          project: r.project,
          down: true,
          boot_services: boot,
          ...api,
          volumesDeleted: r.volumesDeleted ? names : [],
          volumesKept: r.volumesDeleted ? [] : names,
          ...(r.volumesDeleted ? { lost: Object.fromEntries(volumes) } : {}),
        },
        () =>
          [
            apiLine,
            boot.stopped ? `boot service stopped (pid ${boot.pid})` : undefined,
            r.volumesDeleted
              ? `seed stack ${r.project} removed, with its volumes (${names.join(', ')})`
              : `seed stack ${r.project} removed; volumes kept (${names.join(', ')}): \`kseed down --volumes\` deletes them`,
          ]
            .filter(Boolean)
            .join('\n'),
      );
    });
}
