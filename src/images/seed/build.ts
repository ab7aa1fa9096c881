/**
 * `kseed images build`: the base, then one image per service from its
 * rendered Dockerfile. An image whose input-hash label matches what would be
 * built now is left alone, so a second run only inspects images.
 */
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KseedError } from '../../errors.js';
import { runQuiet } from '../../util/tools.js';
import { bundledImageId } from '../bundled.js';
import { REPO_ROOT } from '../../render/stack.js';
import type { StackService } from '../../render/model.js';
import { ensureBase, type BaseResult } from './base.js';
import { INPUTS_LABEL, inputHash, loadTemplates, renderDockerfile } from './dockerfile.js';
import { DOCKER_ENV, checkDocker, inspectImage } from './docker.js';
import { SEED_SERVICES, SERVICE_ORDER, repoOf } from './services.js';

export interface SeedBuildOptions {
  cacheDir: string;
  /** Default: the default stack (inspector only when asked). */
  services?: StackService[];
  /** Local image to build FROM instead of a debootstrapped base. */
  baseImage?: string;
  /** Directory of pre-fetched .debs (`<dir>/<image name>/*.deb`, from `kseed images fetch`). */
  offline?: string;
  force?: boolean;
  tag?: string;
  templatesDir?: string;
  onProgress?: (line: string) => void;
}

export interface ImageOutcome {
  name: StackService;
  image: string;
  tag: string;
  id: string;
  size: number;
  seconds: number;
  status: 'built' | 'reused';
  hash: string;
}

export interface SeedBuildResult {
  base: BaseResult;
  images: ImageOutcome[];
  seconds: number;
}

export const DEFAULT_SERVICES: StackService[] = ['ironic', 'dnsmasq', 'http', 'registry'];

export function kseedVersion(): string {
  return (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The directory name of a service's .debs in an offline bundle: its image name. */
export function offlineDirOf(dir: string, s: StackService): string {
  return path.join(dir, repoOf(s).split('/').pop()!);
}

function debsIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.deb'))
    .map((f) => `${f}:${statSync(path.join(dir, f)).size}`);
}

/** The most useful line of a failed apt/docker build: apt's `E:` line, else the last non-empty one. */
export function failureReason(raw: string[]): string {
  // The classic builder colours a RUN's stderr (ESC[91m) without a line break before it.
  const tail = raw.map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''));
  const e = tail.map((l) => /(?:^|[^A-Za-z0-9])(E: .*)$/.exec(l)?.[1]).filter((x): x is string => Boolean(x));
  if (e.length) return e[0]!.trim();
  const err = tail.filter((l) => /error|failed|returned a non-zero code/i.test(l));
  return (err.pop() ?? tail.filter((l) => l.trim()).pop() ?? 'unknown error').trim();
}

export async function dockerBuild(
  args: { tag: string; hash: string; service: string; dockerfile: string; context: string; network?: string; logFile: string },
  say: (l: string) => void,
): Promise<void> {
  const cli = [
    'build',
    '--force-rm',
    '--label',
    `${INPUTS_LABEL}=${args.hash}`,
    '--label',
    `org.kseed.version=${kseedVersion()}`,
    ...(args.network ? ['--network', args.network] : []),
    '-t',
    args.tag,
    '-f',
    args.dockerfile,
    args.context,
  ];
  const log: string[] = [];
  // Written as it comes, so a long build can be followed with tail -f.
  const logStream = createWriteStream(args.logFile);
  const onLine = (line: string) => {
    log.push(line);
    logStream.write(`${line}\n`);
    if (log.length > 200) log.shift();
    // One progress line per Dockerfile step; apt's chatter goes to the log file.
    if (/^Step \d+\/\d+ : /.test(line)) say(`${args.service}: ${line.length > 110 ? `${line.slice(0, 107)}...` : line}`);
  };
  let r;
  try {
    r = await runQuiet('docker', cli, { env: DOCKER_ENV, buffer: false, timeoutMs: 3_600_000, onLine });
  } finally {
    await new Promise<void>((resolve) => logStream.end(() => resolve()));
  }
  if (r.exitCode !== 0) {
    const tail = log.slice(-30).map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''));
    throw new KseedError(`building ${args.tag} failed: ${failureReason(tail)}`, {
      code: 'build-failed',
      detail: `full log: ${args.logFile}\n${tail.join('\n')}`,
    });
  }
}

/**
 * Every image asked for, when each is still the image a loaded bundle put
 * under its tag: used as it is. An air-gapped seed could not compute their
 * input hash (the base's name hashes the apt sources) nor rebuild them.
 */
async function fromBundle(cacheDir: string, services: StackService[], tag: string): Promise<ImageOutcome[] | undefined> {
  const out: ImageOutcome[] = [];
  for (const s of services) {
    const ref = `${repoOf(s)}:${tag}`;
    const id = bundledImageId(cacheDir, ref);
    const have = id ? await inspectImage(ref) : undefined;
    if (!have || have.id !== id) return undefined;
    out.push({ name: s, image: repoOf(s), tag: ref, id: have.id, size: have.size, seconds: 0, status: 'reused', hash: have.labels[INPUTS_LABEL] ?? '' });
  }
  return out;
}

export async function buildSeedImages(opts: SeedBuildOptions): Promise<SeedBuildResult> {
  const t0 = Date.now();
  const say = opts.onProgress ?? (() => {});
  const services = SERVICE_ORDER.filter((s) => (opts.services ?? DEFAULT_SERVICES).includes(s));
  const tag = opts.tag ?? kseedVersion();
  await checkDocker();
  if (opts.offline && !existsSync(opts.offline)) {
    throw new KseedError(`offline package directory not found: ${opts.offline}`, {
      code: 'bad-input',
      detail: 'fill it with: kseed images fetch --out DIR (on a machine with a Debian mirror)',
    });
  }

  const loaded = opts.force || opts.baseImage || opts.offline ? undefined : await fromBundle(opts.cacheDir, services, tag);
  if (loaded) {
    say(`${loaded.map((i) => i.tag).join(', ')}: as loaded by kseed bundle load`);
    return { base: { image: 'none (images from kseed bundle load)', id: '', size: 0, status: 'bundled', seconds: 0 }, images: loaded, seconds: (Date.now() - t0) / 1000 };
  }

  const base = await ensureBase({ cacheDir: opts.cacheDir, image: opts.baseImage, force: opts.force, offlineDir: opts.offline, onProgress: say });
  const work = path.join(opts.cacheDir, 'seed', 'build');
  mkdirSync(work, { recursive: true });

  const images: ImageOutcome[] = [];
  for (const s of services) {
    const t1 = Date.now();
    const svc = SEED_SERVICES[s];
    const ref = `${repoOf(s)}:${tag}`;
    const debDir = opts.offline ? offlineDirOf(opts.offline, s) : undefined;
    const debs = debDir ? debsIn(debDir) : undefined;
    if (debDir && debs!.length === 0) {
      throw new KseedError(`no .debs for ${s} in ${debDir}`, {
        code: 'bad-input',
        detail: 'fill the directory with: kseed images fetch --out DIR',
      });
    }
    const dockerfile = renderDockerfile(loadTemplates(svc, opts.templatesDir), {
      service: svc.template,
      image: ref,
      base: base.image,
      packages: svc.packages,
      debconf: svc.debconf,
      offline: Boolean(debDir),
    });
    const hash = inputHash({ dockerfile, baseId: base.id, debs });
    const have = await inspectImage(ref);
    if (have && have.labels[INPUTS_LABEL] === hash && !opts.force) {
      say(`${s}: ${ref} up to date`);
      images.push({ name: s, image: repoOf(s), tag: ref, id: have.id, size: have.size, seconds: (Date.now() - t1) / 1000, status: 'reused', hash });
      continue;
    }
    say(`${s}: building ${ref}${debDir ? ' (offline, --network none)' : ''}`);
    // Per tag and mode: two builds of one service (a test's private tag, say) never share files.
    const stem = `${svc.template}-${tag}${debDir ? '-offline' : ''}`;
    const dfile = path.join(work, `${stem}.Dockerfile`);
    writeFileSync(dfile, dockerfile);
    // Online builds need no context: an empty directory keeps the upload at zero bytes.
    const ctx = debDir ?? path.join(work, `ctx-${stem}`);
    if (!debDir) {
      rmSync(ctx, { recursive: true, force: true });
      mkdirSync(ctx, { recursive: true });
    }
    await dockerBuild(
      { tag: ref, hash, service: s, dockerfile: dfile, context: ctx, network: debDir ? 'none' : undefined, logFile: path.join(work, `${stem}.log`) },
      say,
    );
    const info = await inspectImage(ref);
    if (!info) throw new KseedError(`docker build did not produce ${ref}`, { code: 'build-failed' });
    const secs = (Date.now() - t1) / 1000;
    say(`${s}: built ${ref} in ${secs.toFixed(1)} s, ${(info.size / 1e6).toFixed(0)} MB`);
    images.push({ name: s, image: repoOf(s), tag: ref, id: info.id, size: info.size, seconds: secs, status: 'built', hash });
  }
  return { base, images, seconds: (Date.now() - t0) / 1000 };
}
