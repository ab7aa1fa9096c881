/** The simulated nodes of a lab manifest, as the simulator runs them. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { LabManifest, LabNodeManifest } from '../manifest.js';
import type { SimNodeSpec } from './hardware.js';

/** The sparse file standing for a simulated node's root disk. */
export function simDiskFile(nodeDir: string): string {
  return path.join(nodeDir, 'disk.img');
}

export function simSpec(n: LabNodeManifest): SimNodeSpec | undefined {
  if (!n.sim) return undefined;
  return {
    name: n.name,
    index: n.index,
    dir: n.dir,
    mac: n.mac,
    firmware: n.firmware,
    netns: n.sim.netns,
    diskSerial: n.disk.serial,
    diskBytes: n.disk.sizeGb * 2 ** 30,
    diskFile: n.disk.path,
  };
}

export function simSpecs(m: LabManifest): SimNodeSpec[] {
  return m.nodes.flatMap((n) => {
    const s = simSpec(n);
    return s ? [s] : [];
  });
}

/** `1 <generation>` (on) or `0` (off): what the chassis program writes. */
export function readPower(file: string): { on: boolean; gen: number } {
  try {
    const [state, gen] = readFileSync(file, 'utf8').trim().split(/\s+/);
    return { on: state === '1', gen: Number(gen ?? 0) || 0 };
  } catch {
    return { on: false, gen: 0 };
  }
}

/** The phase the simulator last wrote for the node (sim.json), for `lab status`. */
export function simPhase(nodeDir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(path.join(nodeDir, 'sim.json'), 'utf8')) as { phase?: string }).phase;
  } catch {
    return undefined;
  }
}
