import { describe, expect, it } from 'vitest';
import {
  clientArchs,
  DhcpDecodeError,
  decode,
  encode,
  ipToInt,
  intToIp,
  macOf,
  messageType,
  Opt,
  optIp,
  userClasses,
} from '../../../../src/boot/dhcp/codec.js';

/** A DISCOVER written byte by byte from RFC 2131 figure 1, independent of encode(). */
function handDiscover(opts: Buffer): Buffer {
  const b = Buffer.alloc(240);
  b[0] = 1; // op BOOTREQUEST
  b[1] = 1; // htype ethernet
  b[2] = 6; // hlen
  b.writeUInt32BE(0xdeadbeef, 4); // xid
  b.writeUInt16BE(3, 8); // secs
  b.writeUInt16BE(0x8000, 10); // flags: broadcast
  Buffer.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]).copy(b, 28);
  b.writeUInt32BE(0x63825363, 236);
  return Buffer.concat([b, opts]);
}

describe('DHCP codec', () => {
  it('decodes a hand-built PXE DISCOVER with RFC 4578 options', () => {
    const opts = Buffer.from([
      53, 1, 1,
      55, 4, 1, 3, 66, 67,
      60, 9, ...Buffer.from('PXEClient'),
      93, 4, 0x00, 0x07, 0x00, 0x00,
      94, 3, 1, 3, 16,
      0, 0, // pads
      255,
    ]);
    const p = decode(handDiscover(opts));
    expect(p.op).toBe(1);
    expect(p.xid).toBe(0xdeadbeef);
    expect(p.secs).toBe(3);
    expect(p.flags).toBe(0x8000);
    expect(macOf(p)).toBe('52:54:00:12:34:56');
    expect(messageType(p)).toBe(1);
    expect(clientArchs(p)).toEqual([7, 0]);
    expect(p.options.get(Opt.VENDOR_CLASS)?.toString()).toBe('PXEClient');
    expect([...p.options.get(Opt.PARAM_LIST)!]).toEqual([1, 3, 66, 67]);
  });

  it('round-trips through encode and pads replies to 300 octets', () => {
    const p = decode(handDiscover(Buffer.from([53, 1, 1, 50, 4, 10, 0, 0, 5, 255])));
    const wire = encode(p);
    expect(wire.length).toBe(300);
    const q = decode(wire);
    expect(optIp(q, Opt.REQUESTED_IP)).toBe('10.0.0.5');
    expect(q.xid).toBe(p.xid);
    expect(macOf(q)).toBe(macOf(p));
  });

  it('concatenates repeated options and splits long ones (RFC 3396)', () => {
    const p = decode(handDiscover(Buffer.from([53, 1, 1, 77, 2, 0x69, 0x50, 77, 2, 0x58, 0x45, 255])));
    expect(p.options.get(Opt.USER_CLASS)?.toString()).toBe('iPXE');
    expect(userClasses(p)).toContain('iPXE');
    p.options.set(Opt.BOOTFILE, Buffer.alloc(600, 0x61));
    const q = decode(encode(p));
    expect(q.options.get(Opt.BOOTFILE)?.length).toBe(600);
  });

  it('reads options from file and sname when overloaded (RFC 2132 9.3)', () => {
    const buf = handDiscover(Buffer.from([53, 1, 3, 52, 1, 3, 255]));
    Buffer.from([50, 4, 10, 1, 2, 3, 255]).copy(buf, 108); // file area
    Buffer.from([54, 4, 10, 1, 2, 1, 255]).copy(buf, 44); // sname area
    const p = decode(buf);
    expect(optIp(p, Opt.REQUESTED_IP)).toBe('10.1.2.3');
    expect(optIp(p, Opt.SERVER_ID)).toBe('10.1.2.1');
    expect(p.file).toBe('');
  });

  it('reads RFC 3004 user class lists', () => {
    const p = decode(handDiscover(Buffer.from([53, 1, 1, 77, 9, 4, ...Buffer.from('iPXE'), 3, ...Buffer.from('foo'), 255])));
    expect(userClasses(p)).toEqual(expect.arrayContaining(['iPXE', 'foo']));
  });

  it.each([
    ['too short', Buffer.alloc(100)],
    ['bad op', (() => { const b = handDiscover(Buffer.from([255])); b[0] = 3; return b; })()],
    ['hlen > 16', (() => { const b = handDiscover(Buffer.from([255])); b[2] = 17; return b; })()],
    ['no magic cookie', (() => { const b = handDiscover(Buffer.from([255])); b[236] = 0; return b; })()],
    ['option runs past the end', handDiscover(Buffer.from([53, 1, 1, 60, 40, 1, 2]))],
    ['length octet missing', handDiscover(Buffer.from([53, 1, 1, 60]))],
    ['no end option', handDiscover(Buffer.from([53, 1, 1]))],
    ['bad overload value', handDiscover(Buffer.from([53, 1, 1, 52, 1, 9, 255]))],
    ['overloaded area runs over', (() => { const b = handDiscover(Buffer.from([53, 1, 1, 52, 1, 1, 255])); b[108] = 60; b[109] = 200; return b; })()],
  ])('rejects malformed packets: %s', (_name, buf) => {
    expect(() => decode(buf)).toThrow(DhcpDecodeError);
  });

  it('converts addresses', () => {
    expect(intToIp(ipToInt('10.77.0.255'))).toBe('10.77.0.255');
    expect(ipToInt('255.255.255.255')).toBe(0xffffffff);
    expect(() => ipToInt('10.0.0.256')).toThrow(RangeError);
    expect(() => ipToInt('10.0.0')).toThrow(RangeError);
  });
});
