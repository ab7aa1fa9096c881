import path from 'node:path';
import type { Command } from 'commander';
import { buildOsImage } from '../images/nodeos.js';
import { buildTestOs } from '../images/osimage.js';
import { buildRamdisk } from '../images/ramdisk.js';
import { OS_DEFAULT_PACKAGES } from '../images/os-root.js';
import { InputError } from '../errors.js';
import { registerSeedImages } from './images-seed.js';
import { contextOf } from './context.js';
import { registerCephImage } from './images-ceph.js';
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
  const images = program.command('images').description('build the deploy ramdisk, the node OS image and the test OS image from Debian packages');

  images
    .command('ramdisk')
    .description('kernel + busybox initramfs running the kseed deploy agent (reused when its inputs are unchanged)')
    .option('--cache <dir>', 'cache directory (default: .kseed/cache beside the site file)')
    .option('--kernel <package>', 'kernel package or metapackage (default: linux-image-amd64, the generic kernel with the drivers of real servers)')
    .option('--modules <list>', 'more kernel modules, comma-separated (dependencies are added), e.g. qede,bnx2x')
    .option('--lab-only', 'virtio and QEMU disk drivers only: no server NIC/storage drivers, no firmware (smaller, boots faster in the lab)')
    .option('--no-zstd', 'leave zstd out (zstd-compressed images then fail with a clear message)')
    .option('--force', 'rebuild even when nothing changed', false)
    .action(async (o: BuildOpts & { zstd: boolean; modules?: string; labOnly?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const r = await buildRamdisk({
        cacheDir: cacheDir(cmd, o),
        kernelPackage: o.kernel,
        extraModules: o.modules?.split(',').map((m) => m.trim()).filter(Boolean),
        zstd: o.zstd,
        labOnly: o.labOnly,
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
        ) +
          `\n${r.reused ? 'unchanged, reused' : 'built'} in ${r.seconds.toFixed(1)} s (kernel ${r.kernelVersion}, ${r.modules.length} modules, ${r.firmware.files.length} firmware files)` +
          (r.absent.length ? `\nnot in this kernel: ${r.absent.join(', ')}` : '') +
          (r.firmware.unavailable.length ? `\nfirmware packages apt does not know (enable non-free-firmware to include them): ${r.firmware.unavailable.join(', ')}` : ''),
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

  images
    .command('os')
    .description('Debian cloud image for the nodes (qcow2, BIOS + UEFI, cloud-init NoCloud), built from Debian packages; reused when its inputs are unchanged')
    .option('--cache <dir>', 'cache directory (default: .kseed/cache beside the site file)')
    .option('--packages <list>', `comma-separated packages replacing the default extras (${OS_DEFAULT_PACKAGES.join(',')}); the boot, cloud-init and SSH packages always stay`)
    .option('--add-packages <list>', 'comma-separated packages added to the list')
    .option('--size <GiB>', 'virtual disk size in GiB (default 2); the node grows the root filesystem to its disk')
    .option('--force', 'rebuild even when nothing changed', false)
    .action(async (o: BuildOpts & { packages?: string; addPackages?: string; size?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const list = (s?: string) => s?.split(',').map((p) => p.trim()).filter(Boolean);
      const size = o.size === undefined ? undefined : Number(o.size);
      if (size !== undefined && !Number.isInteger(size)) throw new InputError(`--size: expected a whole number of GiB, got ${JSON.stringify(o.size)}`);
      const r = await buildOsImage({ cacheDir: cacheDir(cmd, o), packages: list(o.packages), addPackages: list(o.addPackages), sizeGiB: size, force: o.force, onProgress: (m) => ctx.out.progress(m) });
      const summary = {
        path: r.path,
        format: r.format,
        virtual_size: r.virtualSize,
        size: r.size,
        sha256: r.sha256,
        checksum: r.checksum,
        kernel: r.kernelVersion,
        packages: r.packages.length,
        root_bytes: r.rootBytes,
        reused: r.reused,
        seconds: Number(r.seconds.toFixed(1)),
      };
      ctx.out.result(summary, () =>
        table(
          ['artifact', 'path', 'size', 'virtual size', 'sha256'],
          [['qcow2', r.path, mib(r.size), mib(r.virtualSize), r.sha256]],
        ) + `\n${r.reused ? 'unchanged, reused' : 'built'} in ${r.seconds.toFixed(1)} s (kernel ${r.kernelVersion}, ${r.packages.length} packages, root ${mib(r.rootBytes)})`,
      );
    });

  registerSeedImages(images);
  registerCephImage(images);
}
