/**
 * Debian packages as build inputs: resolved with apt-cache, fetched with
 * `apt-get download` into `<cache>/debs/`, unpacked with `dpkg-deb -x` into
 * `<cache>/x/<file>/`. Nothing is installed on the host, and a cache that
 * already holds the files works offline (apt is then not asked at all when
 * it cannot answer).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KseedError } from '../errors.js';
import { output as run } from '../util/tools.js';

export interface Deb {
  pkg: string;
  version: string;
  arch: string;
  /** Absolute path of the .deb in the cache. */
  file: string;
}

/** The name apt-get download gives a file: the epoch colon is URL-escaped. */
export function debFileName(pkg: string, version: string, arch: string): string {
  return `${pkg}_${version.replace(/:/g, '%3a')}_${arch}.deb`;
}

export interface AptPackage {
  pkg: string;
  version: string;
  arch: string;
  depends: string;
}

/** Parses `apt-cache show --no-all-versions` output: one stanza per package (its candidate). */
export function parseAptShow(text: string): Map<string, AptPackage> {
  const out = new Map<string, AptPackage>();
  for (const stanza of text.split(/\n\s*\n/)) {
    const field = (k: string) => new RegExp(`^${k}: *(.*)$`, 'm').exec(stanza)?.[1]?.trim();
    const pkg = field('Package');
    const version = field('Version');
    const arch = field('Architecture');
    if (!pkg || !version || !arch || out.has(pkg)) continue;
    out.set(pkg, { pkg, version, arch, depends: field('Depends') ?? '' });
  }
  return out;
}

/**
 * What apt would answer depends only on its package lists and its config:
 * their newest mtime keys a memo of earlier answers, so an unchanged build
 * does not pay ~1-4 s per apt-cache run.
 */
function aptFingerprint(): string {
  let newest = 0;
  let count = 0;
  for (const dir of ['/var/lib/apt/lists', '/etc/apt', '/etc/apt/sources.list.d', '/etc/apt/preferences.d']) {
    try {
      for (const f of readdirSync(dir)) {
        newest = Math.max(newest, statSync(path.join(dir, f)).mtimeMs);
        count++;
      }
      newest = Math.max(newest, statSync(dir).mtimeMs);
    } catch {
      // a missing dir is part of the fingerprint too (count)
    }
  }
  return `${newest}:${count}`;
}

let memoFile: string | undefined;

/** Keeps apt answers in <cache>/debs/apt-memo.json while the fingerprint holds. */
export function useAptMemo(cacheDir: string): void {
  memoFile = path.join(cacheDir, 'debs', 'apt-memo.json');
}

function memoGet(key: string): AptPackage | null | undefined {
  if (!memoFile || !existsSync(memoFile)) return undefined;
  try {
    const m = JSON.parse(readFileSync(memoFile, 'utf8')) as { fp: string; answers: Record<string, AptPackage | null> };
    return m.fp === aptFingerprint() ? m.answers[key] : undefined;
  } catch {
    return undefined;
  }
}

function memoPut(answers: Record<string, AptPackage | null>): void {
  if (!memoFile) return;
  const fp = aptFingerprint();
  let old: Record<string, AptPackage | null> = {};
  try {
    const m = JSON.parse(readFileSync(memoFile, 'utf8')) as { fp: string; answers: Record<string, AptPackage | null> };
    if (m.fp === fp) old = m.answers;
  } catch {
    // no memo yet
  }
  mkdirSync(path.dirname(memoFile), { recursive: true });
  const tmp = `${memoFile}.${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ fp, answers: { ...old, ...answers } }));
  renameSync(tmp, memoFile);
}

export async function aptShow(names: string[]): Promise<Map<string, AptPackage>> {
  const out = new Map<string, AptPackage>();
  const ask: string[] = [];
  for (const n of names) {
    const m = memoGet(n);
    if (m) out.set(n, m);
    else ask.push(n);
  }
  if (ask.length === 0) return out;
  const fresh = await aptShowRun(ask);
  memoPut(Object.fromEntries(ask.filter((n) => fresh.has(n)).map((n) => [n, fresh.get(n)!])));
  for (const [k, v] of fresh) out.set(k, v);
  return out;
}

/** One apt-cache run for all names (each run costs ~1 s); on failure, name by name. */
async function aptShowRun(names: string[]): Promise<Map<string, AptPackage>> {
  try {
    return parseAptShow(await run('apt-cache', ['show', '--no-all-versions', ...names], { timeoutMs: 60_000 }));
  } catch {
    if (names.length === 1) return new Map();
    const out = new Map<string, AptPackage>();
    for (const n of names) for (const [k, v] of await aptShowRun([n])) out.set(k, v);
    return out;
  }
}

/** Newest cached file of a package, for offline builds (highest version by dpkg's order). */
async function cachedDeb(debDir: string, pkg: string): Promise<Deb | undefined> {
  if (!existsSync(debDir)) return undefined;
  const files = readdirSync(debDir).filter((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  let best: Deb | undefined;
  for (const f of files) {
    const [, v, a] = f.slice(0, -4).split('_');
    if (!v || !a) continue;
    const version = v.replace(/%3a/gi, ':');
    if (best) {
      const newer = await run('dpkg', ['--compare-versions', version, 'gt', best.version]).then(
        () => true,
        () => false,
      );
      if (!newer) continue;
    }
    best = { pkg, version, arch: a, file: path.join(debDir, f) };
  }
  return best;
}

/**
 * The versioned kernel package behind a metapackage such as
 * linux-image-cloud-amd64 (whose only job is to depend on it).
 */
export async function resolveKernelPackage(cacheDir: string, meta = 'linux-image-cloud-amd64'): Promise<string> {
  useAptMemo(cacheDir);
  const show = (await aptShow([meta])).get(meta);
  const dep = show?.depends
    .split(',')
    .map((d) => d.trim().split(/\s/)[0] ?? '')
    .find((d) => /^linux-image-\d/.test(d));
  if (dep) return dep;
  // Offline: the newest kernel of that flavour already in the cache.
  const flavour = meta.replace(/^linux-image-/, '');
  const debDir = path.join(cacheDir, 'debs');
  // linux-image-<abi>-<flavour>_..., so that "amd64" does not also pick "cloud-amd64"
  const versioned = new RegExp(`^linux-image-\\d+\\.\\d+\\.\\d+-\\d+-${flavour.replace(/[^a-z0-9]/g, '\\$&')}_`);
  const names = existsSync(debDir)
    ? readdirSync(debDir)
        .filter((f) => versioned.test(f))
        .map((f) => f.split('_')[0] ?? '')
        .sort()
    : [];
  const last = names[names.length - 1];
  if (last) return last;
  throw new KseedError(`cannot resolve ${meta}: apt-cache does not know it and the cache has no kernel`, {
    code: 'missing-package',
    detail: 'run `apt-get update` (or fill <cache>/debs/ from a mirror) and try again',
  });
}

/**
 * Candidate versions of the packages, downloaded into <cache>/debs unless
 * already there. Returns them in the order asked.
 */
export async function fetchDebs(names: string[], cacheDir: string): Promise<Deb[]> {
  const debDir = path.join(cacheDir, 'debs');
  mkdirSync(debDir, { recursive: true });
  useAptMemo(cacheDir);
  const out: Deb[] = [];
  const missing: Deb[] = [];
  const known = await aptShow(names);
  for (const name of names) {
    const show = known.get(name);
    if (!show) {
      const cached = await cachedDeb(debDir, name);
      if (!cached) {
        throw new KseedError(`Debian package ${name} is unknown to apt and not in ${debDir}`, {
          code: 'missing-package',
          detail: 'run `apt-get update`, or copy the .deb into the cache',
        });
      }
      out.push(cached);
      continue;
    }
    const deb = { pkg: show.pkg, version: show.version, arch: show.arch, file: path.join(debDir, debFileName(show.pkg, show.version, show.arch)) };
    out.push(deb);
    if (!existsSync(deb.file)) missing.push(deb);
  }
  if (missing.length > 0) {
    // Download into a scratch dir first so an interrupted fetch never leaves a truncated .deb behind.
    const tmp = path.join(debDir, `.partial-${process.pid}`);
    mkdirSync(tmp, { recursive: true });
    try {
      await run('apt-get', ['download', '-q', '-o', 'APT::Sandbox::User=root', ...missing.map((d) => `${d.pkg}=${d.version}`)], {
        cwd: tmp,
        timeoutMs: 600_000,
      });
      for (const d of missing) renameSync(path.join(tmp, path.basename(d.file)), d.file);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return out;
}

/** Unpacks a .deb once into <cache>/x/<file>/ and returns that directory. */
export async function extractDeb(deb: Deb, cacheDir: string): Promise<string> {
  const dir = path.join(cacheDir, 'x', path.basename(deb.file, '.deb'));
  const done = path.join(dir, '.kseed-extracted');
  if (existsSync(done)) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await run('dpkg-deb', ['-x', deb.file, dir]);
  writeFileSync(done, `${deb.pkg} ${deb.version}\n`);
  return dir;
}
