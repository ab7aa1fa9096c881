import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { checkSeedAddress, ComposeDriver, ensureImages, upStack, type ServiceStatus } from '../compose/index.js';
import { contextOf } from './context.js';
import { embeddedUpOptions, upEmbedded } from './embedded.js';
import { table } from './output.js';
import { loadSiteFor, renderFor, renderJson, summarize } from './render.js';

export function statusTable(statuses: ServiceStatus[]): string {
  return table(
    ['SERVICE', 'STATE', 'HEALTH', 'CONTAINER', 'IMAGE'],
    statuses.map((s) => [s.service, s.state, s.health === 'none' ? '-' : s.health, s.container, s.image]),
  );
}

export function register(program: Command): void {
  embeddedUpOptions(program
    .command('up')
    .description('start the seed: engine ironic renders the stack and starts it with Docker Compose (waits until healthy); engine embedded starts the boot services in the background')
    .option('--out <dir>', 'stack directory (default .kseed/stack)')
    .option('--timeout <seconds>', 'how long to wait for healthy services', '180'))
    .action(async (opts: { out?: string; timeout: string; artifacts?: string; kernel?: string; initrd?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const timeout = Number(opts.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0) throw new InputError(`--timeout must be a positive number of seconds, not "${opts.timeout}"`);
      const site = await loadSiteFor(ctx);
      if (site.engine === 'embedded') return upEmbedded(ctx, site, opts);
      if (site.engine !== 'ironic') {
        throw new InputError(
          `${site.file}: engine is "${site.engine}"; \`kseed up\` runs the Ironic Compose stack (set engine: ironic)`,
        );
      }
      const r = await renderFor(ctx, opts.out);
      ctx.out.progress(summarize(r));
      const driver = await ComposeDriver.detect();
      // Images first: until `kseed images build` ran, that is the one thing to fix.
      await ensureImages(driver, r);
      checkSeedAddress(site.seed);
      ctx.out.progress(`compose: ${driver.flavor === 'v2' ? 'docker compose' : 'docker-compose'} ${driver.version}; starting ${r.project}`);
      let last = '';
      const statuses = await upStack(driver, r, {
        timeoutMs: timeout * 1000,
        onProgress: (ss) => {
          const line = ss.map((s) => `${s.service}=${s.health === 'none' ? s.state : s.health}`).join(' ');
          if (line !== last) ctx.out.progress(`waiting: ${line}`);
          last = line;
        },
      });
      ctx.out.result({ ...renderJson(r), compose: { flavor: driver.flavor, version: driver.version }, status: statuses }, () =>
        `${statusTable(statuses)}\nseed stack ${r.project} is up`,
      );
    });
}
