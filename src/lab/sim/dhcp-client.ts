/**
 * The DHCP client of a simulated node: DISCOVER, OFFER, REQUEST, ACK
 * (RFC 2131 3.1) with the options each boot stage really sends, over the
 * codec the seed's server uses (src/boot/dhcp/codec.ts: a codec, the same
 * bytes either way). Stages:
 * - `pxe`: the NIC's PXE ROM (PXE spec 2.1 2.2.1: option 60 "PXEClient:Arch:
 *   xxxxx:UNDI:002001", RFC 4578 options 93, 94, 97);
 * - `ipxe`: iPXE after the TFTP first stage: the same plus option 77 "iPXE";
 * - `os`: the ramdisk's and the installed OS's busybox udhcpc (no PXE options).
 */
import { randomInt } from 'node:crypto';
import type dgram from 'node:dgram';
import {
  decode,
  DhcpDecodeError,
  type DhcpPacket,
  encode,
  FLAG_BROADCAST,
  ipBytes,
  macBytes,
  macOf,
  MessageType,
  messageType,
  Opt,
  optIp,
  optString,
} from '../../boot/dhcp/codec.js';
import { udpSocketIn } from './netns-socket.js';

export type DhcpStage = 'pxe' | 'ipxe' | 'os';

export interface DhcpLease {
  address: string;
  prefix: number;
  server: string;
  /** siaddr, or option 66. */
  nextServer?: string;
  /** file, or option 67. */
  bootFile?: string;
  /** Option 60 of the answer (PXEClient/HTTPClient for a boot answer). */
  vendorClass?: string;
  ms: number;
}

export class DhcpTimeout extends Error {}

export interface DhcpClientOptions {
  netns: string;
  device: string;
  mac: string;
  stage: DhcpStage;
  /** RFC 4578 2.1 client architecture: 0 BIOS, 7 x64 UEFI. */
  arch: number;
  /** RFC 4578 2.5 machine identifier, 16 bytes. */
  uuid: Buffer;
  hostname?: string;
  /** Per attempt; the client retries with backoff (RFC 2131 4.1: 4 s, 8 s ... here shorter, as iPXE does). */
  timeoutsMs?: number[];
  signal?: AbortSignal;
  /** Counts every datagram sent. */
  onSend?: () => void;
}

function prefixOf(mask: string | undefined): number {
  if (!mask) return 24;
  return mask.split('.').reduce((n, o) => n + Number(o).toString(2).replace(/0/g, '').length, 0);
}

function request(o: DhcpClientOptions, xid: number, type: number, extra: [number, Buffer][], secs: number): DhcpPacket {
  const options = new Map<number, Buffer>([[Opt.MESSAGE_TYPE, Buffer.from([type])]]);
  for (const [k, v] of extra) options.set(k, v);
  if (o.stage === 'os') {
    options.set(Opt.CLIENT_ID, Buffer.concat([Buffer.from([1]), macBytes(o.mac)]));
    options.set(Opt.VENDOR_CLASS, Buffer.from('udhcp 1.35.0'));
    if (o.hostname) options.set(Opt.HOSTNAME, Buffer.from(o.hostname));
    options.set(Opt.PARAM_LIST, Buffer.from([Opt.SUBNET_MASK, Opt.ROUTER, Opt.DNS, Opt.HOSTNAME, Opt.BROADCAST]));
  } else {
    options.set(Opt.MAX_SIZE, Buffer.from([0x05, 0xc0]));
    options.set(Opt.VENDOR_CLASS, Buffer.from(`PXEClient:Arch:${String(o.arch).padStart(5, '0')}:UNDI:002001`));
    options.set(Opt.CLIENT_ARCH, Buffer.from([o.arch >> 8, o.arch & 0xff]));
    options.set(Opt.CLIENT_NDI, Buffer.from([1, 2, 1]));
    options.set(Opt.CLIENT_UUID, Buffer.concat([Buffer.from([0]), o.uuid]));
    if (o.stage === 'ipxe') options.set(Opt.USER_CLASS, Buffer.from('iPXE'));
    options.set(Opt.PARAM_LIST, Buffer.from([Opt.SUBNET_MASK, Opt.ROUTER, Opt.DNS, Opt.VENDOR_SPECIFIC, Opt.VENDOR_CLASS, Opt.TFTP_SERVER, Opt.BOOTFILE, Opt.IPXE_ENCAP]));
  }
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid,
    secs,
    // PXE ROMs set the broadcast bit: they cannot take a unicast before they have an address
    flags: o.stage === 'os' ? 0 : FLAG_BROADCAST,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: Buffer.concat([macBytes(o.mac), Buffer.alloc(10)]),
    sname: '',
    file: '',
    options,
  };
}

/** Waits for a reply of `want` type to our xid and MAC; undefined on timeout. NAK throws. */
function awaitReply(sock: dgram.Socket, xid: number, mac: string, want: number, ms: number, signal?: AbortSignal): Promise<DhcpPacket | undefined> {
  return new Promise((resolve, reject) => {
    const done = (v: DhcpPacket | undefined, err?: Error) => {
      clearTimeout(timer);
      sock.off('message', onMsg);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(v);
    };
    const onAbort = () => done(undefined, signal!.reason as Error);
    const onMsg = (buf: Buffer) => {
      let p: DhcpPacket;
      try {
        p = decode(buf);
      } catch (e) {
        if (e instanceof DhcpDecodeError) return;
        throw e;
      }
      // every node on the bridge hears every broadcast reply: only ours counts
      if (p.op !== 2 || p.xid !== xid || macOf(p) !== mac) return;
      const t = messageType(p);
      if (t === MessageType.NAK) done(undefined, new Error(`DHCP NAK: ${optString(p, Opt.MESSAGE) ?? 'no reason given'}`));
      else if (t === want) done(p);
    };
    const timer = setTimeout(() => done(undefined), ms);
    sock.on('message', onMsg);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** One full DORA exchange; retries each step per `timeoutsMs`, then throws DhcpTimeout. */
export async function dhcpLease(o: DhcpClientOptions): Promise<DhcpLease> {
  const t0 = Date.now();
  const mac = o.mac.toLowerCase();
  const sock = await udpSocketIn(o.netns, { port: 68, device: o.device, broadcast: true });
  const tries = o.timeoutsMs ?? [1000, 2000, 4000, 4000];
  const xid = randomInt(1, 0x7fffffff);
  const send = (p: DhcpPacket) =>
    new Promise<void>((resolve, reject) => {
      o.onSend?.();
      sock.send(encode(p), 67, '255.255.255.255', (err) => (err ? reject(err) : resolve()));
    });
  try {
    let offer: DhcpPacket | undefined;
    for (const ms of tries) {
      await send(request(o, xid, MessageType.DISCOVER, [], Math.floor((Date.now() - t0) / 1000)));
      offer = await awaitReply(sock, xid, mac, MessageType.OFFER, ms, o.signal);
      if (offer) break;
    }
    if (!offer) throw new DhcpTimeout(`no DHCP offer for ${mac} (${o.stage}) after ${tries.length} DISCOVERs`);
    const server = optIp(offer, Opt.SERVER_ID) ?? offer.siaddr;
    let ack: DhcpPacket | undefined;
    for (const ms of tries) {
      await send(request(o, xid, MessageType.REQUEST, [[Opt.REQUESTED_IP, ipBytes(offer.yiaddr)], [Opt.SERVER_ID, ipBytes(server)]], Math.floor((Date.now() - t0) / 1000)));
      ack = await awaitReply(sock, xid, mac, MessageType.ACK, ms, o.signal);
      if (ack) break;
    }
    if (!ack) throw new DhcpTimeout(`no DHCP ACK for ${mac} (${o.stage}) from ${server}`);
    // dnsmasq NUL-terminates option 67 (RFC 2132 9.5 does not); a PXE ROM reads it as a C string, so does the node
    const cstr = (v: string | undefined) => v?.split('\0')[0] || undefined;
    const file = cstr(optString(ack, Opt.BOOTFILE)) ?? cstr(ack.file);
    const next = cstr(optString(ack, Opt.TFTP_SERVER)) ?? (ack.siaddr !== '0.0.0.0' ? ack.siaddr : undefined);
    const vc = optString(ack, Opt.VENDOR_CLASS);
    return {
      address: ack.yiaddr,
      prefix: prefixOf(optIp(ack, Opt.SUBNET_MASK)),
      server,
      ...(next ? { nextServer: next } : {}),
      ...(file ? { bootFile: file } : {}),
      ...(vc ? { vendorClass: vc } : {}),
      ms: Date.now() - t0,
    };
  } finally {
    sock.close();
  }
}
