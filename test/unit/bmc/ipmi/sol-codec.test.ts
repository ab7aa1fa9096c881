import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../../../src/bmc/ipmi/decode.js';
import {
  decodeActivatePayload,
  decodeActivationStatus,
  decodePayloadInstanceInfo,
  decodeSolPacket,
  encodeActivatePayload,
  encodeDeactivatePayload,
  encodePayloadInstanceInfo,
  encodeSolPacket,
  nextSolSeq,
  SolStatus,
} from '../../../../src/bmc/ipmi/sol-codec.js';
import { SessionSeal } from '../../../../src/bmc/ipmi/seal.js';
import { CIPHER_SUITES, sessionKeys } from '../../../../src/bmc/ipmi/crypto.js';
import { decodeRmcp, PayloadType } from '../../../../src/bmc/ipmi/codec.js';

describe('Activate / Deactivate Payload and activation status (IPMI v2.0 24.1, 24.2, 24.4)', () => {
  it('asks for SOL instance 1 with encryption, authentication and deferred serial alerts', () => {
    expect(encodeActivatePayload().toString('hex')).toBe('0101c4000000');
    // without the payload's own protection only the alert bits remain
    expect(encodeActivatePayload({ encrypt: false, authenticate: false, instance: 2 }).toString('hex')).toBe('010204000000');
  });

  it('reads the sizes, port and VLAN of the answer (ipmi_sim: 32 in, 16384 out)', () => {
    const d = Buffer.from('00000000' + '2000' + '0040' + 'b247' + 'ffff', 'hex');
    expect(decodeActivatePayload(d)).toEqual({ inboundSize: 32, outboundSize: 16384, port: 18354, vlan: 0xffff });
    expect(() => decodeActivatePayload(d.subarray(0, 11))).toThrow(DecodeError);
  });

  it('deactivates SOL instance 1 with zero auxiliary data', () => {
    expect(encodeDeactivatePayload().toString('hex')).toBe('010100000000');
  });

  it('decodes the instance capacity and the active-instance bitmaps', () => {
    expect(decodeActivationStatus(Buffer.from([0x01, 0x00, 0x00]))).toEqual({ capacity: 1, active: [] });
    expect(decodeActivationStatus(Buffer.from([0x01, 0x01, 0x00]))).toEqual({ capacity: 1, active: [1] });
    expect(decodeActivationStatus(Buffer.from([0x0f, 0x82, 0x01]))).toEqual({ capacity: 15, active: [2, 8, 9] });
    expect(() => decodeActivationStatus(Buffer.from([1, 0]))).toThrow(DecodeError);
  });

  it('asks who holds SOL instance 1 and reads the session ID of the answer (24.5)', () => {
    expect(encodePayloadInstanceInfo().toString('hex')).toBe('0101');
    // session 0x0a0b0c0d, then the 8 bytes of port/instance data ipmi_sim sends
    expect(decodePayloadInstanceInfo(Buffer.from('0d0c0b0a0100000000000000', 'hex'))).toEqual({ sessionId: 0x0a0b0c0d });
    expect(decodePayloadInstanceInfo(Buffer.from('00000000', 'hex'))).toEqual({ sessionId: 0 });
    expect(() => decodePayloadInstanceInfo(Buffer.from([1, 2, 3]))).toThrow(DecodeError);
  });
});

describe('SOL payload (15.9)', () => {
  it('encodes a data packet: sequence, ack, accepted count, operation, characters', () => {
    expect(encodeSolPacket({ seq: 3, ack: 0, count: 0, flags: 0, data: Buffer.from('ab') }).toString('hex')).toBe('030000006162');
    expect(encodeSolPacket({ seq: 0, ack: 7, count: 12, flags: SolStatus.Nack, data: Buffer.alloc(0) }).toString('hex')).toBe('00070c40');
  });

  it('refuses what cannot be on the wire', () => {
    expect(() => encodeSolPacket({ seq: 16, ack: 0, count: 0, flags: 0, data: Buffer.alloc(0) })).toThrow(RangeError);
    expect(() => encodeSolPacket({ seq: 0, ack: 1, count: 1, flags: 0, data: Buffer.from('x') })).toThrow(/ACK-only/);
  });

  it('decodes both directions and masks the reserved high nibbles', () => {
    const p = decodeSolPacket(Buffer.from('f5a10310' + '6869', 'hex'));
    expect(p).toEqual({ seq: 5, ack: 1, count: 3, flags: 0x10, data: Buffer.from('hi') });
    expect(p.flags & SolStatus.Deactivating).toBeTruthy();
    expect(() => decodeSolPacket(Buffer.from('000102', 'hex'))).toThrow(/truncated/);
    expect(() => decodeSolPacket(Buffer.from('0001020041', 'hex'))).toThrow(/sequence 0 carries 1/);
  });

  it('numbers packets 1..15 and never 0', () => {
    const seen: number[] = [];
    let s = 0;
    for (let i = 0; i < 17; i++) seen.push((s = nextSolSeq(s)));
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 1, 2]);
  });
});

describe('SessionSeal: SOL packets share the session sequence and protection (13.8, 13.28, 13.29)', () => {
  const keys = sessionKeys(CIPHER_SUITES[3], Buffer.alloc(20, 1), undefined, {
    consoleSessionId: 0x11,
    bmcSessionId: 0x22,
    consoleRandom: Buffer.alloc(16, 2),
    bmcRandom: Buffer.alloc(16, 3),
    bmcGuid: Buffer.alloc(16, 4),
    role: 0x14,
    username: Buffer.from('admin'),
  });
  // the BMC's seal is ours mirrored: it writes to session 0x11 and reads 0x22
  const bmc = new SessionSeal(CIPHER_SUITES[3], keys, 0x11, 0x22);
  const us = new SessionSeal(CIPHER_SUITES[3], keys, 0x22, 0x11);
  const body = (dgram: Buffer) => decodeRmcp(dgram).body;

  it('opens a SOL packet only as SOL, encrypted and signed, and each sequence number once', () => {
    const sol = encodeSolPacket({ seq: 1, ack: 0, count: 0, flags: 0, data: Buffer.from('login: ') });
    const pkt = body(bmc.seal(PayloadType.SOL, sol));
    expect(pkt[1]).toBe(0xc0 | PayloadType.SOL);
    expect(us.open(pkt, PayloadType.IPMI)).toBeUndefined();
    expect(us.open(pkt, PayloadType.SOL)).toEqual(sol);
    // a replayed copy is dropped although its AuthCode is valid
    expect(us.open(pkt, PayloadType.SOL)).toBeUndefined();
  });

  it('refuses a tampered packet', () => {
    const pkt = Buffer.from(body(bmc.seal(PayloadType.SOL, Buffer.from('00010200', 'hex'))));
    pkt[20] ^= 1;
    expect(() => us.open(pkt, PayloadType.SOL)).toThrow(/AuthCode/);
  });
});
