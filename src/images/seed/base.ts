/**
 * The base every seed image builds FROM, made without any registry:
 * `debootstrap --variant=minbase` into a directory, cleaned, given full apt
 * sources, then `docker import`. The packages debootstrap fetched are kept as
 * a `--make-tarball` in the cache, so later bases unpack without a network.
 */
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { KseedError } from '../../errors.js';
import { output as run, runPipe, TOOL_ERROR } from '../../util/tools.js';
import { INPUTS_LABEL, RECIPE } from './dockerfile.js';
import { inspectImage } from './docker.js';
import { pickMirrors, readHostSources, sourcesList, type Mirrors } from './sources.js';

export interface BaseOptions {
  cacheDir: string;
  suite?: string;
  arch?: string;
  /** Use this local image instead of debootstrapping one. */
  image?: string;
  force?: boolean;
  mirrors?: Mirrors;
  /** An offline bundle (`kseed images fetch --out`): its base/ tarball seeds the cache; never go online. */
  offlineDir?: string;
  onProgress?: (line: string) => void;
}

export interface BaseResult {
  image: string;
  id: string;
  size: number;
  /** bundled: no base was needed, the images came from `kseed bundle load`. */
  status: 'built' | 'reused' | 'given' | 'bundled';
  seconds: number;
  mirror?: string;
  /** The debootstrap --make-tarball the base was unpacked from. */
  tarball?: string;
}

/**
 * What a debootstrap tarball holds, for the image's input hash: the sorted
 * names of its .debs (Debian file names carry package, version and arch).
 * Its bytes would not do: tar and gzip record times, so the same packages
 * fetched into another cache (a fresh clone, the Try-it work dir) would
 * hash differently and rebuild every image for nothing.
 */
export async function tarballPackages(file: string): Promise<string> {
  const list = await run('tar', ['-tzf', file], { timeoutMs: 120_000 });
  const debs = list.split('\n').filter((l) => l.endsWith('.deb')).map((l) => path.basename(l)).sort();
  if (!debs.length) throw new KseedError(`${file} holds no .deb files: not a debootstrap --make-tarball`, { code: 'bad-input' });
  return createHash('sha256').update(debs.join('\n')).digest('hex');
}

export async function hostArch(): Promise<string> {
  try {
    return await run('dpkg', ['--print-architecture'], { timeoutMs: 10_000 });
  } catch {
    return process.arch === 'arm64' ? 'arm64' : 'amd64';
  }
}

/** Removes what debootstrap leaves behind and the image does not need. */
export function cleanRootfs(root: string, suite: string, m: Pick<Mirrors, 'mirror' | 'security'>): void {
  const archives = path.join(root, 'var/cache/apt/archives');
  if (existsSync(archives)) {
    for (const f of readdirSync(archives)) if (f.endsWith('.deb')) rmSync(path.join(archives, f), { force: true });
  }
  for (const f of ['pkgcache.bin', 'srcpkgcache.bin']) rmSync(path.join(root, 'var/cache/apt', f), { force: true });
  rmSync(path.join(root, 'var/lib/apt/lists'), { recursive: true, force: true });
  mkdirSync(path.join(root, 'var/lib/apt/lists/partial'), { recursive: true });
  rmSync(path.join(root, 'debootstrap'), { recursive: true, force: true });
  writeFileSync(path.join(root, 'etc/apt/sources.list'), sourcesList(suite, m));
}

/**
 * One base build at a time per cache: parallel `images build` runs (or test
 * files) would otherwise each debootstrap and import the same base. A lock
 * whose owner process is gone is taken over.
 */
export async function withLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let text: string;
      try {
        text = readFileSync(file, 'utf8').trim();
      } catch {
        continue; // released meanwhile
      }
      const owner = Number(text);
      // Empty: the owner created the file but has not written its pid yet.
      let alive = text === '';
      try {
        alive ||= owner > 0 && process.kill(owner, 0);
      } catch {
        alive = false;
      }
      if (!alive) rmSync(file, { force: true });
      else await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(file, { force: true });
  }
}

/**
 * The debootstrap --make-tarball of a minbase system, made once per cache
 * (or copied from an offline bundle): the seed images' base and the node OS
 * image both unpack it, so the packages it holds are fetched only once.
 * Callers hold the cache's base.lock.
 */
export async function minbaseTarball(o: { cacheDir: string; suite: string; arch: string; mirror: string; offlineDir?: string; say: (m: string) => void }): Promise<string> {
  const { suite, arch, say } = o;
  const m = { mirror: o.mirror };
  const dir = path.join(o.cacheDir, 'seed');
  mkdirSync(dir, { recursive: true });
  const tarball = path.join(dir, `${suite}-minbase-${arch}.tgz`);

  const bundled = o.offlineDir ? path.join(o.offlineDir, 'base', path.basename(tarball)) : undefined;
  if (!existsSync(tarball) && bundled && existsSync(bundled)) {
    say(`base: debootstrap tarball from ${bundled}`);
    copyFileSync(bundled, `${tarball}.${process.pid}.tmp`);
    renameSync(`${tarball}.${process.pid}.tmp`, tarball);
  }
  if (!existsSync(tarball) && o.offlineDir) {
    throw new KseedError(`no debootstrap tarball for the base: neither ${tarball} nor ${bundled}`, {
      code: 'bad-input',
      detail: 'make the bundle with `kseed images fetch --out DIR` (it includes base/), or pass --base IMAGE',
    });
  }
  if (!existsSync(tarball)) {
    say(`base: debootstrap --make-tarball ${suite} from ${m.mirror}`);
    const work = path.join(dir, `mt-${process.pid}`);
    const tmp = `${tarball}.${process.pid}.tmp`;
    rmSync(work, { recursive: true, force: true });
    try {
      await run('debootstrap', ['--variant=minbase', `--arch=${arch}`, `--make-tarball=${tmp}`, suite, work, m.mirror], {
        timeoutMs: 1_800_000,
      });
      renameSync(tmp, tarball);
    } finally {
      rmSync(work, { recursive: true, force: true });
      rmSync(tmp, { force: true });
    }
  }

  return tarball;
}

export async function ensureBase(opts: BaseOptions): Promise<BaseResult> {
  if (opts.image) return ensureBaseLocked(opts);
  const dir = path.join(opts.cacheDir, 'seed');
  mkdirSync(dir, { recursive: true });
  return withLock(path.join(dir, 'base.lock'), () => ensureBaseLocked(opts));
}

async function ensureBaseLocked(opts: BaseOptions): Promise<BaseResult> {
  const t0 = Date.now();
  const say = opts.onProgress ?? (() => {});
  const seconds = () => (Date.now() - t0) / 1000;
  if (opts.image) {
    const info = await inspectImage(opts.image);
    if (!info) {
      throw new KseedError(`base image ${opts.image} not found locally (kseed never pulls)`, {
        code: 'image-not-found',
        detail: 'load it first (docker load / docker import), or drop --base to debootstrap one',
      });
    }
    say(`base: ${opts.image} (given)`);
    return { image: opts.image, id: info.id, size: info.size, status: 'given', seconds: seconds() };
  }

  const suite = opts.suite ?? 'bookworm';
  const arch = opts.arch ?? (await hostArch());
  const m = opts.mirrors ?? pickMirrors(readHostSources(), suite);
  const dir = path.join(opts.cacheDir, 'seed');
  const tarball = await minbaseTarball({ cacheDir: opts.cacheDir, suite, arch, mirror: m.mirror, offlineDir: opts.offlineDir, say });

  const list = sourcesList(suite, m);
  const hash = createHash('sha256')
    .update(`${RECIPE}\nbase ${suite} ${arch} minbase\n${list}\n${await tarballPackages(tarball)}\n`)
    .digest('hex');
  const image = `kseed/base:${suite}-${hash.slice(0, 12)}`;
  const have = await inspectImage(image);
  if (have && !opts.force) {
    say(`base: ${image} up to date`);
    return { image, id: have.id, size: have.size, status: 'reused', seconds: seconds(), mirror: m.mirror, tarball };
  }

  const root = path.join(dir, `rootfs-${process.pid}`);
  rmSync(root, { recursive: true, force: true });
  try {
    say(`base: debootstrap --unpack-tarball ${path.basename(tarball)}`);
    await run('debootstrap', ['--variant=minbase', `--arch=${arch}`, `--unpack-tarball=${tarball}`, suite, root, m.mirror], {
      timeoutMs: 1_800_000,
    });
    cleanRootfs(root, suite, m);
    say(`base: docker import ${image}`);
    try {
      await runPipe(
        ['tar', ['--numeric-owner', '-C', root, '-c', '.']],
        ['docker', ['import', '-c', 'CMD ["/bin/bash"]', '-c', 'ENV LANG=C.UTF-8', '-c', `LABEL ${INPUTS_LABEL}=${hash}`, '-', image]],
        { timeoutMs: 600_000 },
      );
    } catch (err) {
      const e = err as KseedError;
      if (e.code === TOOL_ERROR.missing) throw err;
      throw new KseedError(`docker import of the base image ${image} failed`, { code: 'build-failed', detail: e.detail || e.message, cause: err });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const info = await inspectImage(image);
  if (!info) throw new KseedError(`docker import did not produce ${image}`, { code: 'build-failed' });
  return { image, id: info.id, size: info.size, status: 'built', seconds: seconds(), mirror: m.mirror, tarball };
}

/** Size of a file, 0 when absent (for reports). */
export function fileSize(f: string): number {
  try {
    return statSync(f).size;
  } catch {
    return 0;
  }
}
