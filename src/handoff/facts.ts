/**
 * What the hand-off knows about each node: its address, NICs and disks.
 * Inspection data is read from the state store: `nodes.data.inventory`,
 * the JSON the deploy ramdisk posts (docs/AGENT-API.md, POST .../inventory:
 * {cpus, memory_mib, disks[], nics[], boot_mode}). Without it, values come
 * from the site file and are recorded as assumptions for the user to check.
 */
import type { StateStore, NodeRecord } from '../engine/state.js';
import { chooseRootDevice, type Disk } from '../engine/rootdevice.js';
import type { HardwareProfile } from '../profiles/schema.js';
import { provisioningAddress } from '../site/network.js';
import type { NodeSpec, RootDeviceHint, Site } from '../site/types.js';

export interface InventoryNic {
  name: string;
  mac: string;
  link?: boolean;
}

export interface NodeInventory {
  disks: Disk[];
  nics: InventoryNic[];
}

export type AddressSource = 'state' | 'lease' | 'site' | 'none';

export interface NodeFacts {
  spec: NodeSpec;
  record?: NodeRecord;
  address?: string;
  addressSource: AddressSource;
  inventory?: NodeInventory;
  /** The root disk the node's hint selects in its inventory (never an OSD). */
  rootDisk?: Disk;
  rootProblem?: string;
}

/** An assumed value: what, for which node, and why. */
export interface Assumption {
  node?: string;
  setting: string;
  value: string;
  reason: string;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Tolerant read of a stored inventory: malformed entries are dropped, not fatal. */
export function inventoryOf(data: Record<string, unknown>): NodeInventory | undefined {
  const inv = data.inventory;
  if (!isObj(inv) || !Array.isArray(inv.disks) || !Array.isArray(inv.nics)) return undefined;
  const disks: Disk[] = [];
  for (const d of inv.disks) {
    if (!isObj(d) || typeof d.name !== 'string' || typeof d.size_bytes !== 'number') continue;
    const s = (k: string) => (typeof d[k] === 'string' && d[k] !== '' ? (d[k] as string) : undefined);
    disks.push({
      name: d.name.replace(/^\/dev\//, ''),
      size_bytes: d.size_bytes,
      model: s('model'),
      vendor: s('vendor'),
      serial: s('serial'),
      wwn: s('wwn'),
      hctl: s('hctl'),
      by_path: s('by_path'),
      rotational: typeof d.rotational === 'boolean' ? d.rotational : undefined,
    });
  }
  const nics: InventoryNic[] = [];
  for (const n of inv.nics) {
    if (!isObj(n) || typeof n.name !== 'string' || typeof n.mac !== 'string') continue;
    nics.push({ name: n.name, mac: n.mac.toLowerCase(), link: typeof n.link === 'boolean' ? n.link : undefined });
  }
  return { disks, nics };
}

export function rootHintOf(spec: NodeSpec, profiles: readonly HardwareProfile[], record?: NodeRecord): RootDeviceHint | undefined {
  if (spec.root_device) return spec.root_device;
  const pname = spec.profile ?? record?.profile ?? undefined;
  return profiles.find((p) => p.name === pname)?.root_device;
}

export function gatherFacts(site: Site, state: StateStore | undefined, profiles: readonly HardwareProfile[]): NodeFacts[] {
  return site.nodes.map((spec) => {
    const record = state?.getNode(spec.name);
    let address: string | undefined;
    let addressSource: AddressSource = 'none';
    if (record?.ip) {
      address = record.ip;
      addressSource = 'state';
    } else if (state) {
      // a bound lease of any of the node's MACs: the address its OS got
      for (const mac of spec.macs) {
        const l = state.getLease(mac);
        if (l && l.state === 'bound') {
          address = l.ip;
          addressSource = 'lease';
          break;
        }
      }
    }
    if (!address && spec.ip) {
      address = spec.ip;
      addressSource = 'site';
    }
    // a fixed address the site file's network puts on the PXE interface is what the OS has there (no DHCP on it)
    const fixed = provisioningAddress(spec.network, spec.macs[0]);
    if (fixed) {
      address = fixed;
      addressSource = 'site';
    }
    const f: NodeFacts = { spec, record, address, addressSource };
    const inv = record ? inventoryOf(record.data) : undefined;
    if (inv) {
      f.inventory = inv;
      const choice = chooseRootDevice(inv.disks, rootHintOf(spec, profiles, record));
      if (choice.ok) f.rootDisk = choice.disk;
      else f.rootProblem = choice.reason;
    }
    return f;
  });
}
