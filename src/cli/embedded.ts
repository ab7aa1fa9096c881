/**
 * What `kseed up`, `down`, `status` and `logs` share about the site: the
 * engine's seed (engine/seed.ts) does the work, these commands print it.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import type { Site } from '../site/types.js';
import type { CliContext } from './context.js';

/**
 * The site when the site file exists (an invalid one is an error), else
 * undefined: `down` and `status` then act on a rendered stack alone.
 */
export async function siteIfAny(ctx: CliContext): Promise<Site | undefined> {
  // loaded here, not at start-up: `--help` of up/down/status/logs needs no site code
  return existsSync(ctx.configPath) ? (await import('../site/load.js')).loadSite(ctx.configPath) : undefined;
}

/** The site, when the site file exists and says `engine: embedded`; undefined otherwise. */
export async function embeddedSiteOf(ctx: CliContext): Promise<Site | undefined> {
  const site = await siteIfAny(ctx);
  return site?.engine === 'embedded' ? site : undefined;
}

/** `kseed up` options only the embedded engine has. */
export function embeddedUpOptions(c: Command): Command {
  return c
    .option('--artifacts <dir>', 'embedded engine: served under /artifacts/: deploy kernel, initramfs, images (default .kseed/cache/ramdisk)')
    .option('--kernel <file>', 'embedded engine: deploy kernel in the artifacts directory (default vmlinuz)')
    .option('--initrd <file>', 'embedded engine: deploy initramfs in the artifacts directory (default initramfs.gz)');
}
