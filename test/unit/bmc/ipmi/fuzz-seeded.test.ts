/**
 * Seeded fuzzing of every IPMI decoder kseed owns: RMCP and ASF (ASF 2.0
 * 3.2.4), IPMI LAN messages (IPMI v2.0 13.8), the v1.5 and RMCP+ session
 * headers, Open Session Response and RAKP 2/4 (13.17-13.23), encrypted
 * payloads (13.29) and the command answers. 50,000 cases each from a fixed
 * seed: a decoder returns a value or throws its own DecodeError, nothing
 * else. Valid messages built from random fields decode back to those fields.
 */
import { describe, expect, it } from 'vitest';
import { fuzzBytes, Rand } from '../../../helpers/fuzz.js';
import * as codec from '../../../../src/bmc/ipmi/codec.js';
import * as cmds from '../../../../src/bmc/ipmi/commands.js';
import { decryptPayload, encryptPayload } from '../../../../src/bmc/ipmi/crypto.js';
import { unwrap } from '../../../../src/bmc/ipmi/session.js';
// the FRU image the ipmi_sim harness serves (Platform Management FRU spec 1.0)
import { makeFru } from '../../../../bench/ipmi-fleet/ipmisim.mjs';

const SEED = 20261206;
const CASES = 50_000;
const KEY = Buffer.alloc(16, 5);
const typed = (err: unknown) => err instanceof codec.DecodeError;

const le32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

// ------------------------------------------------ valid message builders ---
// BMC-side encoders for what kseed only decodes, written from the spec tables.

function ipmiResponse(r: Rand) {
  const f = { rqAddr: 0x81, netFn: (r.int(32) << 1) | 1, rsAddr: 0x20, rqSeq: r.int(64), cmd: r.int(256), completionCode: r.pick([0, 0xc1, 0xcc, 0xd4]), data: r.bytes(r.int(40)) };
  const h = Buffer.from([f.rqAddr, f.netFn << 2, 0]);
  h[2] = codec.checksum(h, 0, 2);
  const rest = Buffer.concat([Buffer.from([f.rsAddr, f.rqSeq << 2, f.cmd, f.completionCode]), f.data, Buffer.from([0])]);
  rest[rest.length - 1] = codec.checksum(rest, 0, rest.length - 1);
  return { f, bytes: Buffer.concat([h, rest]) };
}

function openSessionResponse(r: Rand) {
  const f = { tag: r.int(256), status: 0, maxPrivilege: r.int(6), consoleSessionId: r.int(2 ** 32), bmcSessionId: r.int(2 ** 32), algorithms: { auth: r.int(4), integrity: r.int(5), confidentiality: r.int(4) } };
  const alg = (type: number, a: number) => Buffer.from([type, 0, 0, 8, a, 0, 0, 0]);
  const bytes = Buffer.concat([
    Buffer.from([f.tag, 0, f.maxPrivilege, 0]),
    le32(f.consoleSessionId),
    le32(f.bmcSessionId),
    alg(0, f.algorithms.auth),
    alg(1, f.algorithms.integrity),
    alg(2, f.algorithms.confidentiality),
  ]);
  return { f, bytes };
}

function rakp2(r: Rand) {
  const f = { tag: r.int(256), status: 0, consoleSessionId: r.int(2 ** 32), bmcRandom: r.bytes(16), bmcGuid: r.bytes(16), authCode: r.bytes(r.pick([0, 20, 32])) };
  return { f, bytes: Buffer.concat([Buffer.from([f.tag, 0, 0, 0]), le32(f.consoleSessionId), f.bmcRandom, f.bmcGuid, f.authCode]) };
}

function rakp4(r: Rand) {
  const f = { tag: r.int(256), status: 0, consoleSessionId: r.int(2 ** 32), icv: r.bytes(r.pick([0, 12, 16])) };
  return { f, bytes: Buffer.concat([Buffer.from([f.tag, 0, 0, 0]), le32(f.consoleSessionId), f.icv]) };
}

function presencePong(r: Rand) {
  const f = { tag: r.int(256), iana: 4542, oem: r.int(2 ** 32), ipmi: r.int(2) === 1, asfVersion: r.int(16), interactions: r.int(256) };
  const d = Buffer.alloc(16);
  d.writeUInt32BE(f.iana, 0);
  d.writeUInt32BE(f.oem, 4);
  d[8] = (f.ipmi ? 0x80 : 0) | f.asfVersion;
  d[9] = f.interactions;
  const asf = Buffer.alloc(8);
  asf.writeUInt32BE(4542, 0);
  asf[4] = 0x40;
  asf[5] = f.tag;
  asf[7] = 16;
  return { f, bytes: Buffer.concat([codec.encodeRmcp(codec.RmcpClass.ASF), asf, d]) };
}

/** A signed, encrypted in-session answer as a BMC sends it (13.8, 13.28.4), AuthCode of `icv` random bytes. */
function sessionPacket(r: Rand, icv: number) {
  const inner = ipmiResponse(r);
  const payload = encryptPayload(KEY, inner.bytes);
  const head = codec.encodeV20Raw({ payloadType: 0, encrypted: true, authenticated: true, sessionId: r.int(2 ** 32), sequence: r.int(2 ** 32) }, payload);
  const signed = Buffer.concat([head, codec.integrityPad(head.length)]);
  return { inner, bytes: Buffer.concat([codec.encodeRmcp(codec.RmcpClass.IPMI), signed, r.bytes(icv)]) };
}

const r0 = new Rand(SEED);
const many = <T>(n: number, f: (r: Rand) => T) => Array.from({ length: n }, () => f(r0));

const valid = {
  rmcp: [codec.encodePresencePing(7), ...many(8, (r) => presencePong(r).bytes), ...many(8, (r) => codec.encodeV15(ipmiResponse(r).bytes))],
  ipmi: many(16, (r) => ipmiResponse(r).bytes),
  v15: many(16, (r) => codec.encodeV15(ipmiResponse(r).bytes).subarray(4)),
  v20: [...many(8, (r) => sessionPacket(r, 12).bytes.subarray(4)), ...many(8, (r) => sessionPacket(r, 16).bytes.subarray(4))],
  open: many(16, (r) => openSessionResponse(r).bytes),
  rakp2: many(16, (r) => rakp2(r).bytes),
  rakp4: many(16, (r) => rakp4(r).bytes),
  encrypted: many(16, (r) => encryptPayload(KEY, r.bytes(r.int(64)))),
  answers: [
    Buffer.from('20810210020 2bfa202003412'.replace(/\s/g, ''), 'hex'),
    Buffer.from([0x01, 0x00, 0x00]),
    Buffer.from([0x01, 0x05, 0x80, 0x08, 0x00, 0x00]),
    Buffer.from([0x11, 0, 0, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
  ],
};

const decoders: [string, (b: Buffer) => unknown, readonly Buffer[]][] = [
  ['decodeRmcp', codec.decodeRmcp, valid.rmcp],
  ['decodePresencePong', codec.decodePresencePong, valid.rmcp],
  ['session unwrap', unwrap, valid.rmcp],
  ['decodeIpmiResponse', codec.decodeIpmiResponse, valid.ipmi],
  ['decodeV15', codec.decodeV15, valid.v15],
  ['decodeV20 (unauthenticated)', (b) => codec.decodeV20(b, 0), valid.v20],
  ['decodeV20 (12-byte AuthCode)', (b) => codec.decodeV20(b, 12), valid.v20],
  ['decodeV20 (16-byte AuthCode)', (b) => codec.decodeV20(b, 16), valid.v20],
  ['decodeOpenSessionResponse', codec.decodeOpenSessionResponse, valid.open],
  ['decodeRakp2', codec.decodeRakp2, valid.rakp2],
  ['decodeRakp4', codec.decodeRakp4, valid.rakp4],
  ['decryptPayload', (b) => decryptPayload(KEY, b), valid.encrypted],
  // what the session does with one in-session datagram: header, trailer, decrypt, message
  ['in-session answer, end to end', (b) => {
    const u = unwrap(b);
    if ('not' in u) return u;
    return codec.decodeIpmiResponse(decryptPayload(KEY, codec.decodeV20(u.body, 12).payload));
  }, valid.v20.map((v) => Buffer.concat([codec.encodeRmcp(codec.RmcpClass.IPMI), v]))],
  ['decodeAuthCaps', codec.decodeAuthCaps, [Buffer.from([1, 0x84, 0x04, 0x02, 0, 0, 0, 0])]],
  ['decodeCipherSuiteRecords', codec.decodeCipherSuiteRecords, [Buffer.from([0xc0, 3, 1, 0x41, 0x81, 0xc0, 17, 3, 0x44, 0x81])]],
  ['decodeDeviceId', cmds.decodeDeviceId, valid.answers],
  ['decodeGuid', cmds.decodeGuid, [Buffer.alloc(16, 0xab)]],
  ['decodeChassisStatus', cmds.decodeChassisStatus, valid.answers],
  ['decodeBootFlags', cmds.decodeBootFlags, valid.answers],
  ['decodeLanIp', cmds.decodeLanIp, valid.answers],
  ['decodeLanMac', cmds.decodeLanMac, valid.answers],
  ['decodeFruInfo', cmds.decodeFruInfo, valid.answers],
  ['decodeFruRead', cmds.decodeFruRead, valid.answers],
  ['parseFru', cmds.parseFru, [makeFru({ serial: 'SN-FUZZ-1' }) as Buffer]],
];

describe(`IPMI decoders, ${CASES} seeded cases each: a value or DecodeError, nothing else`, () => {
  for (const [name, decode, seeds] of decoders) {
    it(name, () => {
      const ok = fuzzBytes({ seed: SEED, cases: CASES, valid: seeds, decode, typed });
      // the mutations must reach past the first length check, not only fail early
      expect(ok, `${name}: decoded ${ok} of ${CASES}`).toBeGreaterThan(0);
    });
  }
});

describe('valid messages round-trip (seeded)', () => {
  const N = 2000;
  it('RMCP header, v1.5 and RMCP+ session headers', () => {
    const r = new Rand(SEED + 1);
    for (let i = 0; i < N; i++) {
      const cls = r.pick([codec.RmcpClass.ASF, codec.RmcpClass.IPMI]);
      const seq = r.int(256);
      const body = r.bytes(r.int(60));
      const d = codec.decodeRmcp(Buffer.concat([codec.encodeRmcp(cls, seq), body]));
      expect([d.header.msgClass, d.header.sequence, d.header.ack, d.body.equals(body)]).toEqual([cls, seq, false, true]);

      const msg = r.bytes(r.int(60));
      expect(codec.decodeV15(codec.encodeV15(msg).subarray(4)).msg.equals(msg)).toBe(true);

      const h = { payloadType: r.pick([0, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15]), encrypted: r.int(2) === 1, authenticated: false, sessionId: r.int(2 ** 32), sequence: r.int(2 ** 32) };
      const p = codec.decodeV20(codec.encodeV20Raw(h, msg), 0);
      expect({ ...h, payload: Buffer.from(msg) }).toEqual({ payloadType: p.payloadType, encrypted: p.encrypted, authenticated: p.authenticated, sessionId: p.sessionId, sequence: p.sequence, payload: Buffer.from(p.payload) });
    }
  });

  it('signed, encrypted in-session answers: trailer, AuthCode, payload, IPMI message', () => {
    const r = new Rand(SEED + 2);
    for (let i = 0; i < N; i++) {
      const icv = r.pick([12, 16]);
      const { inner, bytes } = sessionPacket(r, icv);
      const u = unwrap(bytes);
      if ('not' in u) throw new Error(u.not);
      const p = codec.decodeV20(u.body, icv);
      expect(p.authCode).toHaveLength(icv);
      expect(p.signed.length + icv).toBe(u.body.length);
      const res = codec.decodeIpmiResponse(decryptPayload(KEY, p.payload));
      expect(res).toEqual(inner.f);
    }
  });

  it('IPMI responses, Open Session Response, RAKP 2 and 4, ASF Presence Pong, encrypted payloads', () => {
    const r = new Rand(SEED + 3);
    for (let i = 0; i < N; i++) {
      const m = ipmiResponse(r);
      expect(codec.decodeIpmiResponse(m.bytes)).toEqual(m.f);
      const o = openSessionResponse(r);
      expect(codec.decodeOpenSessionResponse(o.bytes)).toEqual(o.f);
      const k2 = rakp2(r);
      expect(codec.decodeRakp2(k2.bytes)).toEqual(k2.f);
      const k4 = rakp4(r);
      expect(codec.decodeRakp4(k4.bytes)).toEqual(k4.f);
      const pong = presencePong(r);
      expect(codec.decodePresencePong(pong.bytes)).toEqual(pong.f);
      const data = r.bytes(r.int(80));
      expect(decryptPayload(KEY, encryptPayload(KEY, data)).equals(data)).toBe(true);
    }
  });
});
