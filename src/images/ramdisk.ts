/**
 * The deploy ramdisk: the Debian cloud kernel plus a busybox initramfs whose
 * /init is the kseed agent (templates/ramdisk/init, speaking docs/AGENT-API.md).
 * Built from Debian packages into <cache>/ramdisk/, and rebuilt only when an
 * input changes (package versions, templates, options: hashed into `stamp`).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { aptShow, extractDeb, useAptMemo } from './debs.js';
import { output as run } from '../util/tools.js';
import type { CpioArchive } from './cpio.js';
import type { Kernel } from './kernel.js';
import { addModules, baseCpio, fetchBase, gzip, inputsHash, prepareKernel, TEMPLATES, templateFiles } from './kernel.js';
import { bundledStamp, forgetBundled } from './bundled.js';
import { KseedError } from '../errors.js';

/** Bump when the builder's output changes for the same inputs. */
const BUILDER = 'kseed-ramdisk-2';

/**
 * virtio for the lab; the SCSI/IDE disk drivers QEMU machines show; FAT +
 * code pages to fill the image's CIDATA partition.
 */
export const RAMDISK_MODULES = [
  'virtio_pci',
  'virtio_net',
  'virtio_blk',
  'virtio_scsi',
  'sd_mod',
  'ata_piix',
  'ata_generic',
  'vfat',
  'nls_cp437',
  'nls_ascii',
  'nls_utf8',
];

/**
 * The NIC and storage drivers of the servers operators meet (Intel 1/10/25/40/100G,
 * Broadcom tg3 and NetXtreme-E, Mellanox ConnectX, Realtek; Broadcom/LSI MegaRAID and
 * SAS HBAs, Microchip SmartPQI, HPE Smart Array, NVMe, AHCI). The generic Debian kernel
 * (linux-image-amd64, the default) has them all; a kernel without one (the cloud
 * flavour) leaves it out and says so in `absent`.
 */
export const SERVER_MODULES = ['igb', 'ixgbe', 'i40e', 'ice', 'e1000e', 'tg3', 'bnxt_en', 'mlx5_core', 'r8169', 'megaraid_sas', 'mpt3sas', 'smartpqi', 'hpsa', 'nvme', 'ahci'];

/** Debian's packages of the firmware those drivers load (component non-free-firmware), used when apt knows them. */
export const FIRMWARE_PACKAGES = ['firmware-misc-nonfree', 'firmware-bnx2x', 'firmware-realtek', 'firmware-qlogic'];

/** zstd is not in busybox: the Debian binary comes with the shared libraries it links. */
const ZSTD_PACKAGES = ['zstd', 'libzstd1', 'zlib1g', 'liblzma5', 'liblz4-1', 'libc6'];
const ZSTD_LIBS = ['libzstd.so.1', 'libz.so.1', 'liblzma.so.5', 'liblz4.so.1', 'libc.so.6'];

export interface RamdiskOptions {
  cacheDir: string;
  /** Kernel package or metapackage; default linux-image-amd64 (the generic kernel: real servers' drivers). */
  kernelPackage?: string;
  /** Include zstd (+ its libraries, ~2 MB compressed) for zstd images. Default true. */
  zstd?: boolean;
  /** More kernel modules, dependencies added. */
  extraModules?: string[];
  /** Leave SERVER_MODULES and their firmware out (a lab-only ramdisk, smaller and faster to boot). */
  labOnly?: boolean;
  /** Rebuild even when the stamp matches. */
  force?: boolean;
  onProgress?: (msg: string) => void;
}

export interface RamdiskResult {
  kernel: string;
  initramfs: string;
  stamp: string;
  /** Hash of all inputs (the stamp's content key). */
  inputs: string;
  kernelVersion: string;
  modules: string[];
  /** SERVER_MODULES the kernel does not have */
  absent: string[];
  /** firmware files in the initramfs (under lib/firmware/), the ones the drivers name but no package had, and the firmware packages apt does not know */
  firmware: { files: string[]; missing: string[]; unavailable: string[] };
  packages: string[];
  kernelBytes: number;
  initramfsBytes: number;
  reused: boolean;
  seconds: number;
}

interface Stamp {
  inputs: string;
  kernelVersion: string;
  modules: string[];
  absent: string[];
  firmware: RamdiskResult['firmware'];
  packages: string[];
}

function findLib(roots: string[], soname: string): string {
  for (const r of roots) {
    for (const dir of ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu']) {
      const p = path.join(r, dir, soname);
      if (existsSync(p)) return p;
    }
  }
  throw new KseedError(`${soname} not found in the unpacked packages ${ZSTD_PACKAGES.join(', ')}`, { code: 'build-failed' });
}

export async function buildRamdisk(opts: RamdiskOptions): Promise<RamdiskResult> {
  const t0 = Date.now();
  const say = opts.onProgress ?? (() => {});
  const cacheDir = path.resolve(opts.cacheDir);
  const outDir = path.join(cacheDir, 'ramdisk');
  const withZstd = opts.zstd ?? true;

  const b = opts.force ? undefined : bundledStamp<Stamp>(outDir, ['vmlinuz', 'initramfs.gz'], 'stamp');
  if (b) {
    const f = (n: string) => path.join(outDir, n);
    return { kernel: f('vmlinuz'), initramfs: f('initramfs.gz'), stamp: f('stamp'), ...b, kernelBytes: statSync(f('vmlinuz')).size, initramfsBytes: statSync(f('initramfs.gz')).size, reused: true, seconds: (Date.now() - t0) / 1000 };
  }

  say('resolving packages');
  useAptMemo(cacheDir);
  // firmware packages live in non-free-firmware, which a mirror may not carry: take the ones apt knows
  const fwKnown = opts.labOnly ? new Set<string>() : new Set((await aptShow(FIRMWARE_PACKAGES)).keys());
  const fwNames = FIRMWARE_PACKAGES.filter((p) => fwKnown.has(p));
  const debs = await fetchBase(cacheDir, opts.kernelPackage ?? 'linux-image-amd64', [...(withZstd ? ZSTD_PACKAGES : []), ...fwNames]);
  const [kdeb, busybox, ...rest] = debs;
  const zstdDebs = withZstd ? rest.slice(0, ZSTD_PACKAGES.length) : [];
  const fwDebs = rest.slice(zstdDebs.length);
  const kernel = await prepareKernel(cacheDir, kdeb!);
  const server = opts.labOnly ? [] : SERVER_MODULES;
  const absent = server.filter((m) => !kernel.index.path.has(m) && !kernel.index.builtin.has(m));
  const wanted = [...RAMDISK_MODULES, ...server.filter((m) => !absent.includes(m)), ...(opts.extraModules ?? [])];
  const packages = debs.map((d) => `${d.pkg}=${d.version}`);
  const tdir = path.join(TEMPLATES, 'ramdisk');
  const inputs = inputsHash([BUILDER, packages, templateFiles(tdir), wanted, withZstd]);

  const kernelOut = path.join(outDir, 'vmlinuz');
  const initrdOut = path.join(outDir, 'initramfs.gz');
  const stampOut = path.join(outDir, 'stamp');
  const done = (reused: boolean, modules: string[], firmware: RamdiskResult['firmware']): RamdiskResult => ({
    kernel: kernelOut,
    initramfs: initrdOut,
    stamp: stampOut,
    inputs,
    kernelVersion: kernel.version,
    modules,
    absent,
    firmware,
    packages,
    kernelBytes: statSync(kernelOut).size,
    initramfsBytes: statSync(initrdOut).size,
    reused,
    seconds: (Date.now() - t0) / 1000,
  });

  if (!opts.force && existsSync(kernelOut) && existsSync(initrdOut) && existsSync(stampOut)) {
    try {
      const st = JSON.parse(readFileSync(stampOut, 'utf8')) as Stamp;
      if (st.inputs === inputs && st.firmware) return done(true, st.modules, st.firmware);
    } catch {
      // unreadable stamp: rebuild
    }
  }

  say(`building initramfs for ${kernel.version}`);
  const bbRoot = await extractDeb(busybox!, cacheDir);
  const cpio = baseCpio(bbRoot);
  cpio.file('init', readFileSync(path.join(tdir, 'init')), 0o755);
  cpio.file('lib/kseed/lib.sh', readFileSync(path.join(tdir, 'lib.sh')), 0o644);
  cpio.file('etc/kseed/udhcpc.script', readFileSync(path.join(tdir, 'udhcpc.script')), 0o755);
  const modules = addModules(cpio, kernel, wanted, 'etc/kseed/modules.order');
  const firmware = await addFirmware(cpio, kernel, modules, await Promise.all(fwDebs.map((d) => extractDeb(d, cacheDir))));
  firmware.unavailable = FIRMWARE_PACKAGES.filter((p) => !fwKnown.has(p) && !opts.labOnly);
  if (withZstd) {
    const roots = await Promise.all(zstdDebs.map((d) => extractDeb(d, cacheDir)));
    cpio.file('usr/bin/zstd', readFileSync(path.join(roots[0]!, 'usr/bin/zstd')), 0o755);
    for (const lib of ZSTD_LIBS) cpio.file(`lib/x86_64-linux-gnu/${lib}`, readFileSync(findLib(roots, lib)), 0o755);
    // PT_INTERP of every amd64 binary
    cpio.file('lib64/ld-linux-x86-64.so.2', readFileSync(findLib(roots, 'ld-linux-x86-64.so.2')), 0o755);
  }
  const image = gzip(cpio.toBuffer());

  mkdirSync(outDir, { recursive: true });
  forgetBundled(outDir);
  // Temp file + rename: a reader (the HTTP server) never sees a half-written artifact.
  const tmp = (p: string) => `${p}.tmp-${process.pid}`;
  copyFileSync(kernel.vmlinuz, tmp(kernelOut));
  writeFileSync(tmp(initrdOut), image);
  renameSync(tmp(kernelOut), kernelOut);
  renameSync(tmp(initrdOut), initrdOut);
  const stamp: Stamp = { inputs, kernelVersion: kernel.version, modules, absent, firmware, packages };
  writeFileSync(stampOut, `${JSON.stringify(stamp, null, 2)}\n`);
  return done(false, modules, firmware);
}

/**
 * The firmware files the modules name (`modinfo -F firmware`), from the unpacked
 * firmware packages, under lib/firmware/ where the kernel's loader looks.
 */
async function addFirmware(cpio: CpioArchive, kernel: Kernel, modules: string[], roots: string[]): Promise<RamdiskResult['firmware']> {
  const modDir = path.join(kernel.root, 'lib/modules', kernel.version);
  const names = new Set<string>();
  for (const m of modules) {
    const out = await run('modinfo', ['-F', 'firmware', path.join(modDir, kernel.index.path.get(m)!)]);
    for (const l of out.split('\n')) if (l.trim()) names.add(l.trim());
  }
  const files: string[] = [];
  const missing: string[] = [];
  for (const n of [...names].sort()) {
    const src = roots.map((r) => path.join(r, 'lib/firmware', n)).find((p) => existsSync(p));
    if (!src) {
      missing.push(n);
      continue;
    }
    cpio.file(`lib/firmware/${n}`, readFileSync(src), 0o644);
    files.push(n);
  }
  return { files, missing, unavailable: [] };
}
