import path from 'node:path';
import type { Command } from 'commander';
import { KseedError } from '../errors.js';
import { readStackManifest, renderStack, type RenderResult, type StackManifest } from '../render/index.js';
import type { SecretRef, Site } from '../site/types.js';
import { contextOf, type CliContext } from './context.js';

/*
 * Until src/site/load.ts lands on main, it is imported by name at run time,
 * so this file compiles without it. Replace with static imports after merge.
 */
interface SiteModule {
  loadSite(file: string): Promise<Site>;
}
interface SecretsModule {
  resolveSecret(ref: SecretRef, site: Pick<Site, 'dir'>): Promise<string>;
}
const SITE_LOAD = '../site/load.js';
const SITE_SECRETS = '../site/secrets.js';

export async function loadSiteFor(ctx: CliContext): Promise<Site> {
  let mod: SiteModule;
  try {
    mod = (await import(SITE_LOAD)) as SiteModule;
  } catch (err) {
    throw new KseedError('the site loader is not available in this build', { detail: String(err), cause: err });
  }
  return mod.loadSite(ctx.configPath);
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
    const secrets = (await import(SITE_SECRETS)) as SecretsModule;
    registryPassword = await secrets.resolveSecret(site.registry.password, site);
  }
  return renderStack(site, {
    outDir: stackDirOf(ctx, out),
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
