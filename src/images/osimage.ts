/**
 * The test OS image: a small raw disk that boots under QEMU from disk in BIOS
 * (SeaBIOS) and UEFI (OVMF) mode and calls back to the seed with the identity
 * the deploy ramdisk wrote onto it.
 *
 * Layout (MBR, built in plain files, no loop devices):
 *   sector 0      syslinux mbr.bin boot code + partition table
 *   partition 1   FAT16 "KSEEDBOOT", active: syslinux (BIOS), \EFI\BOOT\BOOTX64.EFI
 *                 (GRUB with a built-in config, UEFI), /vmlinuz, /initrd.gz
 *   partition 2   FAT "CIDATA": empty; the deploy ramdisk writes the NoCloud
 *                 files meta-data, user-data, network-config and kseed.env
 * Both firmware paths boot the same cloud kernel and a busybox initramfs whose
 * /init is templates/osimage/init.
 *
 * The `ssh` variant (testos-ssh.raw*, for the hand-off tests) adds an SSH
 * server, sftp-server and python3 from Debian packages (sshos.ts) and
 * templates/osimage/ssh.sh, which /init runs once the network is up.
 */
import { bundledStamp, forgetBundled } from './bundled.js';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync, openSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { output as run } from '../util/tools.js';
import { addModules, baseCpio, fetchBase, gzip, inputsHash, prepareKernel, TEMPLATES, templateFiles } from './kernel.js';
import { extractDeb } from './debs.js';
import { mbr } from './mbr.js';
import { addTree, fetchSshDebs, stageSshRoot } from './sshos.js';

const BUILDER = 'kseed-testos-2';
/** Bump when the SSH variant's output changes for the same inputs. */
const SSH_BUILDER = 'kseed-testos-ssh-1';
const MiB = 1024 * 1024;
export const BOOT_LABEL = 'KSEEDBOOT';
export const CIDATA_LABEL = 'CIDATA';

export const TESTOS_MODULES = ['virtio_pci', 'virtio_net', 'virtio_blk', 'virtio_scsi', 'sd_mod', 'ata_piix', 'vfat', 'nls_cp437', 'nls_ascii', 'nls_utf8'];

/** GRUB modules built into BOOTX64.EFI: enough to find the partition and boot Linux. */
const GRUB_MODULES = ['part_msdos', 'fat', 'search', 'search_label', 'linux', 'boot', 'echo'];

/** Host packages whose tools or files the build uses (their versions are part of the stamp). */
export const TESTOS_HOST_PACKAGES = ['dosfstools', 'mtools', 'syslinux', 'syslinux-common', 'grub-common', 'grub-efi-amd64-bin', 'zstd'];

export interface TestOsOptions {
  cacheDir: string;
  kernelPackage?: string;
  /** MiB for the CIDATA partition (default 4). */
  cidataMiB?: number;
  force?: boolean;
  /** The SSH variant: dropbear + sftp-server + python3, keys from the NoCloud user-data. */
  ssh?: boolean;
  onProgress?: (msg: string) => void;
}

export interface TestOsResult {
  raw: string;
  gz: string;
  /** zstd-compressed copy (decompresses ~3x faster than gzip in a TCG guest) */
  zst: string;
  /** sha256 hex of each file, as IMAGE_CHECKSUM wants it (the bytes served) */
  sha256: { raw: string; gz: string; zst: string };
  rawBytes: number;
  gzBytes: number;
  zstBytes: number;
  /** partition layout, in bytes from the start of the disk */
  partitions: { label: string; offset: number; size: number }[];
  stamp: string;
  inputs: string;
  kernelVersion: string;
  /** SSH variant: Debian packages in the image, extension modules left out, whether .pyc were precompiled */
  ssh?: { packages: string[]; dropped: string[]; python: string; compiled: boolean };
  reused: boolean;
  seconds: number;
}

interface Stamp {
  inputs: string;
  kernelVersion: string;
  ssh?: TestOsResult['ssh'];
  sha256: TestOsResult['sha256'];
  partitions: TestOsResult['partitions'];
}

async function hostVersions(): Promise<string> {
  return run('dpkg-query', ['-W', '-f', '${Package}=${Version}\n', ...TESTOS_HOST_PACKAGES]).catch(() => 'unknown');
}

async function fileSha256(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), h);
  return h.digest('hex');
}

export async function buildTestOs(opts: TestOsOptions): Promise<TestOsResult> {
  const t0 = Date.now();
  const say = opts.onProgress ?? (() => {});
  const cacheDir = path.resolve(opts.cacheDir);
  const base = opts.ssh ? 'testos-ssh' : 'testos';
  const outDir = path.join(cacheDir, base);
  const cidataMiB = opts.cidataMiB ?? 4;

  const b = opts.force ? undefined : bundledStamp<Stamp>(outDir, [`${base}.raw`, `${base}.raw.gz`, `${base}.raw.zst`], 'stamp');
  if (b) {
    const f = (n: string) => path.join(outDir, n);
    const raw = f(`${base}.raw`);
    const { sha256, partitions, inputs, kernelVersion, ssh } = b;
    const size = (x: string) => statSync(x).size;
    return { raw, gz: `${raw}.gz`, zst: `${raw}.zst`, sha256, rawBytes: size(raw), gzBytes: size(`${raw}.gz`), zstBytes: size(`${raw}.zst`), partitions, stamp: f('stamp'), inputs, kernelVersion, ...(ssh ? { ssh } : {}), reused: true, seconds: (Date.now() - t0) / 1000 };
  }

  say('resolving packages');
  const [kdeb, busybox] = await fetchBase(cacheDir, opts.kernelPackage);
  const kernel = await prepareKernel(cacheDir, kdeb!);
  const sshDebs = opts.ssh ? await fetchSshDebs(cacheDir) : undefined;
  const tdir = path.join(TEMPLATES, 'osimage');
  const inputs = inputsHash([
    ...(sshDebs ? [SSH_BUILDER, sshDebs.debs.map((d) => path.basename(d.file))] : []),
    BUILDER,
    [kdeb!.file, busybox!.file].map((f) => path.basename(f)),
    templateFiles(tdir),
    readFileSync(path.join(TEMPLATES, 'ramdisk/lib.sh'), 'utf8'),
    readFileSync(path.join(TEMPLATES, 'ramdisk/udhcpc.script'), 'utf8'),
    TESTOS_MODULES,
    GRUB_MODULES,
    cidataMiB,
    await hostVersions(),
  ]);
  const rawOut = path.join(outDir, `${base}.raw`);
  const gzOut = `${rawOut}.gz`;
  const zstOut = `${rawOut}.zst`;
  const stampOut = path.join(outDir, 'stamp');
  const done = (st: Stamp, reused: boolean): TestOsResult => ({
    raw: rawOut,
    gz: gzOut,
    zst: zstOut,
    sha256: st.sha256,
    rawBytes: statSync(rawOut).size,
    gzBytes: statSync(gzOut).size,
    zstBytes: statSync(zstOut).size,
    partitions: st.partitions,
    stamp: stampOut,
    inputs,
    kernelVersion: kernel.version,
    ...(st.ssh ? { ssh: st.ssh } : {}),
    reused,
    seconds: (Date.now() - t0) / 1000,
  });
  if (!opts.force && existsSync(rawOut) && existsSync(gzOut) && existsSync(zstOut) && existsSync(stampOut)) {
    try {
      const st = JSON.parse(readFileSync(stampOut, 'utf8')) as Stamp;
      if (st.inputs === inputs) return done(st, true);
    } catch {
      // unreadable stamp: rebuild
    }
  }

  forgetBundled(outDir);
  const work = path.join(outDir, `.work-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    say('building the test OS initramfs');
    const cpio = baseCpio(await extractDeb(busybox!, cacheDir));
    cpio.file('init', readFileSync(path.join(tdir, 'init')), 0o755);
    cpio.file('lib/kseed/lib.sh', readFileSync(path.join(TEMPLATES, 'ramdisk/lib.sh')));
    cpio.file('etc/kseed/udhcpc.script', readFileSync(path.join(TEMPLATES, 'ramdisk/udhcpc.script')), 0o755);
    addModules(cpio, kernel, TESTOS_MODULES, 'etc/kseed/modules.order');
    let ssh: TestOsResult['ssh'];
    if (sshDebs) {
      say('staging dropbear, sftp-server and python3');
      const stage = await stageSshRoot(cacheDir, work, sshDebs);
      addTree(cpio, stage.dir);
      cpio.file('etc/kseed/ssh.sh', readFileSync(path.join(tdir, 'ssh.sh')), 0o644);
      ssh = { packages: stage.packages, dropped: stage.dropped, python: stage.pythonVersion, compiled: stage.compiled };
      rmSync(stage.dir, { recursive: true, force: true });
    }
    const files = {
      vmlinuz: path.join(work, 'vmlinuz'),
      initrd: path.join(work, 'initrd.gz'),
      syslinuxCfg: path.join(work, 'syslinux.cfg'),
      efi: path.join(work, 'BOOTX64.EFI'),
    };
    writeFileSync(files.vmlinuz, readFileSync(kernel.vmlinuz));
    writeFileSync(files.initrd, gzip(cpio.toBuffer()));
    writeFileSync(files.syslinuxCfg, readFileSync(path.join(tdir, 'syslinux.cfg')));

    say('building BOOTX64.EFI (GRUB)');
    // grub.cfg is GRUB's early config: it runs before normal mode, so it may hold only
    // commands of the built-in modules (and no comments: the rescue parser rejects '#').
    await run('grub-mkimage', ['-O', 'x86_64-efi', '-o', files.efi, '-p', '/EFI/BOOT', '-c', path.join(tdir, 'grub.cfg'), ...GRUB_MODULES]);
    // Fixed mtimes: mcopy -m keeps them, so equal inputs give equal file times in the FAT.
    const epoch = new Date('2020-01-01T00:00:00Z');
    for (const f of Object.values(files)) utimesSync(f, epoch, epoch);

    say('making the FAT partitions');
    const content = Object.values(files).reduce((n, f) => n + statSync(f).size, 0);
    // content + room for FAT overhead and syslinux, rounded to 4 MiB
    const bootMiB = Math.ceil((content / MiB + 4) / 4) * 4;
    const bootFat = path.join(work, 'boot.fat');
    const cidataFat = path.join(work, 'cidata.fat');
    await run('mkfs.fat', ['-C', '-F', '16', '-n', BOOT_LABEL, '-i', '4b534545', bootFat, String(bootMiB * 1024)]);
    await run('syslinux', ['--install', bootFat]);
    const mtools = { MTOOLS_SKIP_CHECK: '1' };
    await run('mcopy', ['-m', '-i', bootFat, files.vmlinuz, files.initrd, files.syslinuxCfg, '::/'], { env: mtools });
    await run('mmd', ['-i', bootFat, '::/EFI', '::/EFI/BOOT'], { env: mtools });
    await run('mcopy', ['-m', '-i', bootFat, files.efi, '::/EFI/BOOT/BOOTX64.EFI'], { env: mtools });
    await run('mkfs.fat', ['-C', '-n', CIDATA_LABEL, '-i', '4b534546', cidataFat, String(cidataMiB * 1024)]);

    say('assembling the disk');
    const p1 = { start: 2048, sectors: (bootMiB * MiB) / 512 };
    const p2 = { start: p1.start + p1.sectors, sectors: (cidataMiB * MiB) / 512 };
    const total = (p2.start + p2.sectors) * 512;
    const bootCode = readFileSync('/usr/lib/syslinux/mbr/mbr.bin');
    const sector0 = mbr(
      [
        { ...p1, type: 0x0e, bootable: true },
        { ...p2, type: 0x0c },
      ],
      { bootCode, diskSignature: 0x4b534545 },
    );
    const tmpRaw = path.join(work, `${base}.raw`);
    const fd = openSync(tmpRaw, 'w');
    try {
      ftruncateSync(fd, total);
      writeSync(fd, sector0, 0, 512, 0);
      writeSync(fd, readFileSync(bootFat), 0, undefined, p1.start * 512);
      writeSync(fd, readFileSync(cidataFat), 0, undefined, p2.start * 512);
    } finally {
      closeSync(fd);
    }
    const tmpGz = `${tmpRaw}.gz`;
    await pipeline(createReadStream(tmpRaw), createGzip({ level: 6 }), createWriteStream(tmpGz));
    const tmpZst = `${tmpRaw}.zst`;
    await run('zstd', ['-q', '-10', '-f', tmpRaw, '-o', tmpZst]);
    const st: Stamp = {
      inputs,
      kernelVersion: kernel.version,
      ...(ssh ? { ssh } : {}),
      sha256: { raw: await fileSha256(tmpRaw), gz: await fileSha256(tmpGz), zst: await fileSha256(tmpZst) },
      partitions: [
        { label: BOOT_LABEL, offset: p1.start * 512, size: p1.sectors * 512 },
        { label: CIDATA_LABEL, offset: p2.start * 512, size: p2.sectors * 512 },
      ],
    };
    mkdirSync(outDir, { recursive: true });
    renameSync(tmpRaw, rawOut);
    renameSync(tmpGz, gzOut);
    renameSync(tmpZst, zstOut);
    writeFileSync(`${rawOut}.sha256`, `${st.sha256.raw}  ${base}.raw\n`);
    writeFileSync(`${gzOut}.sha256`, `${st.sha256.gz}  ${base}.raw.gz\n`);
    writeFileSync(`${zstOut}.sha256`, `${st.sha256.zst}  ${base}.raw.zst\n`);
    writeFileSync(stampOut, `${JSON.stringify(st, null, 2)}\n`);
    return done(st, false);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
