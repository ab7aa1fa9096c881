/**
 * `kseed images os`: a Debian cloud image for the nodes, built offline from
 * Debian packages (debootstrap + apt in a chroot; no image download), as a
 * compressed qcow2 and its sha256 in <cache>/os/. Rebuilt only when an input
 * changes: the builder, the package list and the candidate versions apt
 * knows for it, the minbase tarball's packages, templates/os, the size.
 *
 * What is in it and why: os-root.ts (root tree) and os-disk.ts (GPT disk,
 * BIOS + UEFI). The steps avoid what this kind of host lacks (loop partition
 * devices, udev, a vfat module): the root filesystem is made by
 * `mkfs.ext4 -d` straight into the disk file, the FAT partitions with
 * mkfs.fat and mtools, GRUB's BIOS boot code by grub-bios.ts: no loop
 * device, no mount of the image.
 */
import { bundledStamp, forgetBundled } from './bundled.js';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { KseedError } from '../errors.js';
import { aptShow, useAptMemo } from './debs.js';
import { output as run } from '../util/tools.js';
import { inputsHash, TEMPLATES, templateFiles } from './kernel.js';
import { installGrubBios } from './grub-bios.js';
import { osDiskLayout, placePartition, writeGpt } from './os-disk.js';
import { Chroot, configureRoot, installedPackages, installPackages, OS_BASE_PACKAGES, OS_DEFAULT_PACKAGES } from './os-root.js';
import { hostArch, minbaseTarball, tarballPackages, withLock } from './seed/base.js';
import { pickMirrors, readHostSources, sourcesList } from './seed/sources.js';

/** Bump when the builder's output changes for the same inputs. */
const BUILDER = 'kseed-os-1';
const GiB = 1024 ** 3;

export interface OsImageOptions {
  cacheDir: string;
  suite?: string;
  /** Replaces OS_DEFAULT_PACKAGES (the base packages stay). */
  packages?: string[];
  /** Added to the list. */
  addPackages?: string[];
  /**
   * Virtual disk size in GiB (default 2, as Debian's own genericcloud image): the root partition
   * fills it; cloud-init grows it to the node's disk. Every byte of it is written at deploy.
   */
  sizeGiB?: number;
  force?: boolean;
  onProgress?: (msg: string) => void;
}

export interface OsImageResult {
  path: string;
  format: 'qcow2';
  /** bytes of the disk the qcow2 holds */
  virtualSize: number;
  /** bytes of the qcow2 file */
  size: number;
  /** hex sha256 of the qcow2 file */
  sha256: string;
  /** `sha256:<hex>`, as the site file's image.checksum wants it */
  checksum: string;
  kernelVersion: string;
  /** installed packages, name=version */
  packages: string[];
  /** bytes the root filesystem's files take */
  rootBytes: number;
  inputs: string;
  reused: boolean;
  seconds: number;
}

interface Stamp {
  inputs: string;
  sha256: string;
  virtualSize: number;
  kernelVersion: string;
  packages: string[];
  rootBytes: number;
}

/** Deterministic ids from the inputs: equal inputs give equal disks (and no id leaks from the build host). */
function idsFor(inputs: string) {
  const h = (tag: string) => createHash('sha256').update(`${tag}:${inputs}`).digest('hex');
  const uuid = (x: string) => `${x.slice(0, 8)}-${x.slice(8, 12)}-4${x.slice(13, 16)}-a${x.slice(17, 20)}-${x.slice(20, 32)}`;
  const esp = h('esp');
  return { rootUuid: uuid(h('root')), diskGuid: uuid(h('disk')), rootPartGuid: uuid(h('rootpart')), espId: `${esp.slice(0, 4)}-${esp.slice(4, 8)}`.toUpperCase(), cidataId: h('cidata').slice(0, 8) };
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), h);
  return h.digest('hex');
}

export function osPackageList(o: Pick<OsImageOptions, 'packages' | 'addPackages'>): string[] {
  const list = [...OS_BASE_PACKAGES, ...(o.packages ?? OS_DEFAULT_PACKAGES), ...(o.addPackages ?? [])];
  for (const p of list) {
    // apt would read anything else as an option or a pattern
    if (!/^[a-z0-9][a-z0-9+.-]+$/.test(p)) throw new KseedError(`"${p}" is not a Debian package name`, { code: 'bad-input', exitCode: 2 });
  }
  return [...new Set(list)];
}

export async function buildOsImage(opts: OsImageOptions): Promise<OsImageResult> {
  const t0 = Date.now();
  const say = opts.onProgress ?? (() => {});
  const cacheDir = path.resolve(opts.cacheDir);
  const suite = opts.suite ?? 'bookworm';
  const sizeGiB = opts.sizeGiB ?? 2;
  if (!Number.isInteger(sizeGiB) || sizeGiB < 2 || sizeGiB > 64) throw new KseedError(`--size ${sizeGiB}: give a whole number of GiB from 2 to 64`, { code: 'bad-input', exitCode: 2 });
  const packages = osPackageList(opts);
  const outDir = path.join(cacheDir, 'os');
  const base = `debian-${suite}`;
  const qcow2 = path.join(outDir, `${base}.qcow2`);
  const stampFile = path.join(outDir, `${base}.stamp`);
  mkdirSync(outDir, { recursive: true });

  const b = opts.force ? undefined : bundledStamp<Stamp>(outDir, [`${base}.qcow2`], `${base}.stamp`);
  if (b) {
    const { sha256, virtualSize, kernelVersion, packages: pk, rootBytes, inputs } = b;
    return { path: qcow2, format: 'qcow2', virtualSize, size: statSync(qcow2).size, sha256, checksum: `sha256:${sha256}`, kernelVersion, packages: pk, rootBytes, inputs, reused: true, seconds: (Date.now() - t0) / 1000 };
  }
  const arch = await hostArch();
  const mirrors = pickMirrors(readHostSources(), suite);
  const sources = sourcesList(suite, mirrors);
  useAptMemo(cacheDir);
  const known = await aptShow(packages);
  const unknown = packages.filter((p) => !known.has(p));
  if (unknown.length) {
    throw new KseedError(`Debian package${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} unknown to apt`, {
      code: 'missing-package',
      exitCode: 2,
      detail: 'check the names (apt-cache show NAME), or run `apt-get update`',
    });
  }
  const versions = packages.map((p) => `${p}=${known.get(p)!.version}`);

  // the minbase tarball is shared with the seed images' base (its lock); one OS build per cache at a time
  mkdirSync(path.join(cacheDir, 'seed'), { recursive: true });
  const tarball = await withLock(path.join(cacheDir, 'seed', 'base.lock'), () => minbaseTarball({ cacheDir, suite, arch, mirror: mirrors.mirror, say }));
  return withLock(path.join(outDir, 'build.lock'), async () => {
    const inputs = inputsHash([BUILDER, suite, arch, sources, versions, await tarballPackages(tarball), templateFiles(path.join(TEMPLATES, 'os')), sizeGiB]);
    const done = (st: Stamp, reused: boolean): OsImageResult => ({
      path: qcow2,
      format: 'qcow2',
      virtualSize: st.virtualSize,
      size: statSync(qcow2).size,
      sha256: st.sha256,
      checksum: `sha256:${st.sha256}`,
      kernelVersion: st.kernelVersion,
      packages: st.packages,
      rootBytes: st.rootBytes,
      inputs,
      reused,
      seconds: (Date.now() - t0) / 1000,
    });
    if (!opts.force && existsSync(qcow2) && existsSync(stampFile)) {
      try {
        const st = JSON.parse(readFileSync(stampFile, 'utf8')) as Stamp;
        if (st.inputs === inputs) return done(st, true);
      } catch {
        // unreadable stamp: rebuild
      }
    }

    forgetBundled(outDir);
    const ids = idsFor(inputs);
    const work = path.join(outDir, `.work-${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    const root = path.join(work, 'root');
    mkdirSync(root, { recursive: true });
    const ch = new Chroot(root);
    try {
      say(`debootstrap --unpack-tarball ${path.basename(tarball)}`);
      await run('debootstrap', ['--variant=minbase', `--arch=${arch}`, `--unpack-tarball=${tarball}`, suite, root, mirrors.mirror], { timeoutMs: 1_800_000 });
      await ch.mount(path.join(outDir, 'archives'));
      await installPackages(ch, sources, packages, say);
      say('configuring cloud-init, GRUB, fstab');
      const { efi, kernelVersion } = await configureRoot(ch, { rootUuid: ids.rootUuid, espId: ids.espId }, work);
      const installed = await installedPackages(ch);
      await ch.unmount();
      const rootBytes = Number((await run('du', ['-sb', '--one-file-system', root])).split(/\s/)[0]);

      say(`assembling the ${sizeGiB} GiB GPT disk`);
      const layout = osDiskLayout(sizeGiB * GiB);
      const raw = path.join(work, 'disk.raw');
      await writeGpt(raw, layout, { disk: ids.diskGuid, root: ids.rootPartGuid });
      say('mkfs.ext4 -d (root filesystem from the tree, no mount)');
      // written in place at the partition's offset; the size in 1 KiB units
      await run('mkfs.ext4', ['-q', '-F', '-L', 'root', '-U', ids.rootUuid, '-d', root, '-E', `offset=${layout.root.start * 512}`, raw, `${(layout.root.sectors * 512) / 1024}k`], { timeoutMs: 1_800_000 });
      const mtools = { MTOOLS_SKIP_CHECK: '1' };
      const esp = path.join(work, 'esp.img');
      await run('mkfs.fat', ['-C', '-F', '32', '-n', 'EFI', '-i', ids.espId.replace('-', ''), esp, String((layout.esp.sectors * 512) / 1024)]);
      await run('mmd', ['-i', esp, '::/EFI', '::/EFI/BOOT'], { env: mtools });
      await run('mcopy', ['-i', esp, efi, '::/EFI/BOOT/BOOTX64.EFI'], { env: mtools });
      const cidata = path.join(work, 'cidata.img');
      await run('mkfs.fat', ['-C', '-n', 'CIDATA', '-i', ids.cidataId, cidata, String((layout.cidata.sectors * 512) / 1024)]);
      await placePartition(raw, esp, layout.esp);
      await placePartition(raw, cidata, layout.cidata);

      say('GRUB for BIOS (boot.img in sector 0, core.img in the BIOS boot partition)');
      installGrubBios(raw, readFileSync(path.join(root, 'usr/lib/grub/i386-pc/boot.img')), readFileSync(path.join(root, 'boot/grub/i386-pc/core.img')), layout.bios.start, layout.bios.sectors);

      say('qemu-img convert -c -O qcow2');
      const tmp = path.join(work, `${base}.qcow2`);
      await run('qemu-img', ['convert', '-c', '-f', 'raw', '-O', 'qcow2', raw, tmp], { timeoutMs: 1_800_000 });
      const sha = await sha256File(tmp);
      const st: Stamp = { inputs, sha256: sha, virtualSize: layout.bytes, kernelVersion, packages: installed, rootBytes };
      renameSync(tmp, qcow2);
      writeFileSync(`${qcow2}.sha256`, `${sha}  ${base}.qcow2\n`);
      writeFileSync(stampFile, `${JSON.stringify(st, null, 2)}\n`);
      return done(st, false);
    } finally {
      await ch.unmount();
      // the tree holds device nodes and bind mounts are gone by now: a plain recursive remove
      rmSync(work, { recursive: true, force: true });
    }
  });
}
