/**
 * A bundle's manifest: what it holds and which kseed made it. It is the
 * archive's last member (its checksums are known only once every member is
 * written); `readIndex` finds it by walking the headers, without reading data.
 */
import { InputError } from '../errors.js';

/** Bumped when a reader of the previous format would misread a bundle. */
export const BUNDLE_FORMAT = 1;
export const MANIFEST_NAME = 'manifest.json';

export type MemberKind = 'docker-images' | 'ramdisk' | 'testos' | 'os' | 'ceph' | 'debs' | 'base' | 'kseed';

export interface ManifestMember {
  /** Path inside the archive: `images/NAME.docker.tar`, or `cache/...` (relative to the cache it goes to). */
  path: string;
  kind: MemberKind;
  size: number;
  sha256: string;
  /** For docker-images: each tag and the image ID it had when saved. */
  images?: { ref: string; id: string }[];
  /** What the member was made from (file size and mtime, image IDs): an unchanged source is not written again. */
  source: string;
}

export interface Manifest {
  format: number;
  kseed: string;
  created: string;
  members: ManifestMember[];
}

const KINDS: readonly MemberKind[] = ['docker-images', 'ramdisk', 'testos', 'os', 'ceph', 'debs', 'base', 'kseed'];

/** `1.2.3` -> [1,2,3]; anything after the numbers (pre-release) is ignored. */
function versionParts(v: string): number[] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

export function compareVersions(a: string, b: string): number {
  const x = versionParts(a)!;
  const y = versionParts(b)!;
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return 0;
}

/**
 * A member path must stay inside what it is loaded into: relative, no `..`,
 * under `images/` or `cache/`, one of the names the archive reader accepts.
 */
export function checkMemberPath(p: string): string | undefined {
  if (!/^(images|cache)\/[A-Za-z0-9._%+:@-]+(\/[A-Za-z0-9._%+:@-]+)*$/.test(p)) return 'not a relative path under images/ or cache/';
  if (p.split('/').some((s) => s === '..' || s === '.')) return 'contains . or ..';
  return undefined;
}

/**
 * Parses and checks a manifest's text against this kseed: a newer format or
 * a newer kseed is refused (it may hold what this one cannot install right).
 * Every problem names the field; the bundle file is named by the caller.
 */
export function parseManifest(text: string, file: string, ourVersion: string): Manifest {
  const bad = (path: string, message: string) => new InputError(`${file}: ${path}: ${message}`, [{ file, path, message }]);
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (err) {
    throw bad(MANIFEST_NAME, `not JSON (${(err as Error).message})`);
  }
  if (!j || typeof j !== 'object') throw bad(MANIFEST_NAME, 'not an object');
  const m = j as Record<string, unknown>;
  if (typeof m.format !== 'number' || !Number.isInteger(m.format)) throw bad('format', 'missing or not an integer');
  if (m.format > BUNDLE_FORMAT) throw bad('format', `bundle format ${m.format} is newer than this kseed reads (${BUNDLE_FORMAT}): use kseed ${String(m.kseed)} or newer`);
  if (typeof m.kseed !== 'string' || !versionParts(m.kseed)) throw bad('kseed', 'missing or not a version');
  if (compareVersions(m.kseed, ourVersion) > 0) throw bad('kseed', `made by kseed ${m.kseed}, newer than this kseed ${ourVersion}: load it with kseed ${m.kseed} or newer`);
  if (!Array.isArray(m.members) || m.members.length === 0) throw bad('members', 'missing or empty');
  const seen = new Set<string>();
  const members = m.members.map((x, i): ManifestMember => {
    const at = `members[${i}]`;
    if (!x || typeof x !== 'object') throw bad(at, 'not an object');
    const e = x as Record<string, unknown>;
    if (typeof e.path !== 'string') throw bad(`${at}.path`, 'missing');
    const why = checkMemberPath(e.path);
    if (why) throw bad(`${at}.path`, `${e.path}: ${why}`);
    if (seen.has(e.path)) throw bad(`${at}.path`, `${e.path} listed twice`);
    seen.add(e.path);
    if (!KINDS.includes(e.kind as MemberKind)) throw bad(`${at}.kind`, `unknown kind ${String(e.kind)}`);
    if (typeof e.size !== 'number' || !Number.isSafeInteger(e.size) || e.size < 0) throw bad(`${at}.size`, 'not a byte count');
    if (typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) throw bad(`${at}.sha256`, 'not a sha256 hex digest');
    if ((e.kind === 'docker-images') !== e.path.startsWith('images/')) throw bad(`${at}.path`, `${e.path}: docker images live under images/, files under cache/`);
    let images: ManifestMember['images'];
    if (e.kind === 'docker-images') {
      if (!Array.isArray(e.images) || !e.images.length) throw bad(`${at}.images`, 'missing or empty');
      images = e.images.map((r, k) => {
        const o = r as Record<string, unknown>;
        if (typeof o?.ref !== 'string' || typeof o.id !== 'string') throw bad(`${at}.images[${k}]`, 'needs ref and id');
        return { ref: o.ref, id: o.id };
      });
    }
    return { path: e.path, kind: e.kind as MemberKind, size: e.size, sha256: e.sha256, source: typeof e.source === 'string' ? e.source : '', ...(images ? { images } : {}) };
  });
  return { format: m.format, kseed: m.kseed, created: typeof m.created === 'string' ? m.created : '', members };
}

export interface IndexEntry {
  name: string;
  /** Byte offset of the member's data in the archive. */
  offset: number;
  size: number;
}

/**
 * The archive's members must be exactly the manifest's, in any order: a
 * member missing, unlisted, or of another size refuses the bundle, naming it.
 */
export function matchIndex(manifest: Manifest, index: IndexEntry[], file: string): void {
  const byName = new Map(index.map((e) => [e.name, e]));
  for (const m of manifest.members) {
    const e = byName.get(m.path);
    if (!e) throw new InputError(`${file}: member ${m.path} is listed in the manifest but not in the archive`);
    if (e.size !== m.size) throw new InputError(`${file}: member ${m.path} is ${e.size} bytes in the archive, the manifest says ${m.size}`);
  }
  const listed = new Set(manifest.members.map((m) => m.path));
  for (const e of index) {
    if (e.name !== MANIFEST_NAME && !listed.has(e.name)) throw new InputError(`${file}: member ${e.name} is in the archive but not in the manifest`);
  }
}
