import type { Command } from 'commander';
import { ComposeDriver } from '../compose/index.js';
import { contextOf } from './context.js';
import { statusEmbedded, embeddedSiteOf } from './embedded.js';
import { renderedStack } from './render.js';
import { statusTable } from './up.js';

export function register(program: Command): void {
  program
    .command('status')
    .description('state and health of every seed stack service')
    .option('--out <dir>', 'stack directory (default .kseed/stack)')
    .action(async (opts: { out?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const embedded = await embeddedSiteOf(ctx);
      if (embedded) return statusEmbedded(ctx, embedded);
      const stack = await renderedStack(ctx, opts.out);
      if (!stack) {
        ctx.out.result({ project: null, rendered: false, services: [] }, () => 'no rendered stack (run `kseed render` or `kseed up`)');
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
      ctx.out.result({ project: manifest.project, rendered: true, healthy, services }, () =>
        `${statusTable(services)}\n${manifest.project}: ${healthy ? 'all services up' : 'not all services are up'}`,
      );
    });
}
