/**
 * How `kseed up`, `kseed down` and `kseed status` print the embedded
 * engine's seed (engine/embedded-seed.ts does the work).
 * The Compose (Ironic) versions of these commands (up.ts, down.ts,
 * status.ts) dispatch here when the site says `engine: embedded`.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { embeddedSeedDown, embeddedSeedStatus, embeddedSeedUp } from '../engine/embedded-seed.js';
import { InputError } from '../errors.js';
import { cephSummaryAt, cephSummaryLine } from '../handoff/ceph-status.js';
import { stopSeedRegistry } from '../handoff/seed-registry.js';
import { loadSite } from '../site/load.js';
import type { Site } from '../site/types.js';
import type { CliContext } from './context.js';
import { table, timingsCell } from './output.js';

export interface EmbeddedUpOpts {
  artifacts?: string;
  kernel?: string;
  initrd?: string;
  timeout?: string;
}

export async function upEmbedded(ctx: CliContext, site: Site, opts: EmbeddedUpOpts): Promise<void> {
  const timeout = opts.timeout === undefined ? 30 : Number(opts.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new InputError(`--timeout must be a positive number of seconds, not "${opts.timeout}"`);
  const info = await embeddedSeedUp(site, ctx.stateDir, {
    ...(opts.artifacts ? { artifacts: opts.artifacts } : {}),
    ...(opts.kernel ? { kernel: opts.kernel } : {}),
    ...(opts.initrd ? { initrd: opts.initrd } : {}),
    readyTimeoutMs: timeout * 1000,
  });
  ctx.out.result(
    { engine: 'embedded', boot_services: { pid: info.pid, pid_file: info.pidFile, log: info.log, already_running: info.already, ...(info.listening ? { listening: info.listening } : {}) } },
    () =>
      info.already
        ? `boot services already running (pid ${info.pid}); log ${info.log}`
        : `boot services up (pid ${info.pid}) on ${site.seed.interface}${site.seed.netns ? ` in netns ${site.seed.netns}` : ''}, seed ${site.seed.address}; log ${info.log}`,
  );
}

export async function downEmbedded(ctx: CliContext, site: Site): Promise<void> {
  const r = await embeddedSeedDown(site, ctx.stateDir);
  // the seed registry (`kseed mirror up`/`sync`) is part of the seed too; its volume stays
  const registry = await stopSeedRegistry(site);
  ctx.out.result({ engine: 'embedded', boot_services: r, registry }, () =>
    [
      r.stopped ? `boot services stopped (pid ${r.pid}${r.forced ? ', killed after 10 s' : ''})` : 'boot services were not running',
      registry.stopped ? `seed registry stopped (${registry.container}; its images stay in volume ${registry.container}-data)` : undefined,
    ]
      .filter(Boolean)
      .join('\n'),
  );
}

export async function statusEmbedded(ctx: CliContext, site: Site): Promise<void> {
  const { boot_services, nodes } = await embeddedSeedStatus(site, ctx.stateDir);
  const ceph = cephSummaryAt(ctx.stateDir);
  ctx.out.result({ engine: 'embedded', boot_services, nodes, ...(ceph ? { ceph } : {}) }, () =>
    [
      boot_services.pid ? `boot services: running (pid ${boot_services.pid})` : `boot services: not running (kseed up starts them)`,
      table(
        ['NODE', 'STATE', 'POWER', 'IP', 'PROFILE', 'TIMINGS', 'LAST ERROR'],
        nodes.map((n) => [
          n.node,
          n.state,
          n.power ?? undefined,
          n.ip ?? undefined,
          n.profile ?? undefined,
          timingsCell(n.timings),
          n.last_error ?? undefined,
        ]),
      ),
      ...(ceph ? [cephSummaryLine(ceph)] : []),
    ].join('\n'),
  );
}

/**
 * The site, when the site file exists and says `engine: embedded`: then
 * up/down/status dispatch here. Undefined otherwise (the Compose engine's
 * code handles it, including a missing or invalid site file).
 */
export async function embeddedSiteOf(ctx: CliContext): Promise<Site | undefined> {
  if (!existsSync(ctx.configPath)) return undefined;
  const site = await loadSite(ctx.configPath);
  return site.engine === 'embedded' ? site : undefined;
}

/** `kseed up` options only the embedded engine has. */
export function embeddedUpOptions(c: Command): Command {
  return c
    .option('--artifacts <dir>', 'embedded engine: served under /artifacts/: deploy kernel, initramfs, images (default .kseed/cache/ramdisk)')
    .option('--kernel <file>', 'embedded engine: deploy kernel in the artifacts directory (default vmlinuz)')
    .option('--initrd <file>', 'embedded engine: deploy initramfs in the artifacts directory (default initramfs.gz)');
}
