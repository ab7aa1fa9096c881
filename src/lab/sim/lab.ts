/**
 * What `lab up --sim` adds to a lab (lab.ts does the rest, as for VMs):
 * per node its wire (net.ts), the sim chassis program for its real ipmi_sim
 * BMC, a sparse disk file; for the lab, one simulator process (daemon.ts),
 * started detached so it outlives `kseed lab up`, like the BMCs.
 */
import { chmodSync, closeSync, existsSync, ftruncateSync, openSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KseedError } from '../../errors.js';
import { startDetached } from '../../util/spawn.js';
import { runQuiet } from '../../util/tools.js';
import { bmcFiles } from '../bmc.js';
import type { LabManifest, LabNodeManifest } from '../manifest.js';
import { isOurs, readPidFile, terminate } from '../proc.js';
import { renderSimChassisScript } from './chassis.js';
import { deleteSimWire, ensureSimWire, simNetnsName } from './net.js';
import { deleteLossyNetns, lossyNetnsName } from './relay-netns.js';

/**
 * The largest site, listed and unlisted together; the MAC scheme
 * (names.ts MAX_MAC_NODES) numbers 510, the bridge takes 1024 ports.
 */
export const MAX_SIM_NODES = 500;

/** Wire, chassis program (after writeBmcFiles wrote the VM one) and disk of one simulated node; true when the disk is new. */
export async function prepareSimNode(ip: string, m: LabManifest, n: LabNodeManifest): Promise<boolean> {
  await ensureSimWire(ip, m.netns, m.bridge, n.index, n.mac);
  const f = bmcFiles(n.dir);
  writeFileSync(f.chassis, renderSimChassisScript(n.dir, m.dir), { mode: 0o755 });
  chmodSync(f.chassis, 0o755);
  if (!existsSync(n.disk.path)) {
    const fd = openSync(n.disk.path, 'w', 0o600);
    // sparse: a 10 GiB disk costs nothing until the image lands on it
    ftruncateSync(fd, n.disk.sizeGb * 2 ** 30);
    closeSync(fd);
    return true;
  }
  return false;
}

export async function removeSimNode(ip: string, m: LabManifest, n: LabNodeManifest): Promise<void> {
  await deleteSimWire(ip, m.netns, n.index);
}

/**
 * Deletes every node namespace of the lab, also ones no manifest lists any
 * more (a crash mid-`lab up`), and the namespace of a fault run's lossy
 * relays (relay-netns.ts) that a crashed run left.
 */
export async function deleteSimNetns(ip: string, labNs: string): Promise<string[]> {
  const prefix = simNetnsName(labNs, 0).replace(/0$/, '');
  const list = (await runQuiet(ip, ['netns', 'list'])).stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)));
  for (const ns of list) await runQuiet(ip, ['netns', 'del', ns]);
  if (await deleteLossyNetns(ip, labNs)) list.push(lossyNetnsName(labNs));
  return list;
}

/** The simulator's command line carries `<lab dir>/`: lab down finds it by that, like every lab process. */
function marker(labDir: string): string {
  return `${labDir}/`;
}

export function simulatorPid(labDir: string): number | undefined {
  const pid = readPidFile(path.join(labDir, 'sim.pid'));
  return isOurs(pid, marker(labDir)) ? pid : undefined;
}

export async function stopSimulator(labDir: string): Promise<number[]> {
  const pid = readPidFile(path.join(labDir, 'sim.pid'));
  const killed = pid !== undefined ? await terminate([pid], (p) => isOurs(p, marker(labDir)), 3000) : [];
  rmSync(path.join(labDir, 'sim.pid'), { force: true });
  return killed;
}

/**
 * (Re)starts the lab's simulator so it runs the manifest as written now.
 * Ready when it wrote its PID file (it does so after reading the manifest).
 */
export async function startSimulator(m: LabManifest): Promise<number> {
  await stopSimulator(m.dir);
  const script = fileURLToPath(new URL('./daemon.js', import.meta.url));
  if (!existsSync(script)) throw new KseedError(`the simulator ${script} is missing (build kseed first: npm run build)`, { code: 'missing-tool' });
  const out = openSync(path.join(m.dir, 'sim.out'), 'a', 0o600);
  const child = startDetached([process.execPath, script, marker(m.dir)], {
    out,
    cwd: m.dir,
    // nothing of the caller's environment (secrets) goes to a process that outlives it
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' },
  });
  closeSync(out);
  if (child.pid === undefined) throw new KseedError('could not start the lab simulator', { code: 'sim-start' });
  child.on('error', () => undefined);
  child.unref();
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (simulatorPid(m.dir) === child.pid) return child.pid;
    if (!isOurs(child.pid, marker(m.dir))) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new KseedError(`the lab simulator did not start (see ${path.join(m.dir, 'sim.out')})`, { code: 'sim-start' });
}
