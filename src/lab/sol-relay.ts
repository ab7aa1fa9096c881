/**
 * Real SOL in the lab: each VM node's serial port goes through its relay
 * process (sol-relay-main.ts), which writes serial.log and serves ipmi_sim's
 * `sol "tcp:127.0.0.1:PORT"` (renderLanConf solPort). PORT is the node's BMC
 * port number, in TCP (the BMC itself is UDP): the lab already reserves that
 * number for the node. The relay is started before ipmi_sim (which connects
 * to it once at start, then only every ~10 s) and lives as long as the BMC;
 * vm.sh connects QEMU to it on every power on, or logs to serial.log itself
 * when no relay runs.
 */
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KseedError } from '../errors.js';
import { startDetached } from '../util/spawn.js';
import type { LabNodeManifest } from './manifest.js';
import { isOurs, readPidFile, terminate } from './proc.js';

/** The compiled entry point, from src/ (vitest) and from dist/ alike: both sit two levels under the package root. */
export const SOL_RELAY_MAIN = fileURLToPath(new URL('../../dist/lab/sol-relay-main.js', import.meta.url));

export function solRelayFiles(nodeDir: string): { sock: string; pid: string; out: string; log: string } {
  return {
    sock: path.join(nodeDir, 'serial.sock'),
    pid: path.join(nodeDir, 'sol-relay.pid'),
    out: path.join(nodeDir, 'sol-relay.out'),
    log: path.join(nodeDir, 'serial.log'),
  };
}

/**
 * A VM node gets SOL when its socket path fits sun_path (108 bytes, with room
 * to spare as for QMP); a simulated node has no serial port to wire.
 */
export function solWired(node: Pick<LabNodeManifest, 'dir'> & { sim?: unknown }): boolean {
  return !node.sim && solRelayFiles(node.dir).sock.length < 100;
}

/** The entry point's tail, not its path: another kseed checkout (a CI lane's copy) may have started it. */
export const SOL_RELAY_ENTRY = 'sol-relay-main.js';

/**
 * This node's relay: its command line names the entry point and the node's
 * socket (QEMU's names the socket too). vm.sh checks the same two strings
 * (renderVmScript) before it connects QEMU there.
 */
export function isSolRelayOf(pid: number | undefined, node: Pick<LabNodeManifest, 'dir'>): boolean {
  return isOurs(pid, solRelayFiles(node.dir).sock) && isOurs(pid, SOL_RELAY_ENTRY);
}

export function solRelayPid(node: Pick<LabNodeManifest, 'dir'>): number | undefined {
  const pid = readPidFile(solRelayFiles(node.dir).pid);
  return isSolRelayOf(pid, node) ? pid : undefined;
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-5).join('\n');
  } catch {
    return '';
  }
}

/**
 * Starts the node's relay unless it runs (a running one keeps its VM's
 * connection: QEMU does not reconnect); a no-op for a node without SOL.
 * Resolves once it listens on both sides.
 */
export async function startSolRelay(node: LabNodeManifest, readyTimeoutMs = 15_000): Promise<number | undefined> {
  if (!solWired(node)) return undefined;
  const running = solRelayPid(node);
  if (running !== undefined) return running;
  const f = solRelayFiles(node.dir);
  // a relay killed hard leaves its socket: vm.sh must not find one until the new relay listens
  rmSync(f.sock, { force: true });
  const out = openSync(f.out, 'a', 0o600);
  const child = startDetached([process.execPath, SOL_RELAY_MAIN, f.sock, f.log, String(node.bmc.port)], {
    out,
    cwd: node.dir,
    // as for ipmi_sim: nothing of the caller's environment (secrets) in a process that outlives kseed
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' },
  });
  closeSync(out);
  const pid = child.pid;
  if (pid === undefined) throw new KseedError(`could not start the SOL relay of lab node ${node.name}`, { code: 'bmc-start' });
  child.on('error', () => undefined);
  child.unref();
  writeFileSync(f.pid, `${pid}\n`);
  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline && child.exitCode === null) {
    if (existsSync(f.sock)) return pid;
    await new Promise((r) => setTimeout(r, 20));
  }
  await stopSolRelay(node);
  throw new KseedError(`SOL relay of lab node ${node.name} is not listening on TCP 127.0.0.1:${node.bmc.port} and ${f.sock}`, {
    code: 'port-busy',
    detail: tail(f.out) || 'another process may hold that TCP port',
  });
}

export async function stopSolRelay(node: Pick<LabNodeManifest, 'dir'>): Promise<boolean> {
  const f = solRelayFiles(node.dir);
  const pid = readPidFile(f.pid);
  const killed = pid !== undefined ? await terminate([pid], (p) => isSolRelayOf(p, node), 2000) : [];
  rmSync(f.pid, { force: true });
  rmSync(f.sock, { force: true });
  return killed.length > 0;
}
