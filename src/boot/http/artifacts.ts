/**
 * Static artifacts (kernel, initramfs, OS images) with RFC 9110 semantics:
 * GET/HEAD, ETag + Last-Modified validators, conditional requests
 * (If-None-Match / If-Modified-Since -> 304, If-Range), single byte ranges
 * (206 / 416, section 14). A multi-range request gets the whole file (200),
 * which RFC 9110 section 14.2 allows ("a server MAY ignore the Range header").
 */
import { constants, createReadStream, promises as fsp } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { sendfileAll, sendfileAvailable, socketFd } from './sendfile.js';

/** Bodies at least this large go out with sendfile(2) when available. */
const SENDFILE_MIN = 256 * 1024;

export type RangeResult = { kind: 'all' } | { kind: 'range'; start: number; end: number } | { kind: 'unsatisfiable' };

/**
 * Parse a Range header against a representation of `size` bytes
 * (RFC 9110 section 14.1.2 byte-range syntax). Unparseable or multiple
 * ranges -> the whole representation.
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'all' };
  const m = /^\s*bytes\s*=\s*([^,]*)$/i.exec(header);
  if (!m) return { kind: 'all' };
  const spec = m[1]!.trim();
  const r = /^(\d*)\s*-\s*(\d*)$/.exec(spec);
  if (!r) return { kind: 'all' };
  const [, a, b] = r as unknown as [string, string, string];
  if (a === '' && b === '') return { kind: 'all' };
  if (a === '') {
    // suffix-byte-range-spec: the last N bytes
    const n = Number(b);
    if (n === 0) return { kind: 'unsatisfiable' };
    if (size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  let end = b === '' ? size - 1 : Number(b);
  if (b !== '' && end < start) return { kind: 'all' }; // invalid range-spec: ignore the header
  if (start >= size) return { kind: 'unsatisfiable' };
  end = Math.min(end, size - 1);
  return { kind: 'range', start, end };
}

export class ArtifactStore {
  private realRoot: string | undefined;
  constructor(private readonly root: string) {}

  private async rootReal(): Promise<string> {
    this.realRoot ??= await fsp.realpath(this.root);
    return this.realRoot;
  }

  /**
   * Resolve a URL path (already percent-decoded, relative to /artifacts/) to a
   * file inside the root, or undefined. `..`, NUL and symlinks leading out are refused.
   */
  async resolve(rel: string): Promise<string | undefined> {
    if (rel.includes('\0')) return undefined;
    const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.length === 0 || parts.some((p) => p === '..' || p.includes('\\'))) return undefined;
    const root = await this.rootReal();
    let real: string;
    try {
      real = await fsp.realpath(path.join(root, ...parts));
    } catch {
      return undefined;
    }
    if (!real.startsWith(root.endsWith('/') ? root : root + '/')) return undefined;
    return real;
  }

  /** Serve `file` (from resolve()). Returns the status sent. */
  /**
   * `stallMs`: how long a client may read nothing before it is dropped (default 60 s). OS images
   * need more: a node writing the zeros of its disk reads nothing from the socket meanwhile.
   */
  async serve(req: IncomingMessage, res: ServerResponse, file: string, opts: { stallMs?: number } = {}): Promise<number> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      return send(res, 404, 'not found\n');
    }
    let handedOff = false;
    try {
      const st = await fh.stat();
      if (!st.isFile()) return send(res, 404, 'not found\n');
      const size = st.size;
      // A strong validator from inode, size and mtime: changes whenever the file is replaced or rewritten.
      const etag = `"${st.ino.toString(36)}-${size.toString(36)}-${Math.floor(st.mtimeMs).toString(36)}"`;
      const lastModified = new Date(Math.floor(st.mtimeMs / 1000) * 1000).toUTCString();
      res.setHeader('ETag', etag);
      res.setHeader('Last-Modified', lastModified);
      res.setHeader('Accept-Ranges', 'bytes');
      res.setHeader('Content-Type', 'application/octet-stream');

      // RFC 9110 section 13.2.2: If-None-Match first, If-Modified-Since only without it.
      const inm = req.headers['if-none-match'];
      const ims = req.headers['if-modified-since'];
      if (inm !== undefined) {
        const tags = inm.split(',').map((t) => t.trim().replace(/^W\//, ''));
        if (tags.includes('*') || tags.includes(etag)) return send(res, 304);
      } else if (ims !== undefined) {
        const t = Date.parse(ims);
        if (!Number.isNaN(t) && Math.floor(st.mtimeMs / 1000) * 1000 <= t) return send(res, 304);
      }

      let range = parseRange(req.headers.range, size);
      // RFC 9110 section 13.1.5: If-Range that does not match -> send the whole file.
      const ifRange = req.headers['if-range'];
      if (range.kind !== 'all' && ifRange !== undefined && ifRange !== etag && ifRange !== lastModified) range = { kind: 'all' };
      if (range.kind === 'unsatisfiable') {
        res.setHeader('Content-Range', `bytes */${size}`);
        return send(res, 416, 'range not satisfiable\n');
      }
      let start = 0;
      let end = size - 1;
      let status = 200;
      if (range.kind === 'range') {
        ({ start, end } = range);
        status = 206;
        res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
      }
      const length = size === 0 ? 0 : end - start + 1;
      res.statusCode = status;
      res.setHeader('Content-Length', String(length));
      if (req.method === 'HEAD' || length === 0) {
        res.end();
        return status;
      }
      const sockFd = length >= SENDFILE_MIN && sendfileAvailable() ? socketFd(req.socket) : undefined;
      if (sockFd !== undefined) {
        // Headers through node (flushed first), then the body straight from the page cache.
        res.flushHeaders();
        await new Promise<void>((r) => req.socket.write(Buffer.alloc(0), () => r()));
        // node's idle timer sees none of sendfile's writes: sendfileAll's no-progress limit replaces it
        const idle = req.socket.timeout;
        req.socket.setTimeout(0);
        try {
          await sendfileAll(req.socket, sockFd, fh.fd, start, length, opts.stallMs);
          if (idle) req.socket.setTimeout(idle);
        } catch {
          res.destroy();
          return status;
        }
        // The body went around node's writer: end without writing any more bytes.
        res.end();
        return status;
      }
      handedOff = true;
      // The stream owns the handle from here (autoClose); large reads keep syscalls few.
      const stream = createReadStream('', { fd: fh, start, end, highWaterMark: 1024 * 1024, autoClose: true });
      stream.on('error', () => res.destroy());
      res.on('close', () => stream.destroy());
      stream.pipe(res);
      return status;
    } finally {
      if (!handedOff) await fh.close().catch(() => {});
    }
  }
}

export function send(res: ServerResponse, status: number, body?: string, type = 'text/plain; charset=utf-8'): number {
  res.statusCode = status;
  if (body !== undefined && status !== 304 && status !== 204) {
    const buf = Buffer.from(body, 'utf8');
    res.setHeader('Content-Type', type);
    res.setHeader('Content-Length', String(buf.length));
    res.end(buf);
  } else res.end();
  return status;
}
