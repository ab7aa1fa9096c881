/**
 * Zero-copy artifact bodies with sendfile(2) through koffi (no compiled addon).
 *
 * node:fs streams copy every byte into user space and back; for multi-GiB OS
 * images that doubles the CPU cost per byte compared with nginx. The socket
 * stays non-blocking and owned by node: sendfile moves what fits in the socket
 * buffer, and on EAGAIN we retry shortly after (the event loop keeps running).
 * Anything unexpected (no koffi, no fd) makes the caller fall back to streams.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

const EAGAIN = 11;
const EINTR = 4;
const SEEK_SET = 0;

interface Libc {
  sendfile: (out: number, inFd: number, off: null, count: number) => number | bigint;
  lseek: (fd: number, off: number, whence: number) => number | bigint;
  errno: () => number;
}
let libc: Libc | null | undefined;

function load(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (process.platform !== 'linux' || process.env.KSEED_HTTP_NO_SENDFILE === '1') return libc;
  try {
    const require = createRequire(import.meta.url);
    const koffi = require('koffi') as typeof import('koffi');
    const lib = koffi.load('libc.so.6');
    libc = {
      sendfile: lib.func('long sendfile(int out_fd, int in_fd, void *offset, size_t count)') as Libc['sendfile'],
      lseek: lib.func('int64_t lseek(int fd, int64_t offset, int whence)') as Libc['lseek'],
      errno: () => koffi.errno(),
    };
  } catch {
    libc = null;
  }
  return libc;
}

export function socketFd(sock: Socket): number | undefined {
  const fd = (sock as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

export function sendfileAvailable(): boolean {
  return load() !== null;
}

/**
 * Send `length` bytes of `fileFd` from `start` to the socket. Resolves when all
 * bytes are in the socket; rejects on a socket error (peer gone) or `timeoutMs`
 * without progress.
 */
export function sendfileAll(sock: Socket, sockFd: number, fileFd: number, start: number, length: number, timeoutMs = 60_000): Promise<void> {
  const c = load();
  if (!c) return Promise.reject(new Error('sendfile unavailable'));
  if (Number(c.lseek(fileFd, start, SEEK_SET)) !== start) return Promise.reject(new Error('lseek failed'));
  let left = length;
  let lastProgress = Date.now();
  let idle = 0;
  return new Promise<void>((resolve, reject) => {
    const step = () => {
      if (sock.destroyed) return reject(new Error('socket closed'));
      for (;;) {
        if (left === 0) return resolve();
        const n = Number(c.sendfile(sockFd, fileFd, null, Math.min(left, 1 << 30)));
        if (n > 0) {
          left -= n;
          lastProgress = Date.now();
          idle = 0;
          continue;
        }
        if (n === 0) return reject(new Error('file shorter than announced'));
        const e = c.errno();
        if (e === EINTR) continue;
        if (e !== EAGAIN) return reject(new Error(`sendfile failed (errno ${e})`));
        break;
      }
      if (Date.now() - lastProgress > timeoutMs) return reject(new Error('client stopped reading'));
      // Socket buffer full: yield to the event loop, then back off up to 2 ms.
      idle++;
      if (idle < 3) setImmediate(step);
      else setTimeout(step, Math.min(2, idle - 2));
    };
    step();
  });
}
