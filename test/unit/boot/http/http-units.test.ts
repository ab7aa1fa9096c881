import { describe, expect, it } from 'vitest';
import { chainScript, IpxeScriptError, ipxeScriptUrl, localBootScript, noBootScript, ramdiskScript } from '../../../../src/boot/ipxe.js';
import { parseRange } from '../../../../src/boot/http/artifacts.js';
import { MemoryBootBackend } from '../../../../src/boot/http/memory-backend.js';
import { bootActionFor, formatTask, InventoryError, parseInventory } from '../../../../src/boot/http/types.js';

describe('parseRange (RFC 9110 section 14)', () => {
  it('single ranges, open ends and suffixes', () => {
    expect(parseRange(undefined, 100)).toEqual({ kind: 'all' });
    expect(parseRange('bytes=0-9', 100)).toEqual({ kind: 'range', start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ kind: 'range', start: 90, end: 99 });
    expect(parseRange('bytes=90-1000', 100)).toEqual({ kind: 'range', start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ kind: 'range', start: 90, end: 99 });
    expect(parseRange('bytes=-1000', 100)).toEqual({ kind: 'range', start: 0, end: 99 });
  });
  it('unsatisfiable vs ignored', () => {
    expect(parseRange('bytes=100-', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=-0', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=5-1', 100)).toEqual({ kind: 'all' });
    expect(parseRange('bytes=0-1,5-6', 100)).toEqual({ kind: 'all' });
    expect(parseRange('items=0-1', 100)).toEqual({ kind: 'all' });
  });
});

const inv = {
  cpus: 2,
  memory_mib: 1024,
  disks: [{ name: 'vda', size_bytes: 21474836480, model: '', serial: 'S1', wwn: '', rotational: false, hctl: '', by_path: '' }],
  nics: [{ name: 'eth0', mac: '52:54:00:AA:00:01', link: true }],
  boot_mode: 'uefi',
};

describe('inventory and task formats (docs/AGENT-API.md)', () => {
  it('parses a valid inventory and lower-cases MACs', () => {
    expect(parseInventory(inv).nics[0]!.mac).toBe('52:54:00:aa:00:01');
  });
  it('names the bad field', () => {
    expect(() => parseInventory({ ...inv, cpus: -1 })).toThrow(/inventory.cpus/);
    expect(() => parseInventory({ ...inv, disks: [{ ...inv.disks[0], name: '../sda' }] })).toThrow(/disks\[0\].name/);
    expect(() => parseInventory({ ...inv, nics: [{ name: 'x', mac: 'zz' }] })).toThrow(InventoryError);
    expect(() => parseInventory({ ...inv, boot_mode: 'efi' })).toThrow(/boot_mode/);
    expect(() => parseInventory([])).toThrow(/JSON object/);
  });
  it('formats tasks as KEY=value lines and refuses line breaks in values', () => {
    expect(
      formatTask({ task: 'deploy', imageUrl: 'http://s/a.img', imageChecksum: 'sha256:ab', imageFormat: 'raw', imageCompression: 'gzip', targetDisk: '/dev/vda' }),
    ).toBe('TASK=deploy\nIMAGE_URL=http://s/a.img\nIMAGE_CHECKSUM=sha256:ab\nIMAGE_FORMAT=raw\nIMAGE_COMPRESSION=gzip\nTARGET_DISK=/dev/vda\nREBOOT=1\n');
    expect(formatTask({ task: 'fail', reason: 'no disk matches', reboot: false })).toBe('TASK=fail\nREASON=no disk matches\nREBOOT=0\n');
    expect(() => formatTask({ task: 'fail', reason: 'x\nTASK=deploy' })).toThrow(/line break/);
  });
  it('maps lifecycle states to boot actions; nothing but deploying deploys', () => {
    expect(bootActionFor('deploying')).toBe('deploy');
    expect(bootActionFor('inspecting')).toBe('inspect');
    expect(bootActionFor('active')).toBe('local');
    for (const s of ['enroll', 'manageable', 'available', 'deploy failed', 'inspect failed', 'enroll failed', 'bogus']) expect(bootActionFor(s)).toBe('none');
  });
});

describe('iPXE scripts', () => {
  const base = {
    seedUrl: 'http://10.77.0.1:8080',
    node: 'ctl01',
    token: 'abc_DEF-123',
    mac: '52:54:00:00:00:01',
    kernelUrl: 'http://10.77.0.1:8080/artifacts/vmlinuz',
    initrdUrl: 'http://10.77.0.1:8080/artifacts/initramfs.gz',
  };
  it('ramdisk script carries the AGENT-API kernel arguments and initrd=<name> for UEFI', () => {
    const s = ramdiskScript(base);
    expect(s.split('\n')).toEqual([
      '#!ipxe',
      'echo kseed: ctl01: deploy ramdisk',
      'kernel http://10.77.0.1:8080/artifacts/vmlinuz kseed.url=http://10.77.0.1:8080 kseed.node=ctl01 kseed.token=abc_DEF-123 kseed.mac=52:54:00:00:00:01 console=ttyS0 initrd=initramfs.gz',
      'initrd http://10.77.0.1:8080/artifacts/initramfs.gz',
      'boot',
      '',
    ]);
  });
  it('refuses values that would change the script (spaces, ${...}, newlines)', () => {
    expect(() => ramdiskScript({ ...base, node: 'a b' })).toThrow(IpxeScriptError);
    expect(() => ramdiskScript({ ...base, token: '${x}' })).toThrow(IpxeScriptError);
    expect(() => ramdiskScript({ ...base, args: ['quiet\nshell'] })).toThrow(IpxeScriptError);
  });
  it('per-MAC script URL', () => {
    expect(ipxeScriptUrl('http://10.77.0.1:8080/', '52:54:00:AA:00:01')).toBe('http://10.77.0.1:8080/boot/52-54-00-aa-00-01.ipxe');
    expect(() => ipxeScriptUrl('http://x', '52:54:00')).toThrow(IpxeScriptError);
  });
  it('local boot: exit on UEFI, sanboot 0x80 on BIOS; no-boot and chain scripts exit', () => {
    expect(localBootScript('n1')).toContain('iseq ${platform} efi && exit || sanboot --no-describe --drive 0x80');
    expect(noBootScript('unknown ${x}\nmachine')).toBe('#!ipxe\necho kseed: unknown {x}machine\nexit\n');
    expect(chainScript('http://10.77.0.1:8080')).toContain('chain --autofree http://10.77.0.1:8080/boot/${net0/mac:hexhyp}.ipxe && exit ||');
  });
});

describe('MemoryBootBackend', () => {
  it('verifies only the node own token', () => {
    const b = new MemoryBootBackend([
      { name: 'a', macs: ['52:54:00:00:00:0A'], state: 'deploying' },
      { name: 'b', macs: ['52:54:00:00:00:0b'], state: 'active', token: 'tok-b' },
    ]);
    const ta = b.agentToken('a');
    expect(ta.length).toBeGreaterThanOrEqual(22);
    expect(b.verifyToken('a', ta)).toBe(true);
    expect(b.verifyToken('b', ta)).toBe(false);
    expect(b.verifyToken('b', 'tok-b')).toBe(true);
    expect(b.verifyToken('nobody', '')).toBe(false);
    expect(b.nodeByMac('52:54:00:00:00:0a')).toEqual({ name: 'a', macs: ['52:54:00:00:00:0a'], action: 'deploy' });
    expect(b.nodeByMac('52:54:00:00:00:0c')).toBeUndefined();
  });
});
