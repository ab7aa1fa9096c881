#!/usr/bin/env node
/**
 * Step two of `npm run build`: each module tsc compiled from src/util/vendor/
 * (a one-line re-export of a dependency) is replaced by one esbuild bundle of
 * that dependency. Node then reads one file where it resolved, read and
 * linked 71 (zod) or lexed about 60 CommonJS files (yaml) on every start of
 * the CLI. The bundles are build output (dist/ is not committed); the
 * dependencies stay ordinary npm dependencies at their pinned versions.
 */
import { readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const BANNER = "import { createRequire as __kseedRequire } from 'node:module'; const require = __kseedRequire(import.meta.url);";
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'util', 'vendor');
for (const file of readdirSync(dir).filter((f) => f.endsWith('.js'))) {
  const entry = path.join(dir, file);
  // Run twice on the same dist/ (by hand, without tsc between), the input would be last run's
  // bundle, and bundling it again declares `require` twice: a bundle is left as it is.
  if (readFileSync(entry, 'utf8').startsWith(BANNER)) continue;
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    write: false,
    legalComments: 'inline',
    logLevel: 'warning',
    // yaml's CommonJS files require('process'): an ES module has no require of its own
    banner: { js: BANNER },
  });
  // whole or not at all: a half-written bundle would break every command
  const tmp = `${entry}.tmp`;
  writeFileSync(tmp, out.outputFiles[0].contents);
  renameSync(tmp, entry);
  // tsc's source map described the one-line re-export, not the bundle
  rmSync(`${entry}.map`, { force: true });
}
