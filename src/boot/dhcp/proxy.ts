/**
 * The seed's ProxyDHCP personality (PXE spec 2.1 section 2.2), beside the
 * site's own DHCP server; a pure handler like the authoritative one in
 * handlers.ts, whose shared pieces (destination, boot options, subnet) it uses.
 */
import { chooseBoot, describeClient } from './bootfile.js';
import type { BootContext } from './bootfile.js';
import { type DhcpPacket, ipBytes, MessageType, macOf, messageType, Opt, replyTo } from './codec.js';
import {
  applyBoot,
  bootNote,
  BROADCAST,
  CLIENT_PORT,
  type DhcpEvent,
  type DhcpNode,
  destination,
  inSubnet,
  isEthernetRequest,
  PXE_PORT,
  type Reply,
  SERVER_PORT,
  type Source,
  type Subnet,
  ZERO,
} from './handlers.js';

export interface ProxyConfig {
  seedAddress: string;
  prefix: number;
  nodes: DhcpNode[];
  boot: BootContext;
}

/**
 * PXE spec 2.1 section 2.2 ProxyDHCP: beside the site's own DHCP server,
 * answer PXE clients' DISCOVERs on 67 with an offer that carries boot
 * information and no address (yiaddr 0), and their REQUESTs on 4011 with an
 * ACK. Never answers a non-PXE client, never offers an address.
 */
export class ProxyHandler {
  private readonly nodes = new Map<string, DhcpNode>();
  private readonly subnet: Subnet;
  private readonly events: DhcpEvent[] = [];

  constructor(private readonly cfg: ProxyConfig) {
    this.subnet = { address: cfg.seedAddress, prefix: cfg.prefix };
    for (const n of cfg.nodes) this.nodes.set(n.mac.toLowerCase(), { ...n, mac: n.mac.toLowerCase() });
  }

  drainEvents(): DhcpEvent[] {
    return this.events.splice(0, this.events.length);
  }

  /** Replace the inventory while serving. */
  setNodes(nodes: DhcpNode[]): void {
    this.nodes.clear();
    for (const n of nodes) this.nodes.set(n.mac.toLowerCase(), { ...n, mac: n.mac.toLowerCase() });
  }

  /** `port`: the local port the request arrived on (67 or 4011). */
  handle(req: DhcpPacket, src: Source, port: number): Reply | null {
    if (!isEthernetRequest(req)) return null;
    const type = messageType(req);
    if (req.giaddr !== ZERO && !inSubnet(req.giaddr, this.subnet)) return null;
    const client = describeClient(req);
    if (client.kind === 'none' && !client.ipxe) return null;
    const mac = macOf(req);
    const node = this.nodes.get(mac);
    if (!node) {
      if (this.events.length < 10_000) this.events.push({ type: 'ignored', mac, reason: 'MAC not in inventory' });
      return null;
    }
    const boot = chooseBoot(mac, client, this.cfg.boot, node);
    if (!boot) return null;
    let rep: DhcpPacket;
    let dst: Source;
    if (port === SERVER_PORT && type === MessageType.DISCOVER) {
      rep = replyTo(req, MessageType.OFFER);
      dst = destination(req, MessageType.OFFER);
    } else if (port === PXE_PORT && (type === MessageType.REQUEST || type === MessageType.INFORM)) {
      // PXE spec 2.2.5: the client has its address now and asks us directly;
      // answer to where it asked from.
      rep = replyTo(req, MessageType.ACK);
      rep.ciaddr = req.ciaddr;
      if (req.ciaddr !== ZERO && !inSubnet(req.ciaddr, this.subnet)) return null;
      dst = req.ciaddr !== ZERO ? { address: req.ciaddr, port: src.port } : { address: src.address, port: src.port };
      if (dst.address === ZERO) dst = { address: BROADCAST, port: CLIENT_PORT };
    } else {
      return null;
    }
    rep.options.set(Opt.SERVER_ID, ipBytes(this.cfg.seedAddress));
    // ProxyDHCP answers must not look like a lease: no yiaddr, no lease time.
    rep.yiaddr = ZERO;
    applyBoot(req, rep, boot, { ipxeNoProxy: false });
    if (this.events.length < 10_000) this.events.push({ type: port === PXE_PORT ? 'proxy-ack' : 'proxy-offer', mac, name: node.name, ...bootNote(req, rep) });
    return { packet: rep, ...dst };
  }
}
