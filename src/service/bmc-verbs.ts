/**
 * `kseed bmc bootdev` and `kseed bmc info` as both their runners run them:
 * the CLI on the state store, and the seed service for its API
 * (api-verbs.ts), with the same checks and messages in the same order, so
 * the CLI prints the same bytes whichever ran it (as verbs.ts does for
 * power). bootdev changes what a node boots next, so a node leased to
 * someone else is refused before its BMC is touched, as `bmc power` is;
 * info only reads, and reads any node.
 */
import type { BootDevice, BootOptions, BmcIdentity, PowerState } from '../bmc/types.js';
import { type BmcWatch, onNodes, selectNodes } from '../engine/site-nodes.js';
import { InputError, KseedError } from '../errors.js';
import type { NodeSpec, Site } from '../site/types.js';

export const BOOT_DEVICES: readonly BootDevice[] = ['pxe', 'disk', 'bios', 'cdrom', 'none'];

export interface BootdevRequest {
  node: string;
  device: string;
  uefi: boolean;
  persistent: boolean;
}

/** What `bmc bootdev --json` prints: what was set, and what the BMC reports after. */
export interface BootdevDoc {
  node: string;
  set: { device: BootDevice; uefi: boolean; persistent: boolean };
  reported: BootOptions;
  ms: number;
}

/** What `bmc info --json` prints: the BMC's address, its power, boot device and identity. */
export interface InfoDoc {
  node: string;
  bmc: string;
  power: PowerState;
  boot?: BootOptions;
  identity: BmcIdentity;
  ms: number;
}

export function badDevice(device: string): InputError {
  return new InputError(`unknown boot device "${device}" (one of ${BOOT_DEVICES.join(', ')})`);
}

/** The node bootdev works on, refused (nothing done) if it is leased to someone else. */
export function prepareBootdev(site: Site, req: BootdevRequest, leases: (names: string[]) => void): NodeSpec {
  if (!BOOT_DEVICES.includes(req.device as BootDevice)) throw badDevice(req.device);
  const node = selectNodes(site, [req.node], false)[0]!;
  leases([node.name]);
  return node;
}

/** Sets the next boot device and reads it back; a BMC's failure is the command's error (one node, nothing to tabulate). */
export async function runBootdev(site: Site, node: NodeSpec, req: BootdevRequest, watch?: BmcWatch): Promise<BootdevDoc> {
  const set = { device: req.device as BootDevice, uefi: req.uefi, persistent: req.persistent };
  const [r] = await onNodes(site, [node], async (b) => {
    await b.setBootDevice(set);
    return b.getBootDevice();
  }, { watch });
  if (!r!.ok) throw r!.error ?? new KseedError(`${node.name}: bootdev failed`);
  return { node: node.name, set, reported: r!.value!, ms: r!.ms };
}

/** The node info reads. */
export function prepareInfo(site: Site, name: string): NodeSpec {
  return selectNodes(site, [name], false)[0]!;
}

export async function runInfo(site: Site, node: NodeSpec, watch?: BmcWatch): Promise<InfoDoc> {
  const [r] = await onNodes(site, [node], async (b) => ({ power: await b.powerStatus(), boot: await b.getBootDevice().catch(() => undefined), identity: await b.identity() }), { watch });
  if (!r!.ok) throw r!.error ?? new KseedError(`${node.name}: info failed`);
  const v = r!.value!;
  return { node: node.name, bmc: r!.bmc, power: v.power, ...(v.boot ? { boot: v.boot } : {}), identity: v.identity, ms: r!.ms };
}
