/**
 * IPMI command payloads and their answers, as pure functions over the
 * response data (after the completion code). Section numbers are those of
 * the IPMI v2.0 rev 1.1 specification.
 */
import type { BootDevice, PowerAction } from '../types.js';
import { DecodeError } from './codec.js';

function need(buf: Buffer, len: number, what: string): void {
  if (buf.length < len) throw new DecodeError(`${what}: truncated (${buf.length} of ${len} bytes)`);
}

export const ChassisCmd = { GetStatus: 0x01, Control: 0x02, SetBootOptions: 0x08, GetBootOptions: 0x09 } as const;
export const StorageCmd = { GetFruInfo: 0x10, ReadFru: 0x11 } as const;
export const TransportCmd = { GetLanConfig: 0x02 } as const;

// ----------------------------------------------------- Get Device ID (20.1) ---

export interface DeviceId {
  deviceId: number;
  deviceRevision: number;
  providesSdrs: boolean;
  /** False while the device firmware is being updated. */
  available: boolean;
  /** "major.minor" with the minor in BCD, as ipmitool prints it. */
  firmware: string;
  ipmiVersion: string;
  additionalSupport: number;
  manufacturerId: number;
  productId: number;
  auxFirmware?: Buffer;
}

function bcd(b: number): string {
  return `${(b >> 4) & 0x0f}${b & 0x0f}`;
}

export function decodeDeviceId(d: Buffer): DeviceId {
  need(d, 11, 'Get Device ID');
  return {
    deviceId: d[0]!,
    deviceRevision: d[1]! & 0x0f,
    providesSdrs: (d[1]! & 0x80) !== 0,
    available: (d[2]! & 0x80) === 0,
    firmware: `${d[2]! & 0x7f}.${bcd(d[3]!)}`,
    // BCD, least significant digit in the high nibble: 0x51 = 1.5, 0x02 = 2.0
    ipmiVersion: `${d[4]! & 0x0f}.${(d[4]! >> 4) & 0x0f}`,
    additionalSupport: d[5]!,
    manufacturerId: (d[6]! | (d[7]! << 8) | (d[8]! << 16)) & 0x0fffff,
    productId: d[9]! | (d[10]! << 8),
    ...(d.length >= 15 ? { auxFirmware: Buffer.from(d.subarray(11, 15)) } : {}),
  };
}

// --------------------------------------------------- Get System GUID (22.14) ---

/**
 * The 16 GUID bytes as the SMBIOS/RFC 4122 string hosts report for the same
 * machine (dmidecode, Ironic): the first three fields are little-endian on
 * the wire, the rest in order. ipmitool prints the same for "SMBIOS" encoding.
 */
export function decodeGuid(d: Buffer): string {
  need(d, 16, 'Get System GUID');
  const h = (a: number, b: number) => Buffer.from(d.subarray(a, b)).toString('hex');
  const rev = (a: number, b: number) => Buffer.from(d.subarray(a, b)).reverse().toString('hex');
  return `${rev(0, 4)}-${rev(4, 6)}-${rev(6, 8)}-${h(8, 10)}-${h(10, 16)}`;
}

// ----------------------------------------------- Get Chassis Status (28.2) ---

export interface ChassisStatus {
  powerOn: boolean;
  overload: boolean;
  interlock: boolean;
  powerFault: boolean;
  controlFault: boolean;
  restorePolicy: 'always-off' | 'previous' | 'always-on' | 'unknown';
  lastPowerEvent: number;
  intrusion: boolean;
  driveFault: boolean;
  coolingFault: boolean;
}

export function decodeChassisStatus(d: Buffer): ChassisStatus {
  need(d, 3, 'Get Chassis Status');
  const p = d[0]!;
  const policy = (['always-off', 'previous', 'always-on', 'unknown'] as const)[(p >> 5) & 0x03]!;
  return {
    powerOn: (p & 0x01) !== 0,
    overload: (p & 0x02) !== 0,
    interlock: (p & 0x04) !== 0,
    powerFault: (p & 0x08) !== 0,
    controlFault: (p & 0x10) !== 0,
    restorePolicy: policy,
    lastPowerEvent: d[1]!,
    intrusion: (d[2]! & 0x01) !== 0,
    driveFault: (d[2]! & 0x04) !== 0,
    coolingFault: (d[2]! & 0x08) !== 0,
  };
}

// --------------------------------------------------- Chassis Control (28.3) ---

export const CHASSIS_CONTROL: Readonly<Record<PowerAction, number>> = {
  off: 0x00,
  on: 0x01,
  cycle: 0x02,
  reset: 0x03,
  // 0x04 is the diagnostic interrupt (NMI), not offered
  soft: 0x05,
};

// --------------------------------------- System Boot Options (28.12, 28.13) ---

export const BootParam = { SetInProgress: 0, InfoAck: 4, BootFlags: 5 } as const;

export const BOOT_OPTION_CODES: Readonly<Record<number, string>> = {
  0x80: 'parameter not supported',
  0x81: "attempt to set 'set in progress' when not in 'set complete' state",
  0x82: 'attempt to write read-only parameter',
};

/** Boot device selector, boot flags data 2 bits 5:2 (table 28-14). */
const DEVICE_CODE: Readonly<Record<BootDevice, number>> = { none: 0x0, pxe: 0x1, disk: 0x2, cdrom: 0x5, bios: 0x6 };

export interface BootFlags {
  /** Data 1 bit 7; some BMCs (ipmi_sim) never report it set. */
  valid: boolean;
  persistent: boolean;
  uefi: boolean;
  /** 'other' covers selectors kseed does not set (safe mode, diagnostic, floppy...). */
  device: BootDevice | 'other';
  selector: number;
  raw: Buffer;
}

/** Set System Boot Options data for parameter 5 (boot flags). */
export function encodeBootFlags(device: BootDevice, uefi: boolean, persistent: boolean): Buffer {
  const d1 = 0x80 | (persistent ? 0x40 : 0) | (uefi ? 0x20 : 0);
  return Buffer.from([BootParam.BootFlags, d1, (DEVICE_CODE[device] & 0x0f) << 2, 0x00, 0x00, 0x00]);
}

/** Get System Boot Options response for parameter 5: version, parameter byte, 5 data bytes. */
export function decodeBootFlags(d: Buffer): BootFlags {
  need(d, 7, 'Get System Boot Options (boot flags)');
  if ((d[1]! & 0x7f) !== BootParam.BootFlags) throw new DecodeError(`boot options answer is for parameter ${d[1]! & 0x7f}, not 5`);
  const d1 = d[2]!;
  const selector = (d[3]! >> 2) & 0x0f;
  const byCode = (Object.entries(DEVICE_CODE) as [BootDevice, number][]).find(([, c]) => c === selector);
  return {
    valid: (d1 & 0x80) !== 0,
    persistent: (d1 & 0x40) !== 0,
    uefi: (d1 & 0x20) !== 0,
    device: byCode ? byCode[0] : 'other',
    selector,
    raw: Buffer.from(d.subarray(2, 7)),
  };
}

// ------------------------------------------ LAN configuration (23.2) ---

export const LanParam = { IpAddress: 3, MacAddress: 5 } as const;

export function decodeLanIp(d: Buffer): string {
  need(d, 5, 'LAN parameter 3 (IP address)');
  return [...d.subarray(1, 5)].join('.');
}

export function decodeLanMac(d: Buffer): string {
  need(d, 7, 'LAN parameter 5 (MAC address)');
  return [...d.subarray(1, 7)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

// -------------------------------- FRU inventory (Platform Management FRU 1.0) ---

export interface FruAreaInfo {
  size: number;
  wordAccess: boolean;
}

export function decodeFruInfo(d: Buffer): FruAreaInfo {
  need(d, 3, 'Get FRU Inventory Area Info');
  return { size: d[0]! | (d[1]! << 8), wordAccess: (d[2]! & 0x01) !== 0 };
}

/** Read FRU Data answer: count, then the bytes. */
export function decodeFruRead(d: Buffer): Buffer {
  need(d, 1, 'Read FRU Data');
  const n = d[0]!;
  need(d, 1 + n, 'Read FRU Data');
  return Buffer.from(d.subarray(1, 1 + n));
}

export interface FruInventory {
  chassis?: { type: number; partNumber?: string; serial?: string };
  board?: { mfgDate?: string; manufacturer?: string; product?: string; serial?: string; partNumber?: string };
  product?: { manufacturer?: string; name?: string; partNumber?: string; version?: string; serial?: string; assetTag?: string };
}

function sum8(b: Buffer): number {
  let s = 0;
  for (const x of b) s = (s + x) & 0xff;
  return s;
}

const BCD_PLUS = '0123456789 -.???';

/** One type/length-prefixed field (FRU spec 13). */
function decodeField(buf: Buffer, off: number, lang: number): { value: string | undefined; next: number; end: boolean } {
  if (off >= buf.length) throw new DecodeError('FRU area ends without the 0xC1 end marker');
  const tl = buf[off]!;
  if (tl === 0xc1) return { value: undefined, next: off + 1, end: true };
  const len = tl & 0x3f;
  const type = tl >> 6;
  if (off + 1 + len > buf.length) throw new DecodeError('FRU field runs past its area');
  const raw = buf.subarray(off + 1, off + 1 + len);
  let value: string;
  if (type === 0) value = raw.toString('hex');
  else if (type === 1) value = [...raw].map((b) => `${BCD_PLUS[b >> 4]}${BCD_PLUS[b & 0x0f]}`).join('');
  else if (type === 2) {
    // 6-bit packed ASCII: 4 characters per 3 bytes, LSB first, 0x20 offset
    let bits = 0;
    let n = 0;
    let s = '';
    for (const b of raw) {
      bits |= b << n;
      n += 8;
      while (n >= 6) {
        s += String.fromCharCode((bits & 0x3f) + 0x20);
        bits >>= 6;
        n -= 6;
      }
    }
    value = s;
  } else {
    // 8-bit ASCII+Latin-1 for English (language 0 or 25), otherwise 16-bit Unicode
    value = lang === 0 || lang === 25 ? raw.toString('latin1') : raw.toString('utf16le');
  }
  return { value: value.replace(/\0+$/, '').trim() || undefined, next: off + 1 + len, end: false };
}

function areaFields(data: Buffer, offset8: number, what: string, fixed: number, langAt?: number): { fields: (string | undefined)[]; area: Buffer } {
  const start = offset8 * 8;
  need(data, start + 2, `FRU ${what} area`);
  const len = data[start + 1]! * 8;
  if (len < fixed + 2) throw new DecodeError(`FRU ${what} area length ${len} is too short`);
  need(data, start + len, `FRU ${what} area`);
  const area = data.subarray(start, start + len);
  if (sum8(area) !== 0) throw new DecodeError(`FRU ${what} area checksum mismatch`);
  const lang = langAt === undefined ? 0 : area[langAt]!;
  const fields: (string | undefined)[] = [];
  let off = fixed;
  for (;;) {
    const f = decodeField(area, off, lang);
    if (f.end) break;
    fields.push(f.value);
    off = f.next;
  }
  return { fields, area };
}

/**
 * How many bytes of a FRU image hold its common header and the chassis, board
 * and product areas (all parseFru reads), from the bytes read so far
 * (Platform Management FRU spec 1.0, 8 and 10-12: area offsets and lengths are
 * in multiples of 8 bytes, each area's length is its second byte). Undefined
 * while an area's length byte is not read yet, or the header is not a valid
 * version 1 one (then the caller reads on and parseFru says what is wrong).
 */
export function fruExtent(head: Buffer): number | undefined {
  if (head.length < 8) return undefined;
  const hdr = head.subarray(0, 8);
  if ((hdr[0]! & 0x0f) !== 1 || sum8(hdr) !== 0) return undefined;
  let end = 8;
  for (const o of [hdr[2]!, hdr[3]!, hdr[4]!]) {
    if (!o) continue;
    const start = o * 8;
    if (head.length < start + 2) return undefined;
    end = Math.max(end, start + head[start + 1]! * 8);
  }
  return end;
}

/** Parses a FRU image: common header, chassis, board and product info areas. */
export function parseFru(data: Buffer): FruInventory {
  need(data, 8, 'FRU common header');
  const hdr = data.subarray(0, 8);
  if ((hdr[0]! & 0x0f) !== 1) throw new DecodeError(`FRU format version ${hdr[0]! & 0x0f} is not 1`);
  if (sum8(hdr) !== 0) throw new DecodeError('FRU common header checksum mismatch');
  const inv: FruInventory = {};
  if (hdr[2]) {
    const { fields, area } = areaFields(data, hdr[2], 'chassis', 3);
    inv.chassis = { type: area[2]!, partNumber: fields[0], serial: fields[1] };
  }
  if (hdr[3]) {
    const { fields, area } = areaFields(data, hdr[3], 'board', 6, 2);
    const mins = area[3]! | (area[4]! << 8) | (area[5]! << 16);
    inv.board = {
      // minutes since 1996-01-01 00:00 UTC; 0 = unspecified
      mfgDate: mins ? new Date(Date.UTC(1996, 0, 1) + mins * 60_000).toISOString() : undefined,
      manufacturer: fields[0],
      product: fields[1],
      serial: fields[2],
      partNumber: fields[3],
    };
  }
  if (hdr[4]) {
    const { fields } = areaFields(data, hdr[4], 'product', 3, 2);
    inv.product = {
      manufacturer: fields[0],
      name: fields[1],
      partNumber: fields[2],
      version: fields[3],
      serial: fields[4],
      assetTag: fields[5],
    };
  }
  return inv;
}

// ------------------------------------------------- IANA enterprise numbers ---

/** A few BMC vendors by IANA Private Enterprise Number (iana.org/assignments/enterprise-numbers). */
export const IANA_VENDORS: Readonly<Record<number, string>> = {
  2: 'IBM',
  11: 'HP',
  119: 'NEC',
  343: 'Intel',
  674: 'Dell',
  2011: 'Huawei',
  4542: 'Alerting Standards Forum',
  4753: 'MontaVista (OpenIPMI)',
  5771: 'Cisco',
  7244: 'Quanta',
  10368: 'Fujitsu',
  10876: 'Supermicro',
  15370: 'Giga-Byte',
  19046: 'Lenovo',
  20301: 'IBM',
  37945: 'Inspur',
  47196: 'Hewlett Packard Enterprise',
  49622: 'ASRockRack',
};

export function vendorName(iana: number): string | undefined {
  return IANA_VENDORS[iana];
}

// ------------------------------------------------ names and privileges ---

/** Commands a User-level session may send (IPMI v2.0 appendix G), as `netFn:cmd`. */
export const USER_LEVEL_COMMANDS = new Set(['6:1', '6:55', '6:56', '6:59', '6:60', '0:1', '10:16', '10:17']);

const NAMES: Record<string, string> = {
  '0:1': 'Get Chassis Status',
  '0:2': 'Chassis Control',
  '0:8': 'Set System Boot Options',
  '0:9': 'Get System Boot Options',
  '6:1': 'Get Device ID',
  '6:55': 'Get System GUID',
  '6:59': 'Set Session Privilege Level',
  '6:60': 'Close Session',
  '6:72': 'Activate Payload',
  '6:73': 'Deactivate Payload',
  '6:74': 'Get Payload Activation Status',
  '10:16': 'Get FRU Inventory Area Info',
  '10:17': 'Read FRU Data',
  '12:2': 'Get LAN Configuration Parameters',
};

export function commandName(netFn: number, cmd: number): string {
  return NAMES[`${netFn}:${cmd}`] ?? `command netFn 0x${netFn.toString(16)} cmd 0x${cmd.toString(16)}`;
}
