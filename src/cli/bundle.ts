/** `kseed bundle create|show|load`: air-gap bundles (src/bundle/). */
import path from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { createBundle, DEFAULT_PARTS, PARTS, type Part } from '../bundle/create.js';
import { loadBundle, showBundle } from '../bundle/load.js';
import { contextOf } from './context.js';
import { table } from './output.js';

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

function partsOf(list: string | undefined, opt: string): Part[] {
  const names = (list ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const bad = names.filter((n) => !PARTS.includes(n as Part));
  if (bad.length) throw new InputError(`${opt} ${list}: unknown part${bad.length > 1 ? 's' : ''} ${bad.join(', ')} (known: ${PARTS.join(', ')})`);
  return names as Part[];
}

export function register(program: Command): void {
  const bundle = program.command('bundle').description('air-gap bundles: everything the seed needs in one file');

  bundle
    .command('create')
    .description(`write one archive with the seed images, the deploy ramdisk, the test OS and the parts asked for (parts: ${PARTS.join(', ')}); kept as it is when nothing changed`)
    .option('--out <file>', 'the bundle file', 'kseed-bundle.tar')
    .option('--with <parts>', `more parts, comma-separated, beside ${DEFAULT_PARTS.join(',')}: os, ceph, debs, kseed (kseed itself and Node, for a machine with no npm registry)`)
    .option('--only <parts>', 'exactly these parts, comma-separated (e.g. ramdisk,testos for the embedded engine)')
    .option('--image <ref...>', 'more local Docker images to carry')
    .option('--cache <dir>', 'the cache the images were built into (default: .kseed/cache beside the site file)')
    .action(async (o: { out: string; with?: string; only?: string; image?: string[]; cache?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const parts = o.only ? partsOf(o.only, '--only') : [...new Set([...DEFAULT_PARTS, ...partsOf(o.with, '--with')])];
      if (o.only && o.with) throw new InputError('--only and --with: give one of them');
      const r = await createBundle({
        out: o.out,
        cacheDir: o.cache ? path.resolve(o.cache) : path.join(ctx.stateDir, 'cache'),
        parts,
        extraImages: o.image,
        onProgress: (m) => ctx.out.progress(m),
      });
      ctx.out.result({ ...r, seconds: Number(r.seconds.toFixed(1)) }, () =>
        table(['member', 'kind', 'size'], r.members.map((m) => [m.path, m.kind, mb(m.size)])) +
          `\n${r.file}: ${mb(r.bytes)}, ${r.reused ? 'unchanged, kept' : `written in ${r.seconds.toFixed(1)} s`}\nload it on the seed with: kseed bundle load ${path.basename(r.file)}`,
      );
    });

  bundle
    .command('show')
    .argument('<file>', 'the bundle')
    .description('what a bundle holds and which kseed made it (reads only its headers and manifest)')
    .action(async (file: string, _o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const r = await showBundle(path.resolve(file));
      ctx.out.result({ file: r.file, bytes: r.bytes, ...r.manifest }, () =>
        table(
          ['member', 'kind', 'size', 'sha256', 'images'],
          r.manifest.members.map((m) => [m.path, m.kind, mb(m.size), m.sha256.slice(0, 16), m.images?.map((i) => i.ref).join(' ')]),
        ) + `\n${r.file}: ${mb(r.bytes)}, bundle format ${r.manifest.format}, made by kseed ${r.manifest.kseed} on ${r.manifest.created}`,
      );
    });

  bundle
    .command('load')
    .argument('<file>', 'the bundle')
    .option('--cache <dir>', 'the cache to fill (default: .kseed/cache beside the site file)')
    .description('check every member of a bundle, then load its images into Docker and its files into the cache; a bad bundle installs nothing')
    .action(async (file: string, o: { cache?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const r = await loadBundle({
        file,
        cacheDir: o.cache ? path.resolve(o.cache) : path.join(ctx.stateDir, 'cache'),
        onProgress: (m) => ctx.out.progress(m),
      });
      ctx.out.result({ ...r, seconds: Number(r.seconds.toFixed(1)) }, () =>
        table(
          ['what', 'status'],
          [...r.images.map((i) => [i.ref, i.status === 'loaded' ? 'loaded' : 'already there']), ...r.files.map((f) => [f.path, f.status === 'installed' ? 'installed' : 'unchanged'])],
        ) + `\nloaded in ${r.seconds.toFixed(1)} s into ${r.cacheDir}`,
      );
    });
}
