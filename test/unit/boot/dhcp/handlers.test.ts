import { describe, expect, it } from 'vitest';
import { decode, encode, MessageType, Opt, optIp, messageType } from '../../../../src/boot/dhcp/codec.js';
import { AuthoritativeHandler, type AuthoritativeConfig } from '../../../../src/boot/dhcp/handlers.js';
import { ProxyHandler } from '../../../../src/boot/dhcp/proxy.js';
import { MemoryLeaseStore } from '../../../../src/boot/dhcp/leases.js';
import { request } from './build.js';

const SEED = '10.77.0.1';
const KNOWN = '52:54:00:00:00:01';
const FIXED = '52:54:00:00:00:02';
const STRANGER = '52:54:00:99:99:99';
const PXE_BIOS = { vendorClass: 'PXEClient:Arch:00000:UNDI:002001', arch: [0] };
const src = { address: '0.0.0.0', port: 68 };
const T0 = 1_000_000;

function cfg(over: Partial<AuthoritativeConfig> = {}): AuthoritativeConfig {
  return {
    seedAddress: SEED,
    prefix: 24,
    range: { start: '10.77.0.100', end: '10.77.0.102' },
    leaseSeconds: 600,
    router: '10.77.0.254',
    nodes: [
      { mac: KNOWN, name: 'ctl01' },
      { mac: FIXED, name: 'cmp01', ip: '10.77.0.50' },
    ],
    boot: { httpBase: 'http://10.77.0.1:8080', tftpServer: SEED },
    ...over,
  };
}

/** DISCOVER + REQUEST, returns the ACK. */
function dora(h: AuthoritativeHandler, mac: string, extra: object = {}, now = T0) {
  const offer = h.handle(request({ type: MessageType.DISCOVER, mac, ...extra }), src, now)!;
  expect(messageType(offer.packet)).toBe(MessageType.OFFER);
  const ack = h.handle(request({ type: MessageType.REQUEST, mac, requested: offer.packet.yiaddr, serverId: SEED, ...extra }), src, now)!;
  expect(messageType(ack.packet)).toBe(MessageType.ACK);
  return ack;
}

describe('authoritative handler', () => {
  it('offers and acknowledges a pool address with lease options', () => {
    const h = new AuthoritativeHandler(cfg());
    const ack = dora(h, KNOWN);
    const p = ack.packet;
    expect(p.yiaddr).toBe('10.77.0.100');
    expect(optIp(p, Opt.SERVER_ID)).toBe(SEED);
    expect(optIp(p, Opt.SUBNET_MASK)).toBe('255.255.255.0');
    expect(optIp(p, Opt.ROUTER)).toBe('10.77.0.254');
    expect(p.options.get(Opt.LEASE_TIME)?.readUInt32BE()).toBe(600);
    expect(p.options.get(Opt.RENEWAL_T1)?.readUInt32BE()).toBe(300);
    expect(p.options.get(Opt.HOSTNAME)?.toString()).toBe('ctl01');
    expect(ack.address).toBe('255.255.255.255');
    expect(ack.port).toBe(68);
    expect(h.leases.forMac(KNOWN)).toMatchObject({ state: 'bound', ip: '10.77.0.100', expiresAt: T0 + 600_000 });
  });

  it('gives inventory nodes their fixed address', () => {
    const h = new AuthoritativeHandler(cfg());
    expect(dora(h, FIXED).packet.yiaddr).toBe('10.77.0.50');
  });

  it('gives PXE clients a boot file, iPXE its script and 175.176', () => {
    const h = new AuthoritativeHandler(cfg());
    const pxe = dora(h, KNOWN, PXE_BIOS).packet;
    expect(pxe.file).toBe('undionly.kpxe');
    expect(pxe.siaddr).toBe(SEED);
    expect(pxe.options.get(Opt.VENDOR_CLASS)?.toString()).toBe('PXEClient');
    expect([...pxe.options.get(Opt.VENDOR_SPECIFIC)!]).toEqual([6, 1, 8, 255]);
    expect(pxe.options.has(Opt.IPXE_ENCAP)).toBe(false);
    const ipxe = dora(h, KNOWN, { ...PXE_BIOS, userClass: 'iPXE', params: [67] }).packet;
    expect(ipxe.file).toBe('http://10.77.0.1:8080/boot/52-54-00-00-00-01.ipxe');
    expect(ipxe.options.get(Opt.BOOTFILE)?.toString()).toBe(ipxe.file);
    expect([...ipxe.options.get(Opt.IPXE_ENCAP)!]).toEqual([176, 1, 1, 255]);
  });

  it('UEFI HTTP boot with TFTP off: the lease carries HTTPClient and the loader URL, the log says class and arch; PXE gets an address only', () => {
    const h = new AuthoritativeHandler(cfg({ boot: { httpBase: 'http://10.77.0.1:8080', tftpServer: SEED, tftp: false } }));
    const http = dora(h, KNOWN, { vendorClass: 'HTTPClient:Arch:00016:UNDI:003001', arch: [16], params: [1, 3, 60, 67] }).packet;
    expect(http.file).toBe('http://10.77.0.1:8080/ipxe/snponly.efi');
    expect(http.options.get(Opt.BOOTFILE)?.toString()).toBe(http.file);
    expect(http.options.get(Opt.VENDOR_CLASS)?.toString()).toBe('HTTPClient');
    expect(http.options.has(Opt.VENDOR_SPECIFIC)).toBe(false);
    const events = h.drainEvents().filter((e) => e.type === 'offer' || e.type === 'ack');
    expect(events).toEqual([
      expect.objectContaining({ type: 'offer', bootFile: http.file, vendorClass: 'HTTPClient', arch: 16 }),
      expect.objectContaining({ type: 'ack', bootFile: http.file, vendorClass: 'HTTPClient', arch: 16 }),
    ]);
    const pxe = dora(h, FIXED, PXE_BIOS).packet;
    expect(pxe.yiaddr).toBe('10.77.0.50');
    expect(pxe.file).toBe('');
    expect(pxe.options.has(Opt.VENDOR_CLASS)).toBe(false);
    expect(h.drainEvents().find((e) => e.type === 'ack')).not.toHaveProperty('bootFile');
  });

  it('ignores MACs outside the inventory', () => {
    const h = new AuthoritativeHandler(cfg());
    expect(h.handle(request({ type: MessageType.DISCOVER, mac: STRANGER, ...PXE_BIOS }), src, T0)).toBeNull();
    expect(h.handle(request({ type: MessageType.REQUEST, mac: STRANGER, requested: '10.77.0.100' }), src, T0)).toBeNull();
    expect(h.drainEvents()).toContainEqual(expect.objectContaining({ type: 'ignored', mac: STRANGER }));
  });

  it('discovery pool: unknown MACs get an address but never a boot file', () => {
    const h = new AuthoritativeHandler(cfg({ discoveryPool: true }));
    const p = dora(h, STRANGER, PXE_BIOS).packet;
    expect(p.yiaddr).toBe('10.77.0.100');
    expect(p.file).toBe('');
    expect(p.siaddr).toBe('0.0.0.0');
    expect(p.options.has(Opt.VENDOR_CLASS)).toBe(false);
    expect(p.options.has(Opt.BOOTFILE)).toBe(false);
  });

  it('never NAKs a client it never served; NAKs one it did when it asks for the wrong address', () => {
    const h = new AuthoritativeHandler(cfg());
    // INIT-REBOOT from a client we never saw, address outside the pool: silence
    expect(h.handle(request({ type: MessageType.REQUEST, mac: KNOWN, requested: '10.77.0.7' }), src, T0)).toBeNull();
    // SELECTING another server: silence
    expect(h.handle(request({ type: MessageType.REQUEST, mac: KNOWN, requested: '10.77.0.7', serverId: '10.77.0.9' }), src, T0)).toBeNull();
    dora(h, KNOWN);
    const nak = h.handle(request({ type: MessageType.REQUEST, mac: KNOWN, requested: '10.77.0.101' }), src, T0)!;
    expect(messageType(nak.packet)).toBe(MessageType.NAK);
    expect(nak.packet.yiaddr).toBe('0.0.0.0');
    expect(nak.address).toBe('255.255.255.255');
  });

  it('INIT-REBOOT with the right address is acknowledged', () => {
    const h = new AuthoritativeHandler(cfg());
    dora(h, KNOWN);
    const ack = h.handle(request({ type: MessageType.REQUEST, mac: KNOWN, requested: '10.77.0.100' }), src, T0 + 5)!;
    expect(messageType(ack.packet)).toBe(MessageType.ACK);
  });

  it('RENEWING is unicast to ciaddr and extends the lease', () => {
    const h = new AuthoritativeHandler(cfg());
    dora(h, KNOWN);
    const ack = h.handle(request({ type: MessageType.REQUEST, mac: KNOWN, ciaddr: '10.77.0.100' }), { address: '10.77.0.100', port: 68 }, T0 + 300_000)!;
    expect(messageType(ack.packet)).toBe(MessageType.ACK);
    expect(ack.address).toBe('10.77.0.100');
    expect(h.leases.forMac(KNOWN)?.expiresAt).toBe(T0 + 900_000);
  });

  it('DECLINE keeps the address out of the pool; RELEASE frees it', () => {
    const h = new AuthoritativeHandler(cfg());
    const first = dora(h, KNOWN).packet.yiaddr;
    expect(h.handle(request({ type: MessageType.DECLINE, mac: KNOWN, requested: first, serverId: SEED }), src, T0)).toBeNull();
    expect(h.leases.atIp(first)?.state).toBe('declined');
    const second = dora(h, KNOWN).packet.yiaddr;
    expect(second).not.toBe(first);
    // RELEASE: the address goes back; a new client may take it
    h.handle(request({ type: MessageType.RELEASE, mac: KNOWN, ciaddr: second, serverId: SEED }), src, T0);
    expect(h.leases.atIp(second)?.state).toBe('released');
    const h2 = new AuthoritativeHandler(cfg({ discoveryPool: true, range: { start: second, end: second } }));
    expect(dora(h2, STRANGER).packet.yiaddr).toBe(second);
  });

  it('a DECLINE of a fixed address reports the conflict and never denies the node: it gets its address again at once', () => {
    const h = new AuthoritativeHandler(cfg());
    dora(h, FIXED);
    h.handle(request({ type: MessageType.DECLINE, mac: FIXED, requested: '10.77.0.50', serverId: SEED }), src, T0 + 2000);
    expect(h.drainEvents()).toContainEqual(expect.objectContaining({ type: 'declined', mac: FIXED, reason: expect.stringContaining('address conflict') }));
    expect(dora(h, FIXED, {}, T0 + 3000).packet.yiaddr).toBe('10.77.0.50');
  });

  it('implausible DECLINEs (RFC 2131 4.3.3) change nothing and say which field was wrong', () => {
    const h = new AuthoritativeHandler(cfg());
    const ip = dora(h, KNOWN).packet.yiaddr;
    const cases: [object, { address: string; port: number }, number, RegExp][] = [
      [{ requested: ip, serverId: '10.77.0.9' }, src, T0 + 1000, /option 54/],
      [{ serverId: SEED }, src, T0 + 1000, /option 50/],
      [{ requested: ip, serverId: SEED, ciaddr: ip }, src, T0 + 1000, /ciaddr/],
      // from a host that has an address: a stranger on the segment, not the client
      [{ requested: ip, serverId: SEED }, { address: '10.77.0.66', port: 68 }, T0 + 1000, /sent from 10\.77\.0\.66/],
      // not the client's own lease
      [{ requested: '10.77.0.101', serverId: SEED }, src, T0 + 1000, /not the address bound/],
      // long after the ACK: the client checks its address right after it gets it
      [{ requested: ip, serverId: SEED }, src, T0 + 61_000, /acknowledged 61 s ago/],
    ];
    for (const [fields, from, now, why] of cases) {
      h.drainEvents();
      expect(h.handle(request({ type: MessageType.DECLINE, mac: KNOWN, ...fields }), from, now)).toBeNull();
      expect(h.drainEvents()).toEqual([expect.objectContaining({ type: 'decline-ignored', mac: KNOWN, reason: expect.stringMatching(why) })]);
      expect(h.leases.forMac(KNOWN)).toMatchObject({ ip, state: 'bound' });
    }
  });

  it('a declined pool address comes back after the hold (default 10 min), and the MAC is never blocked', () => {
    const h = new AuthoritativeHandler(cfg({ range: { start: '10.77.0.100', end: '10.77.0.101' } }));
    const first = dora(h, KNOWN).packet.yiaddr;
    h.handle(request({ type: MessageType.DECLINE, mac: KNOWN, requested: first, serverId: SEED }), src, T0 + 1000);
    const second = dora(h, KNOWN, {}, T0 + 2000).packet.yiaddr;
    expect(second).not.toBe(first);
    expect(h.leases.availableFor(first, KNOWN, T0 + 1000 + 599_000)).toBe(false);
    expect(h.leases.availableFor(first, KNOWN, T0 + 1000 + 600_000)).toBe(true);
  });

  it('stays silent when the pool is exhausted', () => {
    const h = new AuthoritativeHandler(cfg({ discoveryPool: true }));
    for (let i = 0; i < 3; i++) dora(h, `52:54:00:00:01:0${i}`);
    expect(h.handle(request({ type: MessageType.DISCOVER, mac: STRANGER }), src, T0)).toBeNull();
    // ...until a lease expires
    expect(messageType(h.handle(request({ type: MessageType.DISCOVER, mac: STRANGER }), src, T0 + 601_000)!.packet)).toBe(MessageType.OFFER);
  });

  it('keeps bound leases across a restart through the LeaseStore', () => {
    const store = new MemoryLeaseStore();
    const h = new AuthoritativeHandler(cfg({ discoveryPool: true, store }));
    dora(h, STRANGER);
    dora(h, KNOWN);
    const h2 = new AuthoritativeHandler(cfg({ discoveryPool: true, store }));
    expect(h2.leases.forMac(KNOWN)?.ip).toBe('10.77.0.101');
    const offer = h2.handle(request({ type: MessageType.DISCOVER, mac: KNOWN }), src, T0 + 1000)!;
    expect(offer.packet.yiaddr).toBe('10.77.0.101');
    // and a renewing client is acknowledged, not NAKed
    const renew = h2.handle(request({ type: MessageType.REQUEST, mac: STRANGER, ciaddr: '10.77.0.100' }), src, T0 + 2000)!;
    expect(messageType(renew.packet)).toBe(MessageType.ACK);
  });

  it('serves relayed requests only for its own subnet, and answers the relay', () => {
    const h = new AuthoritativeHandler(cfg());
    expect(h.handle(request({ type: MessageType.DISCOVER, mac: KNOWN, giaddr: '192.168.5.1' }), src, T0)).toBeNull();
    const r = h.handle(request({ type: MessageType.DISCOVER, mac: KNOWN, giaddr: '10.77.0.2' }), src, T0)!;
    expect(r.address).toBe('10.77.0.2');
    expect(r.port).toBe(67);
  });

  it('INFORM gets configuration and no address, unicast to ciaddr', () => {
    const h = new AuthoritativeHandler(cfg());
    const r = h.handle(request({ type: MessageType.INFORM, mac: KNOWN, ciaddr: '10.77.0.33', ...PXE_BIOS }), src, T0)!;
    expect(messageType(r.packet)).toBe(MessageType.ACK);
    expect(r.packet.yiaddr).toBe('0.0.0.0');
    expect(r.packet.options.has(Opt.LEASE_TIME)).toBe(false);
    expect(r.packet.file).toBe('undionly.kpxe');
    expect(r.address).toBe('10.77.0.33');
    expect(h.handle(request({ type: MessageType.INFORM, mac: KNOWN, ciaddr: '10.99.0.33' }), src, T0)).toBeNull();
  });

  it('honours the broadcast flag and the requested address', () => {
    const h = new AuthoritativeHandler(cfg());
    const r = h.handle(request({ type: MessageType.DISCOVER, mac: KNOWN, flags: 0x8000, requested: '10.77.0.102' }), src, T0)!;
    expect(r.packet.flags).toBe(0x8000);
    expect(r.packet.yiaddr).toBe('10.77.0.102');
  });

  it('takes a new inventory while serving, all or nothing', () => {
    const h = new AuthoritativeHandler(cfg());
    expect(h.handle(request({ type: MessageType.DISCOVER, mac: STRANGER }), src, T0)).toBeNull();
    h.setNodes([{ mac: STRANGER.toUpperCase(), name: 'new01', ip: '10.77.0.101' }]);
    expect(dora(h, STRANGER).packet.yiaddr).toBe('10.77.0.101');
    // the old inventory is gone, and the new fixed address is out of the pool
    expect(h.handle(request({ type: MessageType.DISCOVER, mac: KNOWN }), src, T0)).toBeNull();
    expect(() => h.setNodes([{ mac: KNOWN, name: 'bad', ip: '10.1.1.1' }])).toThrow(/outside/);
    expect(h.handle(request({ type: MessageType.DISCOVER, mac: KNOWN }), src, T0)).toBeNull();
    expect(messageType(h.handle(request({ type: MessageType.DISCOVER, mac: STRANGER }), src, T0)!.packet)).toBe(MessageType.OFFER);
  });

  it('refuses configurations that could hand out foreign addresses', () => {
    expect(() => new AuthoritativeHandler(cfg({ range: { start: '10.78.0.1', end: '10.78.0.9' } }))).toThrow(/outside/);
    expect(() => new AuthoritativeHandler(cfg({ nodes: [{ mac: KNOWN, name: 'x', ip: '192.168.0.1' }] }))).toThrow(/outside/);
  });

  it('replies are well-formed on the wire', () => {
    const h = new AuthoritativeHandler(cfg());
    const r = dora(h, KNOWN, { ...PXE_BIOS, uuid: Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 7)]) });
    const wire = encode(r.packet);
    const back = decode(wire);
    expect(back.op).toBe(2);
    expect(back.options.get(Opt.CLIENT_UUID)?.length).toBe(17);
  });
});

describe('proxy handler', () => {
  const proxy = () =>
    new ProxyHandler({ seedAddress: SEED, prefix: 24, nodes: [{ mac: KNOWN, name: 'ctl01' }], boot: { httpBase: 'http://10.77.0.1:8080', tftpServer: SEED } });

  it('answers a PXE DISCOVER on 67 with boot info and no address', () => {
    const r = proxy().handle(request({ type: MessageType.DISCOVER, mac: KNOWN, ...PXE_BIOS }), src, 67)!;
    expect(messageType(r.packet)).toBe(MessageType.OFFER);
    expect(r.packet.yiaddr).toBe('0.0.0.0');
    expect(r.packet.file).toBe('undionly.kpxe');
    expect(r.packet.siaddr).toBe(SEED);
    expect(r.packet.options.has(Opt.LEASE_TIME)).toBe(false);
    expect(r.packet.options.get(Opt.VENDOR_CLASS)?.toString()).toBe('PXEClient');
    expect(r.address).toBe('255.255.255.255');
  });

  it('answers the PXE REQUEST on 4011 with an ACK to the client', () => {
    const r = proxy().handle(request({ type: MessageType.REQUEST, mac: KNOWN, ciaddr: '10.77.0.150', ...PXE_BIOS }), { address: '10.77.0.150', port: 68 }, 4011)!;
    expect(messageType(r.packet)).toBe(MessageType.ACK);
    expect(r.packet.yiaddr).toBe('0.0.0.0');
    expect(r.address).toBe('10.77.0.150');
    expect(r.port).toBe(68);
  });

  it('ignores non-PXE clients, unknown MACs, REQUESTs on 67 and foreign relays', () => {
    const h = proxy();
    expect(h.handle(request({ type: MessageType.DISCOVER, mac: KNOWN }), src, 67)).toBeNull();
    expect(h.handle(request({ type: MessageType.DISCOVER, mac: STRANGER, ...PXE_BIOS }), src, 67)).toBeNull();
    expect(h.handle(request({ type: MessageType.REQUEST, mac: KNOWN, requested: '10.77.0.5', serverId: '10.77.0.9', ...PXE_BIOS }), src, 67)).toBeNull();
    expect(h.handle(request({ type: MessageType.DISCOVER, mac: KNOWN, giaddr: '10.1.1.1', ...PXE_BIOS }), src, 67)).toBeNull();
  });

  it('does not send 175.176 no-pxedhcp in proxy answers', () => {
    const r = proxy().handle(request({ type: MessageType.DISCOVER, mac: KNOWN, ...PXE_BIOS, userClass: 'iPXE' }), src, 67)!;
    expect(r.packet.file).toBe('http://10.77.0.1:8080/boot/52-54-00-00-00-01.ipxe');
    expect(r.packet.options.has(Opt.IPXE_ENCAP)).toBe(false);
  });
});
