/**
 * Running a lab's Redfish process (main.ts): start it detached (it must
 * outlive `kseed lab up`), wait until every node's service root answers over
 * TLS with the lab's own certificate pinned, find it again by PID file and
 * command line, stop it.
 */
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KseedError } from '../../errors.js';
import { startDetached } from '../../util/spawn.js';
import type { LabManifest } from '../manifest.js';
import { isOurs, outputTail, readPidFile, terminate } from '../proc.js';

/** The compiled entry point, from src/ (vitest) and from dist/ alike: both sit three levels under the package root. */
export const REDFISH_MAIN = fileURLToPath(new URL('../../../dist/lab/redfish/main.js', import.meta.url));

export function redfishFiles(labDir: string): { pid: string; log: string; manifest: string } {
  return { pid: path.join(labDir, 'redfish.pid'), log: path.join(labDir, 'redfish.log'), manifest: path.join(labDir, 'manifest.json') };
}

/**
 * Alive and its command line names the Redfish entry point and this lab's
 * manifest. The entry point by its tail, not its absolute path: another kseed
 * checkout (a CI lane's copy, an upgrade) may have started it.
 */
function isRedfishOf(pid: number | undefined, manifest: string): boolean {
  return isOurs(pid, manifest) && isOurs(pid, '/lab/redfish/main.js');
}

/** PID of the lab's Redfish process, when it runs. */
export function redfishPid(labDir: string): number | undefined {
  const f = redfishFiles(labDir);
  const pid = readPidFile(f.pid);
  return isRedfishOf(pid, f.manifest) ? pid : undefined;
}

export interface RfProbe {
  ok: boolean;
  status?: number;
  error?: string;
  ms: number;
}

/** GET /redfish/v1/ (no credentials needed), trusting only the lab's certificate. */
export function probeRedfish(port: number, ca: Buffer | string, timeoutMs = 3000): Promise<RfProbe> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/redfish/v1/', method: 'GET', ca, timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ok: res.statusCode === 200, status: res.statusCode ?? 0, ms: Date.now() - t0 }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => resolve({ ok: false, error: e.message, ms: Date.now() - t0 }));
    req.end();
  });
}

export async function stopRedfish(labDir: string): Promise<number | undefined> {
  const f = redfishFiles(labDir);
  const pid = readPidFile(f.pid);
  const mine = (p: number) => isRedfishOf(p, f.manifest);
  const killed = pid !== undefined ? await terminate([pid], mine, 2000) : [];
  rmSync(f.pid, { force: true });
  return killed[0];
}

/**
 * (Re)starts the lab's Redfish process for the nodes of the manifest as
 * written, and resolves once every node answers. A running one is replaced:
 * it read an older manifest (nodes, ports). Sessions do not survive that;
 * VMs do, they are not its children.
 */
export async function startRedfish(m: LabManifest, cert: string, readyTimeoutMs = 30_000): Promise<{ pid: number; readyMs: number }> {
  const f = redfishFiles(m.dir);
  await stopRedfish(m.dir);
  const out = openSync(f.log, 'a', 0o600);
  const t0 = Date.now();
  const child = startDetached([process.execPath, REDFISH_MAIN, f.manifest], {
    out,
    cwd: m.dir,
    // as for ipmi_sim: the BMC and the VMs it starts must not inherit the caller's secrets
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' },
  });
  closeSync(out);
  const pid = child.pid;
  if (pid === undefined) throw new KseedError(`could not start the Redfish BMCs of lab ${m.name}`, { code: 'bmc-start' });
  child.on('error', () => undefined);
  child.unref();
  writeFileSync(f.pid, `${pid}\n`);
  const ca = readFileSync(cert);
  const deadline = t0 + readyTimeoutMs;
  const waiting = new Set(m.nodes.map((n) => n.bmc.port));
  let last: RfProbe | undefined;
  while (waiting.size > 0 && Date.now() < deadline && isOurs(pid, f.manifest)) {
    for (const port of [...waiting]) {
      last = await probeRedfish(port, ca, 2000);
      if (last.ok) waiting.delete(port);
    }
    if (waiting.size) await new Promise((r) => setTimeout(r, 50));
  }
  if (waiting.size === 0) return { pid, readyMs: Date.now() - t0 };
  const died = !isOurs(pid, f.manifest);
  await stopRedfish(m.dir);
  throw new KseedError(`the Redfish BMCs of lab ${m.name} ${died ? 'exited' : `did not answer on 127.0.0.1:${[...waiting].join(',')}`}`, {
    code: 'bmc-start',
    detail: died ? outputTail(f.log) : `last probe: ${last?.error ?? `HTTP ${last?.status}`}`,
  });
}
