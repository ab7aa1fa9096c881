/** Tiny request builder for the DHCP unit tests (no sockets). */
import { type DhcpPacket, decode, encode, macBytes, Opt } from '../../../../src/boot/dhcp/codec.js';

export interface ReqOpts {
  mac?: string;
  type: number;
  xid?: number;
  flags?: number;
  ciaddr?: string;
  giaddr?: string;
  requested?: string;
  serverId?: string;
  vendorClass?: string;
  userClass?: string;
  arch?: number[];
  uuid?: Buffer;
  params?: number[];
  extra?: [number, Buffer][];
}

export function request(o: ReqOpts): DhcpPacket {
  const chaddr = Buffer.alloc(16);
  macBytes(o.mac ?? '52:54:00:00:00:01').copy(chaddr);
  const options = new Map<number, Buffer>([[Opt.MESSAGE_TYPE, Buffer.from([o.type])]]);
  const ip = (s: string) => Buffer.from(s.split('.').map(Number));
  if (o.requested) options.set(Opt.REQUESTED_IP, ip(o.requested));
  if (o.serverId) options.set(Opt.SERVER_ID, ip(o.serverId));
  if (o.vendorClass) options.set(Opt.VENDOR_CLASS, Buffer.from(o.vendorClass));
  if (o.userClass) options.set(Opt.USER_CLASS, Buffer.from(o.userClass));
  if (o.arch) {
    const b = Buffer.alloc(o.arch.length * 2);
    o.arch.forEach((a, i) => b.writeUInt16BE(a, i * 2));
    options.set(Opt.CLIENT_ARCH, b);
  }
  if (o.uuid) options.set(Opt.CLIENT_UUID, o.uuid);
  if (o.params) options.set(Opt.PARAM_LIST, Buffer.from(o.params));
  for (const [c, d] of o.extra ?? []) options.set(c, d);
  const p: DhcpPacket = {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: o.xid ?? 0x1234,
    secs: 0,
    flags: o.flags ?? 0,
    ciaddr: o.ciaddr ?? '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: o.giaddr ?? '0.0.0.0',
    chaddr,
    sname: '',
    file: '',
    options,
  };
  // round-trip through the wire format so tests exercise what a socket would see
  return decode(encode(p));
}
