/**
 * Read-only TFTP server on node:dgram.
 *
 * - RFC 1350: RRQ on the well-known port; every transfer gets a fresh
 *   ephemeral port (its TID, section 4) and runs on its own socket.
 * - RFC 2347/2348/2349/7440: OACK with blksize, tsize, timeout, windowsize.
 * - WRQ is refused (access violation): the seed never accepts uploads.
 * - At most `maxTransfers` at once and `maxPerClient` per client address; a
 *   retransmitted RRQ from a client that already has a transfer running is
 *   ignored instead of starting a second one. A requested timeout above
 *   `maxTimeoutS` is ignored, and until the client ACKs the OACK the server's
 *   own timeout and `setupRetries` hold: a client that asks and never answers
 *   cannot keep a slot for more than a few seconds (7 s by default).
 *
 * The transfer socket is connect()ed to the client, so the kernel drops
 * datagrams from any other address/port (RFC 1350 section 4 asks for an
 * ERROR 5 to such a sender; dropping is the conservative reading: a stray
 * sender learns nothing and the transfer is never disturbed).
 */
import dgram from 'node:dgram';
import { existsSync, promises as fsp } from 'node:fs';
import { isIPv6 } from 'node:net';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { normalizeRequestPath, openUnderRoot, PathRefused, toNetascii, type GeneratedFiles, type Opened } from './files.js';
import { negotiate } from './options.js';
import { decode, encodeError, encodeOack, ErrorCode, type RequestPacket } from './packet.js';
import { runTransfer, type Running, type RunParams } from './run.js';
import { type TransferOutcome } from './transfer.js';

export interface TftpServerOptions {
  /** Directory served read-only; optional when every file is generated. */
  root?: string;
  /** In-memory files (per-node scripts ...), consulted before the root. */
  generated?: GeneratedFiles;
  /** Listen address; default 0.0.0.0. Bind the seed's own address on a multi-homed host. */
  address?: string;
  /** Default 69. 0 picks a free port (tests). */
  port?: number;
  /** Concurrent transfers; further requests get ERROR 0 "server busy". Default 256. */
  maxTransfers?: number;
  /** Upper bound for the negotiated block size. Default 65464 (RFC 2348 maximum). */
  maxBlksize?: number;
  /** Upper bound for the negotiated window. Default 64. */
  maxWindowsize?: number;
  /** Retransmission timeout when the client did not negotiate one. Default 1000 ms. */
  timeoutMs?: number;
  /** Timeouts in a row before a transfer is dropped; each doubles the wait (1 + 2 + ... + 32 s = 63 s, tftpd-hpa's limit). Default 5. */
  maxRetries?: number;
  /** Transfers at once from one client address; further requests get "server busy". Default 16. */
  maxPerClient?: number;
  /** Largest RFC 2349 timeout accepted, in seconds (larger requests are ignored). Default 10. */
  maxTimeoutS?: number;
  /** Retransmissions of the OACK before a client that never ACKs it is dropped; waits double (1 + 2 + 4 s). Default 2. */
  setupRetries?: number;
  /** Read size per file read. Default 256 KiB (raised to hold a full window). */
  readChunkBytes?: number;
  /** Largest file served in netascii mode (converted in memory). Default 16 MiB. */
  maxNetasciiBytes?: number;
  /** Batch DATA packets with Linux UDP GSO when available (default true). */
  gso?: boolean;
  /**
   * Worker threads running transfers (0 = all on the main thread). Default:
   * min(4, cores) on machines with more than one core. Workers need the compiled
   * build (dist/); from .ts sources transfers run on the main thread.
   */
  workers?: number;
  /** Structured events; file names are logged, contents never. */
  log?: (event: TftpEvent) => void;
}

export type TftpEvent =
  | { type: 'start'; client: string; file: string; size: number; blksize: number; windowsize: number }
  | ({ type: 'end'; client: string; file: string } & TransferOutcome)
  | { type: 'refused'; client: string; file?: string; code: number; message: string }
  | { type: 'error'; message: string };

interface Active {
  running?: Running;
  address: string;
}

export class TftpServer {
  private socket: dgram.Socket | undefined;
  private realRoot: string | undefined;
  private readonly active = new Map<string, Active>();
  /** Transfers per client address (the per-client limit). */
  private readonly perClient = new Map<string, number>();
  private closing = false;
  private readonly o: Required<Omit<TftpServerOptions, 'root' | 'generated' | 'log'>> & Pick<TftpServerOptions, 'root' | 'generated' | 'log'>;

  constructor(options: TftpServerOptions) {
    this.o = {
      address: '0.0.0.0',
      port: 69,
      maxTransfers: 256,
      maxBlksize: 65464,
      maxWindowsize: 64,
      timeoutMs: 1000,
      maxRetries: 5,
      maxPerClient: 16,
      maxTimeoutS: 10,
      setupRetries: 2,
      readChunkBytes: 256 * 1024,
      maxNetasciiBytes: 16 * 1024 * 1024,
      gso: true,
      workers: availableParallelism() > 1 ? Math.min(4, availableParallelism()) : 0,
      ...options,
    };
  }

  private pool: WorkerPool | undefined;

  /** Datagrams on the request port: read requests taken, refused (each a `refused` event), dropped unanswered (garbage, stray DATA/ACK). */
  readonly stats = { requests: 0, refused: 0, dropped: 0 };

  /** Transfers running now. */
  get activeTransfers(): number {
    return this.active.size;
  }

  async listen(): Promise<{ address: string; port: number }> {
    if (this.o.root !== undefined) this.realRoot = await fsp.realpath(this.o.root);
    const url = this.o.workers > 0 ? workerUrl() : undefined;
    if (url) this.pool = new WorkerPool(this.o.workers, url);
    const sock = dgram.createSocket({ type: isIPv6(this.o.address) ? 'udp6' : 'udp4' });
    this.socket = sock;
    sock.on('message', (msg, rinfo) => {
      try {
        this.onRequest(msg, rinfo);
      } catch (e) {
        this.emit({ type: 'error', message: `request handling failed: ${(e as Error).message}` });
      }
    });
    sock.on('error', (e) => this.emit({ type: 'error', message: `listen socket: ${e.message}` }));
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ port: this.o.port, address: this.o.address, exclusive: true }, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    const a = sock.address();
    return { address: a.address, port: a.port };
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const a of [...this.active.values()]) a.running?.abort();
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
    // Sockets of aborted transfers close asynchronously; wait for the slots to drain.
    for (let i = 0; i < 100 && this.active.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
    await this.pool?.close();
    this.pool = undefined;
  }

  private emit(ev: TftpEvent): void {
    try {
      this.o.log?.(ev);
    } catch {
      /* a failing logger must not break the server */
    }
  }

  private reply(buf: Buffer, rinfo: dgram.RemoteInfo): void {
    this.socket?.send(buf, rinfo.port, rinfo.address);
  }

  private refuse(rinfo: dgram.RemoteInfo, code: number, message: string, file?: string): void {
    this.stats.refused++;
    this.emit({ type: 'refused', client: `${rinfo.address}:${rinfo.port}`, file, code, message });
    this.reply(encodeError(code, message), rinfo);
  }

  private onRequest(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closing) return;
    // Source port 0 cannot be answered; it is never a real client.
    if (rinfo.port === 0) return;
    const pkt = decode(msg);
    if (pkt.op === 'wrq') {
      // RFC 1350 error 2: the seed serves boot files, it never stores uploads.
      this.refuse(rinfo, ErrorCode.accessViolation, 'read-only server', pkt.filename);
      return;
    }
    if (pkt.op !== 'rrq') {
      // DATA/ACK/ERROR/garbage on the request port belong to no transfer: answering
      // would only help reflection attacks, so they are dropped.
      this.stats.dropped++;
      return;
    }
    this.stats.requests++;
    const key = `${rinfo.address}|${rinfo.port}`;
    // RFC 1350 section 4: the client retransmits its RRQ when our first packet is
    // lost; the running transfer retransmits by itself, a second one would duplicate it.
    if (this.active.has(key)) return;
    if (pkt.mode === 'mail') {
      this.refuse(rinfo, ErrorCode.illegalOperation, 'mail mode not supported', pkt.filename);
      return;
    }
    if (this.active.size >= this.o.maxTransfers || (this.perClient.get(rinfo.address) ?? 0) >= this.o.maxPerClient) {
      this.refuse(rinfo, ErrorCode.notDefined, 'server busy, try again', pkt.filename);
      return;
    }
    // Reserve the slot now: opening the file is asynchronous.
    const slot: Active = { address: rinfo.address };
    this.active.set(key, slot);
    this.perClient.set(rinfo.address, (this.perClient.get(rinfo.address) ?? 0) + 1);
    this.startRead(pkt, rinfo, key, slot).catch((e: Error) => {
      this.emit({ type: 'error', message: `transfer setup failed: ${e.message}` });
      this.release(key, slot);
    });
  }

  private release(key: string, slot: Active): void {
    if (this.active.get(key) !== slot) return;
    this.active.delete(key);
    const n = (this.perClient.get(slot.address) ?? 1) - 1;
    if (n > 0) this.perClient.set(slot.address, n);
    else this.perClient.delete(slot.address);
  }

  private async openFile(pkt: RequestPacket, rinfo: dgram.RemoteInfo): Promise<{ rel: string; opened: Opened }> {
    const rel = normalizeRequestPath(pkt.filename);
    if (this.o.generated) {
      const gen = await this.o.generated(rel, { address: rinfo.address, port: rinfo.port });
      if (gen !== undefined) return { rel, opened: { kind: 'memory', data: typeof gen === 'string' ? Buffer.from(gen, 'utf8') : gen } };
    }
    if (this.realRoot === undefined) throw new PathRefused('file not found', 'not-found');
    return { rel, opened: await openUnderRoot(this.realRoot, rel) };
  }

  private async startRead(pkt: RequestPacket, rinfo: dgram.RemoteInfo, key: string, slot: Active): Promise<void> {
    const client = `${rinfo.address}:${rinfo.port}`;
    let opened: Opened;
    let rel: string;
    try {
      ({ rel, opened } = await this.openFile(pkt, rinfo));
    } catch (e) {
      this.release(key, slot);
      if (e instanceof PathRefused) {
        this.refuse(rinfo, e.kind === 'access' ? ErrorCode.accessViolation : ErrorCode.fileNotFound, e.message, pkt.filename);
        return;
      }
      throw e;
    }
    if (pkt.mode === 'netascii') {
      if (opened.kind === 'file') {
        const fh = opened.fh;
        try {
          if (opened.size > this.o.maxNetasciiBytes) {
            this.release(key, slot);
            this.refuse(rinfo, ErrorCode.notDefined, 'file too large for netascii, use octet', pkt.filename);
            return;
          }
          opened = { kind: 'memory', data: toNetascii(await fh.readFile()) };
        } finally {
          await fh.close();
        }
      } else opened = { kind: 'memory', data: toNetascii(opened.data) };
    }
    const size = opened.kind === 'memory' ? opened.data.length : opened.size;
    const neg = negotiate(pkt.options, size, { maxBlksize: this.o.maxBlksize, maxWindowsize: this.o.maxWindowsize, maxTimeoutS: this.o.maxTimeoutS });
    const fh = opened.kind === 'file' ? opened.fh : undefined;
    if (this.closing) {
      await fh?.close();
      this.release(key, slot);
      return;
    }
    const params: RunParams = {
      clientAddress: rinfo.address,
      clientPort: rinfo.port,
      localAddress: this.o.address,
      source: opened.kind === 'memory' ? { kind: 'memory', data: opened.data } : { kind: 'fd', fd: opened.fh.fd, size },
      blksize: neg.blksize,
      windowsize: neg.windowsize,
      timeoutMs: neg.timeoutMs ?? this.o.timeoutMs,
      maxRetries: this.o.maxRetries,
      setupTimeoutMs: this.o.timeoutMs,
      setupRetries: Math.min(this.o.setupRetries, this.o.maxRetries),
      oack: neg.oack.size > 0 ? encodeOack(neg.oack) : undefined,
      gso: this.o.gso,
      readChunkBytes: this.o.readChunkBytes,
    };
    // The main thread owns the file handle for the whole transfer, wherever it runs.
    const finish = (outcome: TransferOutcome) => {
      void fh?.close().catch(() => {});
      this.release(key, slot);
      this.emit({ type: 'end', client, file: rel, ...outcome });
    };
    this.emit({ type: 'start', client, file: rel, size, blksize: neg.blksize, windowsize: neg.windowsize });
    try {
      slot.running = this.pool ? this.pool.start(params, finish) : await runTransfer(params, finish);
    } catch (e) {
      await fh?.close().catch(() => {});
      this.release(key, slot);
      throw e;
    }
  }
}

/** Worker threads that run transfers; the least busy one gets the next. */
class WorkerPool {
  private readonly workers: { w: Worker; busy: number }[] = [];
  private readonly pending = new Map<number, { onEnd: (o: TransferOutcome) => void; worker: { busy: number } }>();
  private nextId = 1;

  constructor(n: number, url: URL) {
    for (let i = 0; i < n; i++) {
      const w = new Worker(url);
      w.unref();
      const entry = { w, busy: 0 };
      w.on('message', (m: { type: 'end'; id: number; outcome: TransferOutcome } | { type: 'failed'; id: number; message: string }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        p.worker.busy--;
        p.onEnd(m.type === 'end' ? m.outcome : { ok: false, reason: `setup failed: ${m.message}`, bytes: 0, blocks: 0, retransmits: 0, ms: 0 });
      });
      w.on('error', () => this.failAll(entry));
      w.on('exit', () => this.failAll(entry));
      this.workers.push(entry);
    }
  }

  private failAll(entry: { busy: number }): void {
    for (const [id, p] of this.pending) {
      if (p.worker !== entry) continue;
      this.pending.delete(id);
      p.onEnd({ ok: false, reason: 'worker died', bytes: 0, blocks: 0, retransmits: 0, ms: 0 });
    }
    entry.busy = 0;
  }

  start(params: RunParams, onEnd: (o: TransferOutcome) => void): Running {
    const entry = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextId++;
    entry.busy++;
    this.pending.set(id, { onEnd, worker: entry });
    entry.w.postMessage({ type: 'start', id, params });
    return { abort: () => entry.w.postMessage({ type: 'abort', id }) };
  }

  async close(): Promise<void> {
    for (const e of this.workers) e.w.postMessage({ type: 'abort' });
    for (let i = 0; i < 100 && this.pending.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
    await Promise.all(this.workers.map((e) => e.w.terminate()));
  }
}

/**
 * The compiled worker next to this module. When the module runs from .ts
 * sources (vitest), there is no runnable worker: transfers stay on the main thread.
 */
function workerUrl(): URL | undefined {
  const here = new URL(import.meta.url);
  if (!here.pathname.endsWith('.js')) return undefined;
  const u = new URL('./worker.js', here);
  return existsSync(u) ? u : undefined;
}
