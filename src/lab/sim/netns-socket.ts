/**
 * Sockets of a simulated node, created inside that node's own network
 * namespace by a process that lives in another one.
 *
 * Why not setns() around Node's own socket calls: dgram and net create the
 * file descriptor lazily, on a later tick, so whatever ran in between would
 * land in the wrong namespace. Here socket(2) is called synchronously
 * between two setns(2) calls (which switch only the calling thread, Node's
 * main thread), and the finished descriptor is handed to Node:
 * `dgram.bind({ fd })` and `new net.Socket({ fd })` both adopt one.
 */
import dgram from 'node:dgram';
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import koffi from 'koffi';
import { ipToInt } from '../../boot/dhcp/codec.js';

const AF_INET = 2;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const SO_BROADCAST = 6;
const SO_BINDTODEVICE = 25;
const CLONE_NEWNET = 0x40000000;
const EINPROGRESS = 115;

interface Libc {
  socket: (domain: number, type: number, proto: number) => number;
  bind: (fd: number, addr: Buffer, len: number) => number;
  connect: (fd: number, addr: Buffer, len: number) => number;
  setsockopt: (fd: number, level: number, name: number, value: Buffer, len: number) => number;
  close: (fd: number) => number;
  setns: (fd: number, nstype: number) => number;
}

let libc: Libc | undefined;
function c(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  libc = {
    socket: lib.func('int socket(int, int, int)') as Libc['socket'],
    bind: lib.func('int bind(int, const void *, uint32_t)') as Libc['bind'],
    connect: lib.func('int connect(int, const void *, uint32_t)') as Libc['connect'],
    setsockopt: lib.func('int setsockopt(int, int, int, const void *, uint32_t)') as Libc['setsockopt'],
    close: lib.func('int close(int)') as Libc['close'],
    setns: lib.func('int setns(int, int)') as Libc['setns'],
  };
  return libc;
}

export class SimSocketError extends Error {}

/** struct sockaddr_in (ip(7)): family in host order, port and address in network order. */
function sockaddr(ip: string, port: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(port, 2);
  b.writeUInt32BE(ipToInt(ip), 4);
  return b;
}

let ownNs: number | undefined;

/** A new socket fd in network namespace `ns` (a name under /run/netns). */
function socketIn(ns: string, type: number): number {
  const lc = c();
  ownNs ??= openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(`/run/netns/${ns}`, 'r');
  try {
    if (lc.setns(target, CLONE_NEWNET) !== 0) throw new SimSocketError(`setns ${ns}: errno ${koffi.errno()}`);
    const fd = lc.socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const err = koffi.errno();
    // back before anything else can run on this thread
    if (lc.setns(ownNs, CLONE_NEWNET) !== 0) throw new Error(`cannot return to the simulator's own network namespace: errno ${koffi.errno()}`);
    if (fd < 0) throw new SimSocketError(`socket() in ${ns}: errno ${err}`);
    return fd;
  } finally {
    closeSync(target);
  }
}

function opt(fd: number, name: number, value: Buffer): void {
  if (c().setsockopt(fd, SOL_SOCKET, name, value, value.length) !== 0) {
    const e = koffi.errno();
    c().close(fd);
    throw new SimSocketError(`setsockopt ${name}: errno ${e}`);
  }
}

const one = () => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(1);
  return b;
};

/**
 * A UDP socket in `ns` bound to `ip:port`; with `device`, restricted to it
 * (SO_BINDTODEVICE), which is also what lets a client without an address
 * broadcast out of it (RFC 2131 4.1: source 0.0.0.0).
 */
export function udpSocketIn(ns: string, o: { ip?: string; port?: number; device?: string; broadcast?: boolean }): Promise<dgram.Socket> {
  const fd = socketIn(ns, SOCK_DGRAM);
  opt(fd, SO_REUSEADDR, one());
  if (o.broadcast) opt(fd, SO_BROADCAST, one());
  if (o.device) opt(fd, SO_BINDTODEVICE, Buffer.from(`${o.device}\0`));
  const sa = sockaddr(o.ip ?? '0.0.0.0', o.port ?? 0);
  if (c().bind(fd, sa, sa.length) !== 0) {
    const e = koffi.errno();
    c().close(fd);
    throw new SimSocketError(`bind ${o.ip ?? '0.0.0.0'}:${o.port ?? 0} in ${ns}: errno ${e}`);
  }
  const sock = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ fd }, () => {
      sock.off('error', reject);
      resolve(sock);
    });
  });
}

/**
 * A TCP connection from `ns` to `ip:port`. The connect is non-blocking; the
 * socket is adopted at once, and writes queue until it is established
 * (the kernel answers EAGAIN meanwhile, which libuv waits out).
 */
export function tcpConnectIn(ns: string, ip: string, port: number): net.Socket {
  const fd = socketIn(ns, SOCK_STREAM);
  const sa = sockaddr(ip, port);
  if (c().connect(fd, sa, sa.length) !== 0) {
    const e = koffi.errno();
    if (e !== EINPROGRESS) {
      c().close(fd);
      throw new SimSocketError(`connect ${ip}:${port} from ${ns}: errno ${e}`);
    }
  }
  return new net.Socket({ fd, readable: true, writable: true });
}

/** For tests: whether this process may create sockets in other namespaces. */
export function netnsSocketsAvailable(): boolean {
  try {
    const fd = openSync('/proc/thread-self/ns/net', 'r');
    closeSync(fd);
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}
