import { describe, expect, it } from 'vitest';
import { Arch, type BootClient, chooseBoot, describeClient, firmwareOf, macDashes } from '../../../../src/boot/dhcp/bootfile.js';
import { MessageType } from '../../../../src/boot/dhcp/codec.js';
import { request } from './build.js';

const ctx = { httpBase: 'http://10.77.0.1:8080', tftpServer: '10.77.0.1' };
const mac = '52:54:00:aa:bb:cc';
const pxe = (archs: number[], extra: Partial<BootClient> = {}): BootClient => ({ kind: 'pxe', firmware: firmwareOf(archs), ipxe: false, archs, ...extra });

describe('boot file selection', () => {
  it('BIOS PXE gets undionly.kpxe over TFTP', () => {
    expect(chooseBoot(mac, pxe([Arch.X86_BIOS]), ctx)).toEqual({ via: 'tftp', file: 'undionly.kpxe', server: '10.77.0.1', vendorClass: 'PXEClient', ipxe: false });
  });

  it('a PXE client without option 93 is a BIOS ROM', () => {
    expect(chooseBoot(mac, pxe([]), ctx)?.file).toBe('undionly.kpxe');
  });

  it('x86-64 UEFI gets snponly.efi, or ipxe.efi when the profile says so', () => {
    expect(chooseBoot(mac, pxe([Arch.X64_UEFI]), ctx)?.file).toBe('snponly.efi');
    expect(chooseBoot(mac, pxe([Arch.X64_UEFI_ALT]), ctx)?.file).toBe('snponly.efi');
    expect(chooseBoot(mac, pxe([Arch.X64_UEFI]), ctx, { uefiIpxe: 'ipxe' })?.file).toBe('ipxe.efi');
  });

  it('arm64 UEFI gets the arm64 build', () => {
    expect(chooseBoot(mac, pxe([Arch.ARM64_UEFI]), ctx)?.file).toBe('snponly-arm64.efi');
  });

  it('UEFI HTTP boot gets an http URL and HTTPClient', () => {
    const c = describeClient(request({ type: MessageType.DISCOVER, vendorClass: 'HTTPClient:Arch:00016:UNDI:003000', arch: [Arch.X64_UEFI_HTTP] }));
    expect(c.kind).toBe('http');
    expect(chooseBoot(mac, c, ctx)).toEqual({ via: 'http', file: 'http://10.77.0.1:8080/ipxe/snponly.efi', server: '10.77.0.1', vendorClass: 'HTTPClient', ipxe: false });
  });

  it('with TFTP off, PXE clients get no boot file; HTTP boot clients and iPXE still get their URLs', () => {
    const off = { ...ctx, tftp: false };
    expect(chooseBoot(mac, pxe([Arch.X86_BIOS]), off)).toBeNull();
    expect(chooseBoot(mac, pxe([Arch.X64_UEFI]), off)).toBeNull();
    const http = describeClient(request({ type: MessageType.DISCOVER, vendorClass: 'HTTPClient:Arch:00016:UNDI:003000', arch: [Arch.X64_UEFI_HTTP] }));
    expect(chooseBoot(mac, http, off)).toMatchObject({ via: 'http', file: 'http://10.77.0.1:8080/ipxe/snponly.efi', vendorClass: 'HTTPClient' });
    const ipxe = describeClient(request({ type: MessageType.DISCOVER, vendorClass: 'PXEClient:Arch:00007:UNDI:003010', userClass: 'iPXE', arch: [Arch.X64_UEFI] }));
    expect(chooseBoot(mac, ipxe, off)).toMatchObject({ via: 'http', file: 'http://10.77.0.1:8080/boot/52-54-00-aa-bb-cc.ipxe' });
  });

  it('iPXE (user class) gets its per-node script URL, ending the chainload loop', () => {
    const c = describeClient(request({ type: MessageType.DISCOVER, vendorClass: 'PXEClient:Arch:00000:UNDI:002001', userClass: 'iPXE', arch: [0] }));
    expect(c.ipxe).toBe(true);
    expect(chooseBoot(mac, c, ctx)).toMatchObject({ via: 'http', file: 'http://10.77.0.1:8080/boot/52-54-00-aa-bb-cc.ipxe', ipxe: true });
  });

  it('non-PXE clients and unknown architectures get nothing', () => {
    expect(chooseBoot(mac, describeClient(request({ type: MessageType.DISCOVER })), ctx)).toBeNull();
    expect(chooseBoot(mac, pxe([0x99]), ctx)).toBeNull();
    expect(chooseBoot(mac, { kind: 'http', firmware: 'bios', ipxe: false, archs: [0] }, ctx)).toBeNull();
  });

  it('spells MACs the way iPXE does', () => {
    expect(macDashes('52:54:00:AA:BB:CC')).toBe('52-54-00-aa-bb-cc');
  });
});
