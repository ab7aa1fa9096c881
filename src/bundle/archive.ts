/**
 * Streaming reads and writes of a bundle archive: members are copied in
 * chunks while their sha256 is computed, so no member (a docker save is
 * gigabytes) is ever held in memory, and the index is read by seeking from
 * header to header without reading any member's data.
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { InputError } from '../errors.js';
import { MANIFEST_NAME, type IndexEntry } from './manifest.js';
import { BLOCK, decodeHeader, encodeHeader, isZeroBlock, padding } from './tar.js';

const CHUNK = 4 * 1024 * 1024;

/** Called with bytes done and total while a long copy runs. */
export type OnBytes = (done: number, total: number) => void;

/** Copies `size` bytes from `src` at `from` to `dst` (or only reads them), returning their sha256. */
export async function copyHashed(src: FileHandle, from: number, size: number, dst: FileHandle | undefined, onBytes?: OnBytes): Promise<string> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(size, 1)));
  let done = 0;
  let lastReport = 0;
  while (done < size) {
    const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, size - done), from + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file after ${from + done} bytes`);
    const part = buf.subarray(0, bytesRead);
    hash.update(part);
    if (dst) await dst.write(part);
    done += bytesRead;
    if (onBytes && done - lastReport >= 256 * 1024 * 1024) {
      lastReport = done;
      onBytes(done, size);
    }
  }
  return hash.digest('hex');
}

/** Writes a tar archive member by member; `close` ends it with the two zero blocks. */
export class ArchiveWriter {
  private constructor(private readonly fh: FileHandle) {}

  static async create(file: string): Promise<ArchiveWriter> {
    return new ArchiveWriter(await open(file, 'wx', 0o644));
  }

  /** Appends a file as member `name`; returns its size and sha256 as written. */
  async addFile(name: string, file: string, onBytes?: OnBytes): Promise<{ size: number; sha256: string }> {
    const src = await open(file, 'r');
    try {
      const st = await src.stat();
      await this.fh.write(encodeHeader({ name, size: st.size, mtime: st.mtimeMs / 1000 }));
      const sha256 = await copyHashed(src, 0, st.size, this.fh, onBytes);
      await this.fh.write(Buffer.alloc(padding(st.size)));
      return { size: st.size, sha256 };
    } finally {
      await src.close();
    }
  }

  async addBuffer(name: string, data: Buffer): Promise<void> {
    await this.fh.write(encodeHeader({ name, size: data.length, mtime: Date.now() / 1000 }));
    await this.fh.write(data);
    await this.fh.write(Buffer.alloc(padding(data.length)));
  }

  async close(): Promise<void> {
    await this.fh.write(Buffer.alloc(2 * BLOCK));
    await this.fh.sync();
    await this.fh.close();
  }

  async abort(): Promise<void> {
    await this.fh.close().catch(() => {});
  }
}

export interface ArchiveIndex {
  entries: IndexEntry[];
  /** The manifest's text (it is small; the only member read whole). */
  manifest: string;
  bytes: number;
}

/**
 * Walks the headers of `file`. A header past the end, a member cut short, a
 * bad header or no end-of-archive blocks: the archive is truncated or
 * corrupt, refused with the member it happened in.
 */
export async function readIndex(file: string): Promise<ArchiveIndex> {
  const fh = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new InputError(`${file}: cannot open the bundle (${err.code ?? err.message})`);
  });
  try {
    const total = (await fh.stat()).size;
    const entries: IndexEntry[] = [];
    const head = Buffer.alloc(BLOCK);
    let pos = 0;
    let manifest: string | undefined;
    const last = () => (entries.length ? `after member ${entries[entries.length - 1]!.name}` : 'before the first member');
    for (;;) {
      if (pos + BLOCK > total) throw new InputError(`${file}: truncated ${last()} (the archive ends at byte ${total} without its end blocks)`);
      await fh.read(head, 0, BLOCK, pos);
      if (isZeroBlock(head)) break;
      let e;
      try {
        e = decodeHeader(head);
      } catch (err) {
        throw new InputError(`${file}: corrupt archive at byte ${pos}, ${last()}: ${(err as Error).message}`);
      }
      const offset = pos + BLOCK;
      if (offset + e.size > total) {
        throw new InputError(`${file}: truncated in member ${e.name} (it needs ${e.size} bytes from byte ${offset}; the file has ${total})`);
      }
      if (e.type !== '0') throw new InputError(`${file}: member ${e.name} is not a regular file (tar type ${e.type})`);
      if (entries.some((x) => x.name === e.name)) throw new InputError(`${file}: member ${e.name} appears twice`);
      entries.push({ name: e.name, offset, size: e.size });
      if (e.name === MANIFEST_NAME) {
        if (e.size > 16 * 1024 * 1024) throw new InputError(`${file}: ${MANIFEST_NAME} is ${e.size} bytes: not a kseed manifest`);
        const b = Buffer.alloc(e.size);
        await fh.read(b, 0, e.size, offset);
        manifest = b.toString('utf8');
      }
      pos = offset + e.size + padding(e.size);
    }
    if (pos + 2 * BLOCK > total) throw new InputError(`${file}: truncated ${last()} (one end block of two)`);
    if (manifest === undefined) throw new InputError(`${file}: no ${MANIFEST_NAME}: not a kseed bundle, or truncated`);
    return { entries, manifest, bytes: total };
  } finally {
    await fh.close();
  }
}
