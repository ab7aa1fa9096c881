/**
 * A lab as a flat list of resources (what `lab down` must remove), the shape
 * the state store's resources table keeps, so `kseed status`/doctor can show
 * what exists outside kseed's own files.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { openState, type ResourceRecord } from '../engine/state.js';
import type { LabManifest } from './manifest.js';

export type LabResourceKind = 'netns' | 'bridge' | 'tap' | 'bmc' | 'vm' | 'disk' | 'dir' | 'secret' | 'site-file';

export interface LabResource {
  kind: LabResourceKind;
  /** Unique within the lab: interface name, node name, path. */
  name: string;
  /** Where to look for it: netns for interfaces, PID file for processes, path for files. */
  ref: string;
  node?: string;
}

export function labResources(m: LabManifest): LabResource[] {
  const r: LabResource[] = [
    { kind: 'netns', name: m.netns, ref: `/run/netns/${m.netns}` },
    { kind: 'bridge', name: m.bridge, ref: m.netns },
    { kind: 'dir', name: m.dir, ref: m.dir },
    { kind: 'secret', name: m.passwordFile, ref: m.passwordFile },
  ];
  if (m.siteFile) r.push({ kind: 'site-file', name: m.siteFile, ref: m.siteFile });
  for (const n of m.nodes) {
    r.push(
      { kind: 'tap', name: n.tap, ref: m.netns, node: n.name },
      ...(n.extraNics ?? []).map((x) => ({ kind: 'tap' as const, name: x.tap, ref: m.netns, node: n.name })),
      { kind: 'bmc', name: `127.0.0.1:${n.bmc.port}`, ref: `${n.dir}/bmc.pid`, node: n.name },
      { kind: 'vm', name: n.name, ref: `${n.dir}/vm.pid`, node: n.name },
      { kind: 'disk', name: n.disk.path, ref: n.disk.path, node: n.name },
      ...(n.dataDisks ?? []).map((d) => ({ kind: 'disk' as const, name: d.path, ref: d.path, node: n.name })),
    );
  }
  return r;
}

/** Resource kinds in the shared table carry this prefix; names carry the lab, so labs never collide. */
const KIND_PREFIX = 'lab.';

function rowKey(lab: string, r: LabResource): { kind: string; name: string } {
  return { kind: `${KIND_PREFIX}${r.kind}`, name: `${lab}/${r.name}` };
}

/**
 * Mirrors the lab into the state store's resources table (one row per
 * resource, the BMC rows with their ipmi_sim PID): rows of this lab that
 * no longer exist are removed, so the table always matches the manifest.
 */
export function recordLabResources(m: LabManifest, pids: Record<string, number> = {}): void {
  const st = openState(m.stateDir);
  try {
    st.tx(() => {
      const want = labResources(m);
      const keep = new Set(want.map((r) => JSON.stringify(rowKey(m.name, r))));
      for (const row of st.listResources()) {
        if (row.kind.startsWith(KIND_PREFIX) && row.data.lab === m.name && !keep.has(JSON.stringify({ kind: row.kind, name: row.name }))) {
          st.removeResource(row.kind, row.name);
        }
      }
      for (const r of want) {
        const k = rowKey(m.name, r);
        const pid = r.kind === 'bmc' && r.node ? pids[r.node] : undefined;
        st.putResource(k.kind, k.name, { pid: pid ?? null, data: { lab: m.name, ref: r.ref, ...(r.node ? { node: r.node } : {}) } });
      }
    });
  } finally {
    st.close();
  }
}

/** Removes every row of the lab from the resources table (after `lab down`). */
export function forgetLabResources(stateDir: string, lab: string): number {
  if (!existsSync(path.join(stateDir, 'state.db'))) return 0;
  const st = openState(stateDir);
  try {
    return st.tx(() => {
      let n = 0;
      for (const row of st.listResources()) {
        if (row.kind.startsWith(KIND_PREFIX) && row.data.lab === lab && st.removeResource(row.kind, row.name)) n++;
      }
      return n;
    });
  } finally {
    st.close();
  }
}

/** The lab's rows of the resources table. */
export function labResourceRows(stateDir: string, lab: string): ResourceRecord[] {
  if (!existsSync(path.join(stateDir, 'state.db'))) return [];
  const st = openState(stateDir);
  try {
    return st.listResources().filter((r) => r.kind.startsWith(KIND_PREFIX) && r.data.lab === lab);
  } finally {
    st.close();
  }
}
