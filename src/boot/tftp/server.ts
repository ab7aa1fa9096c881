/**
 * Read-only TFTP server on node:dgram.
 *
 * - RFC 1350: RRQ on the well-known port; every transfer gets a fresh
 *   ephemeral port (its TID, section 4) and runs on its own socket.
 * - RFC 2347/2348/2349/7440: OACK with blksize, tsize, timeout, windowsize.
 * - WRQ is refused (access violation): the seed never accepts uploads.
 * - At most `maxTransfers` at once; a retransmitted RRQ from a client that
 *   already has a transfer running is ignored instead of starting a second one.
 *
 * The transfer socket is connect()ed to the client, so the kernel drops
 * datagrams from any other address/port (RFC 1350 section 4 asks for an
 * ERROR 5 to such a sender; dropping is the conservative reading: a stray
 * sender learns nothing and the transfer is never disturbed).
 */
import dgram from 'node:dgram';
import { promises as fsp } from 'node:fs';
import { isIPv6 } from 'node:net';
import { GsoSender } from './fastsend.js';
import { FileSource, MemorySource, normalizeRequestPath, openUnderRoot, PathRefused, toNetascii, type GeneratedFiles, type Opened, type PacketSource } from './files.js';
import { negotiate } from './options.js';
import { decode, encodeError, encodeOack, ErrorCode, type RequestPacket } from './packet.js';
import { Transfer, type TransferOutcome } from './transfer.js';

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
  /** Timeouts in a row before a transfer is dropped. Default 5. */
  maxRetries?: number;
  /** Read size per file read. Default 256 KiB (raised to hold a full window). */
  readChunkBytes?: number;
  /** Largest file served in netascii mode (converted in memory). Default 16 MiB. */
  maxNetasciiBytes?: number;
  /** Batch DATA packets with Linux UDP GSO when available (default true). */
  gso?: boolean;
  /** Structured events; file names are logged, contents never. */
  log?: (event: TftpEvent) => void;
}

export type TftpEvent =
  | { type: 'start'; client: string; file: string; size: number; blksize: number; windowsize: number }
  | ({ type: 'end'; client: string; file: string } & TransferOutcome)
  | { type: 'refused'; client: string; file?: string; code: number; message: string }
  | { type: 'error'; message: string };

interface Active {
  transfer?: Transfer;
  socket?: dgram.Socket;
  source?: PacketSource;
}

export class TftpServer {
  private socket: dgram.Socket | undefined;
  private realRoot: string | undefined;
  private readonly active = new Map<string, Active>();
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
      readChunkBytes: 256 * 1024,
      maxNetasciiBytes: 16 * 1024 * 1024,
      gso: true,
      ...options,
    };
  }

  /** Transfers running now. */
  get activeTransfers(): number {
    return this.active.size;
  }

  async listen(): Promise<{ address: string; port: number }> {
    if (this.o.root !== undefined) this.realRoot = await fsp.realpath(this.o.root);
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
    for (const a of [...this.active.values()]) a.transfer?.abort();
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
    // Sockets of aborted transfers close asynchronously; wait for the slots to drain.
    for (let i = 0; i < 100 && this.active.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
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
      return;
    }
    const key = `${rinfo.address}|${rinfo.port}`;
    // RFC 1350 section 4: the client retransmits its RRQ when our first packet is
    // lost; the running transfer retransmits by itself, a second one would duplicate it.
    if (this.active.has(key)) return;
    if (pkt.mode === 'mail') {
      this.refuse(rinfo, ErrorCode.illegalOperation, 'mail mode not supported', pkt.filename);
      return;
    }
    if (this.active.size >= this.o.maxTransfers) {
      this.refuse(rinfo, ErrorCode.notDefined, 'server busy, try again', pkt.filename);
      return;
    }
    // Reserve the slot now: opening the file is asynchronous.
    const slot: Active = {};
    this.active.set(key, slot);
    this.startRead(pkt, rinfo, key, slot).catch((e: Error) => {
      this.emit({ type: 'error', message: `transfer setup failed: ${e.message}` });
      this.release(key, slot);
    });
  }

  private release(key: string, slot: Active): void {
    if (this.active.get(key) === slot) this.active.delete(key);
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
    const neg = negotiate(pkt.options, size, { maxBlksize: this.o.maxBlksize, maxWindowsize: this.o.maxWindowsize });
    const source: PacketSource =
      opened.kind === 'memory'
        ? new MemorySource(opened.data, neg.blksize)
        : new FileSource(opened.fh, size, neg.blksize, Math.max(this.o.readChunkBytes, neg.blksize * neg.windowsize));
    slot.source = source;
    if (this.closing) {
      await source.close();
      this.release(key, slot);
      return;
    }

    // RFC 1350 section 4: a new TID (port) per transfer, on the same local address.
    const sock = dgram.createSocket({ type: isIPv6(rinfo.address) ? 'udp6' : 'udp4' });
    slot.socket = sock;
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind({ port: 0, address: this.o.address }, () => {
          sock.connect(rinfo.port, rinfo.address, () => {
            sock.off('error', reject);
            resolve();
          });
        });
      });
    } catch (e) {
      sock.close();
      await source.close();
      this.release(key, slot);
      throw e;
    }

    const finish = (outcome: TransferOutcome) => {
      sock.close();
      void source.close();
      this.release(key, slot);
      this.emit({ type: 'end', client, file: rel, ...outcome });
    };
    const stride = neg.blksize + 4;
    let gso = this.o.gso ? GsoSender.open(sock, stride) : undefined;
    const sendOneByOne = (buf: Buffer, count: number) => {
      try {
        for (let i = 0; i < count; i++) sock.send(buf.subarray(i * stride, Math.min((i + 1) * stride, buf.length)));
      } catch {
        /* socket already closed: the transfer is ending */
      }
    };
    const transfer = new Transfer({
      source,
      blksize: neg.blksize,
      windowsize: neg.windowsize,
      timeoutMs: neg.timeoutMs ?? this.o.timeoutMs,
      maxRetries: this.o.maxRetries,
      oack: neg.oack.size > 0 ? encodeOack(neg.oack) : undefined,
      send: (parts) => {
        try {
          sock.send(parts);
        } catch {
          /* socket already closed: the transfer is ending */
        }
      },
      sendPackets: (buf, count) => {
        if (!gso) return sendOneByOne(buf, count);
        const r = gso.send(buf, count, sendOneByOne);
        if (r === 'fallback') gso = undefined;
        else if (r === 'peer-gone') queueMicrotask(() => transfer.abort('peer-gone'));
      },
      onEnd: finish,
    });
    slot.transfer = transfer;
    sock.on('message', (m) => transfer.onPacket(decode(m)));
    // On a connected UDP socket an ICMP port-unreachable surfaces as ECONNREFUSED:
    // the client is gone, so the slot is freed at once instead of after the retries.
    sock.on('error', () => transfer.abort('peer-gone'));
    this.emit({ type: 'start', client, file: rel, size, blksize: neg.blksize, windowsize: neg.windowsize });
    transfer.start();
  }
}
