/**
 * The deploy agent's wipe_disk (templates/ramdisk/lib.sh), run by busybox sh
 * as in the ramdisk, on a real block device: a loop device over a file with
 * a GPT (protective MBR, primary and backup headers) and FAT + ext4
 * partitions, judged afterwards by util-linux (sfdisk, blkid) rather than by
 * the code under test.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needPeers, needRoot } from '../../helpers/peers.js';

const LIB = path.resolve('templates/ramdisk/lib.sh');
const MiB = 1024 * 1024;
const ok = needRoot() && needPeers('busybox', 'losetup', 'partx', 'sfdisk', 'blkid', 'lsblk', 'mknod', 'mkfs.fat', 'mkfs.ext4');

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
/** blkid's verdict on what lies at a byte offset of the file: its filesystem TYPE or PTTYPE, or undefined (exit 2: nothing). */
function probe(file: string, offset: number): string | undefined {
  const r = spawnSync('blkid', ['-p', '-O', String(offset), '-o', 'export', file], { encoding: 'utf8' });
  if (r.status === 2) return undefined;
  const kv = Object.fromEntries(r.stdout.split('\n').map((l) => l.split('=', 2)));
  return kv.TYPE ?? kv.PTTYPE ?? `blkid exit ${r.status}: ${r.stdout}`;
}

describe.skipIf(!ok)('ramdisk wipe_disk on a real block device', () => {
  let dir = '';
  let file = '';
  let loop = '';
  let parts: { start: number; size: number }[] = [];

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ksr-wipe-'));
    file = path.join(dir, 'disk.img');
    writeFileSync(file, '');
    execFileSync('truncate', ['-s', `${64 * MiB}`, file]);
    execFileSync('sfdisk', ['--quiet', file], { input: 'label: gpt\nstart=2048, size=40960, type=uefi\nstart=43008, type=linux\n' });
    loop = run('losetup', ['--find', '--show', '--partscan', file]).trim();
    // the kernel's partition scan is asynchronous here; partx asks for it explicitly
    const sys = `/sys/block/${path.basename(loop)}`;
    if (!existsSync(`${sys}/${path.basename(loop)}p2`)) run('partx', ['-a', loop]);
    // no udev here: the partition device nodes are made from sysfs, in the test's own directory
    const node = (i: number) => {
      const f = path.join(dir, `p${i}`);
      const [maj, min] = readFileSync(`/sys/block/${path.basename(loop)}/${path.basename(loop)}p${i}/dev`, 'utf8').trim().split(':');
      run('mknod', [f, 'b', maj!, min!]);
      return f;
    };
    run('mkfs.fat', ['-n', 'CIDATA', node(1)]);
    run('mkfs.ext4', ['-q', '-F', node(2)]);
    parts = (JSON.parse(run('sfdisk', ['--json', file])).partitiontable.partitions as { start: number; size: number }[]).map((p) => ({ start: p.start, size: p.size }));
  });
  afterAll(() => {
    if (loop) spawnSync('losetup', ['-d', loop]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('leaves no partition table (either GPT header, protective MBR) and no filesystem signature', () => {
    // before: what a deployed disk looks like to firmware and blkid
    expect(parts).toHaveLength(2);
    expect(probe(file, 0)).toBe('gpt');
    expect(probe(file, parts[0]!.start * 512)).toBe('vfat');
    expect(probe(file, parts[1]!.start * 512)).toBe('ext4');

    const r = spawnSync('busybox', ['sh', '-c', `. "${LIB}"; wipe_disk "$1"; echo "rc=$? parts=$WIPED_PARTS"`, 'sh', loop], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('rc=0 parts=2');

    const img = readFileSync(file);
    const zero = (from: number, len: number) => img.subarray(from, from + len).every((b) => b === 0);
    expect(zero(0, MiB)).toBe(true); // protective MBR, primary GPT header and entries
    expect(zero(img.length - MiB, MiB)).toBe(true); // backup GPT entries and header
    for (const p of parts) {
      expect(zero(p.start * 512, MiB)).toBe(true);
      expect(zero((p.start + p.size) * 512 - MiB, MiB)).toBe(true);
    }
    expect(spawnSync('sfdisk', ['--dump', file], { encoding: 'utf8' }).status).not.toBe(0);
    expect(probe(file, 0)).toBeUndefined();
    for (const p of parts) expect(probe(file, p.start * 512)).toBeUndefined();
    // the kernel forgot the old partitions too
    expect(run('lsblk', ['-rno', 'NAME', loop]).trim().split('\n')).toEqual([path.basename(loop)]);
  });
});
