/**
 * A classic MBR (the 512-byte sector 0 of a PC disk): 440 bytes of boot code,
 * a 4-byte disk signature, 2 reserved bytes, four 16-byte partition entries
 * at offset 446 and the 0x55 0xAA signature at 510 (UEFI spec 2.10, section
 * 5.2.1 "Legacy Master Boot Record"). Written here because it is 40 lines
 * and lets the image be assembled in a plain file, without loop devices.
 */

export interface MbrPartition {
  /** first sector (LBA) */
  start: number;
  /** length in sectors */
  sectors: number;
  /** partition type byte, e.g. 0x0e FAT16 LBA, 0x0c FAT32 LBA, 0xef EFI system */
  type: number;
  bootable?: boolean;
}

export function mbr(parts: MbrPartition[], opts: { bootCode?: Buffer; diskSignature?: number } = {}): Buffer {
  if (parts.length > 4) throw new RangeError('an MBR holds at most 4 primary partitions');
  const s = Buffer.alloc(512);
  if (opts.bootCode) opts.bootCode.copy(s, 0, 0, Math.min(440, opts.bootCode.length));
  s.writeUInt32LE((opts.diskSignature ?? 0) >>> 0, 440);
  const sorted = [...parts].sort((a, b) => a.start - b.start);
  sorted.forEach((p, i) => {
    if (p.start < 1 || p.sectors < 1 || p.start + p.sectors > 0xffffffff) throw new RangeError(`partition ${i + 1} out of MBR range`);
    const prev = sorted[i - 1];
    if (prev && prev.start + prev.sectors > p.start) throw new RangeError(`partition ${i + 1} overlaps partition ${i}`);
    const o = 446 + 16 * i;
    s[o] = p.bootable ? 0x80 : 0x00;
    // CHS fields say "use LBA" (0xfe/0xff/0xff, the customary value beyond 8 GiB); firmware and
    // boot code from this century read the LBA fields.
    s.set([0xfe, 0xff, 0xff], o + 1);
    s[o + 4] = p.type;
    s.set([0xfe, 0xff, 0xff], o + 5);
    s.writeUInt32LE(p.start, o + 8);
    s.writeUInt32LE(p.sectors, o + 12);
  });
  s[510] = 0x55;
  s[511] = 0xaa;
  return s;
}
