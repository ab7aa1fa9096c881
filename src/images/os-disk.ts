/**
 * The node OS disk: one GPT disk that boots in BIOS and UEFI mode, built in
 * plain files (this kernel makes no partition devices for loop files, and
 * the build host has no udev):
 *
 *   1  BIOS boot (EF02)  1 MiB      GRUB's core.img for BIOS (grub-bios-setup embeds it)
 *   2  ESP (EF00)        100 MiB    FAT32, \EFI\BOOT\BOOTX64.EFI (GRUB, removable-media path)
 *   3  CIDATA (0700)     4 MiB      FAT, label CIDATA: the deploy ramdisk writes cloud-init's
 *                                   NoCloud files here (cloud-init finds it by the label)
 *   4  root (8300)       the rest   ext4 from `mkfs.ext4 -d` (no mount); last, so cloud-init's
 *                                   growpart can grow it to the node's disk
 *
 * Partition table: UEFI spec 2.10 section 5.3 (GPT); GUID type codes are sgdisk's short forms.
 */
import { closeSync, ftruncateSync, openSync } from 'node:fs';
import { output as run } from '../util/tools.js';

const MiB = 1024 * 1024;
const SECTOR = 512;

export interface OsPartition {
  number: number;
  name: string;
  /** sgdisk type code */
  type: string;
  /** first sector */
  start: number;
  sectors: number;
}

export interface OsDiskLayout {
  bytes: number;
  bios: OsPartition;
  esp: OsPartition;
  cidata: OsPartition;
  root: OsPartition;
}

/** The layout of a disk of `bytes` (a whole number of MiB, at least 512 MiB). */
export function osDiskLayout(bytes: number, espMiB = 100, cidataMiB = 4): OsDiskLayout {
  if (bytes % MiB !== 0 || bytes < 512 * MiB) throw new RangeError(`disk size ${bytes} must be a whole number of MiB, at least 512 MiB`);
  const mib = MiB / SECTOR;
  const bios: OsPartition = { number: 1, name: 'bios', type: 'ef02', start: mib, sectors: mib };
  const esp: OsPartition = { number: 2, name: 'esp', type: 'ef00', start: 2 * mib, sectors: espMiB * mib };
  const cidata: OsPartition = { number: 3, name: 'cidata', type: '0700', start: esp.start + esp.sectors, sectors: cidataMiB * mib };
  const rootStart = cidata.start + cidata.sectors;
  // the last MiB stays free for the backup GPT (33 sectors), keeping the root MiB-aligned
  const root: OsPartition = { number: 4, name: 'root', type: '8300', start: rootStart, sectors: bytes / SECTOR - mib - rootStart };
  return { bytes, bios, esp, cidata, root };
}

/** A sparse file of the disk's size with the GPT written by sgdisk (fixed GUIDs: equal inputs, equal disks). */
export async function writeGpt(file: string, layout: OsDiskLayout, guids: { disk: string; root: string }): Promise<void> {
  const fd = openSync(file, 'w');
  try {
    ftruncateSync(fd, layout.bytes);
  } finally {
    closeSync(fd);
  }
  const args = ['--clear', `--disk-guid=${guids.disk}`];
  for (const p of [layout.bios, layout.esp, layout.cidata, layout.root]) {
    args.push(`--new=${p.number}:${p.start}:${p.start + p.sectors - 1}`, `--typecode=${p.number}:${p.type}`, `--change-name=${p.number}:${p.name}`);
  }
  // the root partition's GUID is the one the kernel's root=PARTUUID= would name
  args.push(`--partition-guid=${layout.root.number}:${guids.root}`);
  await run('sgdisk', [...args, file]);
}

/** Copies a partition image into the disk file at the partition's offset, skipping zero blocks. */
export async function placePartition(disk: string, image: string, p: OsPartition): Promise<void> {
  await run('dd', [`if=${image}`, `of=${disk}`, 'bs=1M', `seek=${(p.start * SECTOR) / MiB}`, 'conv=notrunc,sparse', 'status=none'], { timeoutMs: 900_000 });
}
