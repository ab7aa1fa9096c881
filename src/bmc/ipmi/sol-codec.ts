/**
 * Serial over LAN, the bytes: the SOL payload (IPMI v2.0 section 15.9) and
 * the payload commands that start and stop it: Activate Payload (24.1),
 * Deactivate Payload (24.2), Get Payload Activation Status (24.4), Get
 * Payload Instance Info (24.5).
 * Pure functions over Buffers.
 */
import { DecodeError, need } from './decode.js';

/** App commands of chapter 24 (netFn App, table G-1). */
export const PayloadCmd = { Activate: 0x48, Deactivate: 0x49, ActivationStatus: 0x4a, InstanceInfo: 0x4b } as const;

/** SOL is payload type 1 (13.27.3); kseed only ever uses instance 1. */
export const SOL_PAYLOAD = 0x01;

/** Completion codes specific to Activate Payload (24.1). */
export const ACTIVATE_CODES: Readonly<Record<number, string>> = {
  0x80: 'payload already active on another session',
  0x81: 'payload type is disabled',
  0x82: 'payload activation limit reached',
  0x83: 'cannot activate payload with encryption',
  0x84: 'cannot activate payload without encryption',
};

/** Completion codes specific to Deactivate Payload (24.2). */
export const DEACTIVATE_CODES: Readonly<Record<number, string>> = {
  0x80: 'payload already deactivated',
  0x81: 'payload type is disabled',
};

export interface ActivateOptions {
  instance?: number;
  /** Ask for the payload's own encryption / authentication (24.1 auxiliary byte 1, bits 7 and 6). */
  encrypt?: boolean;
  authenticate?: boolean;
}

/**
 * Activate Payload request (24.1). Auxiliary data byte 1 for SOL: bit 7
 * encryption, bit 6 authentication, bits 3:2 shared serial alert behaviour
 * (01b: deferred while SOL is active, so alerts do not break the console),
 * bit 1 startup handshake (0: the BMC asserts CTS and DCD/DSR at once).
 */
export function encodeActivatePayload(o: ActivateOptions = {}): Buffer {
  const aux = (o.encrypt !== false ? 0x80 : 0) | (o.authenticate !== false ? 0x40 : 0) | (0b01 << 2);
  return Buffer.from([SOL_PAYLOAD, (o.instance ?? 1) & 0x0f, aux, 0, 0, 0]);
}

export interface ActivatedPayload {
  /** Largest SOL payload (header included) the BMC accepts from us. */
  inboundSize: number;
  /** Largest SOL payload the BMC sends. */
  outboundSize: number;
  /** UDP port the payload travels on; 623 or the session's port on most BMCs. */
  port: number;
  /** 0xFFFF = no VLAN. */
  vlan: number;
}

/** Activate Payload response data after the completion code (24.1, bytes 2-13). */
export function decodeActivatePayload(d: Buffer): ActivatedPayload {
  need(d, 12, 'Activate Payload response');
  return { inboundSize: d.readUInt16LE(4), outboundSize: d.readUInt16LE(6), port: d.readUInt16LE(8), vlan: d.readUInt16LE(10) };
}

/** Deactivate Payload request (24.2): type, instance, four bytes of auxiliary data (0 for SOL). */
export function encodeDeactivatePayload(instance = 1): Buffer {
  return Buffer.from([SOL_PAYLOAD, instance & 0x0f, 0, 0, 0, 0]);
}

export interface ActivationStatus {
  /** How many instances of the payload the BMC supports at once. */
  capacity: number;
  /** Active instance numbers, 1-based. */
  active: number[];
}

/** Get Payload Instance Info request (24.5): payload type, instance. */
export function encodePayloadInstanceInfo(instance = 1): Buffer {
  return Buffer.from([SOL_PAYLOAD, instance & 0x0f]);
}

/**
 * Get Payload Instance Info response data (24.5, bytes 2-5 of 13): the BMC's
 * ID of the session that activated the instance, 0 when it is not active.
 */
export function decodePayloadInstanceInfo(d: Buffer): { sessionId: number } {
  need(d, 4, 'Get Payload Instance Info response');
  return { sessionId: d.readUInt32LE(0) };
}

/** Get Payload Activation Status response data (24.4): capacity, then a bit per instance 1-16. */
export function decodeActivationStatus(d: Buffer): ActivationStatus {
  need(d, 3, 'Get Payload Activation Status response');
  const active: number[] = [];
  for (let i = 0; i < 16; i++) if ((d[1 + (i >> 3)]! >> (i & 7)) & 1) active.push(i + 1);
  return { capacity: d[0]! & 0x0f, active };
}

// ------------------------------------------------- SOL payload (15.9) ---

/** Operation bits, remote console to BMC (15.9 table 15-2, byte 4). */
export const SolOp = {
  Nack: 0x40,
  RingWor: 0x20,
  Break: 0x10,
  CtsPause: 0x08,
  DropDcdDsr: 0x04,
  FlushInbound: 0x02,
  FlushOutbound: 0x01,
} as const;

/** Status bits, BMC to remote console (15.9 table 15-2, byte 4). */
export const SolStatus = {
  Nack: 0x40,
  TransferUnavailable: 0x20,
  Deactivating: 0x10,
  TransmitOverrun: 0x08,
  BreakDetected: 0x04,
} as const;

export interface SolPacket {
  /** 1-15 for a packet carrying characters; 0 for an ACK/NACK-only packet. */
  seq: number;
  /** Sequence number of the packet this one acknowledges, 0 = none. */
  ack: number;
  /** Characters of the acknowledged packet that were accepted. */
  count: number;
  /** Operation (to the BMC) or status (from it) bits. */
  flags: number;
  data: Buffer;
}

export function encodeSolPacket(p: SolPacket): Buffer {
  if (p.seq < 0 || p.seq > 15 || p.ack < 0 || p.ack > 15) throw new RangeError('SOL sequence numbers are 4 bits');
  if (p.seq === 0 && p.data.length) throw new RangeError('an ACK-only SOL packet (sequence 0) carries no characters');
  return Buffer.concat([Buffer.from([p.seq, p.ack, p.count & 0xff, p.flags & 0xff]), p.data]);
}

export function decodeSolPacket(b: Buffer): SolPacket {
  need(b, 4, 'SOL payload');
  const seq = b[0]! & 0x0f;
  const data = Buffer.from(b.subarray(4));
  if (seq === 0 && data.length) throw new DecodeError(`SOL packet with sequence 0 carries ${data.length} characters`);
  return { seq, ack: b[1]! & 0x0f, count: b[2]!, flags: b[3]!, data };
}

/** Next packet sequence number: 1..15, wrapping past 0 (which means "no data"). */
export function nextSolSeq(seq: number): number {
  return seq >= 15 ? 1 : seq + 1;
}
