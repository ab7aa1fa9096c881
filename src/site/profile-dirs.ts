/**
 * Where hardware profiles live: the ones shipped with kseed, then a
 * `hardware-profiles/` folder beside the site file, whose files override
 * shipped ones of the same name (a site can tune a vendor's timeouts).
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** `<package>/hardware-profiles`, from src/ (tests) and dist/ (built CLI) alike. */
export const BUILTIN_PROFILES_DIR = fileURLToPath(new URL('../../hardware-profiles/', import.meta.url));

export function profileDirs(siteDir?: string): string[] {
  const dirs = [BUILTIN_PROFILES_DIR];
  if (siteDir) {
    const local = path.join(siteDir, 'hardware-profiles');
    if (path.resolve(local) !== path.resolve(BUILTIN_PROFILES_DIR)) dirs.push(local);
  }
  return dirs;
}

/** Profile files by name (basename without .yaml); later dirs win. */
export function profileFiles(dirs: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const f of names.sort()) {
      const m = /^([a-z0-9][a-z0-9-]*)\.ya?ml$/.exec(f);
      if (m) out.set(m[1]!, path.join(dir, f));
    }
  }
  return out;
}
