/**
 * Root-device hints, with Ironic's names and meaning (Ironic install guide,
 * "Specifying the disk for deployment (root device hints)"): every given
 * hint must match. kseed is stricter than Ironic in one way on purpose:
 * where Ironic takes the first of several matches, kseed refuses, because
 * writing the wrong disk of a server is the one mistake that cannot be undone.
 */
import type { RootDeviceHint } from '../site/types.js';

/** A disk as the deploy ramdisk reports it (see AGENT inventory). */
export interface Disk {
  /** Kernel name, e.g. `vda`, `sda`, `nvme0n1`. */
  name: string;
  size_bytes: number;
  model?: string;
  vendor?: string;
  serial?: string;
  wwn?: string;
  hctl?: string;
  by_path?: string;
  rotational?: boolean;
}

export type RootDeviceChoice =
  | { ok: true; disk: Disk }
  | { ok: false; reason: string; candidates: Disk[] };

const GiB = 1024 ** 3;

function norm(s: string | undefined): string {
  return (s ?? '').trim().toLowerCase();
}

function stripDev(name: string): string {
  return name.replace(/^\/dev\//, '');
}

/** Why `disk` fails `hint`, or undefined when it matches every given hint. */
export function mismatch(disk: Disk, hint: RootDeviceHint): string | undefined {
  if (hint.name !== undefined && stripDev(hint.name) !== stripDev(disk.name)) return `name ${disk.name} != ${hint.name}`;
  for (const key of ['model', 'vendor', 'serial', 'wwn', 'hctl', 'by_path'] as const) {
    const want = hint[key];
    if (want !== undefined && norm(want) !== norm(disk[key])) return `${key} "${disk[key] ?? ''}" != "${want}"`;
  }
  if (hint.rotational !== undefined && hint.rotational !== disk.rotational) {
    return `rotational ${String(disk.rotational)} != ${String(hint.rotational)}`;
  }
  if (hint.size_gb !== undefined) {
    // Ironic compares whole GiB, rounded down, as the agent reports them.
    const gb = Math.floor(disk.size_bytes / GiB);
    if (typeof hint.size_gb === 'number') {
      if (gb !== hint.size_gb) return `size ${gb} GiB != ${hint.size_gb} GiB`;
    } else {
      if (hint.size_gb.min !== undefined && gb < hint.size_gb.min) return `size ${gb} GiB < ${hint.size_gb.min} GiB`;
      if (hint.size_gb.max !== undefined && gb > hint.size_gb.max) return `size ${gb} GiB > ${hint.size_gb.max} GiB`;
    }
  }
  return undefined;
}

function describe(hint: RootDeviceHint): string {
  return JSON.stringify(hint);
}

/** The one disk the hint selects, or why there is none. */
export function chooseRootDevice(disks: Disk[], hint: RootDeviceHint | undefined): RootDeviceChoice {
  if (!hint || Object.values(hint).every((v) => v === undefined)) {
    return { ok: false, reason: 'no root-device hint: set root_device on the node or its hardware profile', candidates: [] };
  }
  const matches = disks.filter((d) => mismatch(d, hint) === undefined);
  if (matches.length === 1) return { ok: true, disk: matches[0] as Disk };
  if (matches.length === 0) {
    const why = disks.map((d) => `${d.name}: ${mismatch(d, hint)}`).join('; ');
    return { ok: false, reason: `no disk matches root-device hint ${describe(hint)}${why ? ` (${why})` : ' (no disks found)'}`, candidates: [] };
  }
  return {
    ok: false,
    reason: `${matches.length} disks match root-device hint ${describe(hint)} (${matches.map((d) => d.name).join(', ')}): add serial or wwn to pick one`,
    candidates: matches,
  };
}
