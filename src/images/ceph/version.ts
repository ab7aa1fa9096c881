/**
 * Ceph versions as Debian writes them, and the cephadm .deb the seed serves.
 * cephadm refuses an image of another release ("Container release reef !=
 * cephadm release pacific"), so the image tag and the .deb come from one build.
 */
import { readdirSync } from 'node:fs';

/** `16.2.15+ds-0+deb12u2` -> `16.2.15` (no epoch, no Debian revision or repack suffix). */
export function upstreamVersion(debian: string): string {
  const noEpoch = debian.replace(/^\d+:/, '');
  const m = /^(\d+(?:\.\d+)*)/.exec(noEpoch);
  if (!m) throw new Error(`not a Ceph version: ${debian}`);
  return m[1]!;
}

/** Ceph's major version -> release name (cephadm compares names). */
export const CEPH_RELEASES: Record<string, string> = { '15': 'octopus', '16': 'pacific', '17': 'quincy', '18': 'reef', '19': 'squid' };

export function releaseOf(version: string): string | undefined {
  return CEPH_RELEASES[upstreamVersion(version).split('.')[0]!];
}

/**
 * A Debian package file name `cephadm_<version>_<arch>.deb` (Debian Policy 5.6.12:
 * the version in the name drops the epoch). Undefined for other files.
 */
export function cephadmDebOf(file: string): { version: string; arch: string } | undefined {
  const m = /^cephadm_([^_]+)_([a-z0-9]+)\.deb$/.exec(file);
  return m ? { version: decodeURIComponent(m[1]!), arch: m[2]! } : undefined;
}

/** The cephadm .deb among the seed's artifacts (newest version if several), if any. */
export function findCephadmDeb(artifactsDir: string): { file: string; version: string } | undefined {
  let names: string[];
  try {
    names = readdirSync(artifactsDir);
  } catch {
    return undefined;
  }
  const debs = names.flatMap((f) => {
    const d = cephadmDebOf(f);
    return d ? [{ file: f, version: d.version }] : [];
  });
  const cmp = (a: string, b: string) => {
    const x = upstreamVersion(a).split('.').map(Number);
    const y = upstreamVersion(b).split('.').map(Number);
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
    return 0;
  };
  return debs.sort((a, b) => cmp(b.version, a.version))[0];
}
