/**
 * destroyLab: everything a lab made goes, including what a killed `lab up`
 * left behind: the manifest lists it, processes are also found by the lab
 * directory on their command line and by membership of the lab's netns.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { bmcPid, stopBmc } from './bmc.js';
import { type LabManifest, type LabNodeManifest, labDir, passwordPath, readManifest } from './manifest.js';
import { checkLabName, DEFAULT_LAB_NAME, netnsName } from './names.js';
import { deleteNetns, netnsExists, netnsPids } from './net.js';
import { stopVm } from './node.js';
import { solRelayPid, stopSolRelay } from './sol-relay.js';
import { findByMarker, isOurs, liveCmdline, terminate } from './proc.js';
import { forgetLabResources } from './resources.js';
import { removeLabSite } from './site.js';
import { deleteSimNetns } from './sim/lab.js';
import { removeLabCert } from './redfish/cert.js';
import { redfishPid, stopRedfish } from './redfish/run.js';
import { requireTool } from '../util/tools.js';
import { requireRoot, withLabLock } from './lab.js';

export interface DestroyLabOptions {
  stateDir: string;
  name?: string;
  progress?: (msg: string) => void;
}

export interface DestroyLabResult {
  name: string;
  existed: boolean;
  /** PIDs signalled, with what they were. */
  killed: { pid: number; what: string }[];
  netnsDeleted: boolean;
  removedFiles: string[];
  ms: number;
}

/** Inode of a netns, to tell whether a process is inside it. */
function nsInode(file: string): number | undefined {
  try {
    return statSync(file).ino;
  } catch {
    return undefined;
  }
}

function cmdName(pid: number): string {
  return (liveCmdline(pid) ?? '?').split(' ')[0]!.split('/').pop() ?? '?';
}

/**
 * Removes everything the lab made: VMs, BMCs and any process left inside the
 * lab netns (by PID, each checked before the signal), the netns (with its
 * bridge and taps), the lab directory, the password file and the lab site
 * file. Works from the manifest, and without one from the lab's names.
 */
export async function destroyLab(o: DestroyLabOptions): Promise<DestroyLabResult> {
  requireRoot('kseed lab down');
  const t0 = Date.now();
  const name = checkLabName(o.name ?? DEFAULT_LAB_NAME);
  const say = o.progress ?? (() => undefined);
  const stateDir = path.resolve(o.stateDir);
  const dir = labDir(stateDir, name);
  const ip = requireTool('ip');

  // no state directory, netns or process of this lab: nothing to remove, and
  // nothing to create either (the lock would make .kseed/lab/ beside a site
  // file, e.g. in the try directory try-it.sh --down just removed)
  if (!existsSync(stateDir) && !(await netnsExists(ip, netnsName(name))) && findByMarker(`${dir}/`).length === 0) {
    return { name, existed: false, killed: [], netnsDeleted: false, removedFiles: [], ms: Date.now() - t0 };
  }
  return withLabLock(stateDir, name, async () => {
    let m: LabManifest | undefined;
    try {
      m = readManifest(stateDir, name);
    } catch {
      m = undefined; // unreadable manifest: fall back to names and directory scans
    }
    const ns = m?.netns ?? netnsName(name);
    const existed = m !== undefined || existsSync(dir) || (await netnsExists(ip, ns));
    const killed: { pid: number; what: string }[] = [];
    const note = (pids: number[], what: string) => pids.forEach((pid) => killed.push({ pid, what }));

    const nodeDirs = new Set<string>((m?.nodes ?? []).map((n) => n.dir));
    const nodesRoot = path.join(dir, 'nodes');
    if (existsSync(nodesRoot)) for (const e of readdirSync(nodesRoot)) nodeDirs.add(path.join(nodesRoot, e));

    // the Redfish process first, so nothing powers a VM on again while it is being stopped
    const rpid = redfishPid(dir);
    if ((await stopRedfish(dir)) !== undefined && rpid !== undefined) note([rpid], 'lab redfish');
    for (const d of nodeDirs) {
      const node = { dir: d } as LabNodeManifest;
      const bpid = bmcPid(node);
      // BMC first, so nothing powers the VM on again while it is being stopped
      if (await stopBmc(node, { keepSolRelay: true })) note(bpid !== undefined ? [bpid] : [], 'ipmi_sim');
      const vpids = await stopVm(node);
      note(vpids, 'qemu');
      // after the VM: the relay writes serial.log up to its last byte
      const spid = solRelayPid(node);
      if ((await stopSolRelay(node)) && spid !== undefined) note([spid], 'sol relay');
    }
    // anything else naming the lab directory (a BMC whose PID file was never written, a config check)
    const stray = await terminate(findByMarker(`${dir}/`), (p) => isOurs(p, `${dir}/`), 2000);
    note(stray, 'lab process');

    // processes inside the lab netns (e.g. boot services the engine ran there): identified by the netns inode
    const nsIno = nsInode(`/run/netns/${ns}`);
    if (nsIno !== undefined) {
      const inNs = (p: number) => liveCmdline(p) !== undefined && nsInode(`/proc/${p}/ns/net`) === nsIno;
      const pids = (await netnsPids(ip, ns)).filter(inNs);
      const names = new Map(pids.map((p) => [p, cmdName(p)]));
      const gone = await terminate(pids, inNs, 3000);
      for (const p of gone) killed.push({ pid: p, what: `${names.get(p)} in ${ns}` });
    }
    // simulated nodes' own namespaces (their veths go with them)
    await deleteSimNetns(ip, ns);
    let netnsDeleted = false;
    if (await netnsExists(ip, ns)) {
      say(`lab ${name}: deleting ${ns}`);
      await deleteNetns(ip, ns);
      netnsDeleted = true;
    }

    forgetLabResources(stateDir, name);
    const removedFiles: string[] = [];
    if (m?.siteFile && removeLabSite(m.siteFile, name)) removedFiles.push(m.siteFile);
    const pw = m?.passwordFile ?? passwordPath(stateDir, name);
    if (existsSync(pw)) {
      rmSync(pw, { force: true });
      removedFiles.push(pw);
    }
    removedFiles.push(...removeLabCert(stateDir, name));
    if (existsSync(dir)) {
      rmSync(dir, { recursive: true, force: true });
      removedFiles.push(dir);
    }
    return { name, existed, killed, netnsDeleted, removedFiles, ms: Date.now() - t0 };
  });
}
