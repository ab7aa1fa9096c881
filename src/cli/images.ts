import path from 'node:path';
import type { Command } from 'commander';
import { buildTestOs } from '../images/osimage.js';
import { buildRamdisk } from '../images/ramdisk.js';
import { registerCephImage } from './images-ceph.js';
import { registerSeedImages } from '../images/seed/cli.js';
import { contextOf } from './context.js';
import { table } from './output.js';

interface BuildOpts {
  cache?: string;
  force?: boolean;
  kernel?: string;
  ssh?: boolean;
}

function cacheDir(cmd: Command, o: BuildOpts): string {
  return o.cache ? path.resolve(o.cache) : path.join(contextOf(cmd).stateDir, 'cache');
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

export function register(program: Command): void {
  const images = program.command('images').description('build the deploy ramdisk and the test OS image from Debian packages');

  images
    .command('ramdisk')
    .description('kernel + busybox initramfs running the kseed deploy agent (reused when its inputs are unchanged)')
    .option('--cache <dir>', 'cache directory (default: .kseed/cache beside the site file)')
    .option('--kernel <package>', 'kernel package or metapackage, e.g. linux-image-amd64 for real servers (default: linux-image-cloud-amd64)')
    .option('--modules <list>', 'more kernel modules, comma-separated (dependencies are added), e.g. e1000e,igb,ahci')
    .option('--no-zstd', 'leave zstd out (zstd-compressed images then fail with a clear message)')
    .option('--force', 'rebuild even when nothing changed', false)
    .action(async (o: BuildOpts & { zstd: boolean; modules?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const r = await buildRamdisk({
        cacheDir: cacheDir(cmd, o),
        kernelPackage: o.kernel,
        extraModules: o.modules?.split(',').map((m) => m.trim()).filter(Boolean),
        zstd: o.zstd,
        force: o.force,
        onProgress: (m) => ctx.out.progress(m),
      });
      ctx.out.result(r, () =>
        table(
          ['artifact', 'path', 'size'],
          [
            ['kernel', r.kernel, mib(r.kernelBytes)],
            ['initramfs', r.initramfs, mib(r.initramfsBytes)],
          ],
        ) + `\n${r.reused ? 'unchanged, reused' : 'built'} in ${r.seconds.toFixed(1)} s (kernel ${r.kernelVersion}, ${r.modules.length} modules)`,
      );
    });

  images
    .command('testos')
    .description('small raw disk image that boots in BIOS and UEFI mode and calls back to the seed (for tests and the lab)')
    .option('--cache <dir>', 'cache directory (default: .kseed/cache beside the site file)')
    .option('--kernel <package>', 'kernel package or metapackage (default: linux-image-cloud-amd64)')
    .option('--force', 'rebuild even when nothing changed', false)
    .option('--ssh', 'the variant with an SSH server (dropbear, sftp-server) and python3: Ansible can log in with the keys of the NoCloud user-data')
    .action(async (o: BuildOpts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const r = await buildTestOs({ cacheDir: cacheDir(cmd, o), kernelPackage: o.kernel, force: o.force, ssh: o.ssh, onProgress: (m) => ctx.out.progress(m) });
      ctx.out.result(r, () =>
        table(
          ['artifact', 'path', 'size', 'sha256'],
          [
            ['raw', r.raw, mib(r.rawBytes), r.sha256.raw],
            ['gzip', r.gz, mib(r.gzBytes), r.sha256.gz],
            ['zstd', r.zst, mib(r.zstBytes), r.sha256.zst],
          ],
        ) + `\n${r.reused ? 'unchanged, reused' : 'built'} in ${r.seconds.toFixed(1)} s`,
      );
    });

  registerSeedImages(images);
  registerCephImage(images);
}
