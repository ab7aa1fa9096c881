/**
 * createLab: the virtual rack as a whole (destroyLab is down.ts, labStatus
 * status.ts), and what the three share: the lab lock, root, the BMC password.
 *
 * Order matters for crash safety: the manifest is written before anything it
 * lists is created, so destroyLab can always find and remove what a killed
 * `lab up` left behind; destroyLab also finds processes by the lab directory
 * on their command line and by membership of the lab's netns, in case a PID
 * file was never written.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { InputError, KseedError } from '../errors.js';
import type { ImageSpec } from '../site/types.js';
import { bmcPid, startBmc, stopBmc, udpPortBusy, writeBmcFiles } from './bmc.js';
import {
  type LabManifest,
  type LabNodeManifest,
  labDir,
  listLabs,
  MANIFEST_VERSION,
  passwordPath,
  readManifest,
  writeManifest,
} from './manifest.js';
import {
  BRIDGE,
  bmcMac,
  bmcPort,
  checkLabName,
  DEFAULT_BMC_PORT_BASE,
  DEFAULT_LAB_NAME,
  diskSerial,
  labNetworkFor,
  MAX_NICS,
  MAX_NODES,
  netnsName,
  nicMac,
  nicTapName,
  nodeMac,
  nodeName,
  tapName,
} from './names.js';
import { deleteLink, deleteTap, ensureBridge, ensureNetns, ensureTap, ensureVlan } from './net.js';
import { LAB_VLAN, labNodeAddresses, labVlanIface, seedVlanAddresses } from './static-net.js';
import { sizedNode, stopVm, vmInput, type NodeSizing } from './node.js';
import { liveCmdline, readPidFile } from './proc.js';
import { recordLabResources } from './resources.js';
import { writeLabSite, checkSiteWritable } from './site.js';
import { requireTool, which } from '../util/tools.js';
import { labTools, type LabTools } from './tools.js';
import { MAX_SIM_NODES, prepareSimNode, removeSimNode, simulatorPid, startSimulator } from './sim/lab.js';
import { simNetnsName, simPortName } from './sim/net.js';
import { checkUefiFirmware, createDisk, createUefiVars, type Firmware, renderVmScript } from './vm.js';
import { ensureLabCert } from './redfish/cert.js';
import { startRedfish, stopRedfish } from './redfish/run.js';

export interface CreateLabOptions extends NodeSizing {
  /** `.kseed/` directory: the lab goes to `<stateDir>/lab/<name>/`. */
  stateDir: string;
  name?: string;
  /** Total nodes; unset = as the existing lab, else 2. */
  nodes?: number;
  /** How many of them (the last ones) boot UEFI (OVMF); unset = as the existing lab, else 0. */
  uefiNodes?: number;
  /** UEFI nodes boot by OVMF's own HTTP boot (no iPXE ROM, PXE off: vm.ts); unset = as the existing lab, else off. */
  uefiHttpBoot?: boolean;
  diskGb?: number;
  memoryMb?: number;
  bmcPortBase?: number;
  /** Extra disks per node (Ceph OSD data devices), 0-9; unset = as the existing lab, else 0. */
  dataDisks?: number;
  dataDiskGb?: number;
  /** NICs per node, 1-4, all on the lab bridge; the first network-boots. Unset = as the existing lab, else 1. */
  nics?: number;
  /** A bond of each node's NICs and a VLAN on it, with fixed addresses, in the site file (static-net.ts). Unset = as the existing lab. */
  staticNetwork?: boolean;
  /**
   * Machines on the lab network with a BMC but NOT in the site file, numbered
   * after the listed ones (BIOS): the unknown MACs of the safety tests.
   */
  unlistedNodes?: number;
  /** `defaults.image` of the lab site file; unset = as the existing lab, else `defaultImage`'s. */
  image?: ImageSpec;
  /**
   * The image of a lab that has none yet and was given none, called with the
   * seed's IPv4 address once every option is checked (it may build for a minute).
   */
  defaultImage?: (seedIpv4: string) => Promise<ImageSpec | undefined>;
  /** `engine:` of the lab site file; unset = as the existing lab, else embedded. */
  engine?: 'embedded' | 'ironic';
  /** Simulated nodes (src/lab/sim/) instead of QEMU VMs; unset = as the existing lab, else VMs. */
  sim?: boolean;
  /** Seed address on the lab bridge, IPv4/prefix. */
  address?: string;
  /** BMC kind: ipmi (ipmi_sim per node) or redfish (kseed's lab Redfish service); unset = as the existing lab, else ipmi. */
  bmc?: 'ipmi' | 'redfish';
  /** Lab site file to write; undefined = none. */
  siteFile?: string;
  progress?: (msg: string) => void;
}

export interface LabNodeResult extends LabNodeManifest {
  bmcPid: number;
  /** True when this run created the disk (false: an existing disk was kept). */
  diskCreated: boolean;
}

export interface CreateLabResult {
  name: string;
  netns: string;
  bridge: string;
  address: string;
  dir: string;
  manifest: string;
  siteFile?: string;
  /** defaults.image of the lab site file; null: none yet (nodes can be enrolled, not deployed). */
  image: ImageSpec | null;
  passwordFile: string;
  /** What answers on each node's BMC port. */
  bmc: 'ipmi' | 'redfish';
  nodes: LabNodeResult[];
  removedNodes: string[];
  /** With --static-network: the seed's interface on the nodes' VLAN, or null when the kernel cannot make one. */
  seedVlan?: string | null;
  ms: number;
}

const DEFAULT_NODES = 2;
const DEFAULT_DISK_GB = 10;
const DEFAULT_DATA_DISK_GB = 5;
/** Enough for the deploy ramdisk and a Debian test OS; TCG RSS stays ~250 MB regardless (lab.md 0). */
const DEFAULT_MEMORY_MB = 1024;
const PASSWORD_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new KseedError(`${what} needs root (network namespaces, taps)`, { code: 'needs-root' });
  }
}

function intOption(value: number | undefined, field: string, min: number, max: number, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new InputError(`bad --${field} ${String(value)}`, [{ file: '<command line>', path: field, message: `must be an integer ${min}..${max}` }]);
  }
  return v;
}

/** 16 characters: IPMI 1.5 (MD5) passwords are at most 16 bytes. No quotes or spaces, which lan.conf could not carry. */
function generatePassword(): string {
  const bytes = randomBytes(16);
  return [...bytes].map((b) => PASSWORD_ALPHABET[b % PASSWORD_ALPHABET.length]).join('');
}

export function readLabPassword(file: string): string | undefined {
  try {
    const p = readFileSync(file, 'utf8').trim();
    return p || undefined;
  } catch {
    return undefined;
  }
}

function ensurePassword(file: string): string {
  const existing = readLabPassword(file);
  if (existing) {
    chmodSync(file, 0o600);
    return existing;
  }
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const pw = generatePassword();
  // O_EXCL: two concurrent `lab up` must not end with two passwords
  try {
    const fd = openSync(file, 'wx', 0o600);
    writeFileSync(fd, `${pw}\n`);
    closeSync(fd);
    return pw;
  } catch {
    const again = readLabPassword(file);
    if (again) return again;
    throw new KseedError(`could not write the lab BMC password file ${file}`, { code: 'write-failed' });
  }
}

function checkImage(i: ImageSpec): ImageSpec {
  const problems = [];
  if (!/^(https?|file):\/\/\S+$/.test(i.url)) problems.push({ file: '<command line>', path: 'image-url', message: 'expected an http://, https:// or file:// URL' });
  if (!/^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/.test(i.checksum)) {
    problems.push({ file: '<command line>', path: 'image-checksum', message: 'expected sha256:<64 hex> or sha512:<128 hex>' });
  }
  if (problems.length) throw new InputError('bad image for the lab site file', problems);
  return i;
}

/** lan.conf and popen() take these paths unquoted. */
function checkPath(p: string): void {
  if (/[\s"'\\$`]/.test(p)) {
    throw new InputError(`the lab directory ${p} contains a space or quote`, [
      { file: p, message: 'ipmi_sim cannot run programs from such a path; use a state directory without spaces or quotes' },
    ]);
  }
}

/** A lock per lab, so two `lab up`/`lab down` on one lab never interleave; a dead holder's lock is taken over. */
export async function withLabLock<T>(stateDir: string, name: string, fn: () => Promise<T>): Promise<T> {
  const lockDir = path.join(path.resolve(stateDir), 'lab');
  mkdirSync(lockDir, { recursive: true });
  const lock = path.join(lockDir, `.${name}.lock`);
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx', 0o600);
      writeFileSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch {
      const holder = readPidFile(lock);
      if (holder === undefined || liveCmdline(holder) === undefined) {
        rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new KseedError(`lab ${name} is locked by process ${holder}`, { code: 'locked' });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

/**
 * First base from 6230 up, in steps of 100, whose ports no other lab in this
 * state dir claims and nothing holds now: a second lab needs no
 * --bmc-port-base. `span` ports are reserved so the lab can grow.
 */
async function freePortBase(stateDir: string, self: string, span: number): Promise<number> {
  const claimed = listLabs(stateDir)
    .filter((l) => l !== self)
    .flatMap((l) => {
      try {
        const m = readManifest(stateDir, l);
        return m ? [[m.bmcPortBase, m.bmcPortBase + span] as const] : [];
      } catch {
        return [];
      }
    });
  for (let base = DEFAULT_BMC_PORT_BASE; base + span < 65535; base += 100) {
    if (claimed.some(([lo, hi]) => base < hi && lo < base + span)) continue;
    let free = true;
    for (let p = base; p < base + 8 && free; p++) free = !(await udpPortBusy(p));
    if (free) return base;
  }
  throw new KseedError('no free BMC port range found; pass --bmc-port-base', { code: 'port-busy' });
}

interface NodePlan {
  lab: string;
  dir: string;
  index: number;
  firmware: Firmware;
  base: number;
  diskGb: number;
  memoryMb: number;
  dataDisks: number;
  dataDiskGb: number;
  nics: number;
  listed: boolean;
  sim: string | undefined;
  prev: LabNodeManifest | undefined;
}

function planNode(p: NodePlan): LabNodeManifest {
  const name = nodeName(p.index);
  const nodeDir = path.join(p.dir, 'nodes', name);
  // an existing disk keeps its size: it may hold a deployed OS
  const keptSize = (file: string, want: number, prevSize: number | undefined) =>
    prevSize !== undefined && existsSync(path.join(nodeDir, file)) ? prevSize : want;
  return {
    name,
    index: p.index,
    dir: nodeDir,
    firmware: p.firmware,
    mac: nodeMac(p.lab, p.index),
    tap: p.sim ? simPortName(p.index) : tapName(p.index),
    ...(p.nics > 1 ? { extraNics: Array.from({ length: p.nics - 1 }, (_, k) => ({ mac: nicMac(p.lab, p.index, k + 1), tap: nicTapName(p.index, k + 1) })) } : {}),
    memoryMb: p.memoryMb,
    bmc: { address: '127.0.0.1', port: bmcPort(p.base, p.index), username: 'admin', mac: bmcMac(p.lab, p.index) },
    disk: {
      path: path.join(nodeDir, p.sim ? 'disk.img' : 'disk.qcow2'),
      sizeGb: keptSize(p.sim ? 'disk.img' : 'disk.qcow2', p.diskGb, p.prev?.disk.sizeGb),
      serial: diskSerial(p.lab, p.index),
    },
    dataDisks: Array.from({ length: p.dataDisks }, (_, k) => ({
      path: path.join(nodeDir, `data${k + 1}.qcow2`),
      sizeGb: keptSize(`data${k + 1}.qcow2`, p.dataDiskGb, p.prev?.dataDisks?.[k]?.sizeGb),
      serial: diskSerial(p.lab, p.index, k + 1),
    })),
    listed: p.listed,
    serialLog: path.join(nodeDir, 'serial.log'),
    ...(p.sim ? { sim: { netns: simNetnsName(p.sim, p.index) } } : {}),
  };
}

/**
 * Creates the lab, or converges an existing one to the requested shape: netns + bridge + taps,
 * per node its files, disk and a running BMC; VMs stay powered off (the BMCs power them on). Safe to run again.
 */
export async function createLab(o: CreateLabOptions): Promise<CreateLabResult> {
  requireRoot('kseed lab up');
  const t0 = Date.now();
  const name = checkLabName(o.name ?? DEFAULT_LAB_NAME);
  const say = o.progress ?? (() => undefined);
  const tools = labTools();
  const stateDir = path.resolve(o.stateDir);
  const dir = labDir(stateDir, name);
  checkPath(dir);
  if (o.siteFile) checkSiteWritable(o.siteFile, name);

  return withLabLock(stateDir, name, async () => {
    const prev = readManifest(stateDir, name);
    const sim = o.sim ?? prev?.sim ?? false;
    if (prev && Boolean(prev.sim) !== sim) {
      throw new InputError(`lab ${name} has ${prev.sim ? 'simulated' : 'QEMU'} nodes: \`kseed lab down\` it before making it ${sim ? 'simulated' : 'QEMU'}`, [
        { file: '<command line>', path: 'sim', message: 'a lab is all simulated or all QEMU' },
      ]);
    }
    const maxNodes = sim ? MAX_SIM_NODES : MAX_NODES;
    const count = intOption(o.nodes, sim ? 'sim' : 'nodes', 1, maxNodes, prev ? prev.nodes.filter((n) => n.listed !== false).length : DEFAULT_NODES);
    const uefi = intOption(o.uefiNodes, 'uefi-nodes', 0, count, prev ? Math.min(count, prev.nodes.filter((n) => n.firmware === 'uefi' && n.listed !== false).length) : 0);
    const diskGb = intOption(o.diskGb, 'disk-gb', 1, 4096, prev?.nodes[0]?.disk.sizeGb ?? DEFAULT_DISK_GB);
    const memoryMb = intOption(o.memoryMb, 'memory-mb', 128, 65536, prev?.nodes[0]?.memoryMb ?? DEFAULT_MEMORY_MB);
    const base = intOption(o.bmcPortBase, 'bmc-port-base', 1024, 65535 - maxNodes, prev?.bmcPortBase ?? (await freePortBase(stateDir, name, maxNodes)));
    if (uefi > 0 && !sim) checkUefiFirmware();

    const dataDisks = intOption(o.dataDisks, 'data-disks', 0, 9, prev?.nodes[0]?.dataDisks?.length ?? 0);
    const dataDiskGb = intOption(o.dataDiskGb, 'data-disk-gb', 1, 4096, prev?.nodes[0]?.dataDisks?.[0]?.sizeGb ?? DEFAULT_DATA_DISK_GB);
    const nics = intOption(o.nics, 'nics', 1, MAX_NICS, prev ? 1 + (prev.nodes[0]?.extraNics?.length ?? 0) : 1);
    const staticNetwork = o.staticNetwork ?? prev?.staticNetwork ?? false;
    const bmcKind = o.bmc ?? (prev?.bmcKind ?? 'ipmi');
    if (bmcKind !== 'ipmi' && bmcKind !== 'redfish') {
      throw new InputError(`bad --bmc ${String(bmcKind)}`, [{ file: '<command line>', path: 'bmc', message: 'ipmi or redfish' }]);
    }
    // the simulator's power follows ipmi_sim's chassis script; virtual media has no simulated client
    if (sim && bmcKind === 'redfish') {
      throw new InputError(`lab ${name}: simulated nodes have ipmi_sim BMCs, not --bmc redfish`, [{ file: '<command line>', path: 'bmc', message: 'ipmi with --sim' }]);
    }
    if (bmcKind === 'redfish') requireTool('curl', 'the lab Redfish BMC fetches virtual media with it');
    const unlisted = intOption(o.unlistedNodes, 'unlisted-nodes', 0, maxNodes - count, prev ? prev.nodes.filter((n) => n.listed === false).length : 0);
    const network = labNetworkFor(count, o.address, prev?.network);
    let image = o.image ? checkImage(o.image) : prev?.image;
    if (!image && o.defaultImage) {
      const d = await o.defaultImage(network.ipv4);
      if (d) image = checkImage(d);
    }

    const nodes: LabNodeManifest[] = [];
    for (let i = 0; i < count + unlisted; i++) {
      const listed = i < count;
      const fw: Firmware = listed && i >= count - uefi ? 'uefi' : 'bios';
      const node = sizedNode(planNode({ lab: name, dir, index: i, firmware: fw, base, diskGb, memoryMb, dataDisks, dataDiskGb, nics, listed, sim: sim ? netnsName(name) : undefined, prev: prev?.nodes[i] }), o.nodeSize);
      nodes.push(staticNetwork && listed ? { ...node, addresses: labNodeAddresses(network, i) } : node);
    }
    const removed = (prev?.nodes ?? []).filter((n) => n.index >= nodes.length);
    const now = new Date().toISOString();
    const manifest: LabManifest = {
      version: MANIFEST_VERSION,
      name,
      netns: netnsName(name),
      bridge: BRIDGE,
      network,
      dir,
      stateDir,
      passwordFile: passwordPath(stateDir, name),
      bmcPortBase: base,
      ...(bmcKind === 'redfish' ? { bmcKind } : {}),
      ...(o.siteFile ? { siteFile: path.resolve(o.siteFile) } : prev?.siteFile ? { siteFile: prev.siteFile } : {}),
      ...(image ? { image } : {}),
      ...(o.engine ? { engine: o.engine } : prev?.engine ? { engine: prev.engine } : {}),
      ...(staticNetwork ? { staticNetwork } : {}),
      ...((o.uefiHttpBoot ?? prev?.uefiHttpBoot) ? { uefiHttpBoot: true } : {}),
      ...(sim ? { sim } : {}),
      createdAt: prev?.createdAt ?? now,
      updatedAt: now,
      // removed nodes stay listed until they are gone, so a crash in between loses nothing
      nodes: [...nodes, ...removed],
    };
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeManifest(manifest);
    recordLabResources(manifest);

    const password = ensurePassword(manifest.passwordFile);

    say(`lab ${name}: network ${manifest.netns} / ${BRIDGE} ${network.ipv4}/${network.prefix}`);
    await ensureNetns(tools.ip, manifest.netns);
    await ensureBridge(tools.ip, manifest.netns, BRIDGE, network);
    for (const n of nodes) {
      if (sim) continue; // their wires come with the rest of a simulated node, below
      await ensureTap(tools.ip, manifest.netns, BRIDGE, n.tap);
      for (const x of n.extraNics ?? []) await ensureTap(tools.ip, manifest.netns, BRIDGE, x.tap);
      // fewer NICs than before: the surplus taps go with them
      for (let k = nics; k < MAX_NICS; k++) await deleteTap(tools.ip, manifest.netns, nicTapName(n.index, k));
    }
    const vlanDev = labVlanIface(BRIDGE);
    delete manifest.seedVlan;
    if (!staticNetwork) await deleteLink(tools.ip, manifest.netns, vlanDev);
    else if (await ensureVlan(tools.ip, manifest.netns, BRIDGE, vlanDev, LAB_VLAN, Object.values(seedVlanAddresses()))) manifest.seedVlan = vlanDev;
    else say(`lab ${name}: this kernel has no 802.1Q (8021q): the seed is not on VLAN ${LAB_VLAN}; the nodes still reach each other on it`);

    for (const n of removed) {
      say(`lab ${name}: removing ${n.name}`);
      await removeNode(tools, manifest, n);
    }
    manifest.nodes = nodes;
    writeManifest(manifest);

    const results: LabNodeResult[] = [];
    const created = new Map<string, boolean>();
    for (const n of nodes) {
      mkdirSync(n.dir, { recursive: true, mode: 0o700 });
      writeBmcFiles(name, n, password);
      if (sim) {
        created.set(n.name, await prepareSimNode(tools.ip, manifest, n));
        continue;
      }
      const vmFile = path.join(n.dir, 'vm.sh');
      writeFileSync(vmFile, renderVmScript(vmInput(manifest, n, tools)), { mode: 0o755 });
      chmodSync(vmFile, 0o755);
      created.set(n.name, (await createDisk(tools.qemuImg, n.disk.path, n.disk.sizeGb)) === 'created');
      for (const dd of n.dataDisks) await createDisk(tools.qemuImg, dd.path, dd.sizeGb);
      // fewer data disks than before: the surplus is no longer attached, so it goes
      for (let k = n.dataDisks.length + 1; k <= 9; k++) rmSync(path.join(n.dir, `data${k}.qcow2`), { force: true });
      if (n.firmware === 'uefi') await createUefiVars(path.join(n.dir, 'OVMF_VARS.fd'));
    }
    const bmcPids = bmcKind === 'redfish' ? await startRedfishBmcs(manifest, say) : await startIpmiBmcs(manifest, tools, password, say);
    nodes.forEach((n, i) => results.push({ ...n, bmcPid: bmcPids[i]!, diskCreated: created.get(n.name) ?? false }));

    // a running simulator keeps its nodes' power unless the set of nodes changed
    const sameNodes = prev !== undefined && prev.nodes.map((n) => n.name).join() === nodes.map((n) => n.name).join();
    if (sim && !(sameNodes && simulatorPid(dir) !== undefined)) {
      say(`lab ${name}: starting the simulator of ${nodes.length} node(s)`);
      await startSimulator(manifest);
    }
    recordLabResources(manifest, Object.fromEntries(results.map((n) => [n.name, n.bmcPid])));
    if (manifest.siteFile) {
      writeLabSite(manifest.siteFile, manifest);
      say(`lab ${name}: site file ${manifest.siteFile}`);
    }
    return {
      name,
      netns: manifest.netns,
      bridge: BRIDGE,
      address: `${network.ipv4}/${network.prefix}`,
      dir,
      manifest: path.join(dir, 'manifest.json'),
      ...(manifest.siteFile ? { siteFile: manifest.siteFile } : {}),
      image: manifest.image ?? null,
      passwordFile: manifest.passwordFile,
      bmc: bmcKind,
      nodes: results,
      removedNodes: removed.map((n) => n.name),
      ...(staticNetwork ? { seedVlan: manifest.seedVlan ?? null } : {}),
      ms: Date.now() - t0,
    };
  });
}

/** One ipmi_sim per node (and no Redfish process: the lab may have had one); their PIDs, in node order. */
async function startIpmiBmcs(m: LabManifest, tools: LabTools, password: string, say: (msg: string) => void): Promise<number[]> {
  const nodes = m.nodes;
  await stopRedfish(m.dir);
  say(`lab ${m.name}: starting ${nodes.length} BMC(s) on 127.0.0.1:${m.bmcPortBase}-${m.bmcPortBase + nodes.length - 1}`);
  const started = await Promise.allSettled(nodes.map((n) => startBmc(n, { ipmiSim: tools.ipmiSim, ipmitool: tools.ipmitool, password })));
  const failed = started.flatMap((s, i) => (s.status === 'rejected' ? [`${nodes[i]!.name}: ${(s.reason as Error).message}${(s.reason as KseedError).detail ? `\n${(s.reason as KseedError).detail}` : ''}`] : []));
  if (failed.length > 0) {
    throw new KseedError(`lab ${m.name}: ${failed.length} BMC(s) did not start`, { detail: failed.join('\n'), code: 'bmc-start' });
  }
  return started.map((s) => (s as PromiseFulfilledResult<{ pid: number }>).value.pid);
}

/** One Redfish process serves every node (and no ipmi_sim runs: the lab may have had them); its PID for each node. */
async function startRedfishBmcs(m: LabManifest, say: (msg: string) => void): Promise<number[]> {
  for (const n of m.nodes) await stopBmc(n);
  const cert = await ensureLabCert(m.stateDir, m.name);
  say(`lab ${m.name}: starting ${m.nodes.length} Redfish BMC(s) on https://127.0.0.1:${m.bmcPortBase}-${m.bmcPortBase + m.nodes.length - 1}`);
  const { pid } = await startRedfish(m, cert.cert);
  return m.nodes.map(() => pid);
}

export async function removeNode(tools: LabTools, m: LabManifest, n: LabNodeManifest): Promise<void> {
  await stopBmc(n);
  await stopVm(n);
  if (n.sim) await removeSimNode(tools.ip, m, n);
  await deleteTap(tools.ip, m.netns, n.tap);
  for (const x of n.extraNics ?? []) await deleteTap(tools.ip, m.netns, x.tap);
  rmSync(n.dir, { recursive: true, force: true });
}
