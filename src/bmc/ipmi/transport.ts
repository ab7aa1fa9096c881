/**
 * UDP sockets shared by many BMC conversations. A fleet run drives hundreds
 * of BMCs; one socket per BMC would cost a file descriptor and a kernel
 * buffer each, so a small pool of sockets is multiplexed: every datagram is
 * routed by its remote address:port to the one conversation that opened it.
 * Two conversations with the same BMC land on different sockets, so the
 * remote address alone always identifies the receiver.
 */
import dgram from 'node:dgram';

export type PacketHandler = (msg: Buffer) => void;

export interface Channel {
  /** `address:port` of the peer. */
  readonly peer: string;
  send(buf: Buffer): void;
  close(): void;
}

interface PooledSocket {
  sock: dgram.Socket;
  ready: Promise<void>;
  handlers: Map<string, PacketHandler>;
  /** Set once the socket failed; it gets no new conversations. */
  broken?: Error;
}

export interface TransportOptions {
  /** Sockets to spread conversations over (more are opened only for duplicate peers). */
  maxSockets?: number;
  /** Kernel receive buffer: bursts of answers from many BMCs must not be dropped. */
  recvBufferSize?: number;
}

export class UdpTransport {
  private readonly sockets: PooledSocket[] = [];
  private readonly maxSockets: number;
  private readonly recvBufferSize: number;
  private closed = false;

  constructor(opts: TransportOptions = {}) {
    this.maxSockets = Math.max(1, opts.maxSockets ?? 4);
    this.recvBufferSize = opts.recvBufferSize ?? 4 * 1024 * 1024;
  }

  /** Process-wide pool used when a caller does not bring its own. */
  static shared(): UdpTransport {
    sharedTransport ??= new UdpTransport();
    return sharedTransport;
  }

  get socketCount(): number {
    return this.sockets.length;
  }

  get conversationCount(): number {
    return this.sockets.reduce((n, s) => n + s.handlers.size, 0);
  }

  private newSocket(): PooledSocket {
    const sock = dgram.createSocket({ type: 'udp4' });
    const ps: PooledSocket = {
      sock,
      handlers: new Map(),
      ready: new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(0, () => {
          sock.off('error', reject);
          try {
            sock.setRecvBufferSize(this.recvBufferSize);
          } catch {
            // the kernel caps it (net.core.rmem_max); the default still works
          }
          // a pooled socket must not keep the process alive on its own
          sock.unref();
          resolve();
        });
      }),
    };
    sock.on('message', (msg, rinfo) => {
      ps.handlers.get(`${rinfo.address}:${rinfo.port}`)?.(msg);
    });
    sock.on('error', (err) => {
      ps.broken = err;
    });
    this.sockets.push(ps);
    return ps;
  }

  /** Opens a conversation with one peer; `address` must be an IPv4 literal. */
  async open(address: string, port: number, onPacket: PacketHandler): Promise<Channel> {
    if (this.closed) throw new Error('transport is closed');
    const peer = `${address}:${port}`;
    const free = this.sockets.filter((s) => !s.broken && !s.handlers.has(peer));
    let ps: PooledSocket;
    if (free.length > 0 && (this.sockets.length >= this.maxSockets || free.some((s) => s.handlers.size === 0))) {
      ps = free.reduce((a, b) => (b.handlers.size < a.handlers.size ? b : a));
    } else {
      ps = this.newSocket();
    }
    ps.handlers.set(peer, onPacket);
    try {
      await ps.ready;
    } catch (err) {
      ps.handlers.delete(peer);
      this.drop(ps);
      throw err;
    }
    let open = true;
    return {
      peer,
      send: (buf: Buffer) => {
        if (!open) return;
        // errors surface as a missing answer, which the retry logic already handles
        ps.sock.send(buf, port, address, () => undefined);
      },
      close: () => {
        if (!open) return;
        open = false;
        if (ps.handlers.get(peer) === onPacket) ps.handlers.delete(peer);
        if (ps.handlers.size === 0 && (this.sockets.length > this.maxSockets || ps.broken)) this.drop(ps);
      },
    };
  }

  private drop(ps: PooledSocket): void {
    const i = this.sockets.indexOf(ps);
    if (i >= 0) this.sockets.splice(i, 1);
    try {
      ps.sock.close();
    } catch {
      // already closed
    }
  }

  /** Closes every socket; open conversations stop receiving. */
  close(): void {
    this.closed = true;
    for (const ps of [...this.sockets]) this.drop(ps);
  }
}

let sharedTransport: UdpTransport | undefined;
