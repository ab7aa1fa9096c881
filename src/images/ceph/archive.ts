/**
 * The Ceph image as the nodes get it by default: the `docker save` archive,
 * uncompressed, among the seed's boot artifacts, with a small JSON record
 * beside it (image, image id, sha256, size) that the hand-off hands the
 * node's load script. Why not the registry: under TCG a node's `docker pull`
 * of the 587 MB image's gzip layers took 1610 s, nearly all of it gunzip
 * inside the VM (40 MB in 34.8 s), while fetching a 51 MB blob from the seed
 * took 1.9 s. An uncompressed archive costs the node a fetch and a sha256.
 */
import { createHash } from 'node:crypto';
import { chmodSync, createReadStream, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { run } from '../../util/tools.js';

export interface CephArchive {
  /** the file's name among the artifacts (what the node fetches under /artifacts/) */
  name: string;
  file: string;
  /** the name the archive's manifest carries, e.g. kseed/ceph:16.2.15 */
  image: string;
  /** the image id (sha256 of its config): what `docker load` must yield, and what a node that has it shows */
  id: string;
  sha256: string;
  size: number;
}

const RECORD_SUFFIX = '.json';

/** `kseed/ceph:16.2.15` -> `kseed-ceph_16.2.15.tar` (one archive per image name). */
export function archiveNameOf(image: string): string {
  return `${image.replace(/[/:]/g, (c) => (c === '/' ? '-' : '_'))}.tar`;
}

/** kseed's Ceph archives, their records, and what a killed write left */
const isOurs = (f: string) => /^kseed-ceph_[^/]+\.tar(\.json|\.\d+\.tmp)?$/.test(f);

/** The archive of `image` the artifacts hold, if its record and its file agree in size. */
export function findCephArchive(artifactsDir: string, image: string): CephArchive | undefined {
  const name = archiveNameOf(image);
  let rec: Partial<CephArchive>;
  try {
    rec = JSON.parse(readFileSync(path.join(artifactsDir, name + RECORD_SUFFIX), 'utf8')) as Partial<CephArchive>;
  } catch {
    return undefined;
  }
  const file = path.join(artifactsDir, name);
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return undefined;
  }
  if (rec.image !== image || typeof rec.id !== 'string' || !/^[0-9a-f]{64}$/.test(rec.sha256 ?? '') || rec.size !== size) return undefined;
  return { name, file, image, id: rec.id, sha256: rec.sha256!, size };
}

export interface ArchiveOptions {
  image: string;
  /** the local image's id: an archive recorded with this id is kept as it is */
  id: string;
  artifactsDir: string;
  onProgress?: (line: string) => void;
}

/**
 * Writes `docker save IMAGE` among the artifacts (a temporary name, renamed
 * when complete and hashed), unless the archive of that very image id is
 * there. Archives of other Ceph versions go: the seed serves one.
 */
export async function ensureCephArchive(opts: ArchiveOptions): Promise<CephArchive & { status: 'written' | 'reused'; seconds: number }> {
  const t0 = Date.now();
  const say = opts.onProgress ?? (() => {});
  const have = findCephArchive(opts.artifactsDir, opts.image);
  const name = archiveNameOf(opts.image);
  const drop = () => {
    for (const f of readdirSync(opts.artifactsDir)) {
      if (f === name || f === name + RECORD_SUFFIX) continue;
      if (isOurs(f)) rmSync(path.join(opts.artifactsDir, f), { force: true });
    }
  };
  if (have && have.id === opts.id) {
    drop();
    return { ...have, status: 'reused', seconds: (Date.now() - t0) / 1000 };
  }
  const file = path.join(opts.artifactsDir, name);
  const tmp = `${file}.${process.pid}.tmp`;
  say(`ceph: docker save ${opts.image} -> ${file}`);
  try {
    // docker writes the file itself: nothing of the image's size passes through kseed
    await run('docker', ['save', '-o', tmp, opts.image], { timeoutMs: 1_200_000 });
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  chmodSync(tmp, 0o644);
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(tmp)) hash.update(chunk as Buffer);
  const size = statSync(tmp).size;
  const rec: CephArchive = { name, file, image: opts.image, id: opts.id, sha256: hash.digest('hex'), size };
  // the old record goes first and the new one comes last: a record names only a complete file
  rmSync(path.join(opts.artifactsDir, name + RECORD_SUFFIX), { force: true });
  renameSync(tmp, file);
  writeFileSync(path.join(opts.artifactsDir, name + RECORD_SUFFIX), JSON.stringify({ image: rec.image, id: rec.id, sha256: rec.sha256, size: rec.size }, null, 2) + '\n', { mode: 0o644 });
  drop();
  const seconds = (Date.now() - t0) / 1000;
  say(`ceph: ${name} (${(size / 1e6).toFixed(0)} MB, sha256 ${rec.sha256.slice(0, 12)}...) written in ${seconds.toFixed(1)} s`);
  return { ...rec, status: 'written', seconds };
}
