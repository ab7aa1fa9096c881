/** Every file under `root`, by its path relative to `root`, with its text: a rendered tree to compare whole. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out[path.relative(root, full)] = readFileSync(full, 'utf8');
    }
  };
  walk(root);
  return out;
}
