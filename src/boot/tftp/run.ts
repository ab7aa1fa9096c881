/**
 * Runs one read transfer on its own socket: used by the server's main thread
 * and by its worker threads alike (worker.ts), so both paths are the same code.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { GsoSender } from './fastsend.js';
import { borrowedFd, FileSource, MemorySource, type BlockReader, type PacketSource } from './files.js';
import { decode } from './packet.js';
import { Transfer, type TransferOutcome } from './transfer.js';

export interface RunParams {
  clientAddress: string;
  clientPort: number;
  /** Local address for the transfer socket (the server's listen address). */
  localAddress: string;
  /** A descriptor to read (not closed here) or the bytes themselves. */
  source: { kind: 'fd'; fd: number; size: number } | { kind: 'memory'; data: Uint8Array } | { kind: 'reader'; reader: BlockReader; size: number };
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  maxRetries: number;
  setupTimeoutMs?: number;
  setupRetries?: number;
  oack?: Uint8Array;
  gso: boolean;
  readChunkBytes: number;
}

export interface Running {
  abort(): void;
}

export async function runTransfer(p: RunParams, onEnd: (o: TransferOutcome) => void): Promise<Running> {
  const src = p.source;
  const source: PacketSource =
    src.kind === 'memory'
      ? new MemorySource(Buffer.from(src.data.buffer, src.data.byteOffset, src.data.byteLength), p.blksize)
      : new FileSource(src.kind === 'fd' ? borrowedFd(src.fd) : src.reader, src.size, p.blksize, Math.max(p.readChunkBytes, p.blksize * p.windowsize));

  // RFC 1350 section 4: a new TID (port) per transfer, on the same local address.
  const sock = dgram.createSocket({ type: isIPv6(p.clientAddress) ? 'udp6' : 'udp4' });
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ port: 0, address: p.localAddress }, () => {
        sock.connect(p.clientPort, p.clientAddress, () => {
          sock.off('error', reject);
          resolve();
        });
      });
    });
  } catch (e) {
    sock.close();
    await source.close();
    throw e;
  }

  const stride = p.blksize + 4;
  let gso = p.gso ? GsoSender.open(sock, stride) : undefined;
  const sendOneByOne = (buf: Buffer, count: number) => {
    try {
      for (let i = 0; i < count; i++) sock.send(buf.subarray(i * stride, Math.min((i + 1) * stride, buf.length)));
    } catch {
      /* socket already closed: the transfer is ending */
    }
  };
  const transfer = new Transfer({
    source,
    blksize: p.blksize,
    windowsize: p.windowsize,
    timeoutMs: p.timeoutMs,
    maxRetries: p.maxRetries,
    ...(p.setupTimeoutMs !== undefined ? { setupTimeoutMs: p.setupTimeoutMs } : {}),
    ...(p.setupRetries !== undefined ? { setupRetries: p.setupRetries } : {}),
    oack: p.oack ? Buffer.from(p.oack.buffer, p.oack.byteOffset, p.oack.byteLength) : undefined,
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
    onEnd: (o) => {
      sock.close();
      void source.close().finally(() => onEnd(o));
    },
  });
  // ACKs are nearly every datagram of a transfer: read the block number in
  // place (RFC 1350 section 5: opcode 4, block) rather than decoding a packet object.
  sock.on('message', (m: Buffer) => {
    if (m.length === 4 && m[0] === 0 && m[1] === 4) transfer.onAckBlock((m[2]! << 8) | m[3]!);
    else transfer.onPacket(decode(m));
  });
  // On a connected UDP socket an ICMP port-unreachable surfaces as ECONNREFUSED:
  // the client is gone, so the slot is freed at once instead of after the retries.
  sock.on('error', () => transfer.abort('peer-gone'));
  transfer.start();
  return { abort: () => transfer.abort() };
}
