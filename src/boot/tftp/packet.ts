/**
 * TFTP packet codec: RFC 1350 section 5 (packet formats), RFC 2347 (option
 * extension, OACK = opcode 6). Pure functions, no sockets.
 *
 * The decoder never throws: anything that is not a well-formed packet comes
 * back as `{ op: 'invalid', reason }` so the server can decide to drop it or
 * answer with ERROR 4 (illegal operation), never crash.
 */

export const Opcode = {
  RRQ: 1,
  WRQ: 2,
  DATA: 3,
  ACK: 4,
  ERROR: 5,
  OACK: 6,
} as const;

/** RFC 1350 appendix "Error Codes", plus 8 from RFC 2347 (option negotiation refused). */
export const ErrorCode = {
  notDefined: 0,
  fileNotFound: 1,
  accessViolation: 2,
  diskFull: 3,
  illegalOperation: 4,
  unknownTid: 5,
  fileExists: 6,
  noSuchUser: 7,
  badOptions: 8,
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export type Mode = 'octet' | 'netascii' | 'mail';

export interface RequestPacket {
  op: 'rrq' | 'wrq';
  filename: string;
  mode: Mode;
  /** Option names lower-cased (RFC 2347: case-insensitive); values as sent. */
  options: Map<string, string>;
}
export interface DataPacket {
  op: 'data';
  block: number;
  data: Buffer;
}
export interface AckPacket {
  op: 'ack';
  block: number;
}
export interface ErrorPacket {
  op: 'error';
  code: number;
  message: string;
}
export interface OackPacket {
  op: 'oack';
  options: Map<string, string>;
}
export interface InvalidPacket {
  op: 'invalid';
  reason: string;
}
export type Packet = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket | InvalidPacket;

/** Longest filename we accept; iPXE/PXE ROMs send short paths, and a bound keeps hostile input cheap. */
const MAX_FILENAME = 1024;
const MAX_OPTIONS = 32;

/**
 * Split a run of NUL-terminated strings (RFC 1350 section 5: "string" fields
 * are netascii terminated by a zero byte). Returns null if the last string is
 * not terminated.
 */
function splitStrings(buf: Buffer, start: number): string[] | null {
  const out: string[] = [];
  let i = start;
  while (i < buf.length) {
    const end = buf.indexOf(0, i);
    if (end < 0) return null;
    out.push(buf.toString('latin1', i, end));
    i = end + 1;
  }
  return out;
}

export function decode(buf: Buffer): Packet {
  if (buf.length < 4) return { op: 'invalid', reason: 'short packet' };
  const opcode = buf.readUInt16BE(0);
  switch (opcode) {
    case Opcode.RRQ:
    case Opcode.WRQ: {
      const parts = splitStrings(buf, 2);
      if (!parts || parts.length < 2) return { op: 'invalid', reason: 'request not NUL-terminated' };
      const [filename, modeRaw, ...rest] = parts as [string, string, ...string[]];
      if (filename.length === 0) return { op: 'invalid', reason: 'empty filename' };
      if (filename.length > MAX_FILENAME) return { op: 'invalid', reason: 'filename too long' };
      const mode = modeRaw.toLowerCase();
      if (mode !== 'octet' && mode !== 'netascii' && mode !== 'mail') {
        return { op: 'invalid', reason: `unknown mode ${JSON.stringify(modeRaw.slice(0, 32))}` };
      }
      // RFC 2347: options follow as name/value pairs. Some old clients pad the
      // request with a trailing NUL; an odd count with an empty last string is tolerated.
      if (rest.length % 2 === 1) {
        if (rest[rest.length - 1] !== '') return { op: 'invalid', reason: 'option without value' };
        rest.pop();
      }
      if (rest.length / 2 > MAX_OPTIONS) return { op: 'invalid', reason: 'too many options' };
      const options = new Map<string, string>();
      for (let i = 0; i < rest.length; i += 2) {
        const name = rest[i]!.toLowerCase();
        if (name === '') return { op: 'invalid', reason: 'empty option name' };
        // RFC 2347: a repeated option is ambiguous; the first one wins.
        if (!options.has(name)) options.set(name, rest[i + 1]!);
      }
      return { op: opcode === Opcode.RRQ ? 'rrq' : 'wrq', filename, mode, options };
    }
    case Opcode.DATA:
      if (buf.length > 4 + 65464) return { op: 'invalid', reason: 'data too long' };
      return { op: 'data', block: buf.readUInt16BE(2), data: buf.subarray(4) };
    case Opcode.ACK:
      // RFC 1350: ACK is exactly 4 bytes; trailing bytes are tolerated (some stacks pad).
      return { op: 'ack', block: buf.readUInt16BE(2) };
    case Opcode.ERROR: {
      const end = buf.indexOf(0, 4);
      const message = buf.toString('latin1', 4, end < 0 ? Math.min(buf.length, 4 + 512) : Math.min(end, 4 + 512));
      return { op: 'error', code: buf.readUInt16BE(2), message };
    }
    case Opcode.OACK: {
      const parts = splitStrings(buf, 2);
      if (!parts || parts.length % 2 !== 0) return { op: 'invalid', reason: 'bad OACK' };
      const options = new Map<string, string>();
      for (let i = 0; i < parts.length; i += 2) options.set(parts[i]!.toLowerCase(), parts[i + 1]!);
      return { op: 'oack', options };
    }
    default:
      return { op: 'invalid', reason: `unknown opcode ${opcode}` };
  }
}

function strings(op: number, list: string[]): Buffer {
  let len = 2;
  for (const s of list) len += Buffer.byteLength(s, 'latin1') + 1;
  const b = Buffer.alloc(len);
  b.writeUInt16BE(op, 0);
  let o = 2;
  for (const s of list) {
    o += b.write(s, o, 'latin1');
    b[o++] = 0;
  }
  return b;
}

export function encodeRequest(op: 'rrq' | 'wrq', filename: string, mode: Mode, options: Map<string, string> | Record<string, string> = {}): Buffer {
  const opts = options instanceof Map ? [...options] : Object.entries(options);
  return strings(op === 'rrq' ? Opcode.RRQ : Opcode.WRQ, [filename, mode, ...opts.flat()]);
}

/** DATA header only: the payload is sent as a second iovec so file data is never copied. */
export function dataHeader(block: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(Opcode.DATA, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

export function encodeData(block: number, data: Buffer): Buffer {
  return Buffer.concat([dataHeader(block), data]);
}

export function encodeAck(block: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(Opcode.ACK, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

export function encodeError(code: number, message: string): Buffer {
  // RFC 1350: ErrMsg is netascii; keep it printable ASCII so no client chokes on it.
  const safe = message.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
  const b = Buffer.alloc(4 + safe.length + 1);
  b.writeUInt16BE(Opcode.ERROR, 0);
  b.writeUInt16BE(code & 0xffff, 2);
  b.write(safe, 4, 'latin1');
  return b;
}

export function encodeOack(options: Map<string, string>): Buffer {
  return strings(Opcode.OACK, [...options].flat());
}
