/**
 * `kseed bundle create`: one tar with everything a seed with no network
 * needs, taken from what this machine built (docker images, the cache).
 * Written to a temp file beside FILE and renamed, so FILE is never half a
 * bundle; a bundle whose sources are unchanged is kept as it is.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { KseedError } from '../errors.js';
import { CEPH_REPO } from '../images/ceph/build.js';
import { cephadmDebOf } from '../images/ceph/version.js';
import { checkDocker, inspectImage } from '../images/seed/docker.js';
import { DEFAULT_SERVICES, kseedVersion } from '../images/seed/build.js';
import { repoOf } from '../images/seed/services.js';
import { output as runOut, runQuiet } from '../util/tools.js';
import { ArchiveWriter, readIndex } from './archive.js';
import { packKseed, planKseed, type PackedKseed } from './package.js';
import { BUNDLE_FORMAT, MANIFEST_NAME, parseManifest, type Manifest, type ManifestMember, type MemberKind } from './manifest.js';

export const PARTS = ['seed', 'ramdisk', 'testos', 'os', 'ceph', 'debs', 'kseed'] as const;
export type Part = (typeof PARTS)[number];
export const DEFAULT_PARTS: readonly Part[] = ['seed', 'ramdisk', 'testos'];

export interface CreateOptions {
  out: string;
  cacheDir: string;
  parts: readonly Part[];
  /** More local images to carry (`--image`), e.g. for `kseed mirror sync`. */
  extraImages?: string[];
  onProgress?: (line: string) => void;
}

export interface CreateResult {
  file: string;
  bytes: number;
  reused: boolean;
  seconds: number;
  members: ManifestMember[];
}

interface Planned {
  path: string;
  kind: MemberKind;
  source: string;
  /** A file member's source file. */
  file?: string;
  images?: { ref: string; id: string }[];
  /** For kind kseed: the installed package, packed when the bundle is written. */
  kseed?: PackedKseed;
}

const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;

function fileMember(cacheDir: string, rel: string, kind: MemberKind): Planned {
  const file = path.join(cacheDir, rel);
  const st = statSync(file);
  return { path: `cache/${rel}`, kind, file, source: `${st.size}:${Math.floor(st.mtimeMs)}` };
}

function need(cacheDir: string, dir: string, names: string[], hint: string): void {
  const missing = names.filter((n) => !existsSync(path.join(cacheDir, dir, n)));
  if (missing.length) {
    throw new KseedError(`${path.join(cacheDir, dir)} has no ${missing.join(', ')}`, { code: 'not-built', detail: `build it first: ${hint}` });
  }
}

async function imagesMember(name: string, refs: string[], hint: string): Promise<Planned> {
  const images: { ref: string; id: string }[] = [];
  for (const ref of refs) {
    const info = await inspectImage(ref);
    if (!info) throw new KseedError(`image ${ref} is not in the local Docker engine`, { code: 'not-built', detail: `build it first: ${hint}` });
    images.push({ ref, id: info.id });
  }
  return { path: `images/${name}.docker.tar`, kind: 'docker-images', images, source: images.map((i) => `${i.ref}@${i.id}`).join(' ') };
}

/** What each part holds on this machine now; a part not built is named with the command that builds it. */
export async function plan(cacheDir: string, parts: readonly Part[], extraImages: string[] = []): Promise<Planned[]> {
  const out: Planned[] = [];
  const v = kseedVersion();
  if (parts.includes('seed') || parts.includes('ceph') || extraImages.length) await checkDocker();
  if (parts.includes('seed')) out.push(await imagesMember('seed', DEFAULT_SERVICES.map((s) => `${repoOf(s)}:${v}`), 'kseed images build'));
  if (parts.includes('ramdisk')) {
    need(cacheDir, 'ramdisk', ['vmlinuz', 'initramfs.gz', 'stamp'], 'kseed images ramdisk');
    for (const f of ['vmlinuz', 'initramfs.gz', 'stamp']) out.push(fileMember(cacheDir, `ramdisk/${f}`, 'ramdisk'));
  }
  if (parts.includes('testos')) {
    const files = ['testos.raw', 'testos.raw.sha256', 'testos.raw.gz', 'testos.raw.gz.sha256', 'testos.raw.zst', 'testos.raw.zst.sha256', 'stamp'];
    need(cacheDir, 'testos', files, 'kseed images testos');
    for (const f of files) out.push(fileMember(cacheDir, `testos/${f}`, 'testos'));
  }
  if (parts.includes('os')) {
    const files = ['debian-bookworm.qcow2', 'debian-bookworm.qcow2.sha256', 'debian-bookworm.stamp'];
    need(cacheDir, 'os', files, 'kseed images os');
    for (const f of files) out.push(fileMember(cacheDir, `os/${f}`, 'os'));
  }
  if (parts.includes('ceph')) {
    const tags = (await runOut('docker', ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', CEPH_REPO])).split('\n').filter((l) => l && !l.endsWith(':<none>'));
    const debs = existsSync(path.join(cacheDir, 'ramdisk')) ? readdirSync(path.join(cacheDir, 'ramdisk')).filter((f) => cephadmDebOf(f)) : [];
    if (!tags.length || !debs.length) {
      throw new KseedError(`no Ceph image (${CEPH_REPO}) or no cephadm .deb in ${path.join(cacheDir, 'ramdisk')}`, { code: 'not-built', detail: 'build both first: kseed images ceph' });
    }
    out.push(await imagesMember('ceph', tags.sort(), 'kseed images ceph'));
    for (const f of debs.sort()) out.push(fileMember(cacheDir, `ramdisk/${f}`, 'ceph'));
  }
  if (parts.includes('debs')) {
    // the packages and the debootstrap tarball the builders reuse, for rebuilding on the seed
    const debs = existsSync(path.join(cacheDir, 'debs')) ? readdirSync(path.join(cacheDir, 'debs')).filter((f) => f.endsWith('.deb')).sort() : [];
    for (const f of debs) out.push(fileMember(cacheDir, `debs/${f}`, 'debs'));
    const seedDir = path.join(cacheDir, 'seed');
    const tgz = existsSync(seedDir) ? readdirSync(seedDir).filter((f) => f.endsWith('.tgz')).sort() : [];
    for (const f of tgz) out.push(fileMember(cacheDir, `seed/${f}`, 'base'));
    if (!debs.length && !tgz.length) throw new KseedError(`no .debs in ${path.join(cacheDir, 'debs')}`, { code: 'not-built', detail: 'build an image first (kseed images ramdisk), which fetches them' });
  }
  if (extraImages.length) out.push(await imagesMember('extra', extraImages, 'docker load or build it'));
  if (parts.includes('kseed')) {
    // in the cache on the seed too: tar unpacks it before kseed exists there (README, Air-gapped site)
    const k = planKseed();
    out.push({ path: `cache/kseed/${k.dir}.tar.gz`, kind: 'kseed', kseed: k, source: k.source });
  }
  return out;
}

/** The bundle already at `file`, when it was made from exactly these sources by this kseed. */
async function sameBundle(file: string, planned: Planned[]): Promise<Manifest | undefined> {
  if (!existsSync(file)) return undefined;
  try {
    const idx = await readIndex(file);
    const m = parseManifest(idx.manifest, file, kseedVersion());
    if (m.kseed !== kseedVersion() || m.members.length !== planned.length) return undefined;
    return m.members.every((x, i) => x.path === planned[i]!.path && x.source === planned[i]!.source) ? m : undefined;
  } catch {
    return undefined;
  }
}

export async function createBundle(opts: CreateOptions): Promise<CreateResult> {
  const t0 = Date.now();
  const say = opts.onProgress ?? (() => {});
  const out = path.resolve(opts.out);
  const planned = await plan(opts.cacheDir, opts.parts, opts.extraImages);
  const seconds = () => (Date.now() - t0) / 1000;

  const same = await sameBundle(out, planned);
  if (same) {
    say(`${out}: made from the same images and files, kept`);
    return { file: out, bytes: statSync(out).size, reused: true, seconds: seconds(), members: same.members };
  }

  mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  const parts = path.join(path.dirname(out), `.${path.basename(out)}.parts-${process.pid}`);
  rmSync(tmp, { force: true });
  const w = await ArchiveWriter.create(tmp);
  const members: ManifestMember[] = [];
  try {
    for (const p of planned) {
      let file = p.file;
      if (p.kind === 'docker-images') {
        mkdirSync(parts, { recursive: true });
        file = path.join(parts, path.basename(p.path));
        await dockerSave(p.images!.map((i) => i.ref), file, say);
      } else if (p.kseed) {
        mkdirSync(parts, { recursive: true });
        file = path.join(parts, path.basename(p.path));
        say(`packing kseed and Node ${process.version} (${p.kseed.members.length} paths)`);
        await packKseed(file, p.kseed);
      }
      const size = statSync(file!).size;
      say(`${p.path}: ${mb(size)}`);
      const r = await w.addFile(p.path, file!, (done, total) => say(`${p.path}: ${mb(done)} of ${mb(total)}`));
      members.push({ path: p.path, kind: p.kind, size: r.size, sha256: r.sha256, source: p.source, ...(p.images ? { images: p.images } : {}) });
      if (file !== p.file) rmSync(file!, { force: true });
    }
    const manifest: Manifest = { format: BUNDLE_FORMAT, kseed: kseedVersion(), created: new Date().toISOString(), members };
    await w.addBuffer(MANIFEST_NAME, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
    await w.close();
    renameSync(tmp, out);
  } catch (err) {
    await w.abort();
    rmSync(tmp, { force: true });
    throw err;
  } finally {
    rmSync(parts, { recursive: true, force: true });
  }
  return { file: out, bytes: statSync(out).size, reused: false, seconds: seconds(), members };
}

/** `docker save` to a file (its size is needed before its tar header), reporting the bytes written while it runs. */
async function dockerSave(refs: string[], file: string, say: (l: string) => void): Promise<void> {
  say(`docker save ${refs.join(' ')}`);
  const t = setInterval(() => {
    if (existsSync(file)) say(`docker save: ${mb(statSync(file).size)} written`);
  }, 10_000);
  try {
    const r = await runQuiet('docker', ['save', '-o', file, ...refs], { timeoutMs: 3_600_000 });
    if (r.exitCode !== 0) throw new KseedError(`docker save ${refs.join(' ')} failed`, { code: 'tool-failed', detail: String(r.stderr) });
  } finally {
    clearInterval(t);
  }
}
