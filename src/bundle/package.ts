/**
 * kseed itself for a bundle (`--with kseed`): an air-gapped machine has no
 * npm registry, so the bundle carries the installed package (its published
 * files, its production dependencies as installed here, native builds
 * included) and the Node binary running it, as one gzip tarball that plain
 * `tar` unpacks into a directory kseed runs from.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { KseedError } from '../errors.js';
import { REPO_ROOT } from '../render/stack.js';
import { requireTool, run } from '../util/tools.js';

interface PackageJson {
  name: string;
  version: string;
  files?: string[];
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

const readPkg = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as PackageJson;

/**
 * The directory Node would load `name` from when required in `from`
 * (node_modules of `from`, then of each parent), never above `root`: a
 * dependency found only outside the package would be missing once unpacked.
 */
function resolveDep(name: string, from: string, root: string): string | undefined {
  for (let d = from; ; d = path.dirname(d)) {
    const p = path.join(d, 'node_modules', name);
    if (existsSync(path.join(p, 'package.json'))) return p;
    if (d === root || !d.startsWith(root)) return undefined;
  }
}

/**
 * The package's production dependency directories, relative to `root`,
 * found by following `dependencies` (and `optionalDependencies` that are
 * installed) from package.json the way Node resolves them. devDependencies
 * are never reached, so a development checkout packs what `npm ci
 * --omit=dev` would have installed.
 */
export function productionDeps(root: string): string[] {
  const seen = new Set<string>();
  const walk = (dir: string) => {
    const pkg = readPkg(dir);
    const deps = [...Object.keys(pkg.dependencies ?? {}).map((n) => [n, true] as const), ...Object.keys(pkg.optionalDependencies ?? {}).map((n) => [n, false] as const)];
    for (const [name, required] of deps) {
      const at = resolveDep(name, dir, root);
      if (!at) {
        if (required) throw new KseedError(`dependency ${name} of ${pkg.name} is not installed under ${root}`, { code: 'not-built', detail: 'install the production dependencies first: npm ci --omit=dev' });
        continue;
      }
      const rel = path.relative(root, at);
      if (seen.has(rel)) continue;
      seen.add(rel);
      walk(at);
    }
  };
  walk(root);
  // a nested directory is inside its parent's copy already
  const all = [...seen].sort();
  return all.filter((p) => !all.some((q) => q !== p && p.startsWith(`${q}${path.sep}`)));
}

/** The package's own files: what npm publishes (package.json `files`, package.json, README). */
export function packageFiles(root: string): string[] {
  const pkg = readPkg(root);
  return ['package.json', ...['README.md', 'LICENSE'].filter((f) => existsSync(path.join(root, f))), ...(pkg.files ?? [])].filter((f) => existsSync(path.join(root, f)));
}

export interface PackedKseed {
  /** The directory the tarball unpacks to, e.g. kseed-0.1.0. */
  dir: string;
  /** Fingerprint of what went in: an unchanged one is not packed again. */
  source: string;
  members: string[];
}

/** What `packKseed` would put in, and a fingerprint of it (versions, the build's and Node's mtimes). */
export function planKseed(root = REPO_ROOT): PackedKseed {
  const pkg = readPkg(root);
  if (!existsSync(path.join(root, 'dist', 'cli', 'main.js'))) {
    throw new KseedError(`${root} has no dist/: kseed is not built`, { code: 'not-built', detail: 'build it first: npm run build' });
  }
  const deps = productionDeps(root);
  const versions = deps.map((d) => `${d}@${readPkg(path.join(root, d)).version}`);
  const mtime = (f: string) => Math.floor(statSync(f).mtimeMs);
  const source = [`${pkg.name}@${pkg.version}`, `dist:${mtime(path.join(root, 'dist', 'cli', 'main.js'))}`, `node:${process.version}:${mtime(process.execPath)}`, ...versions].join(' ');
  return { dir: `${pkg.name}-${pkg.version}`, source, members: [...packageFiles(root), ...deps] };
}

/**
 * Writes the tarball: everything under `<name>-<version>/`, Node as its
 * `bin/node` and `bin/kseed` (a link to kseed.js) beside `bin/kseed.js`, so
 * with `<dir>/bin` on PATH `kseed` runs with nothing else installed but
 * Debian's base (libc, libstdc++).
 */
export async function packKseed(out: string, plan: PackedKseed, root = REPO_ROOT): Promise<void> {
  const tar = requireTool('tar', 'to pack kseed for the bundle');
  const nodeDir = path.dirname(process.execPath);
  const nodeName = path.basename(process.execPath);
  const extra = mkdtempSync(`${out}.d-`);
  try {
    symlinkSync('kseed.js', path.join(extra, 'kseed'));
    // GNU tar applies the --transform expressions in order to each member name and hard link target (rh), not to symlink targets (relative, they stay right)
    await run(
      tar,
      [
        // gzip -1: measured 3.8 s of CPU against 10.2 s for the default -6, for 12% more bytes
        '-I', 'gzip -1', '-cf', out, '--owner=0', '--group=0',
        `--transform=flags=rh;s,^${nodeName}$,bin/node,`, '--transform=flags=rh;s,^kseed$,bin/kseed,', `--transform=flags=rh;s,^,${plan.dir}/,`,
        '-C', root, ...plan.members,
        '-C', nodeDir, nodeName,
        '-C', extra, 'kseed',
      ],
      { timeoutMs: 600_000 },
    );
  } finally {
    rmSync(extra, { recursive: true, force: true });
  }
}
