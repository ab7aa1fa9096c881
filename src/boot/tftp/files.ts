/**
 * Where TFTP file data comes from: a root directory (never escaped) and
 * in-memory generated files. Also the block reader a transfer uses.
 */
import { constants, promises as fsp } from 'node:fs';
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

/** A readable source of file bytes addressed by block. */
export interface BlockSource {
  readonly size: number;
  /**
   * Bytes of 1-based block `n` (RFC 1350 block numbering, here not wrapped),
   * if they are already in memory; otherwise undefined and `load(n)` fetches them.
   */
  block(n: number): Buffer | undefined;
  load(n: number): Promise<void>;
  /** Blocks below `n` will not be asked for again (acknowledged). */
  release(n: number): void;
  close(): Promise<void>;
}

export class MemorySource implements BlockSource {
  readonly size: number;
  constructor(
    private readonly data: Buffer,
    private readonly blksize: number,
  ) {
    this.size = data.length;
  }
  block(n: number): Buffer {
    const start = (n - 1) * this.blksize;
    return this.data.subarray(start, Math.min(start + this.blksize, this.data.length));
  }
  async load(): Promise<void> {}
  release(): void {}
  async close(): Promise<void> {}
}

/**
 * Reads a file in large chunks (a whole number of blocks each) so one read
 * syscall serves many DATA packets, and prefetches the next chunk while the
 * current one is being sent. At most three chunks per transfer are held.
 */
export class FileSource implements BlockSource {
  private readonly chunks = new Map<number, Buffer>();
  private readonly pending = new Map<number, Promise<void>>();
  private readonly chunkBlocks: number;
  private closed = false;
  private failure: Error | undefined;

  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
    private readonly blksize: number,
    minChunkBytes: number,
  ) {
    this.chunkBlocks = Math.max(1, Math.ceil(minChunkBytes / blksize));
  }

  private chunkOf(n: number): number {
    return Math.floor((n - 1) / this.chunkBlocks);
  }

  block(n: number): Buffer | undefined {
    const c = this.chunkOf(n);
    const chunk = this.chunks.get(c);
    if (!chunk) return undefined;
    // Start reading the next chunk as soon as this one is in use.
    if ((c + 1) * this.chunkBlocks * this.blksize <= this.size && !this.chunks.has(c + 1) && !this.pending.has(c + 1)) {
      this.fetch(c + 1).catch(() => {});
    }
    const off = (n - 1 - c * this.chunkBlocks) * this.blksize;
    return chunk.subarray(off, Math.min(off + this.blksize, chunk.length));
  }

  load(n: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return this.fetch(this.chunkOf(n));
  }

  private fetch(c: number): Promise<void> {
    const have = this.pending.get(c);
    if (have) return have;
    const start = c * this.chunkBlocks * this.blksize;
    if (start > this.size) return Promise.resolve();
    const len = Math.min(this.chunkBlocks * this.blksize, this.size - start);
    const p = (async () => {
      const buf = Buffer.allocUnsafe(len);
      let got = 0;
      while (got < len) {
        const { bytesRead } = await this.fh.read(buf, got, len - got, start + got);
        if (bytesRead === 0) break; // file shrank under us: serve what exists
        got += bytesRead;
      }
      if (!this.closed) this.chunks.set(c, got === len ? buf : buf.subarray(0, got));
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
