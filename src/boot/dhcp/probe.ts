/**
 * Who answers DHCP on this network? Broadcast one DHCPDISCOVER on an
 * interface and collect every OFFER for a while. Used by `kseed doctor` to
 * find an existing DHCP server (then kseed should run in proxy mode) or an
 * existing PXE/proxyDHCP service (a conflict).
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { bindToDevice } from '../netif.js';
import { type DhcpPacket, DhcpDecodeError, decode, encode, FLAG_BROADCAST, macBytes, MessageType, messageType, Opt, optIp, optString } from './codec.js';
import { CLIENT_PORT, SERVER_PORT } from './handlers.js';

export interface ProbeOffer {
  /** Server identifier (option 54), else the packet's source address. */
  server: string;
  source: string;
  /** 0.0.0.0 for a proxyDHCP offer. */
  offeredAddress: string;
  proxy: boolean;
  bootFile?: string;
  nextServer?: string;
  vendorClass?: string;
  leaseSeconds?: number;
}

export interface ProbeOptions {
  interface: string;
  /** The interface's MAC: offers are made to it. */
  mac: string;
  timeoutMs?: number;
  /** Send as a PXE client too, so PXE and proxyDHCP services answer. */
  pxe?: boolean;
}

export async function probeDhcp(opts: ProbeOptions): Promise<ProbeOffer[]> {
  const xid = randomBytes(4).readUInt32BE();
  const chaddr = Buffer.alloc(16);
  macBytes(opts.mac).copy(chaddr);
  const options = new Map<number, Buffer>([
    [Opt.MESSAGE_TYPE, Buffer.from([MessageType.DISCOVER])],
    [Opt.PARAM_LIST, Buffer.from([Opt.SUBNET_MASK, Opt.ROUTER, Opt.DNS, Opt.TFTP_SERVER, Opt.BOOTFILE, Opt.VENDOR_CLASS])],
  ]);
  if (opts.pxe !== false) {
    options.set(Opt.VENDOR_CLASS, Buffer.from('PXEClient:Arch:00000:UNDI:002001'));
    options.set(Opt.CLIENT_ARCH, Buffer.from([0, 0]));
  }
  const discover: DhcpPacket = {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid,
    secs: 0,
    // we have no address to receive a unicast on: ask for broadcast replies (RFC 2131 4.1)
    flags: FLAG_BROADCAST,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr,
    sname: '',
    file: '',
    options,
  };
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const offers: ProbeOffer[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ port: CLIENT_PORT, address: '0.0.0.0' }, () => {
        try {
          bindToDevice(sock, opts.interface);
          sock.setBroadcast(true);
          resolve();
        } catch (err) {
          reject(err);
        }
      });
    });
    sock.on('message', (msg, rinfo) => {
      let p: DhcpPacket;
      try {
        p = decode(msg);
      } catch (err) {
        if (err instanceof DhcpDecodeError) return;
        throw err;
      }
      if (p.op !== 2 || p.xid !== xid || messageType(p) !== MessageType.OFFER) return;
      const lease = p.options.get(Opt.LEASE_TIME);
      const bootFile = p.file || optString(p, Opt.BOOTFILE);
      offers.push({
        server: optIp(p, Opt.SERVER_ID) ?? rinfo.address,
        source: rinfo.address,
        offeredAddress: p.yiaddr,
        proxy: p.yiaddr === '0.0.0.0',
        ...(bootFile ? { bootFile } : {}),
        ...(p.siaddr !== '0.0.0.0' ? { nextServer: p.siaddr } : {}),
        ...(optString(p, Opt.VENDOR_CLASS) ? { vendorClass: optString(p, Opt.VENDOR_CLASS) } : {}),
        ...(lease && lease.length === 4 ? { leaseSeconds: lease.readUInt32BE() } : {}),
      });
    });
    await new Promise<void>((resolve, reject) => sock.send(encode(discover), SERVER_PORT, '255.255.255.255', (err) => (err ? reject(err) : resolve())));
    await new Promise((r) => setTimeout(r, opts.timeoutMs ?? 3000));
  } finally {
    await new Promise<void>((r) => {
      try {
        sock.close(() => r());
      } catch {
        r();
      }
    });
  }
  return offers;
}
