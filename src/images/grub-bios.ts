/**
 * GRUB's BIOS boot on a GPT disk, written into the disk file the way
 * grub-bios-setup does it (that tool needs a block device, and probing a
 * loop device fails on a host without udev):
 *
 *  - sector 0: boot.img's code, with the disk's own signature, partition table
 *    and 0x55AA kept (bytes 0x1b8..0x200: here the GPT's protective MBR);
 *    at 0x5c the 64-bit LBA of core.img's first sector, at 0x64 boot drive
 *    0xff ("the drive the BIOS booted"), at 0x66 two NOPs over the jump that
 *    skips the buggy-BIOS drive check (grub-bios-setup does so for hard disks);
 *  - the BIOS boot partition (type EF02): core.img, whose first sector
 *    (diskboot.img) ends in a blocklist {u64 start, u16 sectors, u16 segment}
 *    naming the rest of core.img: one run of sectors right after it, loaded
 *    at segment 0x820 (0x800 + one sector), then an all-zero terminator.
 *
 * Offsets: GRUB 2.06 include/grub/i386/pc/boot.h (GRUB_BOOT_MACHINE_KERNEL_SECTOR,
 * _BOOT_DRIVE, _DRIVE_CHECK, _WINDOWS_NT_MAGIC, _LIST_SIZE) and util/setup.c.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';

const SECTOR = 512;
const KERNEL_SECTOR = 0x5c;
const BOOT_DRIVE = 0x64;
const DRIVE_CHECK = 0x66;
const NT_MAGIC = 0x1b8;
const LIST_SIZE = 12;
const KERNEL_SEG = 0x800;

/** Sector 0 and the BIOS boot partition's content, from boot.img, core.img and the current sector 0. */
export function grubBiosSectors(bootImg: Buffer, coreImg: Buffer, mbr: Buffer, coreLba: number, partSectors: number): { mbr: Buffer; core: Buffer } {
  if (bootImg.length !== SECTOR) throw new Error(`boot.img is ${bootImg.length} bytes, not ${SECTOR}`);
  if (mbr.length !== SECTOR || mbr[510] !== 0x55 || mbr[511] !== 0xaa) throw new Error('sector 0 holds no partition table (no 0x55AA)');
  const sectors = Math.ceil(coreImg.length / SECTOR);
  if (sectors < 2) throw new Error('core.img is too small');
  if (sectors > partSectors) throw new Error(`core.img (${sectors} sectors) does not fit the BIOS boot partition (${partSectors} sectors)`);
  const out = Buffer.from(bootImg);
  mbr.copy(out, NT_MAGIC, NT_MAGIC, SECTOR);
  out.writeBigUInt64LE(BigInt(coreLba), KERNEL_SECTOR);
  out[BOOT_DRIVE] = 0xff;
  out[DRIVE_CHECK] = 0x90;
  out[DRIVE_CHECK + 1] = 0x90;
  const core = Buffer.alloc(sectors * SECTOR);
  coreImg.copy(core);
  const list = SECTOR - LIST_SIZE;
  core.writeBigUInt64LE(BigInt(coreLba + 1), list);
  core.writeUInt16LE(sectors - 1, list + 8);
  core.writeUInt16LE(KERNEL_SEG + (SECTOR >> 4), list + 10);
  core.fill(0, list - LIST_SIZE, list);
  return { mbr: out, core };
}

/** Writes GRUB's BIOS boot code into the disk file whose BIOS boot partition starts at `coreLba`. */
export function installGrubBios(disk: string, bootImg: Buffer, coreImg: Buffer, coreLba: number, partSectors: number): void {
  const fd = openSync(disk, 'r+');
  try {
    const mbr = Buffer.alloc(SECTOR);
    readSync(fd, mbr, 0, SECTOR, 0);
    const s = grubBiosSectors(bootImg, coreImg, mbr, coreLba, partSectors);
    writeSync(fd, s.core, 0, s.core.length, coreLba * SECTOR);
    writeSync(fd, s.mbr, 0, SECTOR, 0);
  } finally {
    closeSync(fd);
  }
}
