/**
 * Runtime view of a lab node: is its VM running, where is its console, what
 * boot device did IPMI set. The VM is started by the BMC's chassis script,
 * so this reads the same PID files that script writes.
 */
import { appendFileSync, closeSync, existsSync, openSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { InputError, KseedError } from '../errors.js';
import { startDetached } from '../util/spawn.js';
import type { LabManifest, LabNodeManifest } from './manifest.js';
import { requireTool } from '../util/tools.js';
import { directBootArgv, type VmInput } from './vm.js';
import { findByMarker, isOurs, liveCmdline, readPidFile, terminate } from './proc.js';
import { SOL_RELAY_ENTRY } from './sol-relay.js';

export interface NodeSizing {
  /** Memory (MiB) and vCPUs of single nodes by name, over the lab's memoryMb and 1 vCPU (a Ceph monitor among small nodes). */
  nodeSize?: Record<string, { memoryMb?: number; cpus?: number }>;
}

/** The node with the size its name is given in `nodeSize`, if any. */
export function sizedNode(node: LabNodeManifest, nodeSize: NodeSizing['nodeSize']): LabNodeManifest {
  const s = nodeSize?.[node.name];
  if (!s) return node;
  const check = (v: number | undefined, field: string, min: number, max: number) => {
    if (v !== undefined && (!Number.isInteger(v) || v < min || v > max)) {
      throw new InputError(`bad ${field} ${String(v)} for ${node.name}`, [{ file: '<command line>', path: `nodeSize.${node.name}.${field}`, message: `must be an integer ${min}..${max}` }]);
    }
  };
  check(s.memoryMb, 'memoryMb', 128, 65536);
  check(s.cpus, 'cpus', 1, 8);
  return { ...node, ...(s.memoryMb ? { memoryMb: s.memoryMb } : {}), ...(s.cpus && s.cpus > 1 ? { cpus: s.cpus } : {}) };
}

export function nodeFile(node: Pick<LabNodeManifest, 'dir'>, name: string): string {
  return path.join(node.dir, name);
}

/** Every process of this node's VM has the node directory on its command line (vm.sh, ip netns exec, qemu). */
export function vmMarker(node: Pick<LabNodeManifest, 'dir'>): string {
  return `${node.dir}/`;
}

/** PID of the running VM (QEMU, or vm.sh just before it execs QEMU), if powered on. */
export function vmPid(node: Pick<LabNodeManifest, 'dir'>): number | undefined {
  const marker = vmMarker(node);
  for (const f of ['vm.pid', 'qemu.pid']) {
    const pid = readPidFile(nodeFile(node, f));
    if (isOurs(pid, marker)) return pid;
  }
  return undefined;
}

export function powerState(node: Pick<LabNodeManifest, 'dir'>): 'on' | 'off' {
  return vmPid(node) === undefined ? 'off' : 'on';
}

/**
 * Last line QEMU (or vm.sh) printed that is not the normal "terminating on
 * signal" of a power off: why a power on did not stick (missing firmware,
 * tap busy...).
 */
export function vmLastError(node: Pick<LabNodeManifest, 'dir'>): string | undefined {
  try {
    const lines = readFileSync(nodeFile(node, 'vm.out'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/terminating on signal/.test(l));
    return lines.at(-1);
  } catch {
    return undefined;
  }
}

/** What `ipmitool chassis bootdev` last set: none|pxe|default(disk)|cdrom|bios. */
export function bootDevice(node: Pick<LabNodeManifest, 'dir'>): string {
  try {
    return readFileSync(nodeFile(node, 'boot'), 'utf8').trim() || 'none';
  } catch {
    return 'none';
  }
}

export function powerOnCount(node: Pick<LabNodeManifest, 'dir'>): number {
  try {
    return Number.parseInt(readFileSync(nodeFile(node, 'boots'), 'utf8'), 10) || 0;
  } catch {
    return 0;
  }
}

/**
 * Stops the VM behind the BMC's back (lab down, crash recovery): the PID
 * files first, then any process still naming the node directory.
 */
export async function stopVm(node: Pick<LabNodeManifest, 'dir'>): Promise<number[]> {
  const marker = vmMarker(node);
  const pids = new Set<number>();
  for (const f of ['vm.pid', 'qemu.pid']) {
    const p = readPidFile(nodeFile(node, f));
    if (p !== undefined) pids.add(p);
  }
  // ipmi_sim (lan.conf), its helper programs and the SOL relay name the node dir too: they are not the VM
  const notVm = [...['lan.conf', 'chassis.sh', 'lanctl.sh'].map((f) => nodeFile(node, f)), SOL_RELAY_ENTRY];
  const isVm = (p: number) => {
    const cmd = liveCmdline(p);
    return cmd !== undefined && cmd.includes(marker) && !notVm.some((m) => cmd.includes(m));
  };
  for (const p of findByMarker(marker)) if (isVm(p)) pids.add(p);
  return terminate([...pids], isVm, 3000);
}

/** Serial console text from byte `from` on (the log is appended across power-ons). */
export function readSerial(node: Pick<LabNodeManifest, 'serialLog'>, from = 0): string {
  try {
    const buf = readFileSync(node.serialLog);
    return buf.subarray(from).toString('latin1');
  } catch {
    return '';
  }
}

export function serialSize(node: Pick<LabNodeManifest, 'serialLog'>): number {
  try {
    return existsSync(node.serialLog) ? statSync(node.serialLog).size : 0;
  } catch {
    return 0;
  }
}

/**
 * Waits until the serial console (from byte `from`) matches `re`; resolves
 * with the match and the ms waited, or rejects after `timeoutMs` with the
 * console tail, so a test failure shows what the machine was doing.
 */
export async function waitForSerial(
  node: Pick<LabNodeManifest, 'serialLog' | 'name'>,
  re: RegExp,
  opts: { from?: number; timeoutMs?: number; pollMs?: number } = {},
): Promise<{ match: RegExpExecArray; ms: number }> {
  const t0 = Date.now();
  const deadline = t0 + (opts.timeoutMs ?? 60_000);
  for (;;) {
    const text = readSerial(node, opts.from ?? 0);
    const m = re.exec(text);
    if (m) return { match: m, ms: Date.now() - t0 };
    if (Date.now() > deadline) {
      throw new Error(`serial console of ${node.name} did not show ${re} within ${opts.timeoutMs ?? 60_000} ms; tail:\n${text.slice(-1500)}`);
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 100));
  }
}

/** vm.sh's inputs for a node of a lab (what createLab wrote into vm.sh). */
export function vmInput(m: LabManifest, node: LabNodeManifest, tools: { ip: string; qemu: string }): VmInput {
  return {
    name: node.name,
    nodeDir: node.dir,
    netns: m.netns,
    tap: node.tap,
    mac: node.mac,
    ...(node.extraNics?.length ? { extraNics: node.extraNics } : {}),
    firmware: node.firmware,
    ...(m.uefiHttpBoot && node.firmware === 'uefi' ? { httpBoot: true } : {}),
    memoryMb: node.memoryMb,
    ...(node.cpus ? { cpus: node.cpus } : {}),
    diskSerial: node.disk.serial,
    dataDisks: (node.dataDisks ?? []).map((dd) => ({ file: path.basename(dd.path), serial: dd.serial })),
    ipPath: tools.ip,
    qemuPath: tools.qemu,
  };
}

/**
 * Boots the node's VM straight into a kernel + initrd (no PXE, no BMC
 * involved), on the same tap, disks and serial log; the PID goes where the
 * BMC looks, so `chassis power status/off` and stopVm work as usual.
 * The benchmark floor for the end-to-end deploy.
 */
export async function startDirectBoot(
  m: LabManifest,
  node: LabNodeManifest,
  boot: { kernel: string; initrd: string; append: string },
): Promise<number> {
  if (vmPid(node) !== undefined) throw new KseedError(`lab node ${node.name} is powered on; power it off first`, { code: 'busy' });
  const ip = requireTool('ip');
  const qemu = requireTool('qemu-system-x86_64');
  const argv = directBootArgv({ ...vmInput(m, node, { ip, qemu }), ...boot });
  appendFileSync(node.serialLog, `\n=== kseed-lab direct-boot ${(Date.now() / 1000).toFixed(3)} node=${node.name} kernel=${boot.kernel}\n`);
  const out = openSync(path.join(node.dir, 'vm.out'), 'a');
  const child = startDetached([ip, ...argv], { out });
  closeSync(out);
  if (child.pid === undefined) throw new KseedError(`could not start QEMU for lab node ${node.name}`, { code: 'vm-start' });
  child.on('error', () => undefined);
  child.unref();
  const pidFile = path.join(node.dir, 'vm.pid');
  writeFileSync(`${pidFile}.${process.pid}`, `${child.pid}\n`);
  renameSync(`${pidFile}.${process.pid}`, pidFile);
  return child.pid;
}
