/**
 * The seed's lifecycle, owned by its engine: `kseed up`, `down` and
 * `status` open the site's seed here and only print what it returns. The
 * Ironic engine's seed is the Compose stack plus kseed's agent service
 * behind it (ironic-seed.ts); the embedded engine's is kseed's own boot
 * services as one background process (embedded-seed.ts).
 */
import type { Site } from '../site/types.js';
import type { NodeStatus } from './types.js';
import { EmbeddedSeed, type EmbeddedSeedDown, type EmbeddedSeedStatus, type EmbeddedSeedUp } from './embedded-seed.js';
import { IronicSeed, type IronicSeedDown, type IronicSeedStatus, type IronicSeedUp } from './ironic-seed.js';

/** Where a seed keeps its state: the site file (which may not exist yet) and `.kseed/` beside it. */
export interface SeedPaths {
  configPath: string;
  stateDir: string;
}

export interface SeedUpOptions {
  /** How long the services may take to become healthy or listen. */
  timeoutMs: number;
  /** Engine ironic: the stack directory (default .kseed/stack). */
  out?: string;
  /** Served under /artifacts/ (default .kseed/cache/ramdisk), with the deploy kernel and initramfs in it. */
  artifacts?: string;
  kernel?: string;
  initrd?: string;
  /** Signs of life while it starts (one line each). */
  progress?: (line: string) => void;
}

export interface SeedDownOptions {
  /** Engine ironic: also delete the stack's volumes. */
  volumes?: boolean;
  out?: string;
  /** What is about to be lost for good, said before it is. */
  warn?: (line: string) => void;
}

export interface SeedStatusOptions {
  out?: string;
  /** The nodes as the seed service reported them (GET /api/v1/status): the embedded engine then leaves the store closed. */
  nodes?: NodeStatus[];
}

export type SeedUp = EmbeddedSeedUp | IronicSeedUp;
export type SeedDown = EmbeddedSeedDown | IronicSeedDown;
export type SeedStatus = EmbeddedSeedStatus | IronicSeedStatus;

export interface Seed {
  readonly engine: 'embedded' | 'ironic';
  up(o: SeedUpOptions): Promise<SeedUp>;
  down(o: SeedDownOptions): Promise<SeedDown>;
  status(o: SeedStatusOptions): Promise<SeedStatus>;
}

/**
 * The site's seed. Without a site (no site file yet) or with any engine but
 * embedded it is the Ironic stack's, which `down` and `status` find by its
 * rendered manifest alone.
 */
export function openSeed(paths: SeedPaths, site: Site | undefined): Seed {
  return site?.engine === 'embedded' ? new EmbeddedSeed(site, paths.stateDir) : new IronicSeed(paths, site);
}
