/**
 * Real SOL in the lab: ipmi_sim's `sol "tcp:ADDR:PORT"` (ipmi_lan(5))
 * connects out to the node's serial port over TCP, but QEMU runs inside the
 * lab netns, where 127.0.0.1 is not the BMC's. So QEMU serves its serial
 * port on a UNIX socket in the node directory (filesystem, not netns, bound),
 * still logging every byte to serial.log, and a socat relay on the host's
 * 127.0.0.1, TCP port = the node's BMC port number (the lab reserves that
 * number for the node), joins the two. The relay outlives VM power cycles
 * and waits for the socket, so ipmi_sim, which retries a lost connection
 * only every 10 s, is already connected when the VM powers on.
 */
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KseedError } from '../errors.js';
import { startDetached } from '../util/spawn.js';
import { which } from '../util/tools.js';
import type { LabNodeManifest } from './manifest.js';
import { findByMarker, isOurs, readPidFile, terminate } from './proc.js';

export function serialSocket(nodeDir: string): string {
  return path.join(nodeDir, 'serial.sock');
}

/**
 * SOL is wired for a VM node when socat is here and the socket path fits
 * sun_path (108 bytes); otherwise the node keeps a plain serial log and no
 * SOL. A simulated node (`sim`, no VM) has no serial port to wire.
 */
export function solWired(node: Pick<LabNodeManifest, 'dir'> & { sim?: unknown }): boolean {
  return !node.sim && serialSocket(node.dir).length < 100 && which('socat') !== undefined;
}

/** What only this node's relay (parent and forked children) has on its command line. */
function relayMarker(node: Pick<LabNodeManifest, 'dir'>): string {
  return `UNIX-CONNECT:${serialSocket(node.dir)}`;
}

export function relayArgv(node: Pick<LabNodeManifest, 'dir' | 'bmc'>): string[] {
  return [
    'socat',
    `TCP-LISTEN:${node.bmc.port},bind=127.0.0.1,reuseaddr,fork`,
    // a powered-off VM has no socket yet: wait for it instead of dropping ipmi_sim's connection
    `${relayMarker(node)},forever,interval=0.2`,
  ];
}

/** Starts the node's relay unless it runs; a no-op when SOL is not wired. */
export async function startSolRelay(node: LabNodeManifest): Promise<number | undefined> {
  if (!solWired(node)) return undefined;
  const pidFile = path.join(node.dir, 'sol-relay.pid');
  const running = readPidFile(pidFile);
  if (isOurs(running, relayMarker(node))) return running;
  const out = openSync(path.join(node.dir, 'sol-relay.out'), 'a', 0o600);
  const child = startDetached(relayArgv(node), { out, cwd: node.dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' } });
  closeSync(out);
  if (child.pid === undefined) throw new KseedError(`could not start the SOL relay (socat) of lab node ${node.name}`, { code: 'bmc-start' });
  child.on('error', () => undefined);
  child.unref();
  writeFileSync(pidFile, `${child.pid}\n`);
  // listening within milliseconds; ipmi_sim's first connect must find it
  for (let i = 0; i < 40 && child.exitCode === null; i++) {
    if (listening(node.bmc.port)) return child.pid;
    await new Promise((r) => setTimeout(r, 25));
  }
  await stopSolRelay(node);
  throw new KseedError(`SOL relay of lab node ${node.name} is not listening on TCP 127.0.0.1:${node.bmc.port}`, {
    code: 'port-busy',
    detail: `see ${path.join(node.dir, 'sol-relay.out')}; another process may hold that TCP port`,
  });
}

/**
 * Whether something listens on TCP 127.0.0.1:port, from /proc/net/tcp: a
 * test connection would make the relay fork a child that then waits for the
 * VM's socket and takes the serial port from ipmi_sim once it appears.
 */
function listening(port: number): boolean {
  let table = '';
  try {
    table = readFileSync('/proc/net/tcp', 'utf8');
  } catch {
    return false;
  }
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  // columns: sl local_address rem_address st ...; st 0A = LISTEN
  return table.split('\n').some((l) => {
    const f = l.trim().split(/\s+/);
    return f[1] === local && f[3] === '0A';
  });
}

export async function stopSolRelay(node: Pick<LabNodeManifest, 'dir'>): Promise<void> {
  const marker = relayMarker(node);
  await terminate(findByMarker(marker), (p) => isOurs(p, marker), 1000);
  rmSync(path.join(node.dir, 'sol-relay.pid'), { force: true });
}
