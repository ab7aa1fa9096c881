/**
 * Which first-stage loader a PXE client gets: a pure function of what the
 * client says about itself (RFC 4578 option 93, option 60, option 77) and of
 * the seed's addresses. No sockets, no state: the handlers and the tests
 * call the same thing.
 */
import { clientArchs, type DhcpPacket, Opt, optString, userClasses } from './codec.js';

/**
 * RFC 4578 2.1 processor architecture types, as registered by IANA
 * ("Processor Architecture Types"); 0x0f..0x13 are the UEFI HTTP boot ones
 * (UEFI 2.5 section 24.7).
 */
export const Arch = {
  X86_BIOS: 0x00,
  X86_UEFI: 0x06,
  X64_UEFI: 0x07,
  /** RFC 4578 says "EFI BC", IANA "EFI x86-64"; firmware of both kinds sends it for x64. */
  X64_UEFI_ALT: 0x09,
  ARM32_UEFI: 0x0a,
  ARM64_UEFI: 0x0b,
  X86_UEFI_HTTP: 0x0f,
  X64_UEFI_HTTP: 0x10,
  ARM32_UEFI_HTTP: 0x12,
  ARM64_UEFI_HTTP: 0x13,
} as const;

export type Firmware = 'bios' | 'uefi-x64' | 'uefi-arm64' | 'uefi-x86' | 'unknown';

/** The iPXE builds kseed hands out (Debian's `ipxe` package names, plus arm64). */
export interface BootFiles {
  bios: string;
  /** x86-64 UEFI with the NIC's own driver (SNP): works everywhere the firmware has a driver. */
  uefiSnp: string;
  /** x86-64 UEFI with iPXE's native drivers: faster NICs, fewer firmware bugs. */
  uefiFull: string;
  arm64: string;
}

export const DEFAULT_BOOT_FILES: BootFiles = {
  bios: 'undionly.kpxe',
  uefiSnp: 'snponly.efi',
  uefiFull: 'ipxe.efi',
  arm64: 'snponly-arm64.efi',
};

export interface BootClient {
  /** PXE (option 60 "PXEClient...") or UEFI HTTP boot (option 60 "HTTPClient...") or neither. */
  kind: 'pxe' | 'http' | 'none';
  firmware: Firmware;
  /** First-stage iPXE asking again (option 77 "iPXE"): gets its script, not iPXE again. */
  ipxe: boolean;
  archs: number[];
}

export function describeClient(p: DhcpPacket): BootClient {
  const vc = optString(p, Opt.VENDOR_CLASS) ?? '';
  const kind = vc.startsWith('PXEClient') ? 'pxe' : vc.startsWith('HTTPClient') ? 'http' : 'none';
  const archs = clientArchs(p);
  return { kind, firmware: firmwareOf(archs), ipxe: userClasses(p).includes('iPXE'), archs };
}

export function firmwareOf(archs: number[]): Firmware {
  // RFC 4578 2.1: the list is in order of preference; the first one we know decides.
  for (const a of archs) {
    switch (a) {
      case Arch.X86_BIOS:
        return 'bios';
      case Arch.X64_UEFI:
      case Arch.X64_UEFI_ALT:
      case Arch.X64_UEFI_HTTP:
        return 'uefi-x64';
      case Arch.ARM64_UEFI:
      case Arch.ARM64_UEFI_HTTP:
        return 'uefi-arm64';
      case Arch.X86_UEFI:
      case Arch.X86_UEFI_HTTP:
        return 'uefi-x86';
      default:
        break;
    }
  }
  // PXE 2.1 clients predating RFC 4578 send no option 93: they are BIOS ROMs.
  return archs.length === 0 ? 'bios' : 'unknown';
}

export interface BootContext {
  /** `http://<seed>:<port>` without a trailing slash. */
  httpBase: string;
  /** The TFTP server's address (siaddr / option 66). */
  tftpServer: string;
  /** False when the seed runs no TFTP server: PXE clients get no boot file, only HTTP boot clients and iPXE do. */
  tftp?: boolean;
  files?: BootFiles;
}

export interface NodeBootPrefs {
  /** x86-64 UEFI: `snponly.efi` (default) or the full `ipxe.efi`. */
  uefiIpxe?: 'snponly' | 'ipxe';
}

export interface BootChoice {
  /** `tftp`: `file` is a path on the TFTP server at `server`; `http`: `file` is a URL. */
  via: 'tftp' | 'http';
  file: string;
  server: string;
  /** What option 60 of the answer must say (PXE spec 2.1; UEFI 2.5 24.7.2 for HTTPClient). */
  vendorClass: 'PXEClient' | 'HTTPClient';
  /** Answers to iPXE carry 175.176 = 1 so it does not wait for ProxyDHCP (lab.md 3.5). */
  ipxe: boolean;
}

/** `52:54:00:aa:bb:cc` -> `52-54-00-aa-bb-cc` (iPXE's `${net0/mac:hexhyp}`). */
export function macDashes(mac: string): string {
  return mac.toLowerCase().replace(/:/g, '-');
}

/**
 * The boot answer for an inventory node, or null when the client is not a
 * network-boot client kseed serves (no boot file is better than a wrong one).
 * Callers must only call this for MACs in the inventory.
 */
export function chooseBoot(mac: string, client: BootClient, ctx: BootContext, prefs: NodeBootPrefs = {}): BootChoice | null {
  const files = ctx.files ?? DEFAULT_BOOT_FILES;
  if (client.ipxe) {
    // Already running iPXE: hand it its own script over HTTP, which ends the
    // PXE -> iPXE -> PXE chainload loop.
    return {
      via: 'http',
      file: `${ctx.httpBase}/boot/${macDashes(mac)}.ipxe`,
      server: ctx.tftpServer,
      vendorClass: client.kind === 'http' ? 'HTTPClient' : 'PXEClient',
      ipxe: true,
    };
  }
  if (client.kind === 'none') return null;
  let file: string | null = null;
  switch (client.firmware) {
    case 'bios':
      file = files.bios;
      break;
    case 'uefi-x64':
      file = prefs.uefiIpxe === 'ipxe' ? files.uefiFull : files.uefiSnp;
      break;
    case 'uefi-arm64':
      file = files.arm64;
      break;
    default:
      file = null;
  }
  if (file === null) return null;
  // BIOS has no HTTP boot; a BIOS client claiming HTTPClient gets nothing.
  if (client.kind === 'http') {
    if (client.firmware === 'bios') return null;
    return { via: 'http', file: `${ctx.httpBase}/ipxe/${file}`, server: ctx.tftpServer, vendorClass: 'HTTPClient', ipxe: false };
  }
  // a TFTP file name nobody serves would only make the firmware time out on it;
  // without one it moves on to its next boot option (UEFI HTTP boot, the disk)
  if (ctx.tftp === false) return null;
  return { via: 'tftp', file, server: ctx.tftpServer, vendorClass: 'PXEClient', ipxe: false };
}
