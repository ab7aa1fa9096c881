/**
 * Images the deploy ramdisk cannot stream as they are (qcow2), made ready on
 * the seed, as Ironic does with force_raw_images and
 * image_download_source=local: the seed fetches the image once, verifies the
 * site file's checksum, checks the qcow2 (`qemu-img check`: a truncated file
 * otherwise converts "fine", its missing clusters read as zeros), refuses a
 * backing or external data file, converts it to raw with qemu-img and
 * compresses that raw with zstd (the zeros of a 4 GiB disk cost nothing on
 * the wire). The ramdisk then streams the .raw.zst like any image and
 * verifies the sha256 of those bytes: no qcow2 code and no full copy in the
 * node's RAM.
 *
 * Cache: <dir>/<algo>-<hex>.raw.zst + .json, keyed by the source checksum,
 * so each image is converted once per cache whatever its URL.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, openSync, readFileSync, readSync, closeSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { runQuiet, type RunResult } from '../util/tools.js';

export interface SourceImage {
  url: string;
  /** `sha256:<hex>` or `sha512:<hex>` */
  checksum: string;
  format: string;
}

export interface PreparedImage {
  /** absolute path of the file to serve */
  file: string;
  /** its name (what the seed serves it as) */
  name: string;
  /** hex sha256 of the served bytes */
  sha256: string;
  bytes: number;
  compression: 'zstd';
  /** bytes the raw disk image takes once written */
  virtualSize: number;
  seconds: number;
}

/** A bad image: its message names the image and the cause (it becomes the node's deploy error). */
export class ImageError extends Error {}

const MAGIC: [string, number, Buffer][] = [
  ['qcow2', 0, Buffer.from('QFI\xfb', 'latin1')],
  ['vmdk', 0, Buffer.from('KDMV')],
  ['vhdx', 0, Buffer.from('vhdxfile')],
  ['qed', 0, Buffer.from('QED\0', 'latin1')],
  ['vdi', 0x40, Buffer.from([0x7f, 0x10, 0xda, 0xbe])],
  ['vpc', 0, Buffer.from('conectix')],
  ['iso', 0x8001, Buffer.from('CD001')],
  ['gzip', 0, Buffer.from([0x1f, 0x8b])],
  ['zstd', 0, Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
  ['xz', 0, Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
];

/**
 * The container format by its magic bytes (qcow2, VMDK, VHDX, QED, VDI, VHD, ISO 9660; gzip/zstd/xz
 * wrappers), else `raw`. Read by kseed, not by `qemu-img info` probing: probing untrusted files is how
 * a raw image posing as qcow2 reads host files.
 */
export function sniffFormat(head: Buffer): string {
  for (const [fmt, off, magic] of MAGIC) if (head.length >= off + magic.length && head.subarray(off, off + magic.length).equals(magic)) return fmt;
  return 'raw';
}

function readHead(file: string): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(0x8010);
    const n = readSync(fd, b, 0, b.length, 0);
    return b.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

const human = (n: number) => (n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : `${(n / 1024 ** 2).toFixed(0)} MiB`);

/** The tool's result; a non-zero exit is the image's error (its last stderr lines), a missing tool the seed's. */
async function tool(cmd: string, args: string[], what: string, timeoutMs = 1_800_000): Promise<RunResult> {
  const r = await runQuiet(cmd, args, { timeoutMs });
  if (r.exitCode !== 0) {
    const msg = (r.stderr || r.stdout).trim().split('\n').slice(-3).join('; ');
    throw new ImageError(`${what}: ${msg || `${cmd} exit ${r.exitCode}`}`);
  }
  return r;
}

export class ImagePreparer {
  private readonly inflight = new Map<string, Promise<PreparedImage>>();
  private readonly settled = new Map<string, { ok: PreparedImage } | { error: string }>();

  constructor(readonly dir: string) {}

  private key(img: SourceImage): string {
    const [algo, hex] = img.checksum.toLowerCase().split(':');
    return `${algo}-${hex}`;
  }

  /**
   * Non-blocking view for the boot backend: starts the preparation on first
   * call; `pending` until done. A failure is remembered for this process
   * (a retry needs a new site file or a restart, like a fixed URL would).
   */
  status(img: SourceImage): { state: 'ready'; image: PreparedImage } | { state: 'pending' } | { state: 'failed'; reason: string } {
    const key = this.key(img);
    const s = this.settled.get(key);
    if (s) return 'ok' in s ? { state: 'ready', image: s.ok } : { state: 'failed', reason: s.error };
    if (!this.inflight.has(key)) {
      const p = this.prepare(img);
      this.inflight.set(key, p);
      p.then(
        (ok) => this.settled.set(key, { ok }),
        (err: unknown) => this.settled.set(key, { error: err instanceof ImageError ? err.message : `image ${img.url}: ${(err as Error).message}` }),
      ).finally(() => this.inflight.delete(key));
    }
    return { state: 'pending' };
  }

  /** Resolves when the image is ready (tests, and callers that may block). */
  async prepare(img: SourceImage): Promise<PreparedImage> {
    const t0 = Date.now();
    const key = this.key(img);
    mkdirSync(this.dir, { recursive: true });
    const name = `${key}.raw.zst`;
    const out = path.join(this.dir, name);
    const meta = `${out}.json`;
    if (existsSync(out) && existsSync(meta)) {
      try {
        const m = JSON.parse(readFileSync(meta, 'utf8')) as PreparedImage;
        if (statSync(out).size === m.bytes) return { ...m, file: out, seconds: (Date.now() - t0) / 1000 };
      } catch {
        // unreadable: convert again
      }
    }
    if (img.format !== 'qcow2') throw new ImageError(`image ${img.url}: format ${img.format} needs no conversion`);
    const work = path.join(this.dir, `.${key}-${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    try {
      const src = await this.fetchVerified(img, work);
      const found = sniffFormat(readHead(src));
      if (found !== 'qcow2') throw new ImageError(`image ${img.url}: unsupported format: the site file says qcow2, the file is ${found === 'raw' ? 'not qcow2 (no qcow2 header)' : found}`);
      const info = JSON.parse((await tool('qemu-img', ['info', '--output=json', '-f', 'qcow2', src], `image ${img.url}: not a readable qcow2`)).stdout) as {
        'virtual-size': number;
        'backing-filename'?: string;
        'format-specific'?: { data?: { 'data-file'?: string } };
      };
      // a qcow2 naming another file would make the seed read that file into a node's disk
      if (info['backing-filename']) throw new ImageError(`image ${img.url}: unsupported qcow2: it has a backing file (${info['backing-filename']})`);
      if (info['format-specific']?.data?.['data-file']) throw new ImageError(`image ${img.url}: unsupported qcow2: it has an external data file`);
      const check = await runQuiet('qemu-img', ['check', '--output=json', '-f', 'qcow2', src], { timeoutMs: 1_800_000 });
      if (check.exitCode !== 0 && check.exitCode !== 3) {
        let why = check.stderr.trim().split('\n').at(-1) ?? `exit ${check.exitCode}`;
        try {
          const j = JSON.parse(check.stdout) as { corruptions?: number; 'check-errors'?: number };
          why = `${j.corruptions ?? 0} corruptions, ${j['check-errors'] ?? 0} check errors (truncated or damaged)`;
        } catch {
          // no JSON: keep stderr
        }
        throw new ImageError(`image ${img.url}: corrupt qcow2: qemu-img check found ${why}`);
      }
      const raw = path.join(work, 'disk.raw');
      await tool('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', src, raw], `image ${img.url}: qcow2 conversion failed`);
      rmSync(src, { force: true });
      const zst = path.join(work, name);
      await tool('zstd', ['-q', '-T0', '-3', raw, '-o', zst], `image ${img.url}: zstd failed`);
      rmSync(raw, { force: true });
      const h = createHash('sha256');
      await pipeline(createReadStream(zst), h);
      const prepared: PreparedImage = { file: out, name, sha256: h.digest('hex'), bytes: statSync(zst).size, compression: 'zstd', virtualSize: info['virtual-size'], seconds: (Date.now() - t0) / 1000 };
      renameSync(zst, out);
      writeFileSync(meta, `${JSON.stringify({ ...prepared, source: { url: img.url, checksum: img.checksum } }, null, 2)}\n`);
      return prepared;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  /** The image's bytes in `work`, hashed on the way; a mismatch is the image's error. */
  private async fetchVerified(img: SourceImage, work: string): Promise<string> {
    const [algo, want] = img.checksum.toLowerCase().split(':') as [string, string];
    const h = createHash(algo);
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        h.update(chunk);
        cb(null, chunk);
      },
    });
    const dest = path.join(work, 'source');
    let body: NodeJS.ReadableStream;
    if (img.url.startsWith('file://')) {
      const file = fileURLToPath(img.url);
      if (!existsSync(file)) throw new ImageError(`image ${img.url}: no such file`);
      body = createReadStream(file);
    } else {
      let res: Response;
      try {
        res = await fetch(img.url, { signal: AbortSignal.timeout(3_600_000) });
      } catch (err) {
        throw new ImageError(`image ${img.url}: download failed: ${(err as Error).message}`);
      }
      if (!res.ok || !res.body) throw new ImageError(`image ${img.url}: download failed: HTTP ${res.status}`);
      body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
    }
    try {
      await pipeline(body, tap, createWriteStream(dest));
    } catch (err) {
      throw new ImageError(`image ${img.url}: download failed: ${(err as Error).message}`);
    }
    const got = h.digest('hex');
    if (got !== want) throw new ImageError(`image ${img.url}: checksum mismatch: got ${algo}:${got}, the site file says ${algo}:${want}`);
    return dest;
  }
}

/** Why an image of `virtualSize` bytes cannot go on `disk`, or undefined. */
export function tooBigFor(img: { url: string }, virtualSize: number, disk: { name: string; size_bytes: number }): string | undefined {
  if (virtualSize <= disk.size_bytes) return undefined;
  return `image ${img.url}: too large: its virtual size ${human(virtualSize)} (${virtualSize} bytes) does not fit /dev/${disk.name} (${human(disk.size_bytes)})`;
}
