/**
 * The agent's shell library (templates/ramdisk/lib.sh) run with the host's
 * busybox sh, the same shell as in the ramdisk: task parsing and validation,
 * URL and JSON encoding, FAT label reading.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needPeers } from '../../helpers/peers.js';

const LIB = path.resolve('templates/ramdisk/lib.sh');
const SUM = `sha256:${'ab'.repeat(32)}`;

function sh(script: string, env: Record<string, string> = {}): { out: string; code: number } {
  const r = spawnSync('busybox', ['sh', '-c', `. "${LIB}"; ${script}`], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
  return { out: r.stdout, code: r.status ?? -1 };
}

describe.skipIf(!needPeers('busybox'))('agent shell library (busybox sh)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ksr-sh-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** parse + validate a task text; returns the T_* values and validate's verdict */
  function task(text: string) {
    const f = path.join(dir, 'task');
    writeFileSync(f, text);
    const r = sh(
      `parse_task "${f}"; why=$(validate_task); rc=$?; printf '%s\\n' "$T_TASK" "$T_IMAGE_URL" "$T_IMAGE_CHECKSUM" "$T_IMAGE_COMPRESSION" "$T_TARGET_DISK" "$T_REBOOT" "$T_REASON" "$T_IMAGE_SIZE" "$rc" "$why"`,
    );
    const [t, url, sum, comp, disk, reboot, reason, size, rc, why] = r.out.split('\n');
    return { task: t, url, sum, comp, disk, reboot, reason, size, valid: rc === '0', why };
  }

  const deploy = (extra: Record<string, string>) =>
    Object.entries({
      TASK: 'deploy',
      IMAGE_URL: 'http://10.0.0.1:8080/artifacts/x.raw.gz',
      IMAGE_CHECKSUM: SUM,
      IMAGE_FORMAT: 'raw',
      IMAGE_COMPRESSION: 'gzip',
      TARGET_DISK: '/dev/sda',
      REBOOT: '1',
      ...extra,
    })
      .filter(([, v]) => v !== '')
      .map(([k, v]) => `${k}=${v}`)
      .join('\n') + '\n';

  it('parses a full deploy task', () => {
    const t = task(deploy({ IMAGE_URL: 'http://10.0.0.1/a.raw.gz?sig=ab==', IMAGE_SIZE: '1234' }));
    expect(t).toMatchObject({ task: 'deploy', url: 'http://10.0.0.1/a.raw.gz?sig=ab==', sum: SUM, comp: 'gzip', disk: '/dev/sda', reboot: '1', size: '1234', valid: true });
  });

  it('takes CRLF line ends and a last line without newline', () => {
    const t = task('TASK=inspect\r\nREBOOT=0');
    expect(t).toMatchObject({ task: 'inspect', reboot: '0', valid: true });
    expect(task('TASK=inspect\nWAIT=1').valid).toBe(true);
  });

  it('never executes values and ignores unknown keys', () => {
    const marker = path.join(dir, 'pwned');
    const t = task(deploy({ TARGET_DISK: `/dev/sda$(touch ${marker})`, EVIL: `$(touch ${marker})` }) + `\`touch ${marker}\`\n`);
    expect(existsSync(marker)).toBe(false);
    expect(t.disk).toBe(`/dev/sda$(touch ${marker})`);
    expect(t.valid).toBe(false);
    expect(t.why).toContain('is not /dev/<name>');
  });

  it('refuses to write any disk without TARGET_DISK', () => {
    const t = task(deploy({ TARGET_DISK: '' }));
    expect(t.valid).toBe(false);
    expect(t.why).toBe('deploy task without TARGET_DISK: refusing to write any disk');
    expect(task('TASK=wipe\n').why).toBe('wipe task without TARGET_DISK: refusing to write any disk');
  });

  it.each([
    [{ TARGET_DISK: '/dev/../sda' }, 'is not /dev/<name>'],
    [{ TARGET_DISK: '/dev/disk/by-id/x' }, 'is not /dev/<name>'],
    [{ TARGET_DISK: 'sda' }, 'is not /dev/<name>'],
    [{ IMAGE_URL: 'ftp://x/y' }, 'is not an http(s) URL'],
    [{ IMAGE_URL: 'http://x/a b' }, 'white space'],
    [{ IMAGE_CHECKSUM: 'md5:abc' }, 'sha256:<64 hex digits>'],
    [{ IMAGE_CHECKSUM: `sha256:${'a'.repeat(63)}` }, 'sha256:<64 hex digits>'],
    [{ IMAGE_CHECKSUM: `sha256:${'g'.repeat(64)}` }, 'sha256:<64 hex digits>'],
    [{ IMAGE_FORMAT: 'qcow2' }, "IMAGE_FORMAT 'qcow2' unsupported"],
    [{ IMAGE_COMPRESSION: 'bzip2' }, "IMAGE_COMPRESSION 'bzip2' unsupported (none, gzip, zstd, xz)"],
    [{ REBOOT: 'yes' }, 'REBOOT must be 0 or 1'],
    [{ WAIT: '2' }, 'WAIT must be 0 or 1'],
  ])('rejects %o', (extra, why) => {
    const t = task(deploy(extra));
    expect(t.valid).toBe(false);
    expect(t.why).toContain(why);
  });

  it('accepts nvme and md-style names, and TASK=fail with its reason', () => {
    expect(task(deploy({ TARGET_DISK: '/dev/nvme0n1' })).valid).toBe(true);
    expect(task(deploy({ IMAGE_COMPRESSION: 'xz' })).valid).toBe(true);
    expect(task('TASK=fail\nREASON=2 disks match the root device hint\n')).toMatchObject({ task: 'fail', reason: '2 disks match the root device hint', valid: true });
    expect(task('REBOOT=1\n')).toMatchObject({ valid: false, why: 'task answer has no TASK line' });
    expect(task('TASK=format\n')).toMatchObject({ valid: false, why: "unknown TASK 'format'" });
  });

  it('urlencode round-trips any text through decodeURIComponent', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 24 }), (s) => {
        if (s.includes('\0')) return;
        const r = sh('urlencode "$S"', { S: s });
        expect(r.out).toMatch(/^[A-Za-z0-9._~%-]*$/);
        expect(decodeURIComponent(r.out)).toBe(s);
      }),
      { numRuns: 40 },
    );
  });

  it('json_str makes valid JSON strings (control bytes dropped)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 24 }), (s) => {
        if (s.includes('\0')) return;
        const r = sh('json_str "$S"', { S: s });
        expect(JSON.parse(r.out)).toBe(s.replace(/[\u0000-\u001f]/g, ''));
      }),
      { numRuns: 40 },
    );
  });

  it('inventory_json of this host is JSON in the contract shape', () => {
    const inv = JSON.parse(sh('inventory_json').out);
    expect(inv.cpus).toBe(os.cpus().length);
    expect(inv.memory_mib).toBeGreaterThan(0);
    expect(['bios', 'uefi']).toContain(inv.boot_mode);
    for (const d of inv.disks) expect(Object.keys(d).sort()).toEqual(['by_path', 'hctl', 'model', 'name', 'rotational', 'serial', 'size_bytes', 'wwn']);
    for (const n of inv.nics) expect(n.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  });

  it.skipIf(!needPeers('mkfs.fat'))('fat_label reads FAT12, FAT16 and FAT32 labels', () => {
    for (const [fat, kib] of [['12', 2048], ['16', 20480], ['32', 40960]] as const) {
      const img = path.join(dir, `f${fat}.img`);
      rmSync(img, { force: true });
      execFileSync('mkfs.fat', ['-C', '-F', fat, '-n', 'CIDATA', img, String(kib)], { stdio: 'ignore' });
      expect(sh(`fat_label "${img}"`).out.trim()).toBe('CIDATA');
    }
    const notFat = path.join(dir, 'zero.img');
    writeFileSync(notFat, Buffer.alloc(4096));
    expect(sh(`fat_label "${notFat}"`).out).toBe('');
  });

  it.each(['templates/ramdisk/init', 'templates/ramdisk/lib.sh', 'templates/ramdisk/udhcpc.script', 'templates/osimage/init'])('%s parses', (f) => {
    expect(spawnSync('busybox', ['sh', '-n', f]).status).toBe(0);
  });
  /** parse_ip_arg VALUE: its return code and the IP_* it set */
  const ipArg = (v: string) => {
    const r = sh(`parse_ip_arg "$V"; rc=$?; printf '%s\\n' "$rc" "$IP_ADDR" "$IP_PREFIX" "$IP_GW" "$IP_HOST" "$IP_ERR"`, { V: v });
    const [rc, addr, prefix, gw, host, err] = r.out.split('\n');
    return { rc: Number(rc), addr, prefix, gw, host, err };
  };

  it("parse_ip_arg reads the kernel's ip= form the boot CD writes: address, prefix from the netmask, gateway, host name", () => {
    expect(ipArg('10.77.0.11::10.77.0.1:255.255.255.0:node01::off')).toEqual({ rc: 0, addr: '10.77.0.11', prefix: '24', gw: '10.77.0.1', host: 'node01', err: '' });
    expect(ipArg('192.168.7.20:::255.255.240.0:n::none')).toMatchObject({ rc: 0, addr: '192.168.7.20', prefix: '20', gw: '' });
    // a prefix in the netmask field (dracut's habit) and no netmask (a /24)
    expect(ipArg('10.0.0.5::10.0.0.1:16')).toMatchObject({ rc: 0, prefix: '16' });
    expect(ipArg('10.0.0.5')).toMatchObject({ rc: 0, prefix: '24', gw: '' });
  });

  it('parse_ip_arg: DHCP for none, dhcp, on, any and an empty address; a clear error for a bad address, gateway or netmask', () => {
    for (const v of ['', 'dhcp', 'on', 'any', '::10.0.0.1:255.255.255.0']) expect(ipArg(v).rc, v).toBe(1);
    expect(ipArg('10.0.0.256::10.0.0.1:255.255.255.0')).toMatchObject({ rc: 2, err: 'client address 10.0.0.256 is not an IPv4 address' });
    expect(ipArg('node01')).toMatchObject({ rc: 2, err: 'client address node01 is not an IPv4 address' });
    expect(ipArg('10.0.0.5::10.0.0:255.255.255.0')).toMatchObject({ rc: 2, err: 'gateway 10.0.0 is not an IPv4 address' });
    expect(ipArg('10.0.0.5::10.0.0.1:255.0.255.0')).toMatchObject({ rc: 2, err: 'netmask 255.0.255.0 is not a netmask' });
    expect(ipArg('10.0.0.5::10.0.0.1:33')).toMatchObject({ rc: 2, err: 'netmask 33 is not a netmask' });
  });

  it('mask_prefix agrees with the bit count of every contiguous netmask', () => {
    for (let p = 0; p <= 32; p++) {
      const n = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
      const mask = [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
      expect(sh(`mask_prefix ${mask}`).out.trim(), mask).toBe(String(p));
    }
  });
});
