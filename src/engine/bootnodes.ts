/**
 * What the boot services need to know of each node beyond the site file,
 * the same way the engines see it: the root-device hint with the hardware
 * profile's underneath (the profile pinned in the site file, or the one
 * enrollment matched), the user-data that authorizes the hand-off login, and
 * the network-config rendered from the node's `network`.
 * Both boot-service flavours (embedded `kseed boot serve`, and the Ironic
 * engine's agent service) build their StateBootBackend options here, so a
 * hint the engine checked is the hint the ramdisk is given.
 */
import type { StateBootBackendOptions } from '../boot/backend.js';
import { handoffPublicKey, nodeUserData } from '../handoff/userdata.js';
import { rootDeviceOf } from '../profiles/apply.js';
import { loadSiteProfiles } from '../profiles/load.js';
import { renderNetworkConfig } from '../render/network-config.js';
import type { Site } from '../site/types.js';
import { chooseRootDevice } from './rootdevice.js';
import type { StateStore } from './state.js';

export async function bootBackendOptions(
  site: Site,
  stateDir: string,
  store: StateStore,
): Promise<{ options: Pick<StateBootBackendOptions, 'nodes' | 'chooseRootDevice' | 'rootDevice' | 'userData' | 'networkConfig'>; handoffKeyProblem?: string }> {
  const profiles = await loadSiteProfiles(site.dir);
  const handoffKey = await handoffPublicKey(site, stateDir);
  const options: Pick<StateBootBackendOptions, 'nodes' | 'chooseRootDevice' | 'rootDevice' | 'userData' | 'networkConfig'> = {
    nodes: site.nodes,
    chooseRootDevice,
    rootDevice: (n) => {
      const name = store.getNode(n.name)?.profile ?? n.profile;
      return rootDeviceOf(n, name ? profiles.find((p) => p.name === name) : undefined);
    },
    userData: (n) => nodeUserData(n, site, handoffKey.publicKey),
    networkConfig: (n) => renderNetworkConfig(n),
  };
  // the nodes still boot without the hand-off login; the caller says why it is missing
  return handoffKey.problem ? { options, handoffKeyProblem: handoffKey.problem } : { options };
}
