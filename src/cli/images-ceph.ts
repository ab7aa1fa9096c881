/** `kseed images ceph`; src/cli/images.ts attaches it. */
import path from 'node:path';
import type { Command } from 'commander';
import { contextOf } from './context.js';
import { table } from './output.js';
import { buildCephImage } from '../images/ceph/build.js';

const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;

export function registerCephImage(images: Command): void {
  images
    .command('ceph')
    .description("build the Ceph image (kseed/ceph:<version>) from Debian's Ceph packages and put the matching cephadm .deb and the image's `docker save` archive among the seed's artifacts")
    .option('--cache <dir>', 'cache directory (default: .kseed/cache beside the site file)')
    .option('--artifacts <dir>', "the directory the seed serves under /artifacts/ (default: .kseed/cache/ramdisk, the seed's default)")
    .option('--base <image>', 'a local Debian bookworm image to build FROM (default: the debootstrapped seed base)')
    .option('--force', 'rebuild even when nothing changed', false)
    .action(async (o: { cache?: string; artifacts?: string; base?: string; force?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const r = await buildCephImage({
        cacheDir: o.cache ? path.resolve(o.cache) : path.join(ctx.stateDir, 'cache'),
        artifactsDir: o.artifacts ? path.resolve(o.artifacts) : path.join(ctx.stateDir, 'cache', 'ramdisk'),
        baseImage: o.base,
        force: o.force,
        onProgress: (m) => ctx.out.progress(m),
      });
      ctx.out.result({ ...r, seconds: Number(r.seconds.toFixed(1)) }, () =>
        table(
          ['image', 'ceph', 'size', 'seconds', 'status'],
          [[r.image, r.version, mb(r.size), r.seconds.toFixed(1), r.status === 'reused' ? 'up to date' : 'built']],
        ) +
          `\ncephadm for the nodes: ${r.cephadm_deb}` +
          `\nimage archive for the nodes: ${r.archive.file} (${mb(r.archive.size)}, sha256 ${r.archive.sha256}${r.archive.status === 'reused' ? ', up to date' : ''})` +
          `\nnext: kseed up, then kseed handoff --ceph --run (the nodes load the archive; with handoff.ceph.image_delivery: registry, kseed mirror sync --ceph first)`,
      );
    });
}
