/**
 * Fuzzing the wire: random and mutated packets through decode and both
 * handlers. Properties: decode throws only DhcpDecodeError; the handlers
 * never throw on anything decode accepts; every reply encodes, decodes back
 * to a BOOTREPLY with a message type, the request's xid and chaddr, and an
 * address inside the subnet (or none).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type DhcpPacket, DhcpDecodeError, decode, encode, MessageType, messageType, Opt, optIp } from '../../../../src/boot/dhcp/codec.js';
import { AuthoritativeHandler, inSubnet, type Reply } from '../../../../src/boot/dhcp/handlers.js';
import { ProxyHandler } from '../../../../src/boot/dhcp/proxy.js';
import { request } from './build.js';

const SEED = '10.77.0.1';
const NODES = [
  { mac: '52:54:00:00:00:01', name: 'a' },
  { mac: '52:54:00:00:00:02', name: 'b', ip: '10.77.0.20' },
];
const boot = { httpBase: 'http://10.77.0.1:8080', tftpServer: SEED };

function seeds(): Buffer[] {
  const out: Buffer[] = [];
  for (const mac of ['52:54:00:00:00:01', '52:54:00:00:00:02', '52:54:00:00:00:03']) {
    for (const type of [1, 3, 4, 7, 8]) {
      out.push(
        encode(
          request({
            type,
            mac,
            requested: '10.77.0.100',
            serverId: SEED,
            ciaddr: type === 8 || type === 7 ? '10.77.0.100' : '0.0.0.0',
            vendorClass: 'PXEClient:Arch:00007:UNDI:003016',
            arch: [7],
            userClass: type === 3 ? 'iPXE' : undefined,
            uuid: Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 1)]),
            params: [1, 3, 6, 66, 67],
          }),
        ),
      );
    }
  }
  return out;
}

function checkReply(req: DhcpPacket, r: Reply | null): void {
  if (!r) return;
  const back = decode(encode(r.packet));
  expect(back.op).toBe(2);
  expect(back.xid).toBe(req.xid);
  expect(back.chaddr.equals(req.chaddr)).toBe(true);
  const t = messageType(back);
  expect([MessageType.OFFER, MessageType.ACK, MessageType.NAK]).toContain(t);
  if (back.yiaddr !== '0.0.0.0') expect(inSubnet(back.yiaddr, { address: SEED, prefix: 24 })).toBe(true);
  expect(optIp(back, Opt.SERVER_ID)).toBe(SEED);
  expect(r.port === 67 || r.port === 68).toBe(true);
}

function feed(buf: Buffer, auth: AuthoritativeHandler, proxy: ProxyHandler, now: number): void {
  let req: DhcpPacket;
  try {
    req = decode(buf);
  } catch (err) {
    expect(err).toBeInstanceOf(DhcpDecodeError);
    return;
  }
  checkReply(req, auth.handle(req, { address: '0.0.0.0', port: 68 }, now));
  checkReply(req, proxy.handle(req, { address: '10.77.0.9', port: 68 }, 67));
  checkReply(req, proxy.handle(req, { address: '10.77.0.9', port: 68 }, 4011));
}

describe('DHCP fuzz', () => {
  it('random bytes', () => {
    const auth = new AuthoritativeHandler({ seedAddress: SEED, prefix: 24, range: { start: '10.77.0.100', end: '10.77.0.110' }, leaseSeconds: 60, nodes: NODES, boot, discoveryPool: true });
    const proxy = new ProxyHandler({ seedAddress: SEED, prefix: 24, nodes: NODES, boot });
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 600 }), (bytes) => {
        feed(Buffer.from(bytes), auth, proxy, 1000);
      }),
      { numRuns: 3000 },
    );
  });

  it('random option areas behind a valid header', () => {
    const auth = new AuthoritativeHandler({ seedAddress: SEED, prefix: 24, range: { start: '10.77.0.100', end: '10.77.0.110' }, leaseSeconds: 60, nodes: NODES, boot });
    const proxy = new ProxyHandler({ seedAddress: SEED, prefix: 24, nodes: NODES, boot });
    const header = seeds()[0]!.subarray(0, 240);
    const option = fc.tuple(fc.integer({ min: 1, max: 254 }), fc.uint8Array({ maxLength: 40 })).map(([c, d]) => Buffer.concat([Buffer.from([c, d.length]), Buffer.from(d)]));
    const msgType = fc.integer({ min: 0, max: 10 }).map((t) => Buffer.from([53, 1, t]));
    fc.assert(
      fc.property(msgType, fc.array(option, { maxLength: 12 }), fc.boolean(), (mt, opts, end) => {
        feed(Buffer.concat([header, mt, ...opts, end ? Buffer.from([255]) : Buffer.alloc(0)]), auth, proxy, 1000);
      }),
      { numRuns: 3000 },
    );
  });

  it('mutated valid packets, with time moving on', () => {
    const auth = new AuthoritativeHandler({ seedAddress: SEED, prefix: 24, range: { start: '10.77.0.100', end: '10.77.0.103' }, leaseSeconds: 60, nodes: NODES, boot, discoveryPool: true });
    const proxy = new ProxyHandler({ seedAddress: SEED, prefix: 24, nodes: NODES, boot });
    const base = seeds();
    const mutation = fc.record({
      which: fc.nat({ max: base.length - 1 }),
      flips: fc.array(fc.tuple(fc.nat({ max: 400 }), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
      cut: fc.option(fc.nat({ max: 400 })),
      dt: fc.nat({ max: 120_000 }),
    });
    let now = 0;
    fc.assert(
      fc.property(mutation, ({ which, flips, cut, dt }) => {
        const b = Buffer.from(base[which]!);
        for (const [pos, val] of flips) if (pos < b.length) b[pos] = val;
        now += dt;
        feed(cut === null ? b : b.subarray(0, cut), auth, proxy, now);
      }),
      { numRuns: 5000 },
    );
    // whatever happened, no address outside the pool or fixed set was ever leased
    for (const l of auth.leases.all()) expect(['10.77.0.100', '10.77.0.101', '10.77.0.102', '10.77.0.103', '10.77.0.20']).toContain(l.ip);
  });
});
