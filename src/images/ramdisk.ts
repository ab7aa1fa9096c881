/**
 * The deploy ramdisk: the Debian cloud kernel plus a busybox initramfs whose
 * /init is the kseed agent (templates/ramdisk/init, speaking AGENT-API.md).
 * Built from Debian packages into <cache>/ramdisk/, and rebuilt only when an
 * input changes (package versions, templates, options: hashed into `stamp`).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { extractDeb } from './debs.js';
import { addModules, baseCpio, fetchBase, gzip, inputsHash, prepareKernel, TEMPLATES, templateFiles } from './kernel.js';
import { KseedError } from '../errors.js';

/** Bump when the builder's output changes for the same inputs. */
const BUILDER = 'kseed-ramdisk-1';

/**
 * virtio for the lab; SCSI/IDE disk drivers the cloud kernel has as modules
 * (NVMe is built in); FAT + code pages to fill the image's CIDATA partition.
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

/** zstd is not in busybox: the Debian binary comes with the shared libraries it links. */
const ZSTD_PACKAGES = ['zstd', 'libzstd1', 'zlib1g', 'liblzma5', 'liblz4-1', 'libc6'];
const ZSTD_LIBS = ['libzstd.so.1', 'libz.so.1', 'liblzma.so.5', 'liblz4.so.1', 'libc.so.6'];

export interface RamdiskOptions {
  cacheDir: string;
  /** Versioned kernel package; default: what linux-image-cloud-amd64 depends on. */
  kernelPackage?: string;
  /** Include zstd (+ its libraries, ~2 MB compressed) for zstd images. Default true. */
  zstd?: boolean;
  /** More kernel modules (e.g. NIC drivers of real hardware), dependencies added. */
  extraModules?: string[];
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
  const wanted = [...RAMDISK_MODULES, ...(opts.extraModules ?? [])];

  say('resolving packages');
  const debs = await fetchBase(cacheDir, opts.kernelPackage, withZstd ? ZSTD_PACKAGES : []);
  const [kdeb, busybox, ...zstdDebs] = debs;
  const kernel = await prepareKernel(cacheDir, kdeb!);
  const packages = debs.map((d) => `${d.pkg}=${d.version}`);
  const tdir = path.join(TEMPLATES, 'ramdisk');
  const inputs = inputsHash([BUILDER, packages, templateFiles(tdir), wanted, withZstd]);

  const kernelOut = path.join(outDir, 'vmlinuz');
  const initrdOut = path.join(outDir, 'initramfs.gz');
  const stampOut = path.join(outDir, 'stamp');
  const done = (reused: boolean, modules: string[]): RamdiskResult => ({
    kernel: kernelOut,
    initramfs: initrdOut,
    stamp: stampOut,
    inputs,
    kernelVersion: kernel.version,
    modules,
    packages,
    kernelBytes: statSync(kernelOut).size,
    initramfsBytes: statSync(initrdOut).size,
    reused,
    seconds: (Date.now() - t0) / 1000,
  });

  if (!opts.force && existsSync(kernelOut) && existsSync(initrdOut) && existsSync(stampOut)) {
    try {
      const st = JSON.parse(readFileSync(stampOut, 'utf8')) as Stamp;
      if (st.inputs === inputs) return done(true, st.modules);
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
  if (withZstd) {
    const roots = await Promise.all(zstdDebs.map((d) => extractDeb(d, cacheDir)));
    cpio.file('usr/bin/zstd', readFileSync(path.join(roots[0]!, 'usr/bin/zstd')), 0o755);
    for (const lib of ZSTD_LIBS) cpio.file(`lib/x86_64-linux-gnu/${lib}`, readFileSync(findLib(roots, lib)), 0o755);
    // PT_INTERP of every amd64 binary
    cpio.file('lib64/ld-linux-x86-64.so.2', readFileSync(findLib(roots, 'ld-linux-x86-64.so.2')), 0o755);
  }
  const image = gzip(cpio.toBuffer());

  mkdirSync(outDir, { recursive: true });
  // Temp file + rename: a reader (the HTTP server) never sees a half-written artifact.
  const tmp = (p: string) => `${p}.tmp-${process.pid}`;
  copyFileSync(kernel.vmlinuz, tmp(kernelOut));
  writeFileSync(tmp(initrdOut), image);
  renameSync(tmp(kernelOut), kernelOut);
  renameSync(tmp(initrdOut), initrdOut);
  const stamp: Stamp = { inputs, kernelVersion: kernel.version, modules, packages };
  writeFileSync(stampOut, `${JSON.stringify(stamp, null, 2)}\n`);
  return done(false, modules);
}
