// The second half of a PXE ROM's proxyDHCP dance (PXE spec 2.1 2.2.5),
// which neither udhcpc nor dhclient does: with the address the site's DHCP
// server gave, ask the proxy on port 4011 for the boot file.
//   node pxe-client.mjs SERVER MAC CIADDR ARCH  -> prints the ACK as JSON
import dgram from 'node:dgram';

const [server, mac, ciaddr, arch] = process.argv.slice(2);
const dist = new URL('../../../../dist/', import.meta.url);
const { codec } = await import(new URL('boot/dhcp/index.js', dist).href);

const chaddr = Buffer.alloc(16);
codec.macBytes(mac).copy(chaddr);
const archBuf = Buffer.alloc(2);
archBuf.writeUInt16BE(Number(arch));
const req = {
  op: 1, htype: 1, hlen: 6, hops: 0, xid: 0x4011abcd, secs: 0, flags: 0,
  ciaddr, yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0', chaddr, sname: '', file: '',
  options: new Map([
    [codec.Opt.MESSAGE_TYPE, Buffer.from([codec.MessageType.REQUEST])],
    [codec.Opt.VENDOR_CLASS, Buffer.from(`PXEClient:Arch:${String(arch).padStart(5, '0')}:UNDI:002001`)],
    [codec.Opt.CLIENT_ARCH, archBuf],
    [codec.Opt.PARAM_LIST, Buffer.from([1, 3, 43, 60, 66, 67])],
  ]),
};
const sock = dgram.createSocket('udp4');
// A PXE ROM retransmits its port-4011 request (PXE 2.1, 2.2.5: timeouts 4, 8,
// 16, 32 s, so it waits a minute in all); this client resends every second and
// gives up after 30 s, so a proxy stalled by a loaded machine is not a failure,
// while one that never answers still is.
let resend;
let sent = 0;
const timer = setTimeout(() => {
  // stdout stays unparseable on purpose; stderr says what was tried
  process.stdout.write('TIMEOUT\n');
  process.stderr.write(`no ACK from ${server}:4011 after ${sent} requests from ${ciaddr}:68\n`);
  process.exit(2);
}, 30_000);
sock.on('message', (msg) => {
  const p = codec.decode(msg);
  if (p.xid !== req.xid) return;
  clearTimeout(timer);
  clearInterval(resend);
  process.stdout.write(
    `${JSON.stringify({ type: codec.messageType(p), yiaddr: p.yiaddr, siaddr: p.siaddr, file: p.file, vendorClass: codec.optString(p, codec.Opt.VENDOR_CLASS) })}\n`,
  );
  sock.close();
});
sock.bind({ port: 68, address: ciaddr }, () => {
  const send = () => {
    sent++;
    sock.send(codec.encode(req), 4011, server);
  };
  send();
  resend = setInterval(send, 1000);
});
