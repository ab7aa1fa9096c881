/**
 * The embedded engine's seed: its boot services as a managed background
 * process (engine/service.ts), up, down and status. `kseed up/down/status`
 * call these and print what they return.
 */
import path from 'node:path';
import { connectBmc } from '../bmc/index.js';
import { loadSiteProfiles } from '../profiles/load.js';
import type { Site } from '../site/types.js';
import { EmbeddedEngine } from './embedded.js';
import { bootServicePid, logFileOf, startBootService, stopBootService } from './service.js';
import { openState } from './state.js';
import type { NodeStatus } from './types.js';

export interface EmbeddedSeedUpOptions {
  /** Served under /artifacts/ (default .kseed/cache/ramdisk). */
  artifacts?: string;
  kernel?: string;
  initrd?: string;
  /** How long the boot services may take to listen. */
  readyTimeoutMs: number;
}

export type EmbeddedSeedUp = Awaited<ReturnType<typeof startBootService>>;

/** Starts the boot services in the background; one already running is left as it is. */
export function embeddedSeedUp(site: Site, stateDir: string, o: EmbeddedSeedUpOptions): Promise<EmbeddedSeedUp> {
  return startBootService({
    stateDir,
    configPath: site.file,
    ...(site.seed.netns ? { netns: site.seed.netns } : {}),
    ...(o.artifacts ? { artifacts: path.resolve(o.artifacts) } : {}),
    ...(o.kernel ? { kernel: o.kernel } : {}),
    ...(o.initrd ? { initrd: o.initrd } : {}),
    readyTimeoutMs: o.readyTimeoutMs,
  });
}

/** Stops the boot services (by the PID they recorded). */
export function embeddedSeedDown(site: Site, stateDir: string): ReturnType<typeof stopBootService> {
  return stopBootService(stateDir, site.file);
}

export interface EmbeddedSeedStatus {
  boot_services: { running: boolean; pid?: number; log: string };
  nodes: NodeStatus[];
}

/** Whether the boot services run, and every node as the engine sees it. */
export async function embeddedSeedStatus(site: Site, stateDir: string): Promise<EmbeddedSeedStatus> {
  const pid = bootServicePid(stateDir, site.file);
  const store = openState(stateDir);
  try {
    const engine = new EmbeddedEngine({ site, store, profiles: await loadSiteProfiles(site.dir), connect: connectBmc });
    return { boot_services: { running: pid !== undefined, ...(pid ? { pid } : {}), log: logFileOf(stateDir) }, nodes: engine.status() };
  } finally {
    store.close();
  }
}
