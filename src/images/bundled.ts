/**
 * Artifacts `kseed bundle load` put into a cache directory are used as
 * built: an air-gapped seed has no apt to recompute a build's inputs, which
 * is how a builder otherwise decides to reuse its output. `bundled.json` in
 * the directory names the files a bundle installed; a build (`--force`)
 * removes it, since its output replaces the bundle's.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const BUNDLED = 'bundled.json';

interface Marker {
  bundle: string;
  files: string[];
}

/** The directory's stamp when a bundle installed `files` and the stamp, and they are all there. */
export function bundledStamp<T>(dir: string, files: string[], stamp: string): T | undefined {
  try {
    const m = JSON.parse(readFileSync(path.join(dir, BUNDLED), 'utf8')) as Marker;
    if (![...files, stamp].every((f) => m.files.includes(f) && existsSync(path.join(dir, f)))) return undefined;
    return JSON.parse(readFileSync(path.join(dir, stamp), 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Records that `bundle` installed `files` in `dir` (added to what an earlier load recorded). */
export function markBundled(dir: string, files: string[], bundle: string): void {
  let had: string[] = [];
  try {
    had = (JSON.parse(readFileSync(path.join(dir, BUNDLED), 'utf8')) as Marker).files;
  } catch {
    // first load into this directory
  }
  const m: Marker = { bundle, files: [...new Set([...had, ...files])].sort() };
  writeFileSync(path.join(dir, BUNDLED), `${JSON.stringify(m, null, 2)}\n`);
}

export function forgetBundled(dir: string): void {
  rmSync(path.join(dir, BUNDLED), { force: true });
}

/** Docker images a bundle loaded, per cache: `seed/bundled-images.json` maps each tag to the image ID it loaded. */
const imagesFile = (cacheDir: string) => path.join(cacheDir, 'seed', 'bundled-images.json');

function readImages(cacheDir: string): Record<string, string> {
  try {
    return (JSON.parse(readFileSync(imagesFile(cacheDir), 'utf8')) as { images: Record<string, string> }).images;
  } catch {
    return {};
  }
}

/** Records that a bundle loaded (or found already loaded) these images, for the image builders of this cache. */
export function markBundledImages(cacheDir: string, images: { ref: string; id: string }[], bundle: string): void {
  const all = { ...readImages(cacheDir), ...Object.fromEntries(images.map((i) => [i.ref, i.id])) };
  mkdirSync(path.dirname(imagesFile(cacheDir)), { recursive: true });
  writeFileSync(imagesFile(cacheDir), `${JSON.stringify({ bundle, images: all }, null, 2)}\n`);
}

/**
 * The image ID a bundle loaded under `ref` into the engine of this cache's
 * seed. A builder compares it with the tag's image now: equal means the
 * bundle's image is still the one tagged, to be used as it is.
 */
export function bundledImageId(cacheDir: string, ref: string): string | undefined {
  return readImages(cacheDir)[ref];
}
