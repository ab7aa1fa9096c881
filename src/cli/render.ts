import path from 'node:path';
import type { Command } from 'commander';
import { readStackManifest, renderStack, type RenderResult, type StackManifest } from '../render/index.js';
import { loadSite } from '../site/load.js';
import { resolveSecret } from '../site/secrets.js';
import type { Site } from '../site/types.js';
import { contextOf, type CliContext } from './context.js';

export async function loadSiteFor(ctx: CliContext): Promise<Site> {
  return loadSite(ctx.configPath);
}

/** The default stack directory of a site: `.kseed/stack` beside the site file. */
export function stackDirOf(ctx: CliContext, out?: string): string {
  return out ? path.resolve(out) : path.join(ctx.stateDir, 'stack');
}

/** Loads the site and renders its stack; shared by `render` and `up`. */
export async function renderFor(ctx: CliContext, out?: string): Promise<RenderResult> {
  const site = await loadSiteFor(ctx);
  let registryPassword: string | undefined;
  if (site.registry.enabled && site.registry.password) {
    registryPassword = await resolveSecret(site.registry.password, site);
  }
  // KSEED_IMAGE_TAG: run the stack on images built under another tag than the kseed version.
  const imageTag = process.env.KSEED_IMAGE_TAG;
  return renderStack(site, {
    outDir: stackDirOf(ctx, out),
    ...(imageTag ? { imageTag } : {}),
    secretsDir: path.join(ctx.stateDir, 'secrets'),
    ...(registryPassword !== undefined ? { registryPassword } : {}),
  });
}

/** The rendered stack `down`, `status` and `logs` act on: they never re-render. */
export async function renderedStack(ctx: CliContext, out?: string): Promise<{ dir: string; manifest: StackManifest } | undefined> {
  const dir = stackDirOf(ctx, out);
  const manifest = await readStackManifest(dir);
  return manifest ? { dir, manifest } : undefined;
}

export function summarize(r: RenderResult): string {
  const rel = path.relative(process.cwd(), r.outDir) || '.';
  if (r.unchanged) return `stack unchanged: nothing written (${rel})`;
  const lines = [`rendered ${rel}: ${r.added.length} added, ${r.changed.length} changed, ${r.removed.length} removed`];
  for (const f of r.added) lines.push(`  + ${f}`);
  for (const f of r.changed) lines.push(`  ~ ${f}`);
  for (const f of r.removed) lines.push(`  - ${f}`);
  return lines.join('\n');
}

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
      const r = await renderFor(ctx, opts.out);
      ctx.out.result(renderJson(r), () => summarize(r));
    });
}
