/**
 * Minimal IPv6 Router Advertisement responder for the provisioning link.
 *
 * Why: iPXE configures IPv4 and IPv6 in parallel and waits ~16 s for an
 * answer to its Router Solicitations before it reports "Configuring ... ok"
 * (lab.md 3.5). Any RA ends the wait. We answer every RS with an RA of
 * router lifetime 0 (RFC 4861 4.2 / 6.2.5: "not a default router"), no
 * M/O flags (no DHCPv6) and, only if configured, a prefix; so nobody gets a
 * default route or an address from us unless asked.
 *
 * How: a raw ICMPv6 socket through koffi (Node has none), bound to the
 * interface with SO_BINDTODEVICE, joined to ff02::2 (all-routers, where RSs
 * go), filtered to RS in the kernel (ICMP6_FILTER, RFC 3542 3.2). The
 * kernel computes the ICMPv6 checksum on raw ICMPv6 sockets (RFC 3542 3.1).
 * Waiting happens on koffi's worker thread (poll with a timeout), so the
 * event loop never blocks.
 */
import koffi from 'koffi';
import { interfaceMac } from './netif.js';

const AF_INET6 = 10;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const IPPROTO_IPV6 = 41;
const IPPROTO_ICMPV6 = 58;
const SOL_SOCKET = 1;
const SO_BINDTODEVICE = 25;
const IPV6_UNICAST_HOPS = 16;
const IPV6_MULTICAST_IF = 17;
const IPV6_MULTICAST_HOPS = 18;
const IPV6_MULTICAST_LOOP = 19;
const IPV6_ADD_MEMBERSHIP = 20;
const ICMP6_FILTER = 1;
const POLLIN = 1;
const MSG_DONTWAIT = 0x40;
const ND_ROUTER_SOLICIT = 133;
const ND_ROUTER_ADVERT = 134;
/** RFC 4861 10: MIN_DELAY_BETWEEN_RAS, for multicast answers. */
const MIN_DELAY_BETWEEN_RAS_MS = 3000;

type Fn = ((...a: unknown[]) => number) & { async: (...a: unknown[]) => void };
interface Libc {
  socket: Fn;
  setsockopt: Fn;
  poll: Fn;
  recvfrom: Fn;
  sendto: Fn;
  close: Fn;
  if_nametoindex: Fn;
}
let libc: Libc | undefined;
function load(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  libc = {
    socket: lib.func('int socket(int, int, int)') as Fn,
    setsockopt: lib.func('int setsockopt(int, int, int, const void *, uint32_t)') as Fn,
    poll: lib.func('int poll(void *, unsigned long, int)') as Fn,
    recvfrom: lib.func('long recvfrom(int, void *, size_t, int, void *, void *)') as Fn,
    sendto: lib.func('long sendto(int, const void *, size_t, int, const void *, uint32_t)') as Fn,
    close: lib.func('int close(int)') as Fn,
    if_nametoindex: lib.func('unsigned int if_nametoindex(const char *)') as Fn,
  };
  return libc;
}

export interface RaPrefix {
  /** e.g. `fd77::` */
  prefix: string;
  length: number;
}

export interface RouterAdvertiserOptions {
  interface: string;
  /** Prefixes to announce (on-link, autonomous); default none. */
  prefixes?: RaPrefix[];
}

function ipv6Bytes(addr: string): Buffer {
  const [head, tail] = addr.includes('::') ? addr.split('::') : [addr, undefined];
  const h = head ? head.split(':').filter(Boolean) : [];
  const t = tail ? tail.split(':').filter(Boolean) : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) throw new RangeError(`not an IPv6 address: ${addr}`);
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

function sockaddrIn6(addr: Buffer, scopeId: number): Buffer {
  const sa = Buffer.alloc(28);
  sa.writeUInt16LE(AF_INET6, 0);
  addr.copy(sa, 8);
  sa.writeUInt32LE(scopeId, 24);
  return sa;
}

/** RFC 4861 4.2 Router Advertisement, with options 4.6.1 (source link-layer) and 4.6.2 (prefix). */
export function buildRouterAdvertisement(mac: Buffer | undefined, prefixes: RaPrefix[] = []): Buffer {
  const head = Buffer.alloc(16);
  head[0] = ND_ROUTER_ADVERT;
  // cur hop limit 0 (unspecified), flags 0 (no DHCPv6), router lifetime 0 (not a default router),
  // reachable time 0, retrans timer 0: all "unspecified" per RFC 4861 4.2
  const parts = [head];
  if (mac && mac.length === 6) parts.push(Buffer.concat([Buffer.from([1, 1]), mac]));
  for (const p of prefixes) {
    const o = Buffer.alloc(32);
    o[0] = 3;
    o[1] = 4;
    o[2] = p.length;
    o[3] = 0xc0; // L (on-link) + A (autonomous address configuration)
    o.writeUInt32BE(86400, 4); // valid lifetime
    o.writeUInt32BE(14400, 8); // preferred lifetime
    ipv6Bytes(p.prefix).copy(o, 16);
    parts.push(o);
  }
  return Buffer.concat(parts);
}

export class RouterAdvertiser {
  private fd = -1;
  private ifindex = 0;
  private stopping = false;
  private loop?: Promise<void>;
  private lastMulticast = 0;
  private readonly ra: Buffer;
  /** RSs answered, for logs and tests. */
  answered = 0;

  constructor(private readonly opts: RouterAdvertiserOptions) {
    const hw = interfaceMac(opts.interface);
    const mac = hw ? Buffer.from(hw.split(':').map((h) => parseInt(h, 16))) : undefined;
    this.ra = buildRouterAdvertisement(mac, opts.prefixes);
  }

  start(): void {
    const c = load();
    const ifindex = c.if_nametoindex(this.opts.interface) as number;
    if (!ifindex) throw new Error(`router advertisements: no interface ${this.opts.interface}`);
    const fd = c.socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6) as number;
    if (fd < 0) throw new Error(`router advertisements: raw ICMPv6 socket failed (errno ${koffi.errno()}; needs CAP_NET_RAW)`);
    const int = (v: number) => {
      const b = Buffer.alloc(4);
      b.writeInt32LE(v);
      return b;
    };
    const name = Buffer.from(`${this.opts.interface}\0`);
    const filter = Buffer.alloc(32, 0xff); // RFC 3542 3.2: a set bit blocks the type
    const word = (ND_ROUTER_SOLICIT >> 5) * 4;
    filter.writeUInt32LE((filter.readUInt32LE(word) & ~(1 << (ND_ROUTER_SOLICIT & 31))) >>> 0, word);
    const mreq = Buffer.alloc(20);
    ipv6Bytes('ff02::2').copy(mreq, 0);
    mreq.writeUInt32LE(ifindex, 16);
    const opts: [number, number, Buffer, string][] = [
      [SOL_SOCKET, SO_BINDTODEVICE, name, 'SO_BINDTODEVICE'],
      [IPPROTO_ICMPV6, ICMP6_FILTER, filter, 'ICMP6_FILTER'],
      // RFC 4861 6.1.2: receivers drop RAs whose hop limit is not 255
      [IPPROTO_IPV6, IPV6_MULTICAST_HOPS, int(255), 'IPV6_MULTICAST_HOPS'],
      [IPPROTO_IPV6, IPV6_UNICAST_HOPS, int(255), 'IPV6_UNICAST_HOPS'],
      [IPPROTO_IPV6, IPV6_MULTICAST_IF, int(ifindex), 'IPV6_MULTICAST_IF'],
      [IPPROTO_IPV6, IPV6_MULTICAST_LOOP, int(0), 'IPV6_MULTICAST_LOOP'],
      [IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, mreq, 'IPV6_ADD_MEMBERSHIP ff02::2'],
    ];
    for (const [level, opt, val, what] of opts) {
      if ((c.setsockopt(fd, level, opt, val, val.length) as number) !== 0) {
        const e = koffi.errno();
        c.close(fd);
        throw new Error(`router advertisements: ${what} failed (errno ${e})`);
      }
    }
    this.fd = fd;
    this.ifindex = ifindex;
    this.stopping = false;
    this.loop = this.run();
  }

  private pollOnce(timeoutMs: number): Promise<number> {
    const pfd = Buffer.alloc(8);
    pfd.writeInt32LE(this.fd, 0);
    pfd.writeInt16LE(POLLIN, 4);
    return new Promise((resolve) => {
      load().poll.async(pfd, 1, timeoutMs, (err: unknown, n: number) => resolve(err ? -1 : n));
    });
  }

  private async run(): Promise<void> {
    const c = load();
    const buf = Buffer.alloc(1500);
    const from = Buffer.alloc(28);
    const fromLen = Buffer.alloc(4);
    while (!this.stopping) {
      const n = await this.pollOnce(250);
      if (this.stopping) break;
      if (n <= 0) continue;
      for (;;) {
        fromLen.writeUInt32LE(28);
        const len = c.recvfrom(this.fd, buf, buf.length, MSG_DONTWAIT, from, fromLen) as number;
        if (len < 0) break;
        // RFC 4861 6.1.1: an RS is at least 8 octets with code 0 (the kernel filter passed type 133 only)
        if (len < 8 || buf[0] !== ND_ROUTER_SOLICIT || buf[1] !== 0) continue;
        this.answer(from.subarray(8, 24));
      }
    }
  }

  private answer(source: Buffer): void {
    const c = load();
    const unspecified = source.every((b) => b === 0);
    let dst: Buffer;
    if (!unspecified) {
      // RFC 4861 6.2.6: a router MAY unicast the answer to the soliciting host
      dst = sockaddrIn6(Buffer.from(source), this.ifindex);
    } else {
      const now = Date.now();
      if (now - this.lastMulticast < MIN_DELAY_BETWEEN_RAS_MS) return;
      this.lastMulticast = now;
      dst = sockaddrIn6(ipv6Bytes('ff02::1'), this.ifindex);
    }
    if ((c.sendto(this.fd, this.ra, this.ra.length, 0, dst, dst.length) as number) >= 0) this.answered++;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
    if (this.fd >= 0) load().close(this.fd);
    this.fd = -1;
  }
}
