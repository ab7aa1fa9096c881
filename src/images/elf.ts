/**
 * Just enough of ELF to copy a dynamically linked Debian binary into an
 * initramfs with the shared libraries it needs: the DT_NEEDED sonames of an
 * ELF64 little-endian file (System V gABI, "Dynamic Section"; x86-64 psABI).
 * No binutils on the build host needed.
 */

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;

export function isElf(buf: Buffer): boolean {
  return buf.length >= 64 && buf[0] === 0x7f && buf.toString('latin1', 1, 4) === 'ELF';
}

/**
 * The sonames an ELF64 LE object needs, in DT_NEEDED order; [] for a static
 * binary; undefined when the file is not ELF64 LE (or is malformed).
 */
export function elfNeeded(buf: Buffer): string[] | undefined {
  if (!isElf(buf) || buf[4] !== 2 || buf[5] !== 1) return undefined;
  try {
    const phoff = Number(buf.readBigUInt64LE(0x20));
    const phentsize = buf.readUInt16LE(0x36);
    const phnum = buf.readUInt16LE(0x38);
    const loads: { vaddr: bigint; offset: bigint; filesz: bigint }[] = [];
    let dyn: { offset: number; size: number } | undefined;
    for (let i = 0; i < phnum; i++) {
      const p = phoff + i * phentsize;
      const type = buf.readUInt32LE(p);
      const offset = buf.readBigUInt64LE(p + 8);
      const vaddr = buf.readBigUInt64LE(p + 16);
      const filesz = buf.readBigUInt64LE(p + 32);
      if (type === PT_LOAD) loads.push({ vaddr, offset, filesz });
      else if (type === PT_DYNAMIC) dyn = { offset: Number(offset), size: Number(filesz) };
    }
    if (!dyn) return [];
    const needed: bigint[] = [];
    let strtab: bigint | undefined;
    for (let p = dyn.offset; p + 16 <= dyn.offset + dyn.size; p += 16) {
      const tag = buf.readBigInt64LE(p);
      const val = buf.readBigUInt64LE(p + 8);
      if (tag === DT_NULL) break;
      if (tag === DT_NEEDED) needed.push(val);
      else if (tag === DT_STRTAB) strtab = val;
    }
    if (!needed.length) return [];
    if (strtab === undefined) return undefined;
    // DT_STRTAB is a virtual address: map it to a file offset through its PT_LOAD segment
    const seg = loads.find((l) => strtab! >= l.vaddr && strtab! < l.vaddr + l.filesz);
    if (!seg) return undefined;
    const base = Number(strtab - seg.vaddr + seg.offset);
    return needed.map((off) => {
      const start = base + Number(off);
      const end = buf.indexOf(0, start);
      if (end < 0) throw new RangeError('unterminated string');
      return buf.toString('latin1', start, end);
    });
  } catch {
    return undefined;
  }
}
