/**
 * Batched DATA sends with Linux UDP GSO (UDP_SEGMENT, Linux >= 4.18): a run of
 * equally sized DATA packets leaves in ONE send() and the kernel cuts it into
 * datagrams of `stride` bytes (the last may be shorter). This is what makes a
 * TFTP window cheap: node:dgram costs one JS->C++ call and one syscall per
 * datagram, which dominates on loopback and on fast LANs.
 *
 * Calls libc through koffi (no compiled addon). Anything unexpected (no koffi,
 * no fd, setsockopt refused, EINVAL because a segment exceeds the path MTU)
 * turns GSO off for that socket and the caller falls back to node:dgram.
 */
import type dgram from 'node:dgram';
import { createRequire } from 'node:module';

const SOL_UDP = 17;
const UDP_SEGMENT = 103; // include/uapi/linux/udp.h
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;
const ECONNREFUSED = 111;
/** include/linux/udp.h UDP_MAX_SEGMENTS */
const MAX_SEGMENTS = 64;
/** One GSO send is one UDP datagram before segmentation: it must fit 65507 bytes. */
const MAX_GSO_BYTES = 65507;
const MIN_STRIDE = 260;

interface Libc {
  send: (fd: number, buf: Buffer, len: number, flags: number) => number | bigint;
  setsockopt: (fd: number, level: number, name: number, val: Buffer, len: number) => number;
  errno: () => number;
}

let libc: Libc | null | undefined;

function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (process.platform !== 'linux' || process.env.KSEED_TFTP_NO_GSO === '1') return libc;
  try {
    const require = createRequire(import.meta.url);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const koffi = require('koffi') as typeof import('koffi');
    const lib = koffi.load('libc.so.6');
    libc = {
      send: lib.func('long send(int fd, void *buf, size_t len, int flags)') as Libc['send'],
      setsockopt: lib.func('int setsockopt(int fd, int level, int name, void *val, uint32_t len)') as Libc['setsockopt'],
      errno: () => koffi.errno(),
    };
  } catch {
    libc = null;
  }
  return libc;
}

/** The OS descriptor of a bound node:dgram socket, without the deprecated `_handle` getter. */
function socketFd(sock: dgram.Socket): number | undefined {
  for (const sym of Object.getOwnPropertySymbols(sock)) {
    const state = (sock as unknown as Record<symbol, unknown>)[sym] as { handle?: { fd?: unknown } } | undefined;
    const fd = state && typeof state === 'object' ? state.handle?.fd : undefined;
    if (typeof fd === 'number' && fd >= 0) return fd;
  }
  return undefined;
}

export type SendResult = 'sent' | 'fallback' | 'peer-gone';

export class GsoSender {
  private constructor(
    private readonly c: Libc,
    private readonly fd: number,
    private readonly stride: number,
    private readonly perSend: number,
  ) {}

  /** A sender for a connected socket whose DATA packets have `stride` bytes, or undefined. */
  static open(sock: dgram.Socket, stride: number): GsoSender | undefined {
    const c = loadLibc();
    if (!c) return undefined;
    const perSend = Math.min(MAX_SEGMENTS, Math.floor(MAX_GSO_BYTES / stride));
    if (perSend < 2) return undefined; // one packet per send gains nothing
    // UDP_SEGMENT applies to every send on the socket: an OACK or ERROR longer
    // than `stride` would be cut into pieces. Those stay under 260 bytes (ERROR
    // text is capped at 200), so GSO is only used when a segment is larger.
    if (stride < MIN_STRIDE) return undefined;
    const fd = socketFd(sock);
    if (fd === undefined) return undefined;
    const val = Buffer.alloc(4);
    val.writeInt32LE(stride, 0);
    if (c.setsockopt(fd, SOL_UDP, UDP_SEGMENT, val, 4) !== 0) return undefined;
    return new GsoSender(c, fd, stride, perSend);
  }

  /**
   * Send `count` packets laid out with this sender's stride. Returns 'fallback'
   * with nothing sent from the first batch that failed on, so the caller resends
   * the rest through node:dgram (which queues on EAGAIN).
   */
  send(buf: Buffer, count: number, onFallback: (rest: Buffer, restCount: number) => void): SendResult {
    // Lockstep (RFC 1350) sends one packet per ACK: no slicing, one call.
    if (count === 1 && buf.length <= this.stride) {
      if (Number(this.c.send(this.fd, buf, buf.length, MSG_DONTWAIT)) >= 0) return 'sent';
      const errno = this.c.errno();
      if (errno === ECONNREFUSED) return 'peer-gone';
      onFallback(buf, 1);
      return errno === EAGAIN ? 'sent' : 'fallback';
    }
    let i = 0;
    while (i < count) {
      const n = Math.min(this.perSend, count - i);
      const start = i * this.stride;
      const part = buf.subarray(start, Math.min(start + n * this.stride, buf.length));
      const r = Number(this.c.send(this.fd, part, part.length, MSG_DONTWAIT));
      if (r < 0) {
        const errno = this.c.errno();
        if (errno === ECONNREFUSED) return 'peer-gone';
        // EAGAIN: socket buffer full, let libuv queue it. Others (EINVAL: segment
        // larger than the path MTU, EIO ...): node:dgram sends one by one from here on.
        onFallback(buf.subarray(start), count - i);
        return errno === EAGAIN ? 'sent' : 'fallback';
      }
      i += n;
    }
    return 'sent';
  }
}
