/** labStatus: what a lab has and how its nodes and BMCs are, without changing anything. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { bmcPid, probeBmc } from './bmc.js';
import { labDir, readManifest } from './manifest.js';
import { BRIDGE, checkLabName, DEFAULT_LAB_NAME, netnsName } from './names.js';
import { netnsExists, netnsLinks } from './net.js';
import { bootDevice, powerOnCount, vmLastError, vmPid } from './node.js';
import { which } from '../util/tools.js';
import { diskInfo, type Firmware } from './vm.js';
import { readLabPassword } from './lab.js';
import { simulatorPid } from './sim/lab.js';
import { readPower, simPhase } from './sim/spec.js';
import { labCertPaths } from './redfish/cert.js';
import { probeRedfish, redfishPid } from './redfish/run.js';

export interface LabNodeStatus {
  name: string;
  /** False: on the lab network but not in the site file. */
  listed: boolean;
  firmware: Firmware;
  mac: string;
  tap: string;
  tapPresent: boolean;
  bmc: { protocol: 'ipmi' | 'redfish'; address: string; port: number; pid?: number; running: boolean; answering?: boolean; authFailed?: boolean; probeMs?: number; error?: string };
  power: 'on' | 'off';
  vmPid?: number;
  /** Last error line of QEMU, if it printed one (why a power on did not stick). */
  vmError?: string;
  bootDevice: string;
  powerOns: number;
  /** A simulated node: where its boot is (the simulator's last phase). */
  simPhase?: string;
  disk: { path: string; sizeGb: number; serial: string; allocatedBytes?: number; present: boolean };
  dataDisks: { path: string; sizeGb: number; serial: string; present: boolean }[];
  serialLog: string;
  dir: string;
}

export interface LabStatus {
  name: string;
  exists: boolean;
  netns: string;
  netnsPresent: boolean;
  bridge: string;
  bridgeUp: boolean;
  address?: string;
  siteFile?: string;
  dir: string;
  nodes: LabNodeStatus[];
}

/**
 * Per node: BMC port, process and whether it answers RMCP+ (probe), VM
 * power (its process), MAC, disk. Read-only; does not need the lab lock.
 */
export async function labStatus(o: { stateDir: string; name?: string; probe?: boolean }): Promise<LabStatus> {
  const name = checkLabName(o.name ?? DEFAULT_LAB_NAME);
  const stateDir = path.resolve(o.stateDir);
  const dir = labDir(stateDir, name);
  const m = readManifest(stateDir, name);
  const ip = which('ip');
  const ns = m?.netns ?? netnsName(name);
  const netnsPresent = ip ? await netnsExists(ip, ns) : false;
  const links = ip && netnsPresent ? await netnsLinks(ip, ns) : [];
  const bridge = links.find((l) => l.name === BRIDGE);
  const base: LabStatus = {
    name,
    exists: m !== undefined,
    netns: ns,
    netnsPresent,
    bridge: BRIDGE,
    bridgeUp: bridge?.up ?? false,
    dir,
    nodes: [],
    ...(m ? { address: `${m.network.ipv4}/${m.network.prefix}` } : {}),
    ...(m?.siteFile ? { siteFile: m.siteFile } : {}),
  };
  if (!m) return base;
  const password = readLabPassword(m.passwordFile);
  const ipmitool = which('ipmitool');
  const qemuImg = which('qemu-img');
  const rf = m.bmcKind === 'redfish';
  const rfPid = rf ? redfishPid(m.dir) : undefined;
  let rfCa: Buffer | undefined;
  try {
    rfCa = rf ? readFileSync(labCertPaths(m.stateDir, m.name).cert) : undefined;
  } catch {
    rfCa = undefined;
  }
  base.nodes = await Promise.all(
    m.nodes.map(async (n): Promise<LabNodeStatus> => {
      const bpid = rf ? rfPid : bmcPid(n);
      const bmc: LabNodeStatus['bmc'] = { protocol: rf ? 'redfish' : 'ipmi', address: n.bmc.address, port: n.bmc.port, running: bpid !== undefined, ...(bpid ? { pid: bpid } : {}) };
      if (rf && o.probe !== false && bpid !== undefined && rfCa) {
        const p = await probeRedfish(n.bmc.port, rfCa);
        bmc.answering = p.ok;
        bmc.probeMs = p.ms;
        if (!p.ok) bmc.error = p.error ?? `HTTP ${p.status}`;
      } else if (!rf && o.probe !== false && bpid !== undefined && ipmitool && password) {
        const p = await probeBmc(ipmitool, n.bmc.port, n.bmc.username, password, { waitSec: 2, tries: 1 });
        bmc.answering = p.ok;
        bmc.probeMs = p.ms;
        if (p.error) bmc.error = p.error;
        if (p.authFailed) bmc.authFailed = true;
      }
      // a simulated node is on while its power file says so and the simulator runs (its PID stands for the VM's)
      const spid = n.sim ? simulatorPid(m.dir) : undefined;
      const vpid = n.sim ? (spid !== undefined && readPower(path.join(n.dir, 'power')).on ? spid : undefined) : vmPid(n);
      const phase = n.sim ? simPhase(n.dir) : undefined;
      const vmError = vmLastError(n);
      const di = qemuImg ? await diskInfo(qemuImg, n.disk.path) : undefined;
      return {
        name: n.name,
        listed: n.listed !== false,
        firmware: n.firmware,
        mac: n.mac,
        tap: n.tap,
        tapPresent: links.some((l) => l.name === n.tap),
        bmc,
        power: vpid === undefined ? 'off' : 'on',
        ...(vpid !== undefined ? { vmPid: vpid } : {}),
        ...(vmError ? { vmError } : {}),
        bootDevice: bootDevice(n),
        powerOns: powerOnCount(n),
        ...(phase ? { simPhase: phase } : {}),
        disk: {
          path: n.disk.path,
          sizeGb: n.disk.sizeGb,
          serial: n.disk.serial,
          present: existsSync(n.disk.path),
          ...(di ? { allocatedBytes: di.actualSizeBytes } : {}),
        },
        dataDisks: (n.dataDisks ?? []).map((dd) => ({ ...dd, present: existsSync(dd.path) })),
        serialLog: n.serialLog,
        dir: n.dir,
      };
    }),
  );
  return base;
}
