/**
 * The engine a site file asks for, opened on its state directory. Only the
 * embedded engine exists so far; the Ironic engine plugs in here.
 */
import { connectBmc } from '../bmc/index.js';
import { KseedError } from '../errors.js';
import { loadSiteProfiles } from '../profiles/load.js';
import type { Site } from '../site/types.js';
import { EmbeddedEngine, type EmbeddedEngineOptions } from './embedded.js';
import { openState, type StateStore } from './state.js';
import type { Provisioner } from './types.js';

export interface OpenedEngine {
  engine: Provisioner;
  store: StateStore;
  close(): Promise<void>;
}

export async function openEngine(
  site: Site,
  stateDir: string,
  opts: Pick<EmbeddedEngineOptions, 'onProgress' | 'concurrency' | 'timeouts'> = {},
): Promise<OpenedEngine> {
  if (site.engine !== 'embedded') {
    throw new KseedError(`${site.file}: engine "${site.engine}" is not available for this command yet (use engine: embedded)`, { code: 'no-engine' });
  }
  const profiles = await loadSiteProfiles(site.dir);
  const store = openState(stateDir);
  const engine = new EmbeddedEngine({ site, store, profiles, connect: connectBmc, ...opts });
  return {
    engine,
    store,
    close: async () => {
      await engine.close();
      store.close();
    },
  };
}
