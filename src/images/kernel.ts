/**
 * Pieces both image builders share: the Debian cloud kernel unpacked with a
 * depmod index, busybox-static, and a busybox initramfs assembled in memory.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { CpioArchive } from './cpio.js';
import { type Deb, extractDeb, fetchDebs, resolveKernelPackage } from './debs.js';
import { output as run } from '../util/tools.js';
import { loadOrder, type ModuleIndex, parseModulesDep } from './modules.js';

/** templates/ at the package root, from src/images (vitest) or dist/images (built CLI). */
export const TEMPLATES = fileURLToPath(new URL('../../templates/', import.meta.url));

export interface Kernel {
  deb: Deb;
  /** e.g. 6.1.0-56-cloud-amd64 */
  version: string;
  /** unpacked package root */
  root: string;
  vmlinuz: string;
  index: ModuleIndex;
}

/**
 * The kernel, busybox-static and `more` packages, fetched in one apt round trip.
 * `kernelPackage` is a versioned package (linux-image-6.1.0-56-amd64) or a
 * metapackage (linux-image-amd64: the generic kernel, with the NIC and
 * storage drivers of real servers that the cloud flavour leaves out).
 */
export async function fetchBase(cacheDir: string, kernelPackage: string | undefined, more: string[] = []): Promise<Deb[]> {
  const pkg =
    kernelPackage && /^linux-image-\d/.test(kernelPackage)
      ? kernelPackage
      : await resolveKernelPackage(cacheDir, kernelPackage ?? 'linux-image-cloud-amd64');
  return fetchDebs([pkg, 'busybox-static', ...more], cacheDir);
}

export async function prepareKernel(cacheDir: string, deb: Deb): Promise<Kernel> {
  const root = await extractDeb(deb, cacheDir);
  const versions = readdirSync(path.join(root, 'lib/modules'));
  const version = versions[0];
  if (!version) throw new Error(`${deb.file} has no lib/modules`);
  const modDir = path.join(root, 'lib/modules', version);
  // The package ships no modules.dep (depmod makes it at install time); make it once here.
  if (!existsSync(path.join(modDir, 'modules.dep'))) await run('depmod', ['-b', root, version]);
  const builtin = path.join(modDir, 'modules.builtin');
  const index = parseModulesDep(
    readFileSync(path.join(modDir, 'modules.dep'), 'utf8'),
    existsSync(builtin) ? readFileSync(builtin, 'utf8') : '',
  );
  return { deb, version, root, vmlinuz: path.join(root, 'boot', `vmlinuz-${version}`), index };
}

/** Adds the modules (and what they need) flat under lib/modules/, plus their load order. */
export function addModules(cpio: CpioArchive, kernel: Kernel, wanted: string[], orderFile: string): string[] {
  const order = loadOrder(kernel.index, wanted);
  const modDir = path.join(kernel.root, 'lib/modules', kernel.version);
  for (const m of order) cpio.file(`lib/modules/${m}.ko`, readFileSync(path.join(modDir, kernel.index.path.get(m)!)));
  cpio.file(orderFile, `${order.join('\n')}\n`);
  return order;
}

/** The skeleton every busybox initramfs needs: busybox itself and the console device. */
export function baseCpio(busyboxRoot: string): CpioArchive {
  const cpio = new CpioArchive();
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'run', 'mnt', 'etc', 'sbin', 'usr/bin', 'usr/sbin']) cpio.dir(d);
  cpio.file('bin/busybox', readFileSync(path.join(busyboxRoot, 'bin/busybox')), 0o755);
  cpio.symlink('bin/sh', 'busybox');
  // /init's stdout is /dev/console before devtmpfs is mounted: without the node, init prints nothing.
  cpio.charDev('dev/console', 5, 1, 0o600);
  cpio.charDev('dev/null', 1, 3, 0o666);
  return cpio;
}

/** gzip with a zero mtime, so equal archives compress to equal bytes. */
export function gzip(buf: Buffer): Buffer {
  return gzipSync(buf, { level: 9 });
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Hash of build inputs: builder version, package files, template contents, options. */
export function inputsHash(parts: unknown[]): string {
  return sha256(JSON.stringify(parts));
}

export function templateFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  // docs beside the scripts do not change the image
  for (const f of readdirSync(dir).sort()) if (!f.endsWith('.md')) out[f] = readFileSync(path.join(dir, f), 'utf8');
  return out;
}
