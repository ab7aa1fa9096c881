/**
 * The DHCP service: UDP sockets bound to ONE interface (SO_BINDTODEVICE, see
 * src/boot/netif.ts) feeding the pure handlers. Authoritative mode listens on
 * 67; proxy mode on 67 and 4011 (PXE spec 2.1 2.2.5).
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { RouterAdvertiser } from '../ra.js';
import { bindToDevice, growReceiveBuffer, interfaceAddresses, interfaceExists, NetifError } from '../netif.js';
import { type BootFiles, DEFAULT_BOOT_FILES } from './bootfile.js';
import { DhcpDecodeError, decode, encode, macOf, MessageType, messageType, messageTypeName } from './codec.js';
import { AuthoritativeHandler, type DhcpEvent, type DhcpNode, inSubnet, PXE_PORT, type Reply, SERVER_PORT } from './handlers.js';
import { ProxyHandler } from './proxy.js';
import type { Lease, LeaseStore } from './leases.js';
import { bump, dhcpTypeLabel, ignoredReason } from '../counters.js';

export interface DhcpServerOptions {
  /** The provisioning interface; nothing arriving elsewhere is ever answered. */
  interface: string;
  /** The seed's own address on that interface (server identifier, default next-server). */
  seedAddress: string;
  prefix: number;
  mode: 'authoritative' | 'proxy';
  /** Authoritative mode: the dynamic pool. */
  range?: { start: string; end: string };
  leaseSeconds?: number;
  router?: string;
  dns?: string[];
  discoveryPool?: boolean;
  nodes: DhcpNode[];
  /** `http://<seed>:<port>`: iPXE scripts and HTTP-boot binaries come from here. */
  httpBase: string;
  /** Default: seedAddress. */
  tftpServer?: string;
  /** False: no TFTP server runs, so no answer names a TFTP boot file (bootfile.ts). Default true. */
  tftp?: boolean;
  bootFiles?: BootFiles;
  leaseStore?: LeaseStore;
  /**
   * Answer IPv6 Router Solicitations with a lifetime-0 RA (src/boot/ra.ts), so
   * iPXE does not wait 16 s for IPv6 (lab.md 3.5). Default: on in
   * authoritative mode, off in proxy mode (the site's network is not ours).
   */
  routerAdvertisements?: boolean;
  /** Skip the check that the interface carries seedAddress (tests of misconfiguration only). */
  skipAddressCheck?: boolean;
}

export interface DhcpServerEvents {
  event: [DhcpEvent];
  error: [Error];
}

export class DhcpServer extends EventEmitter<DhcpServerEvents> {
  private sockets: dgram.Socket[] = [];
  private ra?: RouterAdvertiser;
  private auth?: AuthoritativeHandler;
  /** Replies of the current burst, sent after the lease store has flushed. */
  private outbox: { sock: dgram.Socket; reply: Reply }[] = [];
  private flushScheduled = false;
  private proxy?: ProxyHandler;
  /** Counters for `boot serve` and the benchmark. */
  readonly stats = { received: 0, malformed: 0, replied: 0, ignored: 0, sendErrors: 0 };
  /** The same traffic by message type and unanswered reason, for /metrics (boot/counters.ts). */
  readonly counts = { received: {} as Record<string, number>, sent: {} as Record<string, number>, ignored: {} as Record<string, number> };

  constructor(readonly opts: DhcpServerOptions) {
    super();
    const boot = {
      httpBase: opts.httpBase.replace(/\/+$/, ''),
      tftpServer: opts.tftpServer ?? opts.seedAddress,
      ...(opts.tftp === false ? { tftp: false } : {}),
      files: opts.bootFiles ?? DEFAULT_BOOT_FILES,
    };
    if (opts.mode === 'authoritative') {
      if (!opts.range && !opts.nodes.some((n) => n.ip)) throw new RangeError('authoritative DHCP needs a range or fixed node addresses');
      this.auth = new AuthoritativeHandler({
        seedAddress: opts.seedAddress,
        prefix: opts.prefix,
        range: opts.range,
        leaseSeconds: opts.leaseSeconds ?? 3600,
        router: opts.router,
        dns: opts.dns,
        discoveryPool: opts.discoveryPool,
        nodes: opts.nodes,
        boot,
        store: opts.leaseStore,
      });
    } else {
      this.proxy = new ProxyHandler({ seedAddress: opts.seedAddress, prefix: opts.prefix, nodes: opts.nodes, boot });
    }
  }

  async start(): Promise<void> {
    const ifname = this.opts.interface;
    if (!interfaceExists(ifname)) throw new NetifError(`interface ${ifname} does not exist`);
    if (!this.opts.skipAddressCheck) {
      const addrs = interfaceAddresses(ifname);
      const mine = addrs.find((a) => a.address === this.opts.seedAddress);
      if (!mine) {
        throw new NetifError(
          `interface ${ifname} does not carry the seed address ${this.opts.seedAddress} (it has ${addrs.map((a) => `${a.address}/${a.prefix}`).join(', ') || 'no IPv4 address'})`,
        );
      }
      if (!inSubnet(mine.address, { address: this.opts.seedAddress, prefix: this.opts.prefix })) throw new NetifError('seed address outside its own prefix');
    }
    const ports = this.proxy ? [SERVER_PORT, PXE_PORT] : [SERVER_PORT];
    try {
      for (const port of ports) this.sockets.push(await this.open(port));
    } catch (err) {
      await this.stop();
      throw err;
    }
    if (this.opts.routerAdvertisements ?? this.opts.mode === 'authoritative') {
      try {
        const ra = new RouterAdvertiser({ interface: ifname });
        ra.start();
        this.ra = ra;
      } catch (err) {
        // IPv4 boot works without it, only slower: say so, do not fail
        this.emit('event', { type: 'warning', mac: '', reason: `no IPv6 router advertisements (iPXE will wait ~16 s for IPv6): ${(err as Error).message}` });
      }
    }
  }

  private open(port: number): Promise<dgram.Socket> {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket({ type: 'udp4', reuseAddr: false });
      const onError = (err: Error) => {
        sock.close();
        const code = (err as NodeJS.ErrnoException).code;
        reject(new NetifError(code === 'EADDRINUSE' ? `UDP port ${port} is in use (another DHCP server on this host? try proxy mode or stop it)` : `UDP port ${port}: ${err.message}`));
      };
      sock.once('error', onError);
      sock.bind({ port, address: '0.0.0.0', exclusive: true }, () => {
        try {
          bindToDevice(sock, this.opts.interface);
          sock.setBroadcast(true);
          growReceiveBuffer(sock, 4 * 1024 * 1024);
        } catch (err) {
          sock.close();
          reject(err);
          return;
        }
        sock.off('error', onError);
        sock.on('error', (err) => this.emit('error', err));
        sock.on('message', (msg, rinfo) => this.onMessage(sock, port, msg, rinfo));
        resolve(sock);
      });
    });
  }

  private onMessage(sock: dgram.Socket, port: number, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.stats.received++;
    let reply: Reply | null = null;
    /** Why a request got no answer, when it did not (decided after the handler's events are in). */
    let unanswered: 'ask-events' | 'bootp' | undefined;
    try {
      const req = decode(msg);
      const type = messageType(req);
      bump(this.counts.received, dhcpTypeLabel(messageTypeName[type ?? 0]));
      const src = { address: rinfo.address, port: rinfo.port };
      reply = this.auth ? this.auth.handle(req, src) : this.proxy!.handle(req, src, port);
      if (!reply && req.op === 1) {
        this.stats.ignored++;
        // RFC 2131 4.3.3/4.3.4: a DECLINE or RELEASE is never answered; it was handled, not ignored
        if (type !== MessageType.DECLINE && type !== MessageType.RELEASE) unanswered = type === undefined ? 'bootp' : 'ask-events';
        if (type === undefined) this.emit('event', { type: 'ignored', mac: macOf(req), client: rinfo.address, reason: 'no message type (BOOTP)' });
      }
    } catch (err) {
      if (err instanceof DhcpDecodeError) {
        this.stats.malformed++;
        bump(this.counts.received, 'malformed');
        bump(this.counts.ignored, 'malformed');
        this.emit('event', { type: 'malformed', mac: '', client: rinfo.address, reason: `${err.message} from ${rinfo.address}:${rinfo.port}` });
      } else {
        this.emit('error', err as Error);
      }
    }
    const events = (this.auth ?? this.proxy!).drainEvents();
    if (unanswered === 'bootp') bump(this.counts.ignored, 'bootp');
    else if (unanswered || events.some((e) => e.type === 'decline-ignored')) bump(this.counts.ignored, ignoredReason(events));
    for (const e of events) this.emit('event', e);
    // also without a reply: a RELEASE or DECLINE changed the lease table
    if (reply) this.outbox.push({ sock, reply });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // setImmediate runs after this poll phase: every datagram already
      // queued is handled first, then one store commit, then the replies
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.outbox;
    this.outbox = [];
    try {
      this.opts.leaseStore?.flush?.();
    } catch (err) {
      // nothing was promised yet: drop the burst's replies, clients retry
      this.emit('error', new Error(`lease store: ${(err as Error).message}; ${batch.length} replies withheld`));
      return;
    }
    for (const { sock, reply } of batch) this.send(sock, reply);
  }

  private send(sock: dgram.Socket, reply: Reply): void {
    const out = encode(reply.packet);
    this.stats.replied++;
    bump(this.counts.sent, dhcpTypeLabel(messageTypeName[messageType(reply.packet) ?? 0]));
    sock.send(out, reply.port, reply.address, (err) => {
      if (err) {
        this.stats.sendErrors++;
        this.emit('error', new Error(`sending DHCP ${messageTypeName[messageType(reply.packet) ?? 0] ?? ''} to ${reply.address}: ${err.message}`));
      }
    });
  }

  /**
   * Replace the inventory while serving (the engine enrolled or removed a
   * node): who gets a boot file, and fixed addresses. Throws, changing
   * nothing, when a fixed address lies outside the subnet.
   */
  setNodes(nodes: DhcpNode[]): void {
    if (this.auth) this.auth.setNodes(nodes);
    else this.proxy!.setNodes(nodes);
  }

  /** Router Solicitations answered so far. */
  get routerAdvertisementsSent(): number {
    return this.ra?.answered ?? 0;
  }

  /** The lease table (authoritative mode), for `boot serve` and tests. */
  leases(): Lease[] {
    return this.auth ? this.auth.leases.all() : [];
  }

  async stop(): Promise<void> {
    try {
      this.opts.leaseStore?.flush?.();
    } catch {
      /* stopping anyway; the replies were never sent */
    }
    // kept after stop so its counter can still be read
    await this.ra?.stop();
    const socks = this.sockets;
    this.sockets = [];
    await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
