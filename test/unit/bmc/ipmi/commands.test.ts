import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../../../src/bmc/ipmi/codec.js';
import {
  decodeBootFlags,
  decodeChassisStatus,
  decodeDeviceId,
  decodeFruRead,
  decodeGuid,
  decodeLanIp,
  decodeLanMac,
  encodeBootFlags,
  parseFru,
  vendorName,
} from '../../../../src/bmc/ipmi/commands.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('Get Device ID', () => {
  it("decodes ipmi_sim's answer (captured) like ipmitool's mc info", () => {
    const d = decodeDeviceId(hex('00 03 09 08 02 9f 91 12 00 02 0f 00 00 00 00'));
    expect(d).toEqual({
      deviceId: 0,
      deviceRevision: 3,
      providesSdrs: false,
      available: true,
      firmware: '9.08',
      ipmiVersion: '2.0',
      additionalSupport: 0x9f,
      manufacturerId: 4753,
      productId: 0x0f02,
      auxFirmware: Buffer.alloc(4),
    });
    expect(vendorName(d.manufacturerId)).toMatch(/OpenIPMI/);
    expect(decodeDeviceId(hex('20 81 82 45 51 00 a2 02 00 34 12')).ipmiVersion).toBe('1.5');
  });
});

describe('System GUID', () => {
  it('prints the SMBIOS byte order ipmitool shows', () => {
    // wire bytes of ipmi_sim's `guid 9711c44b...` and what `ipmitool mc guid` printed for it
    expect(decodeGuid(hex('9711c44bc923072c69621cd5362de3e2'))).toBe('4bc41197-23c9-2c07-6962-1cd5362de3e2');
  });
});

describe('Chassis', () => {
  it('decodes Get Chassis Status', () => {
    expect(decodeChassisStatus(hex('01 00 00'))).toMatchObject({ powerOn: true, restorePolicy: 'always-off' });
    expect(decodeChassisStatus(hex('40 10 01'))).toMatchObject({ powerOn: false, restorePolicy: 'always-on', intrusion: true });
  });

  it('encodes boot flags (28.13 parameter 5)', () => {
    expect(encodeBootFlags('pxe', false, false).toString('hex')).toBe('058004000000');
    expect(encodeBootFlags('disk', true, true).toString('hex')).toBe('05e008000000');
    expect(encodeBootFlags('bios', true, false).toString('hex')).toBe('05a018000000');
  });

  it("decodes boot flags as ipmi_sim returns them (valid bit clear, selector kept)", () => {
    // captured `bootparam get 5` data after bootdev pxe: version 1, param 5, 00 04 00 00 00
    const f = decodeBootFlags(hex('01 05 00 04 00 00 00'));
    expect(f).toMatchObject({ valid: false, device: 'pxe', uefi: false, persistent: false });
    expect(decodeBootFlags(hex('01 05 e0 08 00 00 00'))).toMatchObject({ valid: true, device: 'disk', uefi: true, persistent: true });
    expect(decodeBootFlags(hex('01 05 80 0c 00 00 00')).device).toBe('other');
    expect(() => decodeBootFlags(hex('01 04 00 04 00 00 00'))).toThrow(DecodeError);
  });
});

describe('LAN configuration', () => {
  it('decodes MAC (parameter 5) and IP (parameter 3) answers', () => {
    expect(decodeLanMac(hex('11 52 54 00 00 00 01'))).toBe('52:54:00:00:00:01');
    expect(decodeLanIp(hex('11 c0 00 02 0a'))).toBe('192.0.2.10');
    expect(() => decodeLanMac(hex('11 52 54'))).toThrow(DecodeError);
  });
});

// A FRU image written by hand from the Platform Management FRU spec 1.0
function field(s: string): Buffer {
  return Buffer.concat([Buffer.from([0xc0 | s.length]), Buffer.from(s, 'latin1')]);
}
function area(body: Buffer): Buffer {
  let a = Buffer.concat([body, Buffer.from([0xc1])]);
  while ((a.length + 1) % 8) a = Buffer.concat([a, Buffer.from([0])]);
  a[1] = (a.length + 1) / 8;
  const sum = a.reduce((s, x) => (s + x) & 0xff, 0);
  return Buffer.concat([a, Buffer.from([(0x100 - sum) & 0xff])]);
}
function image(): Buffer {
  const board = area(
    Buffer.concat([
      Buffer.from([1, 0, 0, 0x3c, 0x00, 0x00]), // 60 minutes after 1996-01-01
      field('Acme'),
      // 6-bit packed ASCII "IPMI" (the FRU spec's own example: 29h DCh A6h)
      Buffer.from([0x83, 0x29, 0xdc, 0xa6]),
      field('BSN1'),
      field('BPN1'),
      field(''),
    ]),
  );
  const product = area(
    Buffer.concat([Buffer.from([1, 0, 0]), field('Acme Corp'), field('Rocket 9000'), field('R9K'), field('v2'), field('SN123'), field('AT1'), field('')]),
  );
  const hdr = Buffer.from([1, 0, 0, 1, 1 + board.length / 8, 0, 0, 0]);
  hdr[7] = (0x100 - hdr.reduce((s, x) => (s + x) & 0xff, 0)) & 0xff;
  return Buffer.concat([hdr, board, product, Buffer.alloc(16)]);
}

describe('FRU inventory', () => {
  it('parses board and product areas', () => {
    const inv = parseFru(image());
    expect(inv.chassis).toBeUndefined();
    expect(inv.board).toEqual({ mfgDate: '1996-01-01T01:00:00.000Z', manufacturer: 'Acme', product: 'IPMI', serial: 'BSN1', partNumber: 'BPN1' });
    expect(inv.product).toEqual({ manufacturer: 'Acme Corp', name: 'Rocket 9000', partNumber: 'R9K', version: 'v2', serial: 'SN123', assetTag: 'AT1' });
  });

  it('rejects checksum errors and areas that run off the image', () => {
    const bad = image();
    bad[12] ^= 0xff;
    expect(() => parseFru(bad)).toThrow(/checksum/);
    expect(() => parseFru(image().subarray(0, 20))).toThrow(DecodeError);
    const hdr = image();
    hdr[7] ^= 1;
    expect(() => parseFru(hdr)).toThrow(/header checksum/);
  });

  it('decodes Read FRU Data answers', () => {
    expect(decodeFruRead(hex('03 01 02 03')).toString('hex')).toBe('010203');
    expect(() => decodeFruRead(hex('05 01 02'))).toThrow(DecodeError);
  });
});
