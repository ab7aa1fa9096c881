/**
 * The artifacts directory a lab's seed serves at /artifacts, filled from the
 * image cache: hard links (the cache holds hundreds of MB), copies where the
 * cache is on another filesystem.
 */
import { linkSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** `files`: name under `dir` -> cached file. */
export function stageArtifacts(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [to, from] of Object.entries(files)) {
    try {
      linkSync(from, path.join(dir, to));
    } catch {
      writeFileSync(path.join(dir, to), readFileSync(from));
    }
  }
}
