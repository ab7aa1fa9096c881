/**
 * RMCP+ session-setup payloads, IPMI v2.0 sections 13.17-13.23: Open
 * Session Request/Response and RAKP messages 1-4, with the algorithm and
 * status code tables they carry. Pure functions over Buffers.
 */
import { DecodeError, need } from './decode.js';

// --------------------------------------- RMCP+ session setup (13.17-13.23) ---

export const AuthAlg = { None: 0x00, HmacSha1: 0x01, HmacMd5: 0x02, HmacSha256: 0x03 } as const;
export const IntegrityAlg = { None: 0x00, HmacSha1_96: 0x01, HmacMd5_128: 0x02, Md5_128: 0x03, HmacSha256_128: 0x04 } as const;
export const ConfAlg = { None: 0x00, AesCbc128: 0x01, Xrc4_128: 0x02, Xrc4_40: 0x03 } as const;

export const Privilege = { Highest: 0x00, Callback: 0x01, User: 0x02, Operator: 0x03, Administrator: 0x04, OEM: 0x05 } as const;

/** RMCP+ and RAKP message status codes, section 13.24 table 13-15. */
export const RMCPP_STATUS: Readonly<Record<number, string>> = {
  0x00: 'no errors',
  0x01: 'insufficient resources to create a session',
  0x02: 'invalid session ID',
  0x03: 'invalid payload type',
  0x04: 'invalid authentication algorithm',
  0x05: 'invalid integrity algorithm',
  0x06: 'no matching authentication payload',
  0x07: 'no matching integrity payload',
  0x08: 'inactive session ID',
  0x09: 'invalid role',
  0x0a: 'unauthorized role or privilege level requested',
  0x0b: 'insufficient resources to create a session at the requested role',
  0x0c: 'invalid name length',
  0x0d: 'unauthorized name',
  0x0e: 'unauthorized GUID',
  0x0f: 'invalid integrity check value',
  0x10: 'invalid confidentiality algorithm',
  0x11: 'no cipher suite match with proposed security algorithms',
  0x12: 'illegal or unrecognized parameter',
};

export function rmcppStatusName(code: number): string {
  return RMCPP_STATUS[code] ?? `status 0x${code.toString(16).padStart(2, '0')}`;
}

export interface Algorithms {
  auth: number;
  integrity: number;
  confidentiality: number;
}

export interface OpenSessionRequest {
  tag: number;
  /** 0 = highest level the channel and user allow. */
  maxPrivilege: number;
  consoleSessionId: number;
  algorithms: Algorithms;
}

function algPayload(type: number, alg: number): Buffer {
  // payload type, reserved(2), payload length 8, algorithm, reserved(3)  (13.17)
  return Buffer.from([type, 0, 0, 8, alg & 0x3f, 0, 0, 0]);
}

export function encodeOpenSessionRequest(r: OpenSessionRequest): Buffer {
  const h = Buffer.alloc(8);
  h[0] = r.tag & 0xff;
  h[1] = r.maxPrivilege & 0x0f;
  h.writeUInt32LE(r.consoleSessionId >>> 0, 4);
  return Buffer.concat([
    h,
    algPayload(0x00, r.algorithms.auth),
    algPayload(0x01, r.algorithms.integrity),
    algPayload(0x02, r.algorithms.confidentiality),
  ]);
}

export interface OpenSessionResponse {
  tag: number;
  status: number;
  maxPrivilege: number;
  consoleSessionId: number;
  /** Present only when status is 0. */
  bmcSessionId?: number;
  algorithms?: Algorithms;
}

export function decodeOpenSessionResponse(b: Buffer): OpenSessionResponse {
  need(b, 2, 'Open Session Response');
  const tag = b[0]!;
  const status = b[1]!;
  if (status !== 0) {
    // error answers may stop after the console session id (13.18)
    return { tag, status, maxPrivilege: b[2] ?? 0, consoleSessionId: b.length >= 8 ? b.readUInt32LE(4) : 0 };
  }
  need(b, 36, 'Open Session Response');
  const alg = (off: number, type: number): number => {
    if (b[off] !== type) throw new DecodeError(`Open Session Response: payload type ${b[off]} at ${off}, expected ${type}`);
    return b[off + 4]! & 0x3f;
  };
  return {
    tag,
    status,
    maxPrivilege: b[2]! & 0x0f,
    consoleSessionId: b.readUInt32LE(4),
    bmcSessionId: b.readUInt32LE(8),
    algorithms: { auth: alg(12, 0), integrity: alg(20, 1), confidentiality: alg(28, 2) },
  };
}

export interface Rakp1 {
  tag: number;
  bmcSessionId: number;
  consoleRandom: Buffer; // 16 bytes
  /** The full ROLE byte as sent (privilege | 0x10 for name-only lookup): it enters the HMACs. */
  role: number;
  username: Buffer;
}

export function encodeRakp1(r: Rakp1): Buffer {
  if (r.consoleRandom.length !== 16) throw new RangeError('RAKP1 random must be 16 bytes');
  if (r.username.length > 16) throw new RangeError('IPMI user names are at most 16 bytes');
  const b = Buffer.alloc(28 + r.username.length);
  b[0] = r.tag & 0xff;
  b.writeUInt32LE(r.bmcSessionId >>> 0, 4);
  r.consoleRandom.copy(b, 8);
  b[24] = r.role & 0xff;
  b[27] = r.username.length;
  r.username.copy(b, 28);
  return b;
}

export interface Rakp2 {
  tag: number;
  status: number;
  consoleSessionId: number;
  bmcRandom?: Buffer;
  bmcGuid?: Buffer;
  authCode?: Buffer;
}

export function decodeRakp2(b: Buffer): Rakp2 {
  need(b, 2, 'RAKP Message 2');
  const tag = b[0]!;
  const status = b[1]!;
  if (status !== 0) return { tag, status, consoleSessionId: b.length >= 8 ? b.readUInt32LE(4) : 0 };
  need(b, 40, 'RAKP Message 2');
  return {
    tag,
    status,
    consoleSessionId: b.readUInt32LE(4),
    bmcRandom: Buffer.from(b.subarray(8, 24)),
    bmcGuid: Buffer.from(b.subarray(24, 40)),
    authCode: Buffer.from(b.subarray(40)),
  };
}

export function encodeRakp3(tag: number, status: number, bmcSessionId: number, authCode: Buffer): Buffer {
  const b = Buffer.alloc(8);
  b[0] = tag & 0xff;
  b[1] = status & 0xff;
  b.writeUInt32LE(bmcSessionId >>> 0, 4);
  return Buffer.concat([b, authCode]);
}

export interface Rakp4 {
  tag: number;
  status: number;
  consoleSessionId: number;
  icv: Buffer;
}

export function decodeRakp4(b: Buffer): Rakp4 {
  need(b, 2, 'RAKP Message 4');
  const tag = b[0]!;
  const status = b[1]!;
  if (status !== 0) return { tag, status, consoleSessionId: b.length >= 8 ? b.readUInt32LE(4) : 0, icv: Buffer.alloc(0) };
  need(b, 8, 'RAKP Message 4');
  return { tag, status, consoleSessionId: b.readUInt32LE(4), icv: Buffer.from(b.subarray(8)) };
}
