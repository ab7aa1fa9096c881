/**
 * The few parts of the tar format a bundle needs (POSIX.1-2001 `ustar`,
 * IEEE Std 1003.1 "pax" section "ustar Interchange Format"): 512-byte
 * headers, file data padded to 512 bytes, two zero blocks at the end. GNU
 * tar's headers (magic `ustar  \0`) read the same way, so a bundle that GNU
 * tar wrote, or lists, is one kseed reads. Only regular files are written.
 */
export const BLOCK = 512;

/** Largest size the 11 octal digits of ustar hold; above it GNU's base-256 form is used (GNU tar reads it). */
const OCTAL_MAX = 8 ** 11 - 1;

export interface TarEntry {
  name: string;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** '0' (or '\0') is a regular file. */
  type: string;
}

function putString(h: Buffer, off: number, len: number, s: string): void {
  const b = Buffer.from(s, 'utf8');
  if (b.length > len) throw new Error(`tar field too long (${b.length} > ${len}): ${s}`);
  b.copy(h, off);
}

function putOctal(h: Buffer, off: number, len: number, n: number): void {
  putString(h, off, len, `${n.toString(8).padStart(len - 1, '0')}\0`);
}

/** A member's header. Names longer than 100 bytes go to the ustar prefix field, split at a slash. */
export function encodeHeader(e: { name: string; size: number; mtime?: number; mode?: number }): Buffer {
  const h = Buffer.alloc(BLOCK);
  let name = e.name;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`tar member name too long: ${e.name}`);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
  }
  putString(h, 0, 100, name);
  putOctal(h, 100, 8, e.mode ?? 0o644);
  putOctal(h, 108, 8, 0);
  putOctal(h, 116, 8, 0);
  if (e.size <= OCTAL_MAX) putOctal(h, 124, 12, e.size);
  else {
    // GNU base-256: high bit of the first byte set, the number big-endian in the rest
    h[124] = 0x80;
    h.writeBigUInt64BE(BigInt(e.size), 128);
  }
  putOctal(h, 136, 12, Math.floor(e.mtime ?? 0));
  h.fill(0x20, 148, 156); // the checksum is computed with its own field as spaces
  h[156] = 0x30; // '0': regular file
  putString(h, 257, 6, 'ustar\0');
  putString(h, 263, 2, '00');
  putString(h, 265, 32, 'root');
  putString(h, 297, 32, 'root');
  putString(h, 345, 155, prefix);
  putOctal(h, 148, 7, checksum(h));
  h[155] = 0x20;
  return h;
}

function checksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return sum;
}

function getString(h: Buffer, off: number, len: number): string {
  const end = h.indexOf(0, off);
  return h.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}

function getNumber(h: Buffer, off: number, len: number): number {
  if (h[off]! & 0x80) {
    let n = 0n;
    for (let i = off + 1; i < off + len; i++) n = (n << 8n) | BigInt(h[i]!);
    return Number(n);
  }
  const s = getString(h, off, len).trim();
  return s ? parseInt(s, 8) : 0;
}

export function isZeroBlock(h: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (h[i] !== 0) return false;
  return true;
}

/** Decodes a header block; throws on a bad checksum or magic (a corrupt or foreign file). */
export function decodeHeader(h: Buffer): TarEntry {
  if (h.length !== BLOCK) throw new Error(`short tar header (${h.length} bytes)`);
  const magic = h.toString('latin1', 257, 262);
  if (magic !== 'ustar') throw new Error('not a tar header (no ustar magic)');
  const stored = getNumber(h, 148, 8);
  if (stored !== checksum(h)) throw new Error(`tar header checksum mismatch (stored ${stored}, computed ${checksum(h)})`);
  const name = getString(h, 0, 100);
  const prefix = getString(h, 345, 155);
  return {
    name: prefix ? `${prefix}/${name}` : name,
    size: getNumber(h, 124, 12),
    mtime: getNumber(h, 136, 12),
    type: String.fromCharCode(h[156]!) === '\0' ? '0' : String.fromCharCode(h[156]!),
  };
}

/** Zero bytes that pad `size` bytes of data to a whole block. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}
