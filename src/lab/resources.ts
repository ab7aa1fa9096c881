/**
 * A lab as a flat list of resources (what `lab down` must remove), the shape
 * the state store's resources table keeps, so `kseed status`/doctor can show
 * what exists outside kseed's own files.
 */
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
      { kind: 'bmc', name: `127.0.0.1:${n.bmc.port}`, ref: `${n.dir}/bmc.pid`, node: n.name },
      { kind: 'vm', name: n.name, ref: `${n.dir}/vm.pid`, node: n.name },
      { kind: 'disk', name: n.disk.path, ref: n.disk.path, node: n.name },
      ...(n.dataDisks ?? []).map((d) => ({ kind: 'disk' as const, name: d.path, ref: d.path, node: n.name })),
    );
  }
  return r;
}
