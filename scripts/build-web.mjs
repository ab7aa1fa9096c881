#!/usr/bin/env node
/**
 * Step three of `npm run build`: the status page (web/) into dist/web/,
 * which the seed service serves (src/service/web.ts). The script is
 * type-checked against the DOM (web/tsconfig.json: the CLI's own tsconfig
 * has no DOM) and bundled by esbuild; the page has no runtime dependency
 * and loads nothing from elsewhere (no CDN: it works offline).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'web');
const out = path.join(root, 'dist', 'web');
try {
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(src, 'tsconfig.json')], { stdio: 'inherit' });
} catch {
  // tsc printed the file:line:column of each error
  process.exit(1);
}
// built beside, then swapped in: a failed build leaves the previous page whole
const tmp = `${out}.tmp`;
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
const common = { bundle: true, minify: true, target: ['chrome110', 'firefox110', 'safari16'], legalComments: 'none', logLevel: 'warning' };
await build({ ...common, entryPoints: [path.join(src, 'src', 'main.ts')], outfile: path.join(tmp, 'app.js'), format: 'esm' });
await build({ ...common, entryPoints: [path.join(src, 'src', 'app.css')], outfile: path.join(tmp, 'app.css') });
for (const f of ['index.html', 'favicon.svg']) copyFileSync(path.join(src, f), path.join(tmp, f));
rmSync(out, { recursive: true, force: true });
renameSync(tmp, out);
