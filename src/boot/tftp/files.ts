/**
 * Where TFTP file data comes from: a root directory (never escaped) and
 * in-memory generated files. Also the block reader a transfer uses.
 */
import fs, { constants, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** Why a name was refused; maps onto a TFTP error code in the server. */
export class PathRefused extends Error {
  constructor(
    message: string,
    readonly kind: 'not-found' | 'access',
  ) {
    super(message);
  }
}

/**
 * Turn a requested TFTP filename into a path relative to the root, or refuse it.
 *
 * A leading '/' is taken as "the root" (as tftpd-hpa -s and dnsmasq do) because
 * PXE ROMs often ask for "/pxelinux.0"; it can never reach outside the root.
 * Backslashes are separators (Windows-style PXE clients send them), so
 * "..\\x" is refused like "../x".
 */
export function normalizeRequestPath(filename: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(filename)) throw new PathRefused('control character in file name', 'access');
  const parts = filename.replace(/\\/g, '/').split('/');
  const kept: string[] = [];
  for (const p of parts) {
    if (p === '' || p === '.') continue;
    if (p === '..') throw new PathRefused('".." in file name', 'access');
    kept.push(p);
  }
  if (kept.length === 0) throw new PathRefused('empty file name', 'not-found');
  return kept.join('/');
}

/**
 * File bytes laid out as ready-to-send DATA packets: each packet is a 4-byte
 * RFC 1350 DATA header followed by its block, packets back to back with a
 * stride of 4 + blksize (only the final packet is shorter). Consecutive
 * packets are therefore one contiguous buffer that can leave in a single
 * send (UDP GSO) without copying.
 */
export interface PacketSource {
  readonly size: number;
  /** Number of DATA packets in the transfer (RFC 1350 section 6: a short block ends it). */
  readonly total: number;
  /**
   * Up to `max` consecutive packets from 1-based block `n` (not wrapped) that are
   * in memory now, or undefined (then `load(n)` fetches them).
   */
  packets(n: number, max: number): { buf: Buffer; count: number } | undefined;
  load(n: number): Promise<void>;
  /** Blocks below `n` will not be asked for again (acknowledged). */
  release(n: number): void;
  close(): Promise<void>;
}

function writeHeader(buf: Buffer, off: number, block: number): void {
  buf.writeUInt16BE(3, off); // RFC 1350 opcode 3 = DATA
  buf.writeUInt16BE(block & 0xffff, off + 2); // block numbers wrap past 65535
}

/** Packets of blocks [first, first+count) of a file of `size` bytes; returns the buffer length. */
function layoutLength(size: number, blksize: number, first: number, count: number): number {
  const lastStart = (first + count - 2) * blksize;
  return (count - 1) * (blksize + 4) + 4 + Math.max(0, Math.min(blksize, size - lastStart));
}

export class MemorySource implements PacketSource {
  readonly size: number;
  readonly total: number;
  private readonly arena: Buffer;
  private readonly stride: number;
  constructor(data: Buffer, private readonly blksize: number) {
    this.size = data.length;
    this.total = Math.floor(data.length / blksize) + 1;
    this.stride = blksize + 4;
    this.arena = Buffer.allocUnsafe(layoutLength(this.size, blksize, 1, this.total));
    for (let b = 1; b <= this.total; b++) {
      const off = (b - 1) * this.stride;
      writeHeader(this.arena, off, b);
      data.copy(this.arena, off + 4, (b - 1) * blksize, Math.min(b * blksize, data.length));
    }
  }
  packets(n: number, max: number): { buf: Buffer; count: number } {
    const count = Math.min(max, this.total - n + 1);
    const start = (n - 1) * this.stride;
    return { buf: this.arena.subarray(start, Math.min(start + count * this.stride, this.arena.length)), count };
  }
  async load(): Promise<void> {}
  release(): void {}
  async close(): Promise<void> {}
}

/**
 * Reads a file in large chunks (a whole number of blocks each, one preadv per
 * chunk straight into packet layout) and prefetches the next chunk while the
 * current one is being sent. At most three chunks per transfer are held.
 */
export class FileSource implements PacketSource {
  readonly total: number;
  private readonly chunks = new Map<number, Buffer>();
  private readonly pending = new Map<number, Promise<void>>();
  private readonly chunkBlocks: number;
  private readonly stride: number;
  private closed = false;
  private failure: Error | undefined;

  constructor(
    private readonly fh: BlockReader,
    readonly size: number,
    private readonly blksize: number,
    minChunkBytes: number,
  ) {
    this.total = Math.floor(size / blksize) + 1;
    this.stride = blksize + 4;
    // preadv takes at most IOV_MAX (1024) vectors.
    this.chunkBlocks = Math.min(1024, Math.max(1, Math.ceil(minChunkBytes / blksize)));
  }

  private chunkOf(n: number): number {
    return Math.floor((n - 1) / this.chunkBlocks);
  }

  packets(n: number, max: number): { buf: Buffer; count: number } | undefined {
    const c = this.chunkOf(n);
    const chunk = this.chunks.get(c);
    if (!chunk) return undefined;
    const next = c + 1;
    // Start reading the next chunk as soon as this one is in use.
    if (next * this.chunkBlocks < this.total && !this.chunks.has(next) && !this.pending.has(next)) {
      this.fetch(next).catch(() => {});
    }
    const first = c * this.chunkBlocks + 1;
    const inChunk = Math.min(this.chunkBlocks, this.total - first + 1);
    const idx = n - first;
    const count = Math.min(max, inChunk - idx);
    const start = idx * this.stride;
    return { buf: chunk.subarray(start, Math.min(start + count * this.stride, chunk.length)), count };
  }

  load(n: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return this.fetch(this.chunkOf(n));
  }

  private fetch(c: number): Promise<void> {
    const have = this.pending.get(c);
    if (have) return have;
    const first = c * this.chunkBlocks + 1;
    if (first > this.total) return Promise.resolve();
    const count = Math.min(this.chunkBlocks, this.total - first + 1);
    const p = (async () => {
      const buf = Buffer.allocUnsafe(layoutLength(this.size, this.blksize, first, count));
      const views: Buffer[] = [];
      for (let i = 0; i < count; i++) {
        const off = i * this.stride;
        writeHeader(buf, off, first + i);
        views.push(buf.subarray(off + 4, Math.min(off + 4 + this.blksize, buf.length)));
      }
      let pos = (first - 1) * this.blksize;
      let vi = 0;
      while (vi < views.length) {
        const batch = views.slice(vi);
        const { bytesRead } = await this.fh.readv(batch, pos);
        if (bytesRead === 0) {
          // The file shrank under us: zero-fill so the announced size is kept.
          for (const v of batch) v.fill(0);
          break;
        }
        pos += bytesRead;
        let left = bytesRead;
        while (left > 0 && vi < views.length) {
          const v = views[vi]!;
          if (left >= v.length) {
            left -= v.length;
            vi++;
          } else {
            views[vi] = v.subarray(left);
            left = 0;
          }
        }
        while (vi < views.length && views[vi]!.length === 0) vi++;
      }
      if (!this.closed) this.chunks.set(c, buf);
    })()
      .catch((e: Error) => {
        this.failure = e;
        throw e;
      })
      .finally(() => this.pending.delete(c));
    this.pending.set(c, p);
    return p;
  }

  release(n: number): void {
    const keep = this.chunkOf(n);
    for (const c of this.chunks.keys()) if (c < keep) this.chunks.delete(c);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.chunks.clear();
    await Promise.allSettled([...this.pending.values()]);
    await this.fh.close().catch(() => {});
  }
}

/** What FileSource needs from a file: positional vectored reads (pread semantics, thread-safe). */
export interface BlockReader {
  readv(buffers: Buffer[], position: number): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

/**
 * A reader over a raw descriptor owned by someone else (the main thread keeps
 * the FileHandle; a worker thread only reads): close() does not close it.
 */
export function borrowedFd(fd: number): BlockReader {
  return {
    readv: (buffers, position) =>
      new Promise((resolve, reject) => fs.readv(fd, buffers, position, (err, bytesRead) => (err ? reject(err) : resolve({ bytesRead })))),
    close: async () => {},
  };
}

/** Content of a generated file: bytes, or text (sent as UTF-8). */
export type GeneratedContent = Buffer | string;
/** Returns the content for a (normalized, root-relative) path, or undefined to fall through to disk. */
export type GeneratedFiles = (
  relPath: string,
  client: { address: string; port: number },
) => GeneratedContent | undefined | Promise<GeneratedContent | undefined>;

export type Opened = { kind: 'memory'; data: Buffer } | { kind: 'file'; fh: FileHandle; size: number };

/**
 * Open `rel` under `root` (already realpath'd). Symlinks are resolved and the
 * result must stay inside the root; the final open uses O_NOFOLLOW so a link
 * swapped in after the check is not followed.
 */
export async function openUnderRoot(realRoot: string, rel: string): Promise<Opened> {
  const joined = path.join(realRoot, rel);
  let real: string;
  try {
    real = await fsp.realpath(joined);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES') throw new PathRefused('permission denied', 'access');
    throw new PathRefused('file not found', 'not-found');
  }
  if (real !== realRoot && !real.startsWith(realRoot.endsWith('/') ? realRoot : realRoot + '/')) {
    throw new PathRefused('path leaves the TFTP root', 'access');
  }
  let fh: FileHandle;
  try {
    fh = await fsp.open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PathRefused('file not found', 'not-found');
    throw new PathRefused('cannot open file', 'access');
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new PathRefused('not a regular file', 'not-found');
  }
  return { kind: 'file', fh, size: st.size };
}

/** RFC 1350 netascii: LF -> CR LF, CR -> CR NUL (RFC 764 Telnet NVT rules). */
export function toNetascii(data: Buffer): Buffer {
  let extra = 0;
  for (const b of data) if (b === 0x0a || b === 0x0d) extra++;
  if (extra === 0) return data;
  const out = Buffer.allocUnsafe(data.length + extra);
  let o = 0;
  for (const b of data) {
    if (b === 0x0a) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
    } else if (b === 0x0d) {
      out[o++] = 0x0d;
      out[o++] = 0x00;
    } else out[o++] = b;
  }
  return out;
}
