/**
 * `kseed bundle show` and `kseed bundle load`. Load checks the whole bundle
 * before it installs anything: the manifest against this kseed, the archive's
 * members against the manifest, then every member's sha256 while the files
 * are copied into a staging directory inside the cache (and the image
 * archives read in place). Only then are the images loaded into Docker and
 * the staged files renamed into place, so a bad bundle installs nothing.
 */
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { InputError, KseedError } from '../errors.js';
import { markBundled, markBundledImages } from '../images/bundled.js';
import { checkDocker, inspectImage } from '../images/seed/docker.js';
import { kseedVersion } from '../images/seed/build.js';
import { runQuiet } from '../util/tools.js';
import { copyHashed, readIndex } from './archive.js';
import { matchIndex, parseManifest, type IndexEntry, type Manifest } from './manifest.js';

export interface ShownBundle {
  file: string;
  bytes: number;
  manifest: Manifest;
}

/** The manifest, checked against this kseed and the archive's members (no member data is read). */
export async function showBundle(file: string): Promise<ShownBundle & { index: IndexEntry[] }> {
  const idx = await readIndex(file);
  const manifest = parseManifest(idx.manifest, file, kseedVersion());
  matchIndex(manifest, idx.entries, file);
  return { file, bytes: idx.bytes, manifest, index: idx.entries };
}

export interface LoadOptions {
  file: string;
  cacheDir: string;
  onProgress?: (line: string) => void;
}

export interface LoadResult {
  file: string;
  cacheDir: string;
  images: { ref: string; id: string; status: 'loaded' | 'present' }[];
  files: { path: string; status: 'installed' | 'same' }[];
  seconds: number;
}

const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;

export async function loadBundle(opts: LoadOptions): Promise<LoadResult> {
  const t0 = Date.now();
  const say = opts.onProgress ?? (() => {});
  const file = path.resolve(opts.file);
  const cacheDir = path.resolve(opts.cacheDir);
  const { manifest, index } = await showBundle(file);
  const at = new Map(index.map((e) => [e.name, e]));
  const hasImages = manifest.members.some((m) => m.kind === 'docker-images');
  if (hasImages) await checkDocker();

  mkdirSync(cacheDir, { recursive: true });
  const stage = path.join(cacheDir, `.bundle-stage-${process.pid}`);
  rmSync(stage, { recursive: true, force: true });
  const src = await open(file, 'r');
  try {
    // 1. verify every member; files land in the staging directory as they are checked
    for (const m of manifest.members) {
      const e = at.get(m.path)!;
      const staged = m.kind === 'docker-images' ? undefined : path.join(stage, m.path.slice('cache/'.length));
      say(`checking ${m.path} (${mb(m.size)})`);
      let dst;
      if (staged) {
        mkdirSync(path.dirname(staged), { recursive: true });
        dst = await open(staged, 'wx', 0o644);
      }
      let sha: string;
      try {
        sha = await copyHashed(src, e.offset, e.size, dst, (done, total) => say(`checking ${m.path}: ${mb(done)} of ${mb(total)}`));
      } finally {
        await dst?.close();
      }
      if (sha !== m.sha256) {
        throw new InputError(`${file}: member ${m.path} is corrupt (sha256 ${sha}, the manifest says ${m.sha256}); nothing was installed`);
      }
    }

    // 2. images: loaded only when a tag is missing or names another image than the bundle's
    const images: LoadResult['images'] = [];
    for (const m of manifest.members.filter((x) => x.kind === 'docker-images')) {
      const have = await Promise.all(m.images!.map(async (i) => (await inspectImage(i.ref))?.id === i.id));
      if (have.every(Boolean)) {
        for (const i of m.images!) images.push({ ...i, status: 'present' });
        continue;
      }
      const e = at.get(m.path)!;
      say(`docker load ${m.images!.map((i) => i.ref).join(' ')} (${mb(m.size)})`);
      // createReadStream's end is inclusive
      const r = await runQuiet('docker', ['load'], { timeoutMs: 3_600_000, inputStream: createReadStream(file, { start: e.offset, end: e.offset + e.size - 1 }) });
      if (r.exitCode !== 0) throw new KseedError(`docker load of ${m.path} failed`, { code: 'tool-failed', detail: String(r.stderr) });
      for (const i of m.images!) {
        const got = await inspectImage(i.ref);
        if (got?.id !== i.id) throw new KseedError(`docker load of ${m.path} did not give ${i.ref} the image ${i.id} (got ${got?.id ?? 'nothing'})`, { code: 'tool-failed' });
        images.push({ ...i, status: 'loaded' });
      }
    }

    // `kseed images build` then takes these as built, without the apt sources their inputs hash (src/images/seed/build.ts)
    if (images.length) markBundledImages(cacheDir, images, path.basename(file));

    // 3. files: each renamed into place (same filesystem: atomic per file)
    const files: LoadResult['files'] = [];
    for (const m of manifest.members.filter((x) => x.kind !== 'docker-images')) {
      const rel = m.path.slice('cache/'.length);
      const dest = path.join(cacheDir, rel);
      const had = existsSync(dest) && (await sameFile(dest, m.sha256, m.size));
      mkdirSync(path.dirname(dest), { recursive: true });
      renameSync(path.join(stage, rel), dest);
      files.push({ path: dest, status: had ? 'same' : 'installed' });
    }
    // the builders then use these as built instead of asking apt (src/images/bundled.ts)
    const byDir = new Map<string, string[]>();
    for (const f of files) byDir.set(path.dirname(f.path), [...(byDir.get(path.dirname(f.path)) ?? []), path.basename(f.path)]);
    for (const [d, names] of byDir) markBundled(d, names, path.basename(file));
    return { file, cacheDir, images, files, seconds: (Date.now() - t0) / 1000 };
  } finally {
    await src.close();
    rmSync(stage, { recursive: true, force: true });
  }
}

async function sameFile(file: string, sha256: string, size: number): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    if ((await fh.stat()).size !== size) return false;
    return (await copyHashed(fh, 0, size, undefined)) === sha256;
  } finally {
    await fh.close();
  }
}
