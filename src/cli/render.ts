import type { Command } from 'commander';
import type { RenderResult } from '../engine/ironic-seed.js';
import { contextOf } from './context.js';

export function renderJson(r: RenderResult): Record<string, unknown> {
  return {
    stack: r.outDir,
    project: r.project,
    unchanged: r.unchanged,
    added: r.added,
    changed: r.changed,
    removed: r.removed,
    services: r.services,
    images: r.images,
  };
}

export function register(program: Command): void {
  program
    .command('render')
    .description('render the seed Compose stack (Ironic, dnsmasq, HTTP, registry) into .kseed/stack')
    .option('--out <dir>', 'write the stack here instead of .kseed/stack')
    .action(async (opts: { out?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      // the engine and site code load when the command runs, not for its --help
      const [{ renderSeedStack, renderSummary }, { loadSite }] = await Promise.all([import('../engine/ironic-seed.js'), import('../site/load.js')]);
      const r = await renderSeedStack(await loadSite(ctx.configPath), ctx.stateDir, { ...(opts.out ? { out: opts.out } : {}) });
      ctx.out.result(renderJson(r), () => renderSummary(r));
    });
}
