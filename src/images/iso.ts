/**
 * The virtual-media boot CD: the deploy kernel and initramfs on an ISO 9660
 * image that boots in both firmware modes, with one node's kernel command
 * line (its agent token, its network settings, the seed's URL) written into
 * the boot configuration, as Ironic writes its per-node boot ISO for the
 * redfish-virtual-media boot interface.
 *
 * El Torito (1995 spec, "no emulation" entries, section 2.5): the default
 * entry is ISOLINUX for BIOS (platform 0x00, loaded 4 sectors, patched with
 * the boot info table, section "boot info table" of isolinux's doc/isolinux.txt);
 * an alternate entry (platform 0xEF, UEFI spec 2.10 section 13.3.2.1) is a
 * FAT image holding \EFI\BOOT\BOOTX64.EFI, GRUB with a built-in config that
 * finds the CD by its volume label and boots the same kernel from it.
 *
 * Built with the host's tools (genisoimage, isolinux, grub-mkimage, mtools):
 * under a second per ISO, so each boot gets its own.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KseedError } from '../errors.js';
import { output as run, which } from '../util/tools.js';

/** The ISO's volume identifier: GRUB's `search --label` finds the CD by it. */
export const ISO_LABEL = 'KSEED_VMEDIA';
export const ISOLINUX_BIN = '/usr/lib/ISOLINUX/isolinux.bin';
export const LDLINUX_C32 = '/usr/lib/syslinux/modules/bios/ldlinux.c32';
/** Debian packages whose tools or files the build uses. */
export const ISO_HOST_PACKAGES = ['genisoimage', 'isolinux', 'syslinux-common', 'grub-common', 'grub-efi-amd64-bin', 'dosfstools', 'mtools'];
/** GRUB modules built into BOOTX64.EFI: read the CD, find it by label, boot Linux. */
const GRUB_MODULES = ['iso9660', 'search', 'search_label', 'linux', 'boot', 'echo'];
/** Where the kernel and initramfs sit on the CD. */
export const ISO_KERNEL = '/kseed/vmlinuz';
export const ISO_INITRD = '/kseed/initrd.gz';

/**
 * A word both boot loaders pass through as it is: no blanks (word
 * separators), no quotes, `$` (GRUB expands it), `;` `#` `\` (GRUB syntax).
 */
const SAFE_WORD = /^[A-Za-z0-9._~:/@%+=,-]+$/;
/** SYSLINUX's command line limit (COMMAND_LINE_SIZE in com32/include/syslinux/config.h is 2048 with the NUL). */
const MAX_CMDLINE = 2047;

export interface BootIsoOptions {
  kernel: string;
  initrd: string;
  /** The kernel command line, word by word. */
  cmdline: string[];
  /** The ISO file to write (atomically: a reader never sees half of it). */
  out: string;
  /** Shown by both loaders before the kernel starts. */
  title?: string;
}

export interface BootIso {
  iso: string;
  bytes: number;
}

function cmdlineOf(words: string[]): string {
  for (const w of words) {
    if (!SAFE_WORD.test(w)) throw new KseedError(`kernel argument ${JSON.stringify(w)} cannot go on the boot CD's command line (blank, quote, $, ; or # in it)`, { code: 'bad-input' });
  }
  const line = words.join(' ');
  if (line.length > MAX_CMDLINE) throw new KseedError(`the boot CD's kernel command line is ${line.length} characters, over SYSLINUX's ${MAX_CMDLINE}`, { code: 'bad-input' });
  return line;
}

const plain = (s: string) => s.replace(/[^A-Za-z0-9 ._:/@-]/g, '');

/** Everything buildBootIso takes from the host: programs (on PATH) and files, each with its Debian package. */
export const ISO_HOST_NEEDS: readonly { need: string; pkg: string }[] = [
  { need: 'genisoimage', pkg: 'genisoimage' },
  { need: ISOLINUX_BIN, pkg: 'isolinux' },
  { need: LDLINUX_C32, pkg: 'syslinux-common' },
  { need: 'grub-mkimage', pkg: 'grub-common' },
  { need: '/usr/lib/grub/x86_64-efi', pkg: 'grub-efi-amd64-bin' },
  { need: 'mkfs.fat', pkg: 'dosfstools' },
  { need: 'mmd', pkg: 'mtools' },
  { need: 'mcopy', pkg: 'mtools' },
];

/** What of ISO_HOST_NEEDS this host lacks: `kseed doctor` reports it before a deploy needs a CD. */
export function isoHostMissing(needs: readonly { need: string; pkg: string }[] = ISO_HOST_NEEDS): { need: string; pkg: string }[] {
  return needs.filter((n) => (n.need.startsWith('/') ? !existsSync(n.need) : !which(n.need)));
}

/** isolinux.cfg (SYSLINUX config syntax: doc/syslinux.txt): one entry, no prompt. */
export function isolinuxConfig(cmdline: string[], title = 'kseed deploy ramdisk'): string {
  return [
    'SERIAL 0 115200',
    'DEFAULT kseed',
    'PROMPT 0',
    'TIMEOUT 0',
    'LABEL kseed',
    `  SAY ${plain(title)}`,
    `  KERNEL ${ISO_KERNEL}`,
    `  APPEND initrd=${ISO_INITRD} ${cmdlineOf(cmdline)}`,
    '',
  ].join('\n');
}

/**
 * GRUB's built-in (early) config for UEFI: it runs before normal mode, so only
 * commands of the built-in modules, and no comments (the rescue parser rejects '#').
 */
export function grubEfiConfig(cmdline: string[], title = 'kseed deploy ramdisk'): string {
  return [
    `echo ${plain(title)}`,
    `search --no-floppy --label ${ISO_LABEL} --set=root`,
    `linux ($root)${ISO_KERNEL} ${cmdlineOf(cmdline)}`,
    `initrd ($root)${ISO_INITRD}`,
    'boot',
    '',
  ].join('\n');
}

/** Builds the ISO: ISOLINUX for BIOS, GRUB for UEFI, both booting `kernel` with `cmdline`. */
export async function buildBootIso(o: BootIsoOptions): Promise<BootIso> {
  for (const f of [o.kernel, o.initrd, ISOLINUX_BIN, LDLINUX_C32]) {
    try {
      statSync(f);
    } catch {
      const pkg = f === ISOLINUX_BIN ? ' (Debian package isolinux)' : f === LDLINUX_C32 ? ' (Debian package syslinux-common)' : '';
      throw new KseedError(`the boot CD needs ${f}, which does not exist${pkg}`, { code: 'build-failed' });
    }
  }
  mkdirSync(path.dirname(o.out), { recursive: true });
  const work = mkdtempSync(path.join(path.dirname(o.out), '.iso-'));
  try {
    const tree = path.join(work, 'tree');
    mkdirSync(path.join(tree, 'isolinux'), { recursive: true });
    mkdirSync(path.join(tree, 'boot'), { recursive: true });
    // genisoimage patches the boot info table into isolinux.bin where it lies: a copy, never the host's file
    copyFileSync(ISOLINUX_BIN, path.join(tree, 'isolinux/isolinux.bin'));
    copyFileSync(LDLINUX_C32, path.join(tree, 'isolinux/ldlinux.c32'));
    writeFileSync(path.join(tree, 'isolinux/isolinux.cfg'), isolinuxConfig(o.cmdline, o.title));

    const efi = path.join(work, 'BOOTX64.EFI');
    const early = path.join(work, 'grub-early.cfg');
    writeFileSync(early, grubEfiConfig(o.cmdline, o.title));
    await run('grub-mkimage', ['-O', 'x86_64-efi', '-o', efi, '-p', '/EFI/BOOT', '-c', early, ...GRUB_MODULES]);
    const fat = path.join(tree, 'boot/efiboot.img');
    // the EFI binary plus FAT12 overhead, in KiB (mkfs.fat -C takes 1 KiB blocks)
    const kib = Math.ceil(statSync(efi).size / 1024) + 256;
    await run('mkfs.fat', ['-C', '-n', 'KSEEDEFI', fat, String(kib)]);
    const mtools = { MTOOLS_SKIP_CHECK: '1' };
    await run('mmd', ['-i', fat, '::/EFI', '::/EFI/BOOT'], { env: mtools });
    await run('mcopy', ['-i', fat, efi, '::/EFI/BOOT/BOOTX64.EFI'], { env: mtools });

    const tmp = path.join(work, 'out.iso');
    // graft points: the kernel and initramfs go on the CD without a copy in the tree
    await run(
      'genisoimage',
      [
        '-quiet', '-o', tmp, '-V', ISO_LABEL, '-R', '-J',
        '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table',
        '-eltorito-alt-boot', '-e', 'boot/efiboot.img', '-no-emul-boot',
        '-graft-points', `${ISO_KERNEL.slice(1)}=${o.kernel}`, `${ISO_INITRD.slice(1)}=${o.initrd}`, tree,
      ],
      { timeoutMs: 120_000 },
    );
    renameSync(tmp, o.out);
    return { iso: o.out, bytes: statSync(o.out).size };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
