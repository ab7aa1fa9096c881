/**
 * The two DHCP personalities of the seed, as pure handlers over the codec
 * (the split Tinkerbell smee uses): a request and its source go in, at most
 * one reply and its destination come out. No sockets, no clock of their own,
 * so every case is unit-tested without a network.
 *
 * Safety rules enforced here, not in the server:
 * - a MAC outside the inventory never gets a boot file, and in authoritative
 *   mode no address either unless the discovery pool is on;
 * - a request from outside the configured subnet (relayed through a giaddr
 *   that is not ours, or a renewing ciaddr elsewhere) gets no answer;
 * - the authoritative handler NAKs only clients it has a lease record for
 *   (RFC 2131 4.3.2 lets a server stay silent; a NAK aborts some PXE ROMs).
 * The proxy personality is proxy.ts; what both share is here.
 */
import { type BootChoice, type BootContext, chooseBoot, describeClient, type NodeBootPrefs } from './bootfile.js';
import {
  clientArchs,
  type DhcpPacket,
  encapsulate,
  FLAG_BROADCAST,
  intToIp,
  ipBytes,
  ipToInt,
  MessageType,
  type MessageTypeValue,
  macOf,
  messageType,
  Opt,
  optIp,
  replyTo,
  u32,
} from './codec.js';
import { type Lease, LeaseTable, type LeaseStore, MemoryLeaseStore } from './leases.js';

export interface DhcpNode extends NodeBootPrefs {
  mac: string;
  name: string;
  /** Fixed address (authoritative mode); must lie inside the subnet. */
  ip?: string;
}

export interface Source {
  address: string;
  port: number;
}

export interface Reply {
  packet: DhcpPacket;
  address: string;
  port: number;
}

/** What happened, for the server's log and for tests. */
export interface DhcpEvent {
  type: string;
  mac: string;
  /** The sender's address, for the noise limit (boot/log-limit.ts). */ client?: string;
  ip?: string;
  name?: string;
  bootFile?: string;
  /** With a boot file: option 60 of the answer (PXEClient or HTTPClient) and the client's first architecture type (RFC 4578 2.1). */
  vendorClass?: string;
  arch?: number;
  reason?: string;
}

/** What an answer carrying a boot file tells the log about the boot client (DhcpEvent). */
export function bootNote(req: DhcpPacket, rep: DhcpPacket): Pick<DhcpEvent, 'bootFile' | 'vendorClass' | 'arch'> {
  if (!rep.file && !rep.options.has(Opt.BOOTFILE)) return {};
  const arch = clientArchs(req)[0];
  return {
    bootFile: rep.file || rep.options.get(Opt.BOOTFILE)!.toString('latin1'),
    vendorClass: rep.options.get(Opt.VENDOR_CLASS)?.toString('latin1'),
    ...(arch !== undefined ? { arch } : {}),
  };
}

export const CLIENT_PORT = 68;
export const SERVER_PORT = 67;
/** PXE spec 2.1 section 2.2.5: the boot server / ProxyDHCP request port. */
export const PXE_PORT = 4011;
export const ZERO = '0.0.0.0';
export const BROADCAST = '255.255.255.255';

export interface Subnet {
  address: string;
  prefix: number;
}

export function inSubnet(ip: string, net: Subnet): boolean {
  if (net.prefix <= 0) return true;
  const mask = net.prefix >= 32 ? 0xffffffff : (~((1 << (32 - net.prefix)) - 1)) >>> 0;
  return ((ipToInt(ip) & mask) >>> 0) === ((ipToInt(net.address) & mask) >>> 0);
}

function maskOf(prefix: number): string {
  return intToIp(prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffff : (~((1 << (32 - prefix)) - 1)) >>> 0);
}

/** Ethernet only: PXE and every client kseed serves uses htype 1, hlen 6 (RFC 1700 "Hardware Type"). */
export function isEthernetRequest(req: DhcpPacket): boolean {
  return req.op === 1 && req.htype === 1 && req.hlen === 6;
}

/**
 * RFC 2131 4.1 (and table in 4.1 "Server behaviour"): where a reply goes.
 * giaddr set -> the relay on 67; NAK without relay -> broadcast; ciaddr set
 * -> unicast to it; broadcast bit -> broadcast; otherwise the RFC wants a
 * unicast to yiaddr at chaddr, which needs an ARP entry the client cannot
 * answer for yet, and it allows the broadcast instead ("If unicasting is not
 * possible, the message MAY be sent as an IP broadcast").
 */
export function destination(req: DhcpPacket, type: MessageTypeValue): Source {
  if (req.giaddr !== ZERO) return { address: req.giaddr, port: SERVER_PORT };
  if (type === MessageType.NAK) return { address: BROADCAST, port: CLIENT_PORT };
  if (req.ciaddr !== ZERO) return { address: req.ciaddr, port: CLIENT_PORT };
  return { address: BROADCAST, port: CLIENT_PORT };
}

function paramRequested(req: DhcpPacket, code: number): boolean {
  return req.options.get(Opt.PARAM_LIST)?.includes(code) ?? false;
}

/** Put the boot answer into a reply: file/siaddr fields and the PXE options. */
export function applyBoot(req: DhcpPacket, rep: DhcpPacket, boot: BootChoice, opts: { ipxeNoProxy: boolean }): void {
  rep.siaddr = boot.server;
  const fileLen = Buffer.byteLength(boot.file, 'latin1');
  // RFC 2131 2: `file` holds 128 octets with its terminating zero.
  if (fileLen < 128) rep.file = boot.file;
  if (fileLen >= 128 || paramRequested(req, Opt.BOOTFILE)) rep.options.set(Opt.BOOTFILE, Buffer.from(boot.file, 'latin1'));
  if (paramRequested(req, Opt.TFTP_SERVER)) rep.options.set(Opt.TFTP_SERVER, Buffer.from(boot.server, 'latin1'));
  // PXE spec 2.1 2.2.6 / UEFI 2.5 24.7.2: the answer names the class it serves.
  rep.options.set(Opt.VENDOR_CLASS, Buffer.from(boot.vendorClass, 'latin1'));
  if (!boot.ipxe && boot.vendorClass === 'PXEClient') {
    // PXE spec 2.1 table 2-1, PXE_DISCOVERY_CONTROL (43.6) bit 3: boot the
    // file named in this offer, skip boot server discovery and menus.
    rep.options.set(Opt.VENDOR_SPECIFIC, encapsulate([[6, Buffer.from([0x08])]]));
  }
  // RFC 4578 2.5: PXE clients expect their machine identifier back.
  const uuid = req.options.get(Opt.CLIENT_UUID);
  if (uuid && uuid.length === 17 && uuid[0] === 0) rep.options.set(Opt.CLIENT_UUID, Buffer.from(uuid));
  if (boot.ipxe && opts.ipxeNoProxy) {
    // iPXE 175.176 "no-pxedhcp": do not wait for ProxyDHCP offers (lab.md 3.5: 3 s saved).
    rep.options.set(Opt.IPXE_ENCAP, encapsulate([[176, Buffer.from([1])]]));
  }
}

// ================================================================ authoritative

export interface AuthoritativeConfig {
  seedAddress: string;
  prefix: number;
  range?: { start: string; end: string };
  leaseSeconds: number;
  router?: string;
  dns?: string[];
  /** Unknown MACs get an address (never a boot file). */
  discoveryPool?: boolean;
  nodes: DhcpNode[];
  boot: BootContext;
  store?: LeaseStore;
  /** How long an offered address is held for the client (default 60 s). */
  offerHoldSeconds?: number;
  /** How long a declined pool address stays out of the pool (default 10 min). */
  declineHoldSeconds?: number;
  /**
   * A DECLINE counts only this long after the ACK it answers (default 60 s):
   * the client checks the address right after it is acknowledged (RFC 2131
   * 4.4.1, 2.2), never hours later.
   */
  declineWindowSeconds?: number;
}

export class AuthoritativeHandler {
  readonly leases: LeaseTable;
  private readonly nodes = new Map<string, DhcpNode>();
  private readonly subnet: Subnet;
  private readonly events: DhcpEvent[] = [];
  /** Option values that never change, encoded once (the hot path allocates enough). */
  private readonly fixedOpts: {
    serverId: Buffer;
    mask: Buffer;
    router?: Buffer;
    dns?: Buffer;
    lease: Buffer;
    t1: Buffer;
    t2: Buffer;
  };

  constructor(private readonly cfg: AuthoritativeConfig) {
    this.subnet = { address: cfg.seedAddress, prefix: cfg.prefix };
    this.fixedOpts = {
      serverId: ipBytes(cfg.seedAddress),
      mask: ipBytes(maskOf(cfg.prefix)),
      ...(cfg.router ? { router: ipBytes(cfg.router) } : {}),
      ...(cfg.dns?.length ? { dns: Buffer.concat(cfg.dns.map(ipBytes)) } : {}),
      // RFC 2131 4.4.5 defaults: T1 = 0.5, T2 = 0.875 of the lease.
      lease: u32(cfg.leaseSeconds),
      t1: u32(Math.floor(cfg.leaseSeconds * 0.5)),
      t2: u32(Math.floor(cfg.leaseSeconds * 0.875)),
    };
    if (cfg.range) {
      for (const a of [cfg.range.start, cfg.range.end]) {
        if (!inSubnet(a, this.subnet)) throw new RangeError(`DHCP range ${cfg.range.start}-${cfg.range.end} is outside ${cfg.seedAddress}/${cfg.prefix}`);
      }
      if (ipToInt(cfg.range.start) > ipToInt(cfg.range.end)) throw new RangeError(`DHCP range ${cfg.range.start}-${cfg.range.end} is empty`);
    }
    const reserved = this.indexNodes(cfg.nodes);
    this.leases = new LeaseTable(cfg.range ? { ...cfg.range, reserved } : undefined, cfg.store ?? new MemoryLeaseStore());
  }

  /** Validate and index the inventory; returns the addresses the pool must never hand out. */
  private indexNodes(nodes: DhcpNode[]): string[] {
    const cfg = this.cfg;
    const map = new Map<string, DhcpNode>();
    const reserved = [cfg.seedAddress];
    if (cfg.router) reserved.push(cfg.router);
    for (const n of nodes) {
      const mac = n.mac.toLowerCase();
      if (n.ip) {
        if (!inSubnet(n.ip, this.subnet)) throw new RangeError(`node ${n.name}: fixed address ${n.ip} is outside ${cfg.seedAddress}/${cfg.prefix}`);
        reserved.push(n.ip);
      }
      map.set(mac, { ...n, mac });
    }
    // the network and broadcast addresses are never leases
    const mask = ipToInt(maskOf(cfg.prefix));
    const net = (ipToInt(cfg.seedAddress) & mask) >>> 0;
    reserved.push(intToIp(net), intToIp((net | ~mask) >>> 0));
    this.nodes.clear();
    for (const [k, v] of map) this.nodes.set(k, v);
    return reserved;
  }

  /**
   * Replace the inventory while serving (a node enrolled or removed). All or
   * nothing: a bad fixed address throws and the old inventory stays.
   */
  setNodes(nodes: DhcpNode[]): void {
    const old = new Map(this.nodes);
    try {
      this.leases.setReserved(this.indexNodes(nodes));
    } catch (err) {
      this.nodes.clear();
      for (const [k, v] of old) this.nodes.set(k, v);
      throw err;
    }
  }

  /** Events since the last call (the server drains them into its log). */
  drainEvents(): DhcpEvent[] {
    return this.events.splice(0, this.events.length);
  }

  private note(e: DhcpEvent): void {
    if (this.events.length < 10_000) this.events.push(e);
  }

  handle(req: DhcpPacket, src: Source, now: number = Date.now()): Reply | null {
    if (!isEthernetRequest(req)) return null;
    const type = messageType(req);
    if (type === undefined) return null;
    // Relayed requests are served only for our own subnet (RFC 2131 4.3.1: the
    // giaddr names the client's network); anything else is another network's.
    if (req.giaddr !== ZERO && !inSubnet(req.giaddr, this.subnet)) {
      this.note({ type: 'ignored', mac: macOf(req), reason: `relayed from ${req.giaddr}, outside our subnet` });
      return null;
    }
    const mac = macOf(req);
    const node = this.nodes.get(mac);
    if (!node && !this.cfg.discoveryPool) {
      this.note({ type: 'ignored', mac, reason: 'MAC not in inventory' });
      return null;
    }
    switch (type) {
      case MessageType.DISCOVER:
        return this.discover(req, mac, node, now);
      case MessageType.REQUEST:
        return this.request(req, mac, node, now);
      case MessageType.DECLINE:
        this.decline(req, mac, node, src, now);
        return null;
      case MessageType.RELEASE:
        this.release(req, mac, now);
        return null;
      case MessageType.INFORM:
        return this.inform(req, mac, node);
      default:
        return null;
    }
  }

  /** The address this client should have, per inventory or pool. */
  private addressFor(req: DhcpPacket, mac: string, node: DhcpNode | undefined, now: number): string | undefined {
    if (node?.ip) return node.ip;
    return this.leases.allocate(mac, optIp(req, Opt.REQUESTED_IP), now);
  }

  /** Whether `ip` is one this server may confirm for this client. */
  private acceptable(ip: string, mac: string, node: DhcpNode | undefined, now: number): boolean {
    if (!inSubnet(ip, this.subnet)) return false;
    if (node?.ip) return ip === node.ip;
    return this.leases.inPool(ip) && this.leases.availableFor(ip, mac, now);
  }

  private baseReply(req: DhcpPacket, type: MessageTypeValue, node: DhcpNode | undefined, ip: string | undefined): DhcpPacket {
    const rep = replyTo(req, type);
    const o = rep.options;
    const f = this.fixedOpts;
    // RFC 2132 9.7: the server identifier lets the client address us.
    o.set(Opt.SERVER_ID, f.serverId);
    if (type === MessageType.NAK) return rep;
    if (ip) {
      rep.yiaddr = ip;
      o.set(Opt.LEASE_TIME, f.lease);
      o.set(Opt.RENEWAL_T1, f.t1);
      o.set(Opt.REBINDING_T2, f.t2);
    }
    o.set(Opt.SUBNET_MASK, f.mask);
    if (f.router) o.set(Opt.ROUTER, f.router);
    if (f.dns) o.set(Opt.DNS, f.dns);
    if (node?.name && Buffer.byteLength(node.name) <= 255) o.set(Opt.HOSTNAME, Buffer.from(node.name));
    // RFC 3046 2.2: a server echoes the relay agent information it was given.
    const rai = req.options.get(Opt.RELAY_AGENT);
    if (rai && req.giaddr !== ZERO) o.set(Opt.RELAY_AGENT, Buffer.from(rai));
    if (node) {
      const boot = chooseBoot(node.mac, describeClient(req), this.cfg.boot, node);
      if (boot) applyBoot(req, rep, boot, { ipxeNoProxy: true });
    }
    return rep;
  }

  private reply(req: DhcpPacket, type: MessageTypeValue, node: DhcpNode | undefined, ip: string | undefined, mac: string): Reply {
    const packet = this.baseReply(req, type, node, ip);
    const dst = destination(req, type);
    this.note({ type: type === MessageType.NAK ? 'nak' : type === MessageType.OFFER ? 'offer' : 'ack', mac, ip, name: node?.name, ...bootNote(req, packet) });
    return { packet, ...dst };
  }

  private discover(req: DhcpPacket, mac: string, node: DhcpNode | undefined, now: number): Reply | null {
    const ip = this.addressFor(req, mac, node, now);
    if (!ip) {
      this.note({ type: 'ignored', mac, reason: 'address pool exhausted' });
      return null;
    }
    const cur = this.leases.forMac(mac);
    // A bound client rediscovering keeps its bound record; only new offers are held.
    if (!(cur && cur.ip === ip && cur.state === 'bound' && cur.expiresAt > now)) {
      this.leases.set({ mac, ip, state: 'offered', expiresAt: now + (this.cfg.offerHoldSeconds ?? 60) * 1000, ...(node ? { name: node.name } : {}) });
    }
    return this.reply(req, MessageType.OFFER, node, ip, mac);
  }

  private bind(req: DhcpPacket, mac: string, node: DhcpNode | undefined, ip: string, now: number): Reply {
    const lease: Lease = { mac, ip, state: 'bound', expiresAt: now + this.cfg.leaseSeconds * 1000, ...(node ? { name: node.name } : {}) };
    this.leases.set(lease);
    return this.reply(req, MessageType.ACK, node, ip, mac);
  }

  /** RFC 2131 4.3.2: SELECTING, INIT-REBOOT, RENEWING/REBINDING told apart by 54, 50 and ciaddr. */
  private request(req: DhcpPacket, mac: string, node: DhcpNode | undefined, now: number): Reply | null {
    const serverId = optIp(req, Opt.SERVER_ID);
    const requested = optIp(req, Opt.REQUESTED_IP);
    const known = this.leases.forMac(mac);
    if (serverId !== undefined) {
      // SELECTING
      if (serverId !== this.cfg.seedAddress) {
        this.leases.dropOffer(mac);
        return null;
      }
      const want = requested ?? (req.ciaddr !== ZERO ? req.ciaddr : undefined);
      if (want && known && known.ip === want && this.acceptable(want, mac, node, now)) return this.bind(req, mac, node, want, now);
      if (known) return this.reply(req, MessageType.NAK, node, undefined, mac);
      return null;
    }
    if (requested !== undefined && req.ciaddr === ZERO) {
      // INIT-REBOOT: the client believes it owns `requested`.
      if (this.acceptable(requested, mac, node, now) && (!known || known.ip === requested)) return this.bind(req, mac, node, requested, now);
      if (known) return this.reply(req, MessageType.NAK, node, undefined, mac);
      return null;
    }
    if (req.ciaddr !== ZERO) {
      // RENEWING (unicast) or REBINDING (broadcast)
      if (!inSubnet(req.ciaddr, this.subnet)) return null;
      if (this.acceptable(req.ciaddr, mac, node, now) && (!known || known.ip === req.ciaddr)) return this.bind(req, mac, node, req.ciaddr, now);
      if (known) return this.reply(req, MessageType.NAK, node, undefined, mac);
      return null;
    }
    return null;
  }

  /**
   * RFC 2131 4.3.3: the client found its address in use; the server marks the
   * address unavailable and tells the operator. DHCP has no authentication,
   * so anyone can send a DECLINE in any client's name: it counts only when it
   * is plausible, and even then it never denies the client service.
   * - It must answer this client's own lease: the address we acknowledged to
   *   this chaddr (option 50), our server identifier (option 54), ciaddr 0
   *   (table 5), sent from 0.0.0.0 (4.1: the client has no address now) or
   *   through a relay of our subnet, within `declineWindowSeconds` of the ACK.
   * - A fixed address stays the node's (the site file says so): the conflict
   *   is reported, nothing is held, and the node gets its address next time.
   * - A pool address leaves the pool for `declineHoldSeconds`; the client
   *   gets another one. The hold expires.
   */
  private decline(req: DhcpPacket, mac: string, node: DhcpNode | undefined, src: Source, now: number): void {
    const ip = optIp(req, Opt.REQUESTED_IP);
    const known = this.leases.forMac(mac);
    const boundAt = known ? known.expiresAt - this.cfg.leaseSeconds * 1000 : 0;
    const window = (this.cfg.declineWindowSeconds ?? 60) * 1000;
    const fromClient = req.giaddr !== ZERO ? src.address === req.giaddr : src.address === ZERO;
    const reason =
      optIp(req, Opt.SERVER_ID) !== this.cfg.seedAddress
        ? `server identifier (option 54) is ${optIp(req, Opt.SERVER_ID) ?? 'missing'}, not ${this.cfg.seedAddress}`
        : !ip
          ? 'no requested address (option 50)'
          : req.ciaddr !== ZERO
            ? `ciaddr is ${req.ciaddr}, must be 0.0.0.0`
            : !fromClient
              ? `sent from ${src.address}: a client that declines has no address (0.0.0.0) or comes through its relay`
              : !known || known.ip !== ip || known.state !== 'bound'
                ? `${ip} is not the address bound to ${mac}`
                : now - boundAt > window
                  ? `${ip} was acknowledged ${Math.round((now - boundAt) / 1000)} s ago, a DECLINE comes right after the ACK`
                  : undefined;
    if (reason !== undefined) {
      this.note({ type: 'decline-ignored', mac, ...(ip ? { ip } : {}), name: node?.name, reason });
      return;
    }
    if (node?.ip === ip) {
      this.leases.set({ ...known!, state: 'released', expiresAt: now });
      this.note({ type: 'declined', mac, ip, name: node!.name, reason: `fixed address ${ip} reported in use by another host: check the network for an address conflict; it stays this node's` });
      return;
    }
    this.leases.set({ mac, ip: ip!, state: 'declined', expiresAt: now + (this.cfg.declineHoldSeconds ?? 600) * 1000 });
    this.note({ type: 'declined', mac, ip, name: node?.name, reason: 'address in use by another host: kept out of the pool for a while' });
  }

  /** RFC 2131 4.3.4: the client gives the address back. */
  private release(req: DhcpPacket, mac: string, now: number): void {
    if (optIp(req, Opt.SERVER_ID) !== undefined && optIp(req, Opt.SERVER_ID) !== this.cfg.seedAddress) return;
    const known = this.leases.forMac(mac);
    if (!known || known.ip !== req.ciaddr || known.state === 'declined') return;
    this.leases.set({ ...known, state: 'released', expiresAt: now });
    this.note({ type: 'released', mac, ip: known.ip });
  }

  /** RFC 2131 4.3.5: configuration only, no address, no lease time; unicast to ciaddr. */
  private inform(req: DhcpPacket, mac: string, node: DhcpNode | undefined): Reply | null {
    if (req.ciaddr === ZERO || !inSubnet(req.ciaddr, this.subnet)) return null;
    const packet = this.baseReply(req, MessageType.ACK, node, undefined);
    this.note({ type: 'inform', mac, ip: req.ciaddr, name: node?.name });
    return { packet, ...destination(req, MessageType.ACK) };
  }
}

export { describeClient, chooseBoot };
export { FLAG_BROADCAST };
