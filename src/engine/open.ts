/**
 * The engine a site file asks for, opened on its state directory:
 * `embedded` (kseed's own boot services) or `ironic` (the seed Compose
 * stack's Ironic, reached with the credentials `kseed render` generated).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { connectBmc } from '../bmc/index.js';
import { KseedError } from '../errors.js';
import { IronicClient } from '../ironic/index.js';
import { loadSiteProfiles } from '../profiles/load.js';
import { ironicBootPlan } from '../render/index.js';
import type { Site } from '../site/types.js';
import { EmbeddedEngine, type EmbeddedEngineOptions } from './embedded.js';
import { IronicEngine, type IronicNodeStatus, type KseedRamdisk } from './ironic.js';
import { servedArtifactsDir } from './service.js';
import { openState, type StateStore } from './state.js';
import { virtualMediaSeed } from './vmedia.js';
import type { Provisioner } from './types.js';

/**
 * State-store kv keys `kseed up` (engine ironic) records for later commands:
 * where Ironic answers when not at the rendered seed address (a lab seed in
 * a network namespace), and the URLs of kseed's deploy ramdisk for
 * `ramdisk` deploys.
 */
export const IRONIC_URL_KEY = 'ironic.url';
export const KSEED_RAMDISK_KEY = 'ironic.kseed_ramdisk';

export interface OpenedEngine {
  engine: Provisioner;
  store: StateStore;
  close(): Promise<void>;
}

export interface OpenEngineOptions extends Pick<EmbeddedEngineOptions, 'onProgress' | 'concurrency' | 'limits' | 'timeouts' | 'leaseOwner' | 'leaseToken' | 'owner'> {
  /** Engine ironic: overrides of what the rendered stack and the state store say. */
  ironic?: { url?: string; kseedRamdisk?: KseedRamdisk };
}

/**
 * Ironic's URL and the API user's credentials: the one way kseed reaches
 * Ironic (provision, enroll, status). Read from what `kseed up` rendered
 * (render/boot-plan.ts), never written: no stack was rendered when the
 * password file is missing.
 */
export function ironicConnection(site: Site, stateDir: string): { url: string; username: string; password: string } {
  const plan = ironicBootPlan(site, stateDir);
  if (!existsSync(plan.passwordFile)) {
    throw new KseedError(`no Ironic credentials in ${path.dirname(plan.passwordFile)}: the seed stack was never rendered (run \`kseed up\`)`, { code: 'no-stack' });
  }
  return { url: plan.ironicUrl, username: plan.username, password: readFileSync(plan.passwordFile, 'utf8').trim() };
}

export async function openEngine(site: Site, stateDir: string, opts: OpenEngineOptions = {}): Promise<OpenedEngine> {
  const profiles = await loadSiteProfiles(site.dir);
  if (site.engine === 'ironic') {
    const conn = ironicConnection(site, stateDir);
    const store = openState(stateDir);
    try {
      const url = opts.ironic?.url ?? store.get<string>(IRONIC_URL_KEY) ?? conn.url;
      const client = await IronicClient.connect({ url, username: conn.username, password: conn.password }).catch((err: unknown) => {
        throw new KseedError(`Ironic at ${url} does not answer (is the seed stack up? \`kseed up\`)`, { code: 'ironic-down', detail: (err as Error).message, cause: err });
      });
      const kseedRamdisk = opts.ironic?.kseedRamdisk ?? store.get<KseedRamdisk>(KSEED_RAMDISK_KEY);
      const { ironic: _ignored, ...rest } = opts;
      return opened(new IronicEngine({ site, store, profiles, client, connect: connectBmc, ...(kseedRamdisk ? { kseedRamdisk } : {}), ...rest }), store);
    } catch (err) {
      store.close();
      throw err;
    }
  }
  const store = openState(stateDir);
  const { ironic: _ignored, ...rest } = opts;
  // virtual-media CDs go where the running boot services serve /artifacts/
  const vmedia = site.nodes.some((n) => n.boot === 'virtual-media') ? virtualMediaSeed(site, servedArtifactsDir(stateDir, site.file)) : undefined;
  return opened(new EmbeddedEngine({ site, store, profiles, connect: connectBmc, ...rest, ...(vmedia ? { vmedia } : {}) }), store);
}

/** Closing the engine closes its store too. */
function opened(engine: Provisioner, store: StateStore): OpenedEngine {
  return {
    engine,
    store,
    close: async () => {
      await engine.close();
      store.close();
    },
  };
}

/**
 * `kseed status` for engine ironic: the state store's rows (lifecycle,
 * timings, last_error) plus Ironic's provision/power state and last_error
 * per node; when Ironic does not answer, the rows with `ironic.error`.
 */
export async function ironicStatus(site: Site, stateDir: string, nodes?: string[]): Promise<IronicNodeStatus[]> {
  let opened: OpenedEngine | undefined;
  try {
    opened = await openEngine(site, stateDir);
  } catch (err) {
    const store = openState(stateDir);
    try {
      const engine = new IronicEngine({ site, store, profiles: [], client: new IronicClient({ url: 'http://127.0.0.1:0' }), connect: connectBmc });
      return engine.status(nodes).map((s) => ({ ...s, ironic: { error: (err as Error).message } }));
    } finally {
      store.close();
    }
  }
  try {
    return await (opened.engine as IronicEngine).refreshStatus(nodes);
  } finally {
    await opened.close();
  }
}
