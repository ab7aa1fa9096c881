/**
 * What the boot services need to know of each node beyond the site file,
 * the same way the engines see it: the root-device hint with the hardware
 * profile's underneath (the profile pinned in the site file, or the one
 * enrollment matched), the user-data that authorizes the hand-off login (and
 * the key of the lease holding the node), and
 * the network-config rendered from the node's `network`.
 * Both boot-service flavours (embedded `kseed boot serve`, and the Ironic
 * engine's agent service) build their StateBootBackend options here, so a
 * hint the engine checked is the hint the ramdisk is given.
 */
import type { StateBootBackendOptions } from '../boot/backend.js';
import type { BootNodeSpec } from '../boot/nodes.js';
import { handoffPublicKey, nodeUserData } from '../handoff/userdata.js';
import { rootDeviceOf } from '../profiles/apply.js';
import { loadSiteProfiles } from '../profiles/load.js';
import { renderNetworkConfig } from '../render/network-config.js';
import type { NodeSpec, Site } from '../site/types.js';
import { chooseRootDevice } from '../engine/rootdevice.js';
import type { StateStore } from '../engine/state.js';

export async function bootBackendOptions(
  site: Site,
  stateDir: string,
  store: StateStore,
): Promise<{ options: Pick<StateBootBackendOptions, 'nodes' | 'chooseRootDevice' | 'rootDevice' | 'userData' | 'networkConfig'>; handoffKeyProblem?: string }> {
  const profiles = await loadSiteProfiles(site.dir);
  const handoffKey = await handoffPublicKey(site, stateDir);
  // the boot services hand back a node's boot facts; the site file's node says the rest (its profile, roles, network)
  const byName = new Map(site.nodes.map((n) => [n.name, n]));
  const full = (b: BootNodeSpec): NodeSpec => ({ ...byName.get(b.name), ...b }) as NodeSpec;
  const options: Pick<StateBootBackendOptions, 'nodes' | 'chooseRootDevice' | 'rootDevice' | 'userData' | 'networkConfig'> = {
    nodes: site.nodes,
    chooseRootDevice,
    rootDevice: (b) => {
      const n = full(b);
      const name = store.getNode(n.name)?.profile ?? n.profile;
      return rootDeviceOf(n, name ? profiles.find((p) => p.name === name) : undefined);
    },
    userData: (b) => {
      // a node deployed for a lease (acquire --provision) also lets its holder in, with the lease's own key
      const lease = store.nodeLeases.holderOf(b.name);
      return nodeUserData(full(b), site, handoffKey.publicKey, lease?.ssh_key && lease.ended_at === null ? [lease.ssh_key] : []);
    },
    networkConfig: (b) => renderNetworkConfig(full(b)),
  };
  // the nodes still boot without the hand-off login; the caller says why it is missing
  return handoffKey.problem ? { options, handoffKeyProblem: handoffKey.problem } : { options };
}
