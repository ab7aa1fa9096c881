/**
 * DHCPv4 packet codec (RFC 2131 section 2 for the fixed header, RFC 2132 for
 * options, RFC 3396 for long options, RFC 4578 for the PXE options).
 *
 * Decoding is strict: anything that is not a well-formed BOOTREQUEST/BOOTREPLY
 * with the magic cookie and a complete option chain throws a DhcpDecodeError.
 * Callers (the server) catch that one error type and drop the packet; nothing
 * from the wire can make decode() throw anything else.
 */

export class DhcpDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DhcpDecodeError';
  }
}

/** RFC 2132 section 9.6 message types. */
export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;
export type MessageTypeValue = (typeof MessageType)[keyof typeof MessageType];
export const messageTypeName: Record<number, string> = Object.fromEntries(
  Object.entries(MessageType).map(([k, v]) => [v, k]),
);

/** Option codes used by kseed (RFC 2132 unless noted). */
export const Opt = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  BROADCAST: 28,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAM_LIST: 55,
  MESSAGE: 56,
  MAX_SIZE: 57,
  RENEWAL_T1: 58,
  REBINDING_T2: 59,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  TFTP_SERVER: 66,
  BOOTFILE: 67,
  /** RFC 3004 (iPXE sends the bare string "iPXE"). */
  USER_CLASS: 77,
  /** RFC 3046 relay agent information: echoed, never interpreted. */
  RELAY_AGENT: 82,
  /** RFC 4578 2.1 client system architecture. */
  CLIENT_ARCH: 93,
  /** RFC 4578 2.2 client network interface identifier (UNDI version). */
  CLIENT_NDI: 94,
  /** RFC 4578 2.5 client machine identifier (UUID/GUID). */
  CLIENT_UUID: 97,
  /** RFC 2132 8.4 vendor-specific information (PXE: PXE spec 2.1 table 2-1). */
  VENDOR_SPECIFIC: 43,
  /** iPXE encapsulated options (ipxe.org/cfg, "175.x"). */
  IPXE_ENCAP: 175,
  END: 255,
} as const;

/** RFC 2131 section 2: the 'B' (broadcast) bit of `flags`. */
export const FLAG_BROADCAST = 0x8000;
const MAGIC_COOKIE = 0x63825363;
/** RFC 2131 section 2: op(1) .. file(128) is 236 octets, then the cookie. */
const HEADER_LEN = 236;
const OPTIONS_OFFSET = HEADER_LEN + 4;
/** RFC 1542 2.1 / RFC 2131 2: some BOOTP relays and old PXE ROMs drop replies shorter than 300 octets. */
const MIN_REPLY_LEN = 300;

export interface DhcpPacket {
  op: 1 | 2;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** Client hardware address, `hlen` octets (16 max). */
  chaddr: Buffer;
  sname: string;
  file: string;
  /**
   * Options by code, in first-seen order. Repeated instances are concatenated
   * (RFC 3396 section 7), so each value is the whole option.
   */
  options: Map<number, Buffer>;
}

// ---------------------------------------------------------------- addresses

/** Dotted quad to a 32-bit unsigned integer; hand-rolled because it runs several times per packet. */
export function ipToInt(ip: string): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) throw new RangeError(`not an IPv4 address: ${ip}`);
      n = n * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
      if (part > 255) throw new RangeError(`not an IPv4 address: ${ip}`);
    } else {
      throw new RangeError(`not an IPv4 address: ${ip}`);
    }
  }
  if (dots !== 3 || digits === 0) throw new RangeError(`not an IPv4 address: ${ip}`);
  return (n * 256 + part) >>> 0;
}

export function intToIp(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function readIp(buf: Buffer, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

export function ipBytes(ip: string): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(ipToInt(ip));
  return b;
}

/** `aa:bb:cc:dd:ee:ff`, lower case: the inventory's spelling. */
export function macOf(p: Pick<DhcpPacket, 'chaddr' | 'hlen'>): string {
  return [...p.chaddr.subarray(0, Math.min(p.hlen, 16))].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function macBytes(mac: string): Buffer {
  const hex = mac.toLowerCase().split(/[:-]/);
  if (hex.length !== 6 || hex.some((h) => !/^[0-9a-f]{2}$/.test(h))) throw new RangeError(`not a MAC address: ${mac}`);
  return Buffer.from(hex.map((h) => parseInt(h, 16)));
}

// ---------------------------------------------------------------- decoding

/** Zero-terminated field (sname/file) as text; RFC 2131 2 says "null terminated string". */
function readCString(buf: Buffer, off: number, len: number): string {
  const field = buf.subarray(off, off + len);
  const z = field.indexOf(0);
  return field.subarray(0, z === -1 ? len : z).toString('latin1');
}

/**
 * Parse one option area (RFC 2132 section 2: code, len, data; 0 pad, 255 end).
 * `needEnd`: the main options field must end with END (RFC 2131 4.1 "the
 * options field ... MUST be terminated by an end option"); the overloaded
 * sname/file areas may simply run to their end.
 */
function parseOptionArea(buf: Buffer, start: number, end: number, into: Map<number, Buffer[]>, needEnd: boolean): void {
  let i = start;
  while (i < end) {
    const code = buf[i]!;
    if (code === Opt.PAD) {
      i++;
      continue;
    }
    if (code === Opt.END) return;
    if (i + 1 >= end) throw new DhcpDecodeError(`option ${code} at offset ${i}: length octet missing`);
    const len = buf[i + 1]!;
    if (i + 2 + len > end) throw new DhcpDecodeError(`option ${code} at offset ${i}: length ${len} runs past the packet`);
    const data = buf.subarray(i + 2, i + 2 + len);
    const list = into.get(code);
    if (list) list.push(data);
    else into.set(code, [data]);
    i += 2 + len;
  }
  if (needEnd) throw new DhcpDecodeError('options not terminated by an end option (RFC 2131 4.1)');
}

export function decode(buf: Buffer): DhcpPacket {
  if (!Buffer.isBuffer(buf)) throw new DhcpDecodeError('not a buffer');
  if (buf.length < OPTIONS_OFFSET) throw new DhcpDecodeError(`packet too short: ${buf.length} < ${OPTIONS_OFFSET} octets`);
  const op = buf[0]!;
  if (op !== 1 && op !== 2) throw new DhcpDecodeError(`bad op ${op}`);
  const hlen = buf[2]!;
  if (hlen > 16) throw new DhcpDecodeError(`bad hlen ${hlen}`);
  if (buf.readUInt32BE(HEADER_LEN) !== MAGIC_COOKIE) throw new DhcpDecodeError('no DHCP magic cookie (BOOTP is not served)');
  const parts = new Map<number, Buffer[]>();
  parseOptionArea(buf, OPTIONS_OFFSET, buf.length, parts, true);
  // RFC 2132 9.3 option overload: 1 = file holds options, 2 = sname, 3 = both.
  const overload = parts.get(Opt.OVERLOAD);
  let sname = '';
  let file = '';
  if (overload) {
    const v = overload[0]!;
    if (v.length !== 1 || v[0]! < 1 || v[0]! > 3) throw new DhcpDecodeError('bad option overload (52) value');
    if (v[0]! & 1) parseOptionArea(buf, 108, 236, parts, false);
    else file = readCString(buf, 108, 128);
    if (v[0]! & 2) parseOptionArea(buf, 44, 108, parts, false);
    else sname = readCString(buf, 44, 64);
  } else {
    sname = readCString(buf, 44, 64);
    file = readCString(buf, 108, 128);
  }
  const options = new Map<number, Buffer>();
  // views into `buf`, not copies: every datagram arrives in a fresh buffer,
  // and handlers copy what they keep (chaddr, option 97)
  for (const [code, list] of parts) options.set(code, list.length === 1 ? list[0]! : Buffer.concat(list));
  return {
    op: op as 1 | 2,
    htype: buf[1]!,
    hlen,
    hops: buf[3]!,
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: readIp(buf, 12),
    yiaddr: readIp(buf, 16),
    siaddr: readIp(buf, 20),
    giaddr: readIp(buf, 24),
    chaddr: buf.subarray(28, 28 + 16),
    sname,
    file,
    options,
  };
}

// ---------------------------------------------------------------- encoding

/** Octets an option takes on the wire, split per RFC 3396 section 5 when over 255. */
function optionSize(data: Buffer): number {
  return data.length === 0 ? 2 : data.length + 2 * Math.ceil(data.length / 255);
}

function writeOption(out: Buffer, at: number, code: number, data: Buffer): number {
  if (data.length === 0) {
    out[at] = code;
    out[at + 1] = 0;
    return at + 2;
  }
  for (let off = 0; off < data.length; off += 255) {
    const len = Math.min(255, data.length - off);
    out[at] = code;
    out[at + 1] = len;
    data.copy(out, at + 2, off, off + len);
    at += 2 + len;
  }
  return at;
}

function writeCString(buf: Buffer, off: number, len: number, s: string): void {
  if (s.length === 0) return;
  if (Buffer.byteLength(s, 'latin1') > len) throw new RangeError(`field too long (${s.length} > ${len})`);
  buf.write(s, off, len, 'latin1');
}

/**
 * Encode a packet. Option 53 goes first (some PXE ROMs look for it there),
 * then the others in insertion order; END and padding to 300 octets follow.
 */
export function encode(p: DhcpPacket): Buffer {
  let size = OPTIONS_OFFSET + 1;
  for (const [code, data] of p.options) if (code !== Opt.PAD && code !== Opt.END) size += optionSize(data);
  const out = Buffer.alloc(Math.max(size, MIN_REPLY_LEN));
  out[0] = p.op;
  out[1] = p.htype;
  out[2] = p.hlen;
  out[3] = p.hops;
  out.writeUInt32BE(p.xid >>> 0, 4);
  out.writeUInt16BE(p.secs & 0xffff, 8);
  out.writeUInt16BE(p.flags & 0xffff, 10);
  out.writeUInt32BE(ipToInt(p.ciaddr), 12);
  out.writeUInt32BE(ipToInt(p.yiaddr), 16);
  out.writeUInt32BE(ipToInt(p.siaddr), 20);
  out.writeUInt32BE(ipToInt(p.giaddr), 24);
  p.chaddr.copy(out, 28, 0, Math.min(16, p.chaddr.length));
  writeCString(out, 44, 64, p.sname);
  writeCString(out, 108, 128, p.file);
  out.writeUInt32BE(MAGIC_COOKIE, HEADER_LEN);
  let at = OPTIONS_OFFSET;
  const mt = p.options.get(Opt.MESSAGE_TYPE);
  if (mt) at = writeOption(out, at, Opt.MESSAGE_TYPE, mt);
  for (const [code, data] of p.options) {
    if (code === Opt.MESSAGE_TYPE || code === Opt.PAD || code === Opt.END) continue;
    at = writeOption(out, at, code, data);
  }
  out[at] = Opt.END;
  // the rest is zero padding (Buffer.alloc), up to 300 octets
  return out;
}

// ---------------------------------------------------------------- typed option access

export function messageType(p: DhcpPacket): number | undefined {
  const v = p.options.get(Opt.MESSAGE_TYPE);
  return v && v.length === 1 ? v[0] : undefined;
}

export function optIp(p: DhcpPacket, code: number): string | undefined {
  const v = p.options.get(code);
  return v && v.length === 4 ? readIp(v, 0) : undefined;
}

export function optString(p: DhcpPacket, code: number): string | undefined {
  const v = p.options.get(code);
  return v ? v.toString('latin1') : undefined;
}

/** RFC 4578 2.1: a list of 16-bit architecture types; odd length is malformed. */
export function clientArchs(p: DhcpPacket): number[] {
  const v = p.options.get(Opt.CLIENT_ARCH);
  if (!v || v.length === 0 || v.length % 2 !== 0) return [];
  const out: number[] = [];
  for (let i = 0; i < v.length; i += 2) out.push(v.readUInt16BE(i));
  return out;
}

/**
 * RFC 3004 section 4: user class is a list of (len, data) items. iPXE and
 * some others send the bare string instead, so both readings are returned.
 */
export function userClasses(p: DhcpPacket): string[] {
  const v = p.options.get(Opt.USER_CLASS);
  if (!v || v.length === 0) return [];
  const out = [v.toString('latin1')];
  let i = 0;
  const items: string[] = [];
  while (i < v.length) {
    const len = v[i]!;
    if (len === 0 || i + 1 + len > v.length) return out;
    items.push(v.subarray(i + 1, i + 1 + len).toString('latin1'));
    i += 1 + len;
  }
  return [...out, ...items];
}

/** Build an encapsulated option area (RFC 2132 8.4 layout) ending with END. */
export function encapsulate(sub: [number, Buffer][]): Buffer {
  const chunks: Buffer[] = [];
  for (const [code, data] of sub) chunks.push(Buffer.from([code, data.length]), data);
  chunks.push(Buffer.from([Opt.END]));
  return Buffer.concat(chunks);
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** An empty BOOTREPLY mirroring the request's transaction (RFC 2131 table 3). */
export function replyTo(req: DhcpPacket, type: MessageTypeValue): DhcpPacket {
  return {
    op: 2,
    htype: req.htype,
    hlen: req.hlen,
    hops: 0,
    xid: req.xid,
    secs: 0,
    flags: req.flags,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: req.giaddr,
    chaddr: Buffer.from(req.chaddr),
    sname: '',
    file: '',
    options: new Map([[Opt.MESSAGE_TYPE, Buffer.from([type])]]),
  };
}
