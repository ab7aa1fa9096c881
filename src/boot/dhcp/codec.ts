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

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new RangeError(`not an IPv4 address: ${ip}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) throw new RangeError(`not an IPv4 address: ${ip}`);
    const v = Number(p);
    if (v > 255) throw new RangeError(`not an IPv4 address: ${ip}`);
    n = n * 256 + v;
  }
  return n >>> 0;
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
  for (const [code, list] of parts) options.set(code, list.length === 1 ? Buffer.from(list[0]!) : Buffer.concat(list));
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
    chaddr: Buffer.from(buf.subarray(28, 28 + 16)),
    sname,
    file,
    options,
  };
}

// ---------------------------------------------------------------- encoding

function writeOption(chunks: Buffer[], code: number, data: Buffer): void {
  // RFC 3396 section 5: values over 255 octets are split into consecutive instances.
  if (data.length === 0) {
    chunks.push(Buffer.from([code, 0]));
    return;
  }
  for (let off = 0; off < data.length; off += 255) {
    const part = data.subarray(off, Math.min(off + 255, data.length));
    chunks.push(Buffer.from([code, part.length]), part);
  }
}

function writeCString(buf: Buffer, off: number, len: number, s: string): void {
  const b = Buffer.from(s, 'latin1');
  if (b.length > len) throw new RangeError(`field too long (${b.length} > ${len})`);
  b.copy(buf, off);
}

/**
 * Encode a packet. Option 53 goes first (some PXE ROMs look for it there),
 * then the others in insertion order; END and padding to 300 octets follow.
 */
export function encode(p: DhcpPacket): Buffer {
  const head = Buffer.alloc(OPTIONS_OFFSET);
  head[0] = p.op;
  head[1] = p.htype;
  head[2] = p.hlen;
  head[3] = p.hops;
  head.writeUInt32BE(p.xid >>> 0, 4);
  head.writeUInt16BE(p.secs & 0xffff, 8);
  head.writeUInt16BE(p.flags & 0xffff, 10);
  ipBytes(p.ciaddr).copy(head, 12);
  ipBytes(p.yiaddr).copy(head, 16);
  ipBytes(p.siaddr).copy(head, 20);
  ipBytes(p.giaddr).copy(head, 24);
  p.chaddr.subarray(0, 16).copy(head, 28);
  writeCString(head, 44, 64, p.sname);
  writeCString(head, 108, 128, p.file);
  head.writeUInt32BE(MAGIC_COOKIE, HEADER_LEN);
  const chunks: Buffer[] = [head];
  const mt = p.options.get(Opt.MESSAGE_TYPE);
  if (mt) writeOption(chunks, Opt.MESSAGE_TYPE, mt);
  for (const [code, data] of p.options) {
    if (code === Opt.MESSAGE_TYPE || code === Opt.PAD || code === Opt.END) continue;
    writeOption(chunks, code, data);
  }
  chunks.push(Buffer.from([Opt.END]));
  let out = Buffer.concat(chunks);
  if (out.length < MIN_REPLY_LEN) out = Buffer.concat([out, Buffer.alloc(MIN_REPLY_LEN - out.length)]);
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
