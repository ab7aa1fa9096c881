/**
 * The lab manifest: everything a lab consists of, written BEFORE any of it is
 * created, so `lab down` after a crash at any point still knows what to
 * remove. Runtime facts (PIDs) live in PID files in the node directories,
 * because the BMC's chassis script, not kseed, starts and stops the VMs.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KseedError } from '../errors.js';
import type { Firmware } from './vm.js';
import type { LabNetwork } from './names.js';
import type { ImageSpec } from '../site/types.js';
import type { LabNodeAddresses } from './static-net.js';

export const MANIFEST_VERSION = 1;

export interface LabDisk {
  path: string;
  sizeGb: number;
  /** virtio-blk serial (/sys/block/vdX/serial): what a root-device hint selects. */
  serial: string;
}

export interface LabNodeManifest {
  name: string;
  index: number;
  /** Absolute node directory: BMC config, vm.sh, disk, serial log, PID files. */
  dir: string;
  firmware: Firmware;
  /** The PXE NIC. */
  mac: string;
  tap: string;
  /** NICs after the PXE one, on the same bridge; no boot ROM. */
  extraNics?: { mac: string; tap: string }[];
  /** With a static network: the node's fixed addresses (bond, VLAN). */
  addresses?: LabNodeAddresses;
  memoryMb: number;
  /** vCPUs (QEMU -smp); unset = 1 */
  cpus?: number;
  bmc: { address: '127.0.0.1'; port: number; username: string; mac: string };
  /** Boot/root disk (bootindex after the NIC unless IPMI set bootdev disk). */
  disk: LabDisk;
  /** Extra disks (e.g. Ceph OSD data devices); never boot devices. */
  dataDisks: LabDisk[];
  /**
   * False for a machine that is on the lab network and has a BMC but is NOT
   * in the lab site file: the "unknown MAC" of the safety tests.
   */
  listed: boolean;
  /** Serial console of the VM (appended across power cycles). */
  serialLog: string;
  /** A simulated node (src/lab/sim/): no VM; its own netns, whose eth0 pairs with `tap` on the bridge. */
  sim?: { netns: string };
}

export interface LabManifest {
  version: number;
  name: string;
  netns: string;
  bridge: string;
  network: LabNetwork;
  /** Absolute lab directory (`<stateDir>/lab/<name>`). */
  dir: string;
  stateDir: string;
  /** 0600 file with the BMC password shared by the lab's BMCs. */
  passwordFile: string;
  bmcPortBase: number;
  /** The BMC kind of every node: ipmi_sim per node (unset), or one Redfish process for all (src/lab/redfish). */
  bmcKind?: 'redfish';
  /** OS image for `defaults.image` of the lab site file (the seed serves it). */
  image?: ImageSpec;
  /** Nodes get a bond of their NICs and a VLAN with fixed addresses (static-net.ts). */
  staticNetwork?: boolean;
  /** The seed's VLAN sub-interface when the kernel could make one (static-net.ts). */
  seedVlan?: string;
  /** UEFI nodes boot with OVMF's own HTTP boot instead of the NIC's iPXE ROM (vm.ts httpBoot). */
  uefiHttpBoot?: boolean;
  /** Simulated nodes (`lab up --sim N`): one simulator process instead of QEMU VMs. */
  sim?: boolean;
  /** `engine:` of the lab site file (default embedded). */
  engine?: 'embedded' | 'ironic';
  /** Lab site file written by `lab up`, removed by `lab down` if still ours. */
  siteFile?: string;
  createdAt: string;
  updatedAt: string;
  nodes: LabNodeManifest[];
}

export function labDir(stateDir: string, lab: string): string {
  return path.join(path.resolve(stateDir), 'lab', lab);
}

export function manifestPath(stateDir: string, lab: string): string {
  return path.join(labDir(stateDir, lab), 'manifest.json');
}

export function passwordPath(stateDir: string, lab: string): string {
  return path.join(path.resolve(stateDir), 'secrets', `lab-${lab}.bmc-password`);
}

export function readManifest(stateDir: string, lab: string): LabManifest | undefined {
  const file = manifestPath(stateDir, lab);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  return parseManifest(text, file);
}

export function parseManifest(text: string, file = 'manifest.json'): LabManifest {
  let m: LabManifest;
  try {
    m = JSON.parse(text) as LabManifest;
  } catch (e) {
    throw new KseedError(`lab manifest ${file} is not valid JSON`, { detail: String(e), code: 'bad-state' });
  }
  if (m?.version !== MANIFEST_VERSION || typeof m.name !== 'string' || !Array.isArray(m.nodes)) {
    throw new KseedError(`lab manifest ${file} has an unknown format (version ${String(m?.version)})`, { code: 'bad-state' });
  }
  return m;
}

/** Atomic: a crash leaves the old or the new manifest, never half of one. */
export function writeManifest(m: LabManifest): void {
  mkdirSync(m.dir, { recursive: true });
  const file = path.join(m.dir, 'manifest.json');
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(m, null, 2)}\n`);
  renameSync(tmp, file);
}

/** Names of the labs under a state directory. */
export function listLabs(stateDir: string): string[] {
  const root = path.join(path.resolve(stateDir), 'lab');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((e) => !e.startsWith('.') && existsSync(path.join(root, e, 'manifest.json')))
    .sort();
}
