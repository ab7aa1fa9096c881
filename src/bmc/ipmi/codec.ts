/**
 * IPMI-over-LAN packet codec: RMCP (ASF 2.0 / IPMI v2.0 section 13.1.3),
 * ASF Presence Ping/Pong (ASF 2.0 section 3.2.4.3), the IPMI v1.5 session
 * header (section 13.6, used here only for pre-session Get Channel
 * Authentication Capabilities), the IPMI v2.0 RMCP+ session header with
 * payload types (section 13.8), the IPMI LAN message (section 13.8, table 13-8:
 * rsAddr/netFn/checksum/rqAddr/rqSeq/cmd/data/checksum); the RMCP+
 * session-setup payloads (sections 13.17-13.23) are rmcpplus.ts, re-exported.
 *
 * Pure functions over Buffers: no sockets, no clocks. Every decoder checks
 * lengths before reading and throws DecodeError, so a malformed or
 * truncated answer is an error for one BMC, never a crash.
 */

import { DecodeError, need } from './decode.js';

export { DecodeError } from './decode.js';
// the RMCP+ session-setup payloads (13.17-13.23) live in rmcpplus.ts; importers keep reading them here
export * from './rmcpplus.js';

// ---------------------------------------------------------------- RMCP ---

export const RMCP_VERSION = 0x06;
/** RMCP sequence 0xFF: "no RMCP ACK" (all IPMI traffic uses it). */
export const RMCP_SEQ_NOACK = 0xff;
export const RmcpClass = { ASF: 0x06, IPMI: 0x07 } as const;

export interface RmcpHeader {
  version: number;
  sequence: number;
  /** Low 5 bits of the class byte; bit 7 set means an RMCP ACK. */
  msgClass: number;
  ack: boolean;
}

export function encodeRmcp(msgClass: number, sequence = RMCP_SEQ_NOACK): Buffer {
  return Buffer.from([RMCP_VERSION, 0x00, sequence & 0xff, msgClass & 0x1f]);
}

export function decodeRmcp(buf: Buffer): { header: RmcpHeader; body: Buffer } {
  need(buf, 4, 'RMCP header');
  const version = buf[0]!;
  if (version !== RMCP_VERSION) throw new DecodeError(`RMCP version 0x${version.toString(16)} is not 0x06`);
  const cls = buf[3]!;
  return {
    header: { version, sequence: buf[2]!, msgClass: cls & 0x1f, ack: (cls & 0x80) !== 0 },
    body: buf.subarray(4),
  };
}

// ------------------------------------------------------------------ ASF ---

/** IANA enterprise number of the ASF (Alerting Standards Forum). */
export const ASF_IANA = 4542;
export const AsfType = { PresencePing: 0x80, PresencePong: 0x40 } as const;

/** ASF Presence Ping (ASF 2.0 section 3.2.4.3): RMCP class ASF, no data. */
export function encodePresencePing(tag: number): Buffer {
  const asf = Buffer.alloc(8);
  asf.writeUInt32BE(ASF_IANA, 0);
  asf[4] = AsfType.PresencePing;
  asf[5] = tag & 0xff;
  asf[6] = 0;
  asf[7] = 0;
  return Buffer.concat([encodeRmcp(RmcpClass.ASF), asf]);
}

export interface PresencePong {
  tag: number;
  /** IANA number the pong names (4542 unless an OEM answers). */
  iana: number;
  oem: number;
  /** Supported Entities bit 7: IPMI is supported. */
  ipmi: boolean;
  /** ASF version from the low nibble (1 = ASF 1.0). */
  asfVersion: number;
  interactions: number;
}

export function decodePresencePong(buf: Buffer): PresencePong {
  const { header, body } = decodeRmcp(buf);
  if (header.msgClass !== RmcpClass.ASF) throw new DecodeError('not an ASF message');
  need(body, 8, 'ASF message');
  if (body.readUInt32BE(0) !== ASF_IANA) throw new DecodeError('ASF message with a foreign IANA number');
  if (body[4] !== AsfType.PresencePong) throw new DecodeError(`ASF message type 0x${body[4]!.toString(16)} is not a Presence Pong`);
  const len = body[7]!;
  need(body, 8 + len, 'ASF Presence Pong');
  if (len < 16) throw new DecodeError(`ASF Presence Pong data length ${len} < 16`);
  const d = body.subarray(8, 8 + len);
  return {
    tag: body[5]!,
    iana: d.readUInt32BE(0),
    oem: d.readUInt32BE(4),
    ipmi: (d[8]! & 0x80) !== 0,
    asfVersion: d[8]! & 0x0f,
    interactions: d[9]!,
  };
}

// ------------------------------------------------- IPMI message (13.8) ---

export const NetFn = {
  Chassis: 0x00,
  Bridge: 0x02,
  SensorEvent: 0x04,
  App: 0x06,
  Firmware: 0x08,
  Storage: 0x0a,
  Transport: 0x0c,
} as const;

/** Requester's software ID 0x81 (remote console SWID, section 5.5). */
export const RQ_ADDR = 0x81;
/** BMC responder address. */
export const BMC_ADDR = 0x20;

export interface IpmiRequest {
  netFn: number;
  cmd: number;
  data?: Buffer;
  rqSeq: number;
  rsAddr?: number;
  rsLun?: number;
}

export interface IpmiResponse {
  netFn: number;
  cmd: number;
  rqSeq: number;
  rqAddr: number;
  rsAddr: number;
  completionCode: number;
  data: Buffer;
}

/** 2's complement 8-bit checksum (section 13.8): sum of covered bytes + checksum = 0 mod 256. */
export function checksum(buf: Buffer, start = 0, end = buf.length): number {
  let s = 0;
  for (let i = start; i < end; i++) s = (s + buf[i]!) & 0xff;
  return (0x100 - s) & 0xff;
}

export function encodeIpmiRequest(r: IpmiRequest): Buffer {
  const data = r.data ?? Buffer.alloc(0);
  const b = Buffer.alloc(7 + data.length);
  b[0] = r.rsAddr ?? BMC_ADDR;
  b[1] = ((r.netFn & 0x3f) << 2) | ((r.rsLun ?? 0) & 0x03);
  b[2] = checksum(b, 0, 2);
  b[3] = RQ_ADDR;
  b[4] = (r.rqSeq & 0x3f) << 2;
  b[5] = r.cmd & 0xff;
  data.copy(b, 6);
  b[6 + data.length] = checksum(b, 3, 6 + data.length);
  return b;
}

export function decodeIpmiResponse(b: Buffer): IpmiResponse {
  // rqAddr netFn/rqLUN chk1 rsAddr rqSeq/rsLUN cmd cc [data] chk2
  need(b, 8, 'IPMI response');
  if (checksum(b, 0, 3) !== 0) throw new DecodeError('IPMI response header checksum mismatch');
  if (checksum(b, 3, b.length) !== 0) throw new DecodeError('IPMI response data checksum mismatch');
  const netFn = b[1]! >> 2;
  if ((netFn & 1) === 0) throw new DecodeError(`netFn 0x${netFn.toString(16)} is a request, not a response`);
  return {
    rqAddr: b[0]!,
    netFn,
    rsAddr: b[3]!,
    rqSeq: b[4]! >> 2,
    cmd: b[5]!,
    completionCode: b[6]!,
    data: Buffer.from(b.subarray(7, b.length - 1)),
  };
}

// --------------------------------------------------- completion codes ---

/** Generic completion codes, IPMI v2.0 section 5.2 table 5-2. */
export const COMPLETION_CODES: Readonly<Record<number, string>> = {
  0x00: 'command completed normally',
  0xc0: 'node busy',
  0xc1: 'invalid command',
  0xc2: 'command invalid for given LUN',
  0xc3: 'timeout while processing command',
  0xc4: 'out of space',
  0xc5: 'reservation canceled or invalid reservation ID',
  0xc6: 'request data truncated',
  0xc7: 'request data length invalid',
  0xc8: 'request data field length limit exceeded',
  0xc9: 'parameter out of range',
  0xca: 'cannot return number of requested data bytes',
  0xcb: 'requested sensor, data, or record not present',
  0xcc: 'invalid data field in request',
  0xcd: 'command illegal for specified sensor or record type',
  0xce: 'command response could not be provided',
  0xcf: 'cannot execute duplicated request',
  0xd0: 'SDR repository in update mode',
  0xd1: 'device in firmware update mode',
  0xd2: 'BMC initialization in progress',
  0xd3: 'destination unavailable',
  0xd4: 'insufficient privilege level',
  0xd5: 'command not supported in present state',
  0xd6: 'command sub-function disabled or unavailable',
  0xff: 'unspecified error',
};

/** Command-specific codes 0x80-0xBE depend on the command (e.g. boot options 0x80 'parameter not supported'). */
export function completionName(cc: number, specific?: Readonly<Record<number, string>>): string {
  const name = specific?.[cc] ?? COMPLETION_CODES[cc];
  const hex = `0x${cc.toString(16).padStart(2, '0')}`;
  if (name) return `${name} (${hex})`;
  if (cc >= 0x01 && cc <= 0x7e) return `OEM completion code ${hex}`;
  if (cc >= 0x80 && cc <= 0xbe) return `command-specific completion code ${hex}`;
  return `completion code ${hex}`;
}

// -------------------------------------- IPMI v1.5 session (13.6), pre-session only ---

export const AuthType = { None: 0x00, MD2: 0x01, MD5: 0x02, Password: 0x04, OEM: 0x05, RMCPPlus: 0x06 } as const;

/** Session-less v1.5 wrapper (auth type NONE, session id 0): only legal before a session. */
export function encodeV15(msg: Buffer): Buffer {
  const h = Buffer.alloc(10);
  h[0] = AuthType.None;
  // sequence 0, session id 0
  h[9] = msg.length;
  return Buffer.concat([encodeRmcp(RmcpClass.IPMI), h, msg]);
}

export interface V15Packet {
  authType: number;
  sequence: number;
  sessionId: number;
  msg: Buffer;
}

export function decodeV15(body: Buffer): V15Packet {
  need(body, 10, 'IPMI v1.5 session header');
  const authType = body[0]!;
  const hasCode = authType !== AuthType.None;
  const hl = hasCode ? 26 : 10;
  need(body, hl, 'IPMI v1.5 session header');
  const len = body[hl - 1]!;
  need(body, hl + len, 'IPMI v1.5 message');
  return {
    authType,
    sequence: body.readUInt32LE(1),
    sessionId: body.readUInt32LE(5),
    msg: body.subarray(hl, hl + len),
  };
}

// ---------------------------------------------- IPMI v2.0 RMCP+ (13.8) ---

export const PayloadType = {
  IPMI: 0x00,
  SOL: 0x01,
  OEM: 0x02,
  OpenSessionRequest: 0x10,
  OpenSessionResponse: 0x11,
  RAKP1: 0x12,
  RAKP2: 0x13,
  RAKP3: 0x14,
  RAKP4: 0x15,
} as const;

export interface V20Header {
  payloadType: number;
  encrypted: boolean;
  authenticated: boolean;
  sessionId: number;
  sequence: number;
}

/** Session-setup payloads travel with session id 0, sequence 0, unauthenticated (13.8). */
export function encodeV20Raw(h: V20Header, payload: Buffer): Buffer {
  const b = Buffer.alloc(12);
  b[0] = AuthType.RMCPPlus;
  b[1] = (h.encrypted ? 0x80 : 0) | (h.authenticated ? 0x40 : 0) | (h.payloadType & 0x3f);
  b.writeUInt32LE(h.sessionId >>> 0, 2);
  b.writeUInt32LE(h.sequence >>> 0, 6);
  b.writeUInt16LE(payload.length, 10);
  return Buffer.concat([b, payload]);
}

export interface V20Packet extends V20Header {
  /** Payload as on the wire (still encrypted if `encrypted`). */
  payload: Buffer;
  /** Bytes covered by the integrity AuthCode: auth type .. next header (13.28.4). */
  signed: Buffer;
  /** Trailer AuthCode bytes (empty when unauthenticated). */
  authCode: Buffer;
}

/**
 * Splits a v2.0 packet (the bytes after the RMCP header). The caller knows
 * the AuthCode length of its session's integrity algorithm.
 */
export function decodeV20(body: Buffer, authCodeLen: number): V20Packet {
  need(body, 12, 'RMCP+ session header');
  if (body[0] !== AuthType.RMCPPlus) throw new DecodeError(`auth type 0x${body[0]!.toString(16)} is not RMCP+`);
  const pt = body[1]!;
  const payloadType = pt & 0x3f;
  if (payloadType === PayloadType.OEM) throw new DecodeError('OEM payloads are not supported');
  const len = body.readUInt16LE(10);
  need(body, 12 + len, 'RMCP+ payload');
  const authenticated = (pt & 0x40) !== 0;
  const h = {
    payloadType,
    encrypted: (pt & 0x80) !== 0,
    authenticated,
    sessionId: body.readUInt32LE(2),
    sequence: body.readUInt32LE(6),
    payload: body.subarray(12, 12 + len),
  };
  if (!authenticated) return { ...h, signed: Buffer.alloc(0), authCode: Buffer.alloc(0) };
  // trailer: integrity pad (0xFF)* | pad length | next header 0x07 | AuthCode
  const end = body.length - authCodeLen;
  if (end < 12 + len + 2) throw new DecodeError('RMCP+ session trailer truncated');
  const padLen = body[end - 2]!;
  if (body[end - 1] !== 0x07) throw new DecodeError('RMCP+ next header is not 0x07');
  if (12 + len + padLen + 2 !== end) throw new DecodeError('RMCP+ integrity pad length does not match the packet');
  return { ...h, signed: body.subarray(0, end), authCode: body.subarray(end) };
}

/** Pad so that auth type .. next header is a multiple of 4 bytes (13.28.4); pad bytes are 0xFF. */
export function integrityPad(headerAndPayloadLen: number): Buffer {
  const padLen = (4 - ((headerAndPayloadLen + 2) % 4)) % 4;
  const b = Buffer.alloc(padLen + 2, 0xff);
  b[padLen] = padLen;
  b[padLen + 1] = 0x07;
  return b;
}

/** Which kind of packet the bytes after an RMCP IPMI-class header carry. */
export function isV20(body: Buffer): boolean {
  return body.length > 0 && body[0] === AuthType.RMCPPlus;
}

// ---------------------------------- App commands used before/around a session ---

export const AppCmd = {
  GetDeviceId: 0x01,
  GetChannelAuthCapabilities: 0x38,
  GetSystemGuid: 0x37,
  SetSessionPrivilegeLevel: 0x3b,
  CloseSession: 0x3c,
  GetChannelCipherSuites: 0x54,
} as const;

export interface AuthCapabilities {
  channel: number;
  /** Extended (v2.0) data present. */
  ipmi20Ext: boolean;
  ipmi15: boolean;
  ipmi20: boolean;
  /** IPMI v1.5 auth types the channel enables. */
  authTypes: { none: boolean; md2: boolean; md5: boolean; password: boolean; oem: boolean };
  kgSet: boolean;
  perMessageAuthDisabled: boolean;
  userLevelAuthDisabled: boolean;
  nonNullUsers: boolean;
  nullUsers: boolean;
  anonymousLogin: boolean;
  oemIana: number;
  oemAux: number;
}

/** Get Channel Authentication Capabilities request (22.13): channel 0x0E (this one), bit 7 = v2.0 data. */
export function encodeAuthCapsRequest(privilege: number, channel = 0x0e): Buffer {
  return Buffer.from([0x80 | (channel & 0x0f), privilege & 0x0f]);
}

/** Response data after the completion code (22.13 table 22-15). */
export function decodeAuthCaps(d: Buffer): AuthCapabilities {
  need(d, 8, 'Get Channel Authentication Capabilities');
  const at = d[1]!;
  const ext = (at & 0x80) !== 0;
  const s = d[2]!;
  return {
    channel: d[0]! & 0x0f,
    ipmi20Ext: ext,
    ipmi15: ext ? (d[3]! & 0x01) !== 0 : true,
    ipmi20: ext && (d[3]! & 0x02) !== 0,
    authTypes: {
      none: (at & 0x01) !== 0,
      md2: (at & 0x02) !== 0,
      md5: (at & 0x04) !== 0,
      password: (at & 0x10) !== 0,
      oem: (at & 0x20) !== 0,
    },
    kgSet: (s & 0x20) !== 0,
    perMessageAuthDisabled: (s & 0x10) !== 0,
    userLevelAuthDisabled: (s & 0x08) !== 0,
    nonNullUsers: (s & 0x04) !== 0,
    nullUsers: (s & 0x02) !== 0,
    anonymousLogin: (s & 0x01) !== 0,
    oemIana: d[4]! | (d[5]! << 8) | (d[6]! << 16),
    oemAux: d[7]!,
  };
}

export interface CipherSuiteRecord {
  id: number;
  oemIana?: number;
  auth: number[];
  integrity: number[];
  confidentiality: number[];
}

/**
 * Parses the concatenated record bytes of Get Channel Cipher Suites
 * (22.15, table 22-19): 0xC0 id | 0xC1 id iana(3), then algorithm bytes
 * tagged 00b auth / 01b integrity / 10b confidentiality in bits 7:6.
 */
export function decodeCipherSuiteRecords(d: Buffer): CipherSuiteRecord[] {
  const out: CipherSuiteRecord[] = [];
  let i = 0;
  let cur: CipherSuiteRecord | undefined;
  while (i < d.length) {
    const b = d[i]!;
    if (b === 0xc0 || b === 0xc1) {
      need(d, i + 2 + (b === 0xc1 ? 3 : 0), 'cipher suite record');
      cur = { id: d[i + 1]!, auth: [], integrity: [], confidentiality: [] };
      if (b === 0xc1) {
        cur.oemIana = d[i + 2]! | (d[i + 3]! << 8) | (d[i + 4]! << 16);
        i += 5;
      } else i += 2;
      out.push(cur);
      continue;
    }
    if (!cur) throw new DecodeError(`cipher suite data starts with 0x${b.toString(16)}, not a record tag`);
    const tag = b & 0xc0;
    if (tag === 0x00) cur.auth.push(b & 0x3f);
    else if (tag === 0x40) cur.integrity.push(b & 0x3f);
    else if (tag === 0x80) cur.confidentiality.push(b & 0x3f);
    else throw new DecodeError(`unexpected cipher suite byte 0x${b.toString(16)}`);
    i += 1;
  }
  return out;
}
