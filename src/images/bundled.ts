/**
 * Artifacts `kseed bundle load` put into a cache directory are used as
 * built: an air-gapped seed has no apt to recompute a build's inputs, which
 * is how a builder otherwise decides to reuse its output. `bundled.json` in
 * the directory names the files a bundle installed; a build (`--force`)
 * removes it, since its output replaces the bundle's.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
