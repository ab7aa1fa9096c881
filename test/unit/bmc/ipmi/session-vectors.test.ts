/**
 * Known-answer tests from a real RMCP+ session: the packets below were
 * captured (tcpdump on lo) while kseed opened a cipher-suite-3 session to
 * OpenIPMI's ipmi_sim (user admin, password "password") and sent Get Device
 * ID. The BMC-side values (RAKP2 HMAC, RAKP4 ICV, the encrypted and signed
 * answers) were computed by ipmi_sim, an independent implementation; the
 * expected keys are recomputed here straight from the IPMI v2.0 formulas
 * (13.31, 13.32) with node:crypto, not with kseed's crypto module.
 */
import { createDecipheriv, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decodeIpmiResponse,
  decodeOpenSessionResponse,
  decodeRakp2,
  decodeRakp4,
  decodeRmcp,
  decodeV20,
  encodeOpenSessionRequest,
  encodeRakp1,
  PayloadType,
} from '../../../../src/bmc/ipmi/codec.js';
import {
  CIPHER_SUITES,
  decryptPayload,
  deriveKey,
  packetAuthCode,
  rakp2AuthCode,
  rakp3AuthCode,
  rakp4Icv,
  sessionKeys,
  userKey,
  type RakpInputs,
} from '../../../../src/bmc/ipmi/crypto.js';
import { decodeDeviceId } from '../../../../src/bmc/ipmi/commands.js';

const CAPTURE = [
  /* 0 Open Session Request  */ '0600ff07061000000000000000002000780400000b22f9e0000000080100000001000008010000000200000801000000',
  /* 1 Open Session Response */ '0600ff07061100000000000000002400780004000b22f9e002000000000000080100000001000008010000000200000801000000',
  /* 2 RAKP 1 */ '0600ff0706120000000000000000210079000000020000008c4917cd57df6e2f4e0ab87587e20e311400000561646d696e',
  /* 3 RAKP 2 */ '0600ff07061300000000000000003c00790000000b22f9e02813df76faf51c344f4dfdd682d0a6573d791e43c8d5561e36bd09bacc0975176d77985866725b8c52e5992c2bb2f397824d1fec',
  /* 4 RAKP 3 */ '0600ff07061400000000000000001c007a0000000200000036cae324f7ef520eea7a24e235d84a8c9b5e656d',
  /* 5 RAKP 4 */ '0600ff070615000000000000000014007a0000000b22f9e0ea3b4b96e7abc3dc68964af4',
  /* 6 Get Device ID (kseed) */ '0600ff0706c0020000000100000020002ab349078f2611db391ea4b262a699776299b2816293504ed8610cc43b60f6d2ffff0207d96786facc94e7dc9b5d30e1',
  /* 7 Get Device ID answer (ipmi_sim) */ '0600ff0706c00b22f9e0010000003000714087e25a958cb5f78da960885978ff93d8287d95831742d0a35ddf640b87afa22a2b6104648c7df3a367eaf099bddaffff0207bdb58e83c9ffef79358c56bf',
  /* 8 Close Session (kseed) */ '0600ff0706c002000000020000002000c04254f9ebbe5c3123b6f989ed8b475c673e558b5f04bb4a113bf481ed73e15fffff0207c392479bba56e51d79d7a9fe',
  /* 9 Close Session answer (ipmi_sim) */ '0600ff0706c00b22f9e00200000020007735ee9485a4903821cea06ab52043bc6a0f50e4c00d94a6b849577584346d57ffff020742a839a930b7c7adad10718a',
].map((h) => Buffer.from(h, 'hex'));

const body = (i: number) => decodeRmcp(CAPTURE[i]!).body;
const setupPayload = (i: number) => decodeV20(body(i), 0).payload;

const H = (hash: string, key: Buffer, ...parts: Buffer[]) => {
  const h = createHmac(hash, key);
  for (const p of parts) h.update(p);
  return h.digest();
};

// values read off the capture by offset, independent of kseed's decoders
const SIDm = Buffer.from('0b22f9e0', 'hex');
const SIDc = Buffer.from('02000000', 'hex');
const Rm = Buffer.from('8c4917cd57df6e2f4e0ab87587e20e31', 'hex');
const Rc = Buffer.from('2813df76faf51c344f4dfdd682d0a657', 'hex');
const GUIDc = Buffer.from('3d791e43c8d5561e36bd09bacc097517', 'hex');
const ROLE = Buffer.from([0x14]);
const UNAME = Buffer.from('\x05admin', 'latin1');
const KUID = Buffer.concat([Buffer.from('password'), Buffer.alloc(12)]);

describe('RMCP+ session capture against ipmi_sim (cipher suite 3)', () => {
  const inputs: RakpInputs = {
    consoleSessionId: SIDm.readUInt32LE(0),
    bmcSessionId: SIDc.readUInt32LE(0),
    consoleRandom: Rm,
    bmcRandom: Rc,
    bmcGuid: GUIDc,
    role: 0x14,
    username: Buffer.from('admin'),
  };
  const SIK = H('sha1', KUID, Rm, Rc, ROLE, UNAME);
  const K1 = H('sha1', SIK, Buffer.alloc(20, 1));
  const K2 = H('sha1', SIK, Buffer.alloc(20, 2));

  it('encodes Open Session Request and RAKP 1 byte for byte', () => {
    const open = encodeOpenSessionRequest({ tag: 0x78, maxPrivilege: 4, consoleSessionId: inputs.consoleSessionId, algorithms: CIPHER_SUITES[3].algorithms });
    expect(open.equals(setupPayload(0))).toBe(true);
    const r1 = encodeRakp1({ tag: 0x79, bmcSessionId: 2, consoleRandom: Rm, role: 0x14, username: Buffer.from('admin') });
    expect(r1.equals(setupPayload(2))).toBe(true);
  });

  it('decodes the Open Session Response and RAKP 2/4', () => {
    const o = decodeOpenSessionResponse(setupPayload(1));
    expect(o).toMatchObject({ tag: 0x78, status: 0, maxPrivilege: 4, consoleSessionId: 0xe0f9220b, bmcSessionId: 2 });
    expect(o.algorithms).toEqual({ auth: 1, integrity: 1, confidentiality: 1 });
    const r2 = decodeRakp2(setupPayload(3));
    expect(r2.bmcRandom!.equals(Rc)).toBe(true);
    expect(r2.bmcGuid!.equals(GUIDc)).toBe(true);
    expect(decodeRakp4(setupPayload(5)).icv.toString('hex')).toBe('ea3b4b96e7abc3dc68964af4');
  });

  it("RAKP 2 HMAC: the BMC's value equals the formula and kseed's function", () => {
    const bmcCode = decodeRakp2(setupPayload(3)).authCode!;
    expect(H('sha1', KUID, SIDm, SIDc, Rm, Rc, GUIDc, ROLE, UNAME).equals(bmcCode)).toBe(true);
    expect(rakp2AuthCode('sha1', userKey('password'), inputs).equals(bmcCode)).toBe(true);
    expect(rakp2AuthCode('sha1', userKey('wrong'), inputs).equals(bmcCode)).toBe(false);
  });

  it('RAKP 3 HMAC that ipmi_sim accepted', () => {
    const sent = setupPayload(4).subarray(8);
    expect(H('sha1', KUID, Rc, SIDm, ROLE, UNAME).equals(sent)).toBe(true);
    expect(rakp3AuthCode('sha1', userKey('password'), inputs).equals(sent)).toBe(true);
  });

  it('SIK, K1, K2 and the RAKP 4 ICV match what the BMC computed', () => {
    const icv = decodeRakp4(setupPayload(5)).icv;
    expect(H('sha1', SIK, Rm, SIDc, GUIDc).subarray(0, 12).equals(icv)).toBe(true);
    const keys = sessionKeys(CIPHER_SUITES[3], userKey('password'), undefined, inputs);
    expect(keys.sik.equals(SIK)).toBe(true);
    expect(keys.k1.equals(K1)).toBe(true);
    expect(keys.k2.equals(K2)).toBe(true);
    expect(rakp4Icv(CIPHER_SUITES[3], keys.sik, inputs).equals(icv)).toBe(true);
  });

  it("verifies and decrypts the BMC's in-session answer (HMAC-SHA1-96, AES-CBC-128)", () => {
    const p = decodeV20(body(7), 12);
    expect(p).toMatchObject({ payloadType: PayloadType.IPMI, encrypted: true, authenticated: true, sessionId: 0xe0f9220b, sequence: 1 });
    // formula: AuthCode = first 12 bytes of HMAC-SHA1(K1, auth type .. next header)
    const signedLen = body(7).length - 12;
    expect(H('sha1', K1, body(7).subarray(0, signedLen)).subarray(0, 12).equals(p.authCode)).toBe(true);
    expect(packetAuthCode(CIPHER_SUITES[3], K1, p.signed).equals(p.authCode)).toBe(true);
    // formula: AES-128-CBC, key K2[0..16), IV first 16 bytes, pad 1..N then N
    const d = createDecipheriv('aes-128-cbc', K2.subarray(0, 16), p.payload.subarray(0, 16));
    d.setAutoPadding(false);
    const plain = Buffer.concat([d.update(p.payload.subarray(16)), d.final()]);
    const n = plain[plain.length - 1]!;
    const msg = plain.subarray(0, plain.length - 1 - n);
    expect(decryptPayload(K2.subarray(0, 16), p.payload).equals(msg)).toBe(true);
    const r = decodeIpmiResponse(msg);
    expect(r).toMatchObject({ netFn: 7, cmd: 1, completionCode: 0 });
    expect(decodeDeviceId(r.data)).toMatchObject({ manufacturerId: 4753, productId: 0x0f02, firmware: '9.08', ipmiVersion: '2.0' });
  });

  it("kseed's own in-session packets carry a valid AuthCode the BMC accepted", () => {
    for (const i of [6, 8]) {
      const p = decodeV20(body(i), 12);
      expect(p.sessionId).toBe(2);
      expect(packetAuthCode(CIPHER_SUITES[3], K1, p.signed).equals(p.authCode)).toBe(true);
      // integrity pad makes auth type .. next header a multiple of 4
      expect(p.signed.length % 4).toBe(0);
    }
    const close = decodeIpmiResponse(decryptPayload(K2.subarray(0, 16), decodeV20(body(9), 12).payload));
    expect(close).toMatchObject({ netFn: 7, cmd: 0x3c, completionCode: 0 });
  });
});

describe('cipher suite 17 (RAKP-HMAC-SHA256, HMAC-SHA256-128): formula vectors', () => {
  // ipmi_sim does not implement suite 17; these recompute each value from the
  // spec's formulas with node:crypto and compare with kseed's functions.
  const suite = CIPHER_SUITES[17];
  const inputs: RakpInputs = {
    consoleSessionId: 0xa1b2c3d4,
    bmcSessionId: 0x01020304,
    consoleRandom: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'),
    bmcRandom: Buffer.from('f0e0d0c0b0a090807060504030201000', 'hex'),
    bmcGuid: Buffer.from('00112233445566778899aabbccddeeff', 'hex'),
    role: 0x14,
    username: Buffer.from('root'),
  };
  const kuid = Buffer.concat([Buffer.from('calvin'), Buffer.alloc(14)]);
  const le = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  const U = Buffer.from('\x04root', 'latin1');

  it('suite 17 uses the SHA-256 algorithms with AES-CBC-128', () => {
    expect(suite.algorithms).toEqual({ auth: 3, integrity: 4, confidentiality: 1 });
    expect([suite.rakpLen, suite.icvLen]).toEqual([32, 16]);
  });

  it('RAKP 2/3 codes, SIK, K1, K2 and the RAKP 4 ICV', () => {
    const r2 = H('sha256', kuid, le(0xa1b2c3d4), le(0x01020304), inputs.consoleRandom, inputs.bmcRandom, inputs.bmcGuid, Buffer.from([0x14]), U);
    expect(rakp2AuthCode('sha256', userKey('calvin'), inputs).equals(r2)).toBe(true);
    expect(r2.length).toBe(32);
    const r3 = H('sha256', kuid, inputs.bmcRandom, le(0xa1b2c3d4), Buffer.from([0x14]), U);
    expect(rakp3AuthCode('sha256', userKey('calvin'), inputs).equals(r3)).toBe(true);
    const sik = H('sha256', kuid, inputs.consoleRandom, inputs.bmcRandom, Buffer.from([0x14]), U);
    const keys = sessionKeys(suite, userKey('calvin'), undefined, inputs);
    expect(keys.sik.equals(sik)).toBe(true);
    // the constants are 32 bytes for SHA-256 (13.32: as long as the HMAC output)
    expect(keys.k1.equals(H('sha256', sik, Buffer.alloc(32, 1)))).toBe(true);
    expect(keys.k2.equals(H('sha256', sik, Buffer.alloc(32, 2)))).toBe(true);
    expect(keys.aesKey.equals(keys.k2.subarray(0, 16))).toBe(true);
    const icv = H('sha256', sik, inputs.consoleRandom, le(0x01020304), inputs.bmcGuid).subarray(0, 16);
    expect(rakp4Icv(suite, keys.sik, inputs).equals(icv)).toBe(true);
  });

  it('a BMC key Kg replaces Kuid in the SIK only', () => {
    const kg = Buffer.from('0123456789abcdef0123', 'latin1');
    const keys = sessionKeys(suite, userKey('calvin'), kg, inputs);
    expect(keys.sik.equals(H('sha256', kg, inputs.consoleRandom, inputs.bmcRandom, Buffer.from([0x14]), U))).toBe(true);
    // an all-zero Kg means "no Kg" (22.31)
    const none = sessionKeys(suite, userKey('calvin'), Buffer.alloc(20), inputs);
    expect(none.sik.equals(sessionKeys(suite, userKey('calvin'), undefined, inputs).sik)).toBe(true);
    expect(deriveKey('sha256', keys.sik, 1).length).toBe(32);
  });

  it('HMAC-SHA256-128 AuthCode is the first 16 bytes', () => {
    const k1 = Buffer.alloc(32, 7);
    const signed = Buffer.from('0600ff07', 'hex');
    expect(packetAuthCode(suite, k1, signed).equals(H('sha256', k1, signed).subarray(0, 16))).toBe(true);
  });
});
