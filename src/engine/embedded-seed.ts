/**
 * The embedded engine's seed: its boot services as a managed background
 * process (engine/service.ts), up, down and status, and on the way down the
 * seed registry `kseed mirror up` may have started (engine/seed-registry.ts). `kseed up/down/status`
 * open it through engine/seed.ts and print what it returns.
 */
import { connectBmc } from '../bmc/index.js';
import { loadSiteProfiles } from '../profiles/load.js';
import type { Site } from '../site/types.js';
import { EmbeddedEngine } from './embedded.js';
import type { Seed, SeedStatusOptions, SeedUpOptions } from './seed.js';
import { stopSeedRegistry } from './seed-registry.js';
import { bootServiceOf, bootServicePid, logFileOf, startBootService, stopBootService, type BootServiceInfo } from './service.js';
import { openState } from './state.js';
import type { NodeStatus } from './types.js';

export interface EmbeddedSeedUp {
  engine: 'embedded';
  boot: BootServiceInfo;
}

export interface EmbeddedSeedDown {
  engine: 'embedded';
  boot_services: Awaited<ReturnType<typeof stopBootService>>;
  /** its data volume stays */
  registry: Awaited<ReturnType<typeof stopSeedRegistry>>;
}

export interface EmbeddedSeedStatus {
  engine: 'embedded';
  boot_services: { running: boolean; pid?: number; log: string };
  nodes: NodeStatus[];
}

export class EmbeddedSeed implements Seed {
  readonly engine = 'embedded' as const;

  constructor(
    private readonly site: Site,
    private readonly stateDir: string,
  ) {}

  /** Starts the boot services in the background; one already running is left as it is. */
  async up(o: SeedUpOptions): Promise<EmbeddedSeedUp> {
    const { site } = this;
    const boot = await startBootService({ ...bootServiceOf(site, this.stateDir, o), readyTimeoutMs: o.timeoutMs });
    return { engine: 'embedded', boot };
  }

  /** Stops the boot services (by the PID they recorded), then the seed registry if one runs. */
  async down(): Promise<EmbeddedSeedDown> {
    const boot_services = await stopBootService(this.stateDir, this.site.file);
    return { engine: 'embedded', boot_services, registry: await stopSeedRegistry(this.site) };
  }

  /** Whether the boot services run, and every node as the engine sees it. */
  async status(o: SeedStatusOptions = {}): Promise<EmbeddedSeedStatus> {
    const { site, stateDir } = this;
    const pid = bootServicePid(stateDir, site.file);
    if (o.nodes) return { engine: 'embedded', boot_services: { running: pid !== undefined, ...(pid ? { pid } : {}), log: logFileOf(stateDir) }, nodes: o.nodes };
    const store = openState(stateDir);
    try {
      const engine = new EmbeddedEngine({ site, store, profiles: await loadSiteProfiles(site.dir), connect: connectBmc });
      return { engine: 'embedded', boot_services: { running: pid !== undefined, ...(pid ? { pid } : {}), log: logFileOf(stateDir) }, nodes: engine.status() };
    } finally {
      store.close();
    }
  }
}
