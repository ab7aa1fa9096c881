/**
 * Interface binding for the boot services.
 *
 * Why SO_BINDTODEVICE (socket(7)) and not IP_PKTINFO or a raw socket:
 * DHCP clients have no address yet, so requests arrive as broadcasts to
 * 255.255.255.255:67 and the server socket must be bound to 0.0.0.0; Node's
 * dgram then gives no way to learn the arriving interface (no recvmsg
 * control messages, so IP_PKTINFO is unreadable), and a raw/packet socket
 * would mean doing our own IP/UDP framing and a second receive loop outside
 * libuv. SO_BINDTODEVICE makes the kernel itself deliver only what arrived
 * on the interface AND send every reply (broadcasts included) out of it,
 * which is exactly the safety rule. We set it through koffi (libc
 * setsockopt) on the fd libuv created.
 *
 * The option can only be set after dgram's bind() (libuv creates the fd
 * lazily there), so a datagram from another interface could slip into the
 * receive queue in between; `bindToDevice` therefore drains the queue with
 * non-blocking recv() right after setting it. Node cannot read from the fd
 * in the meantime: the 'listening' callback runs before the next poll phase.
 */
import type dgram from 'node:dgram';
import { closeSync, existsSync, openSync } from 'node:fs';
import os from 'node:os';
import koffi from 'koffi';
import { outputSync } from '../util/tools.js';

const SOL_SOCKET = 1;
const SO_BINDTODEVICE = 25;
const SO_RCVBUFFORCE = 33;
const MSG_DONTWAIT = 0x40;

interface Libc {
  setsockopt: (fd: number, level: number, name: number, value: Buffer, len: number) => number;
  recv: (fd: number, buf: Buffer, len: number, flags: number) => number;
  if_nametoindex: (name: string) => number;
  setns: (fd: number, nstype: number) => number;
}

let libc: Libc | undefined;
function loadLibc(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  libc = {
    setsockopt: lib.func('int setsockopt(int, int, int, const void *, uint32_t)') as Libc['setsockopt'],
    recv: lib.func('long recv(int, void *, size_t, int)') as Libc['recv'],
    if_nametoindex: lib.func('unsigned int if_nametoindex(const char *)') as Libc['if_nametoindex'],
    setns: lib.func('int setns(int, int)') as Libc['setns'],
  };
  return libc;
}

export class NetifError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NetifError';
  }
}

/**
 * The OS file descriptor of a bound dgram socket. Node keeps the handle
 * under an internal state symbol (the public `_handle` getter is deprecated,
 * DEP0112, and warns); both lead to libuv's UDPWrap whose `fd` is the socket.
 */
export function socketFd(sock: dgram.Socket): number {
  const s = sock as unknown as Record<symbol, unknown>;
  for (const sym of Object.getOwnPropertySymbols(s)) {
    const state = s[sym] as { handle?: { fd?: unknown } } | undefined;
    if (state && typeof state === 'object' && state.handle && typeof state.handle.fd === 'number' && state.handle.fd >= 0) return state.handle.fd;
  }
  throw new NetifError('cannot find the file descriptor of the UDP socket (is it bound? Linux only)');
}

/** Restrict a bound UDP socket to one interface, then drop anything queued before. */
export function bindToDevice(sock: dgram.Socket, ifname: string): void {
  if (process.platform !== 'linux') throw new NetifError('binding a socket to an interface needs Linux (SO_BINDTODEVICE)');
  if (Buffer.byteLength(ifname) > 15) throw new NetifError(`interface name too long: ${ifname}`);
  const fd = socketFd(sock);
  const c = loadLibc();
  const name = Buffer.from(`${ifname}\0`);
  if (c.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, name.length) !== 0) {
    const errno = koffi.errno();
    throw new NetifError(`SO_BINDTODEVICE ${ifname} failed: errno ${errno}${errno === 19 ? ' (no such interface)' : errno === 1 ? ' (needs CAP_NET_RAW)' : ''}`);
  }
  const scratch = Buffer.alloc(2048);
  for (let i = 0; i < 100_000; i++) {
    const n = c.recv(fd, scratch, scratch.length, MSG_DONTWAIT);
    // EAGAIN: queue empty; any other error: nothing more to drain either
    if (n < 0) break;
  }
}

/**
 * A large receive queue: when a rack powers on, hundreds of DISCOVERs arrive
 * within a second, and a 200 KiB default queue overflows while the event
 * loop is busy (or the laptop is). SO_RCVBUFFORCE (root/CAP_NET_ADMIN)
 * ignores net.core.rmem_max; without the privilege, fall back to dgram's
 * own setter, which is capped by rmem_max.
 */
export function growReceiveBuffer(sock: dgram.Socket, bytes: number): void {
  const val = Buffer.alloc(4);
  val.writeInt32LE(bytes);
  if (loadLibc().setsockopt(socketFd(sock), SOL_SOCKET, SO_RCVBUFFORCE, val, 4) === 0) return;
  try {
    sock.setRecvBufferSize(bytes);
  } catch {
    /* keep the default queue */
  }
}

export interface InterfaceAddress {
  address: string;
  prefix: number;
  mac: string;
}

/**
 * IPv4 addresses of an interface as this process's network namespace sees
 * it. Asks iproute2 rather than os.networkInterfaces(): libuv leaves out
 * interfaces that are up but without carrier (IFF_RUNNING unset), e.g. a
 * bridge whose only port is an idle tap, or an unplugged cable; those still
 * carry the seed address and must not fail the check.
 */
export function interfaceAddresses(ifname: string): InterfaceAddress[] {
  const mac = interfaceMac(ifname) ?? '';
  try {
    const out = outputSync('ip', ['-j', '-4', 'addr', 'show', 'dev', ifname]);
    const parsed = JSON.parse(out) as { addr_info?: { family?: string; local?: string; prefixlen?: number }[] }[];
    return parsed.flatMap((l) => l.addr_info ?? []).filter((a) => a.local && a.family === 'inet').map((a) => ({ address: a.local!, prefix: a.prefixlen ?? 32, mac }));
  } catch {
    const list = os.networkInterfaces()[ifname] ?? [];
    return list
      .filter((a) => a.family === 'IPv4')
      .map((a) => ({ address: a.address, prefix: a.cidr ? Number(a.cidr.split('/')[1]) : 32, mac: a.mac }));
  }
}

/**
 * The interface's hardware address, lower case. Asks iproute2 (netlink), not
 * /sys/class/net: sysfs shows the namespace it was mounted in, which is not
 * this process's after enterNetns().
 */
export function interfaceMac(ifname: string): string | undefined {
  try {
    const out = outputSync('ip', ['-j', 'link', 'show', 'dev', ifname]);
    const mac = (JSON.parse(out) as { address?: string }[])[0]?.address;
    return mac ? mac.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the interface exists in this process's network namespace (if_nametoindex(3)). */
export function interfaceExists(ifname: string): boolean {
  if (Buffer.byteLength(ifname) > 15 || ifname.includes('/')) return false;
  try {
    return loadLibc().if_nametoindex(ifname) !== 0;
  } catch {
    return existsSync(`/sys/class/net/${ifname}`);
  }
}

const CLONE_NEWNET = 0x40000000;

/**
 * Move this process into a named network namespace (`ip netns add NAME`),
 * for a seed whose provisioning interface lives in one (site `seed.netns`,
 * the virtual lab). setns(2) switches the calling thread: Node's main
 * thread, where every socket is created and every child is forked, so all
 * of the boot services' sockets and `ip` calls land in the namespace.
 */
export function enterNetns(name: string): void {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new NetifError(`bad network namespace name: ${name}`);
  const file = `/run/netns/${name}`;
  if (!existsSync(file)) throw new NetifError(`network namespace ${name} does not exist (${file})`);
  const fd = openSync(file, 'r');
  try {
    if (loadLibc().setns(fd, CLONE_NEWNET) !== 0) throw new NetifError(`cannot enter network namespace ${name}: errno ${koffi.errno()} (needs root)`);
  } finally {
    closeSync(fd);
  }
}
