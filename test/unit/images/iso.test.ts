/**
 * The virtual-media boot CD (src/images/iso.ts): the boot configurations it
 * writes, and a built ISO read back with isoinfo (genisoimage's own reader)
 * and mtools: the files, the volume label, the El Torito catalog's BIOS and
 * UEFI entries, and the per-node command line in both loaders' configs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBootIso, grubEfiConfig, ISO_HOST_NEEDS, ISO_LABEL, isoHostMissing, isolinuxConfig } from '../../../src/images/iso.js';
import { needPeers } from '../../helpers/peers.js';

const CMDLINE = ['kseed.url=http://10.77.0.1:8080', 'kseed.node=node01', 'kseed.token=abc-DEF_123', 'kseed.mac=52:54:00:12:34:56', 'ip=10.77.0.11::10.77.0.1:255.255.255.0:node01::off', 'console=ttyS0'];

describe('boot CD host tools (what kseed doctor reports)', () => {
  it('names a missing program and a missing file with their packages, and nothing that is present', () => {
    const needs = [
      { need: 'kseed-no-such-tool', pkg: 'pkg-a' },
      { need: '/nonexistent/kseed/isolinux.bin', pkg: 'pkg-b' },
      { need: 'sh', pkg: 'dash' },
      { need: '/etc/passwd', pkg: 'base-files' },
    ];
    expect(isoHostMissing(needs)).toEqual([needs[0], needs[1]]);
  });

  it('lists every program buildBootIso runs', () => {
    // a program added to the build but not to the list would only fail at deploy time
    const src = readFileSync(path.join(__dirname, '../../../src/images/iso.ts'), 'utf8');
    const ran = [...src.matchAll(/run\(\s*'([^']+)'/g)].map((m) => m[1]);
    expect(ran.length).toBeGreaterThanOrEqual(5);
    for (const prog of ran) expect(ISO_HOST_NEEDS.map((n) => n.need)).toContain(prog);
  });
});

describe('boot CD configurations', () => {
  it('isolinux.cfg boots the kernel at once with the initrd and the whole command line', () => {
    const cfg = isolinuxConfig(CMDLINE, 'kseed: node01 deploy');
    const lines = cfg.split('\n');
    expect(lines).toContain('DEFAULT kseed');
    expect(lines).toContain('TIMEOUT 0');
    expect(lines).toContain('  KERNEL /kseed/vmlinuz');
    expect(lines).toContain(`  APPEND initrd=/kseed/initrd.gz ${CMDLINE.join(' ')}`);
    expect(lines).toContain('  SAY kseed: node01 deploy');
  });

  it("GRUB's early config finds the CD by its label and boots the same command line", () => {
    expect(grubEfiConfig(CMDLINE).split('\n')).toEqual([
      'echo kseed deploy ramdisk',
      `search --no-floppy --label ${ISO_LABEL} --set=root`,
      `linux ($root)/kseed/vmlinuz ${CMDLINE.join(' ')}`,
      'initrd ($root)/kseed/initrd.gz',
      'boot',
      '',
    ]);
    // the rescue parser takes no comments
    expect(grubEfiConfig(CMDLINE)).not.toContain('#');
  });

  it('refuses words the loaders would split or expand, and an over-long line', () => {
    for (const bad of ['a b', 'x=$root', 'a;b', 'a#b', 'a"b', "a'b", 'a\\b', '']) {
      expect(() => isolinuxConfig(['console=ttyS0', bad]), bad).toThrow(/cannot go on the boot CD's command line/);
      expect(() => grubEfiConfig([bad]), bad).toThrow(/cannot go on the boot CD's command line/);
    }
    expect(() => isolinuxConfig(['x'.repeat(2048)])).toThrow(/over SYSLINUX's 2047/);
  });

  it('keeps only plain characters of the title', () => {
    expect(isolinuxConfig(['a'], 'x$y;z#\n')).toContain('  SAY xyz\n');
  });
});

describe.skipIf(!needPeers('genisoimage', 'isoinfo', 'grub-mkimage', 'mkfs.fat', 'mcopy', 'mtype'))('buildBootIso (genisoimage, isoinfo, mtools)', () => {
  let dir = '';
  let iso = '';
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ksi-iso-'));
    writeFileSync(path.join(dir, 'vmlinuz'), Buffer.alloc(70_000, 0x4b));
    writeFileSync(path.join(dir, 'initramfs.gz'), Buffer.alloc(50_000, 0x49));
    const r = await buildBootIso({ kernel: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initramfs.gz'), cmdline: CMDLINE, out: path.join(dir, 'out', 'node01.iso') });
    iso = r.iso;
    expect(r.bytes).toBe(readFileSync(iso).length);
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const isoinfo = (...args: string[]) => execFileSync('isoinfo', ['-i', iso, ...args], { encoding: 'utf8' });

  it('holds the kernel and initramfs byte for byte, ISOLINUX and its config, and the EFI image; nothing of the build is left beside it', () => {
    const files = isoinfo('-R', '-f').split('\n').filter(Boolean).sort();
    expect(files).toEqual(['/boot', '/boot/efiboot.img', '/isolinux', '/isolinux/boot.cat', '/isolinux/isolinux.bin', '/isolinux/isolinux.cfg', '/isolinux/ldlinux.c32', '/kseed', '/kseed/initrd.gz', '/kseed/vmlinuz']);
    const get = (f: string) => execFileSync('isoinfo', ['-i', iso, '-R', '-x', f], { maxBuffer: 1 << 24 });
    expect(get('/kseed/vmlinuz').equals(readFileSync(path.join(dir, 'vmlinuz')))).toBe(true);
    expect(get('/kseed/initrd.gz').equals(readFileSync(path.join(dir, 'initramfs.gz')))).toBe(true);
    expect(get('/isolinux/isolinux.cfg').toString()).toBe(isolinuxConfig(CMDLINE));
    expect(execFileSync('ls', ['-A', path.join(dir, 'out')], { encoding: 'utf8' }).trim()).toBe('node01.iso');
  });

  it('has the volume label GRUB searches for and two El Torito entries: BIOS (ISOLINUX, 4 sectors) and UEFI (platform 0xEF)', () => {
    expect(isoinfo('-d')).toMatch(new RegExp(`Volume id: ${ISO_LABEL}\\b`));
    const d = isoinfo('-d');
    expect(d).toMatch(/El Torito VD version 1 found/);
    expect(d).toMatch(/Arch 0 \(x86\)/);
    expect(d).toMatch(/Bootid 88 \(bootable\)[^]*Boot media 0 \(No Emulation Boot\)[^]*Nsect 4\s*\n\s*Bootoff/);
    // isoinfo prints the validation entry; the alternate (EFI) entry is in the catalog: section header 0x91 (last), platform 0xEF
    const cat = execFileSync('isoinfo', ['-i', iso, '-R', '-x', '/isolinux/boot.cat']);
    expect(cat[0]).toBe(0x01);
    expect(cat[1]).toBe(0x00);
    expect(cat[32]).toBe(0x88);
    expect(cat[64]).toBe(0x91);
    expect(cat[65]).toBe(0xef);
    expect(cat[96]).toBe(0x88);
  });

  it("the EFI image is a FAT with \\EFI\\BOOT\\BOOTX64.EFI, a PE file that carries GRUB's config with the command line", () => {
    const img = path.join(dir, 'efiboot.img');
    writeFileSync(img, execFileSync('isoinfo', ['-i', iso, '-R', '-x', '/boot/efiboot.img'], { maxBuffer: 1 << 24 }));
    const efi = execFileSync('mtype', ['-i', img, '::/EFI/BOOT/BOOTX64.EFI'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' }, maxBuffer: 1 << 24 });
    expect(efi.subarray(0, 2).toString('latin1')).toBe('MZ');
    expect(efi.includes(Buffer.from(`linux ($root)/kseed/vmlinuz ${CMDLINE.join(' ')}`))).toBe(true);
  });
});
