import { describe, expect, it } from 'vitest';
import {
  checksum,
  completionName,
  decodeAuthCaps,
  decodeCipherSuiteRecords,
  decodeIpmiResponse,
  decodeOpenSessionResponse,
  decodePresencePong,
  decodeRakp2,
  decodeRmcp,
  decodeV15,
  decodeV20,
  DecodeError,
  encodeAuthCapsRequest,
  encodeIpmiRequest,
  encodePresencePing,
  encodeV15,
  encodeV20Raw,
  integrityPad,
  rmcppStatusName,
} from '../../../../src/bmc/ipmi/codec.js';
import { decryptPayload, encryptPayload } from '../../../../src/bmc/ipmi/crypto.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('RMCP and ASF', () => {
  it('encodes the ASF Presence Ping (ASF 2.0 3.2.4.3)', () => {
    // RMCP v6, seq 0xFF, class ASF; IANA 4542, type 0x80, tag, reserved, length 0
    expect(encodePresencePing(0x2a).toString('hex')).toBe('0600ff06000011be802a0000');
  });

  it('decodes a Presence Pong', () => {
    const pong = hex('0600ff06 000011be 40 2a 00 10  000011be 00000000 81 00 000000000000');
    expect(decodePresencePong(pong)).toEqual({ tag: 0x2a, iana: 4542, oem: 0, ipmi: true, asfVersion: 1, interactions: 0 });
  });

  it('rejects a pong with a short data length and non-RMCP bytes', () => {
    expect(() => decodePresencePong(hex('0600ff06 000011be 40 2a 00 04 000011be'))).toThrow(DecodeError);
    expect(() => decodeRmcp(hex('05 00 ff 07'))).toThrow(/version/);
  });
});

describe('IPMI message framing (13.8)', () => {
  it('checksums make the covered bytes sum to zero', () => {
    const b = hex('2018');
    expect((0x20 + 0x18 + checksum(b)) & 0xff).toBe(0);
  });

  it('encodes Get Channel Authentication Capabilities in v1.5 framing, as captured from ipmitool-compatible clients', () => {
    const msg = encodeIpmiRequest({ netFn: 0x06, cmd: 0x38, rqSeq: 14, data: encodeAuthCapsRequest(4) });
    expect(encodeV15(msg).toString('hex')).toBe('0600ff07' + '00' + '00000000' + '00000000' + '09' + '2018c881' + '38388e047d');
  });

  it("decodes ipmi_sim's answer to it (captured)", () => {
    const pkt = hex('0600ff07 00 00000000 00000000 10 811c63203838000184040300000000e4');
    const v15 = decodeV15(decodeRmcp(pkt).body);
    const r = decodeIpmiResponse(v15.msg);
    expect(r).toMatchObject({ netFn: 7, cmd: 0x38, rqSeq: 14, completionCode: 0 });
    const caps = decodeAuthCaps(r.data);
    expect(caps).toMatchObject({
      channel: 1,
      ipmi15: true,
      ipmi20: true,
      anonymousLogin: false,
      nullUsers: false,
      nonNullUsers: true,
      authTypes: { none: false, md2: false, md5: true, password: false, oem: false },
    });
  });

  it('rejects bad checksums and requests posing as responses', () => {
    const good = hex('811c63203838000184040300000000e4');
    const bad = Buffer.from(good);
    bad[bad.length - 1] ^= 1;
    expect(() => decodeIpmiResponse(bad)).toThrow(/checksum/);
    const req = encodeIpmiRequest({ netFn: 6, cmd: 1, rqSeq: 1 });
    expect(() => decodeIpmiResponse(Buffer.concat([req.subarray(0, 6), Buffer.from([0]), req.subarray(6)]))).toThrow();
  });

  it('names completion codes', () => {
    expect(completionName(0xd4)).toBe('insufficient privilege level (0xd4)');
    expect(completionName(0xcc)).toBe('invalid data field in request (0xcc)');
    expect(completionName(0x80, { 0x80: 'parameter not supported' })).toBe('parameter not supported (0x80)');
    expect(completionName(0x85)).toBe('command-specific completion code 0x85');
    expect(rmcppStatusName(0x0d)).toBe('unauthorized name');
    expect(rmcppStatusName(0x0f)).toBe('invalid integrity check value');
  });
});

describe('RMCP+ (13.8, 13.28)', () => {
  it('pads the integrity range to a multiple of 4 with 0xFF, then pad length and next header 0x07', () => {
    for (let n = 12; n < 40; n++) {
      const pad = integrityPad(n);
      expect((n + pad.length) % 4).toBe(0);
      const padLen = pad[pad.length - 2]!;
      expect(pad.subarray(0, padLen).every((x) => x === 0xff)).toBe(true);
      expect(pad[pad.length - 1]).toBe(0x07);
    }
  });

  it('round-trips an authenticated packet through decodeV20', () => {
    const head = encodeV20Raw({ payloadType: 0, encrypted: true, authenticated: true, sessionId: 0x1234, sequence: 9 }, Buffer.alloc(32, 1));
    const signed = Buffer.concat([head, integrityPad(head.length)]);
    const pkt = Buffer.concat([signed, Buffer.alloc(12, 0xab)]);
    const p = decodeV20(pkt, 12);
    expect(p).toMatchObject({ payloadType: 0, encrypted: true, authenticated: true, sessionId: 0x1234, sequence: 9 });
    expect(p.signed.equals(signed)).toBe(true);
    expect(p.payload.length).toBe(32);
  });

  it('decodes Open Session and RAKP 2 error answers that stop early', () => {
    // captured: ipmi_sim refusing suite 17 with "invalid authentication algorithm"
    expect(decodeOpenSessionResponse(hex('7204'))).toMatchObject({ tag: 0x72, status: 0x04 });
    expect(decodeRakp2(hex('790d0000aabbccdd'))).toMatchObject({ tag: 0x79, status: 0x0d, consoleSessionId: 0xddccbbaa });
  });

  it('AES-CBC-128 confidentiality pads with 1..N then N and round-trips every length', () => {
    const key = Buffer.alloc(16, 3);
    for (let n = 0; n < 40; n++) {
      const data = Buffer.alloc(n, n);
      const enc = encryptPayload(key, data, Buffer.alloc(16, 9));
      expect((enc.length - 16) % 16).toBe(0);
      expect(decryptPayload(key, enc).equals(data)).toBe(true);
    }
    expect(() => decryptPayload(key, Buffer.alloc(20))).toThrow(DecodeError);
  });
});

describe('Get Channel Cipher Suites records (22.15)', () => {
  it('parses standard and OEM records', () => {
    const d = hex('c0 03 01 41 81  c0 11 03 44 81  c1 80 a2 02 00 01 41 80');
    expect(decodeCipherSuiteRecords(d)).toEqual([
      { id: 3, auth: [1], integrity: [1], confidentiality: [1] },
      { id: 17, auth: [3], integrity: [4], confidentiality: [1] },
      { id: 0x80, oemIana: 674, auth: [1], integrity: [1], confidentiality: [0] },
    ]);
    expect(() => decodeCipherSuiteRecords(hex('01 c0 03'))).toThrow(DecodeError);
  });
});
