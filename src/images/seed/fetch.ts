/**
 * `kseed images fetch --out DIR`: the .debs each seed image installs, for
 * `kseed images build --offline DIR` on a machine without a mirror. apt runs
 * inside the base image itself, so exactly the packages missing from that
 * base (new ones plus security/updates upgrades) are downloaded. The
 * debootstrap tarball goes along, so the base can be made offline too.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { KseedError } from '../../errors.js';
import { runQuiet } from '../../util/tools.js';
import type { StackService } from '../../render/model.js';
import { ensureBase, type BaseResult } from './base.js';
import { failureReason, offlineDirOf } from './build.js';
import { checkDocker } from './docker.js';
import { SEED_SERVICES, SERVICE_ORDER } from './services.js';

export interface FetchOptions {
  cacheDir: string;
  out: string;
  services: StackService[];
  baseImage?: string;
  /** Name prefix of the short-lived apt containers (tests use kseedtest-*). */
  containerPrefix?: string;
  onProgress?: (line: string) => void;
}

export interface FetchResult {
  base: BaseResult;
  tarball?: string;
  services: { name: StackService; dir: string; debs: number; bytes: number; seconds: number }[];
  seconds: number;
}

/** Where a bundle keeps the debootstrap tarball. */
export function bundleTarball(dir: string, file: string): string {
  return path.join(dir, 'base', file);
}

export async function fetchSeedDebs(opts: FetchOptions): Promise<FetchResult> {
  const t0 = Date.now();
  const say = opts.onProgress ?? (() => {});
  await checkDocker();
  const base = await ensureBase({ cacheDir: opts.cacheDir, image: opts.baseImage, onProgress: say });
  let tarball: string | undefined;
  if (base.tarball) {
    tarball = bundleTarball(opts.out, path.basename(base.tarball));
    mkdirSync(path.dirname(tarball), { recursive: true });
    copyFileSync(base.tarball, tarball);
  }
  const out: FetchResult['services'] = [];
  for (const s of SERVICE_ORDER.filter((x) => opts.services.includes(x))) {
    const t1 = Date.now();
    const svc = SEED_SERVICES[s];
    const dir = offlineDirOf(opts.out, s);
    // Old versions would be installed side by side by `apt-get install *.deb`: start empty.
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    say(`${s}: apt-get --download-only ${svc.packages.join(' ')}`);
    const script = [
      'set -e',
      'export DEBIAN_FRONTEND=noninteractive',
      'apt-get update -qq',
      `apt-get install -y -qq --download-only --no-install-recommends ${svc.packages.join(' ')}`,
      'apt-get upgrade -y -qq --download-only',
    ].join('\n');
    const name = `${opts.containerPrefix ?? 'kseed-fetch'}-${svc.template}-${process.pid}`;
    const all: string[] = [];
    const r = await runQuiet('docker', ['run', '--rm', '--name', name, '-v', `${dir}:/var/cache/apt/archives`, '--entrypoint', 'sh', base.image, '-c', script], {
      timeoutMs: 1_800_000,
      buffer: false,
      onLine: (l) => {
        all.push(l);
        if (all.length > 30) all.shift();
      },
    });
    if (r.exitCode !== 0) {
      await runQuiet('docker', ['rm', '-f', name]);
      const tail = all;
      throw new KseedError(`fetching the .debs for ${s} failed: ${failureReason(tail)}`, { code: 'fetch-failed', detail: tail.join('\n') });
    }
    rmSync(path.join(dir, 'partial'), { recursive: true, force: true });
    rmSync(path.join(dir, 'lock'), { force: true });
    const debs = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.deb')) : [];
    const bytes = debs.reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
    say(`${s}: ${debs.length} .debs, ${(bytes / 1e6).toFixed(0)} MB`);
    out.push({ name: s, dir, debs: debs.length, bytes, seconds: (Date.now() - t1) / 1000 });
  }
  return { base, tarball, services: out, seconds: (Date.now() - t0) / 1000 };
}
