/**
 * The image `kseed lab up` gives a lab that has none and was given none:
 * kseed's own test OS (25 MB; boots BIOS and UEFI; calls back to the seed),
 * built from Debian packages or reused from the cache, and put where both
 * engines' seeds serve /artifacts/ by default (.kseed/cache/ramdisk, beside
 * the deploy ramdisk), so `lab up`, `up`, `provision --all` deploy with no
 * step in between. Without it provision stopped only at deploy: "no image".
 */
import { copyFileSync, linkSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { buildTestOs } from '../images/osimage.js';
import { DEFAULT_PORTS } from '../site/schema.js';
import type { ImageSpec } from '../site/types.js';
import type { CliContext } from './context.js';

export const DEFAULT_IMAGE_FILE = 'testos.raw.gz';

export interface DefaultImage {
  spec: ImageSpec;
  /** the file the seed serves */
  served: string;
  reused: boolean;
  seconds: number;
}

/** The directory `kseed up` serves under /artifacts/ when given no --artifacts (either engine). */
export const servedDir = (stateDir: string) => path.join(stateDir, 'cache', 'ramdisk');

/** Hard link (a copy across file systems), replacing the old file in one rename. */
function place(from: string, to: string): void {
  const tmp = `${to}.${process.pid}`;
  rmSync(tmp, { force: true });
  try {
    linkSync(from, tmp);
  } catch {
    copyFileSync(from, tmp);
  }
  renameSync(tmp, to);
}

/** Builds (or reuses) the test OS in `cacheDir` and serves it from the state's artifacts directory. */
export async function labDefaultImage(ctx: CliContext, cacheDir: string, seedIpv4: string): Promise<DefaultImage> {
  ctx.out.progress(`no --image-url: giving the lab kseed's test OS (built from Debian packages in ${cacheDir}, reused when unchanged; --no-image skips it)`);
  const r = await buildTestOs({ cacheDir, onProgress: (m) => ctx.out.progress(`test OS: ${m}`) });
  const served = path.join(servedDir(ctx.stateDir), DEFAULT_IMAGE_FILE);
  mkdirSync(path.dirname(served), { recursive: true });
  place(r.gz, served);
  return {
    spec: { url: `http://${seedIpv4}:${DEFAULT_PORTS.http}/artifacts/${DEFAULT_IMAGE_FILE}`, checksum: `sha256:${r.sha256.gz}`, format: 'raw', compression: 'gzip' },
    served,
    reused: r.reused,
    seconds: r.seconds,
  };
}
