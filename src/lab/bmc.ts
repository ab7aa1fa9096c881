/**
 * Running a node's ipmi_sim: write its files, start it detached (it must
 * outlive `kseed lab up`), wait until it answers RMCP+, stop it by PID.
 */
import { createSocket } from 'node:dgram';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KseedError } from '../errors.js';
import { startDetached } from '../util/spawn.js';
import {
  buildFru,
  renderChassisScript,
  renderEmu,
  renderLanConf,
  renderLanctlScript,
  renderLanparms,
} from './bmc-config.js';
import type { LabNodeManifest } from './manifest.js';
import { isOurs, readPidFile, terminate } from './proc.js';
import { runQuiet } from '../util/tools.js';
import { solWired, startSolRelay, stopSolRelay } from './sol-relay.js';

export interface BmcFiles {
  lanConf: string;
  emu: string;
  fru: string;
  chassis: string;
  lanctl: string;
  lanparms: string;
  stateDir: string;
  pidFile: string;
  outFile: string;
}

export function bmcFiles(nodeDir: string): BmcFiles {
  return {
    lanConf: path.join(nodeDir, 'lan.conf'),
    emu: path.join(nodeDir, 'bmc.emu'),
    fru: path.join(nodeDir, 'fru.bin'),
    chassis: path.join(nodeDir, 'chassis.sh'),
    lanctl: path.join(nodeDir, 'lanctl.sh'),
    lanparms: path.join(nodeDir, 'lanparms'),
    stateDir: path.join(nodeDir, 'bmc-state'),
    pidFile: path.join(nodeDir, 'bmc.pid'),
    outFile: path.join(nodeDir, 'bmc.out'),
  };
}

/** ipmi_sim instance name; also what its state dir is called. */
export function bmcInstanceName(lab: string, node: LabNodeManifest): string {
  return `ksl-${lab}-${node.name}`;
}

/** Writes (or rewrites) every BMC file of a node; lan.conf holds the password, so 0600. */
export function writeBmcFiles(lab: string, node: LabNodeManifest, password: string, fruDate?: Date): BmcFiles {
  const f = bmcFiles(node.dir);
  mkdirSync(node.dir, { recursive: true, mode: 0o700 });
  writeFileSync(
    f.lanConf,
    renderLanConf({
      name: bmcInstanceName(lab, node),
      port: node.bmc.port,
      username: node.bmc.username,
      password,
      chassisScript: f.chassis,
      lanctlScript: f.lanctl,
      ...(solWired(node) ? { solPort: node.bmc.port } : {}),
    }),
    { mode: 0o600 },
  );
  chmodSync(f.lanConf, 0o600);
  writeFileSync(f.emu, renderEmu(f.fru));
  writeFileSync(f.fru, buildFru({ serial: `SN-${lab}-${node.name}`, ...(fruDate ? { date: fruDate } : {}) }));
  writeFileSync(f.chassis, renderChassisScript(node.dir), { mode: 0o755 });
  chmodSync(f.chassis, 0o755);
  writeFileSync(f.lanctl, renderLanctlScript(node.dir), { mode: 0o755 });
  chmodSync(f.lanctl, 0o755);
  if (!existsSync(f.lanparms)) writeFileSync(f.lanparms, renderLanparms(node.bmc.mac));
  return f;
}

/** The string only this node's ipmi_sim has on its command line. */
function bmcMarker(node: LabNodeManifest): string {
  return bmcFiles(node.dir).lanConf;
}

export function bmcPid(node: LabNodeManifest): number | undefined {
  const pid = readPidFile(bmcFiles(node.dir).pidFile);
  return isOurs(pid, bmcMarker(node)) ? pid : undefined;
}

/** True when something (not necessarily ipmi_sim) holds UDP 127.0.0.1:port. */
export function udpPortBusy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(true);
    });
    s.bind({ address: '127.0.0.1', port, exclusive: true }, () => {
      s.close();
      resolve(false);
    });
  });
}

export interface ProbeResult {
  ok: boolean;
  guid?: string;
  error?: string;
  /** The BMC answered but refused the credentials (not a matter of waiting longer). */
  authFailed?: boolean;
  ms: number;
}

/**
 * One RMCP+ session setup and `mc guid`. `-C 3`: without it ipmitool first
 * asks for cipher suites, which ipmi_sim never answers (+10 s). The password
 * goes through the environment (-E) so it never shows in `ps`. `waitSec` is
 * ipmitool's per-try timeout, `tries` its number of tries (-N/-R).
 */
export async function probeBmc(
  ipmitool: string,
  port: number,
  username: string,
  password: string,
  opts: { waitSec?: number; tries?: number } = {},
): Promise<ProbeResult> {
  const waitSec = opts.waitSec ?? 1;
  const tries = opts.tries ?? 1;
  const t0 = Date.now();
  const r = await runQuiet(
    ipmitool,
    ['-I', 'lanplus', '-C', '3', '-N', String(waitSec), '-R', String(tries), '-H', '127.0.0.1', '-p', String(port), '-U', username, '-E', 'mc', 'guid'],
    // ipmitool's own timeouts end it first; this only guards against a hang
    { env: { IPMI_PASSWORD: password }, timeoutMs: (waitSec * tries + 5) * 1000 },
  );
  const ms = Date.now() - t0;
  const m = /System GUID\s*:\s*(\S+)/.exec(r.stdout);
  if (r.exitCode === 0 && m) return { ok: true, guid: m[1]!, ms };
  const text = `${r.stderr}\n${r.stdout}`;
  // lab.md 1.4: a wrong password gives "RAKP 2 HMAC is invalid", an unknown user "unauthorized name"
  const authFailed = /HMAC is invalid|unauthorized name/i.test(text);
  return { ok: false, authFailed, error: text.trim().split('\n').pop() ?? `exit ${r.exitCode}`, ms };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * ipmi_sim stops reading its command file at the first error and, with -n,
 * says nothing (lab.md 1.1). Run it once in the foreground, console on a
 * pipe, to get the `**` error lines for the failure message.
 */
async function validateConfig(ipmiSim: string, f: BmcFiles): Promise<string> {
  const scratch = `${f.stateDir}.check`;
  const r = await runQuiet(ipmiSim, ['-c', f.lanConf, '-f', f.emu, '-s', scratch], { input: 'quit\n', timeoutMs: 3000 });
  rmSync(scratch, { recursive: true, force: true });
  return `${r.stdout}\n${r.stderr}`
    .split('\n')
    .filter((l) => l.includes('**') || /error/i.test(l))
    .join('\n');
}

export interface StartBmcOptions {
  ipmiSim: string;
  ipmitool: string;
  password: string;
  readyTimeoutMs?: number;
}

/**
 * Starts the node's ipmi_sim unless it already runs; resolves once it answers.
 * The state dir is wiped first: users and LAN parameters persisted there
 * would override lan.conf (a changed password would not take).
 */
export async function startBmc(node: LabNodeManifest, o: StartBmcOptions): Promise<{ pid: number; started: boolean; readyMs: number }> {
  const f = bmcFiles(node.dir);
  const running = bmcPid(node);
  if (running !== undefined) {
    // generous: on a loaded machine a healthy ipmi_sim can take seconds to answer,
    // and restarting it for that would be wrong (its VM keeps running, but still)
    const p = await probeBmc(o.ipmitool, node.bmc.port, node.bmc.username, o.password, { waitSec: 2, tries: 3 });
    if (p.ok) {
      // a relay that died comes back; ipmi_sim finds it on its next reconnect (~10 s)
      await startSolRelay(node);
      return { pid: running, started: false, readyMs: 0 };
    }
    // running but refusing our credentials (changed lan.conf) or dead to the world: restart it,
    // not the relay, which holds the running VM's serial port
    await stopBmc(node, { keepSolRelay: true });
  }
  if (await udpPortBusy(node.bmc.port)) {
    throw new KseedError(`BMC port 127.0.0.1:${node.bmc.port} of lab node ${node.name} is in use by another process`, {
      code: 'port-busy',
      detail: 'pick another --bmc-port-base',
    });
  }
  rmSync(f.stateDir, { recursive: true, force: true });
  mkdirSync(f.stateDir, { recursive: true, mode: 0o700 });
  // before ipmi_sim, and only once its port is known free: ipmi_sim connects to it at start
  await startSolRelay(node);
  const out = openSync(f.outFile, 'a', 0o600);
  const t0 = Date.now();
  // -n: no console; setsid-like detached group so a Ctrl-C of kseed does not take the BMCs down
  const child = startDetached([o.ipmiSim, '-c', f.lanConf, '-f', f.emu, '-s', f.stateDir, '-n'], {
    out,
    cwd: node.dir,
    // a minimal environment: the BMC and the VMs it starts outlive kseed and
    // must not inherit whatever secrets the caller exported
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' },
  });
  closeSync(out);
  const pid = child.pid;
  if (pid === undefined) throw new KseedError(`could not start ipmi_sim for lab node ${node.name}`, { code: 'bmc-start' });
  child.on('error', () => undefined);
  child.unref();
  writeFileSync(f.pidFile, `${pid}\n`);
  // ready in ~35 ms on an idle machine (lab.md 1.3); the budget is for a loaded one
  const deadline = t0 + (o.readyTimeoutMs ?? 30_000);
  let last: ProbeResult | undefined;
  while (Date.now() < deadline) {
    if (!isOurs(pid, f.lanConf)) break;
    last = await probeBmc(o.ipmitool, node.bmc.port, node.bmc.username, o.password);
    if (last.ok) return { pid, started: true, readyMs: Date.now() - t0 };
    await sleep(50);
  }
  const died = !isOurs(pid, f.lanConf);
  await stopBmc(node, { keepSolRelay: true });
  let detail = died ? readTail(f.outFile) : `last probe: ${last?.error ?? 'none'}`;
  const cfg = await validateConfig(o.ipmiSim, f);
  if (cfg) detail += `\nconfig check:\n${cfg}`;
  throw new KseedError(`BMC of lab node ${node.name} (ipmi_sim on 127.0.0.1:${node.bmc.port}) ${died ? 'exited' : 'did not answer'}`, {
    code: 'bmc-start',
    detail,
  });
}

function readTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '';
  }
}

/** Stops the node's ipmi_sim and, unless kept, its SOL relay (lab down, a node removed, a switch to Redfish). */
export async function stopBmc(node: LabNodeManifest, o: { keepSolRelay?: boolean } = {}): Promise<boolean> {
  const f = bmcFiles(node.dir);
  const pid = readPidFile(f.pidFile);
  const marker = bmcMarker(node);
  const killed = pid !== undefined ? await terminate([pid], (p) => isOurs(p, marker), 2000) : [];
  rmSync(f.pidFile, { force: true });
  if (!o.keepSolRelay) await stopSolRelay(node);
  return killed.length > 0;
}
