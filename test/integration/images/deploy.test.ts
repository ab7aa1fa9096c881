/**
 * The deploy ramdisk and the test OS image against real QEMU (TCG): the
 * ramdisk booted directly (-kernel/-initrd) talks docs/AGENT-API.md to a seed
 * written by this test; the disk it writes then boots on its own in BIOS and
 * UEFI mode and calls back with the identity from its NoCloud data.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRamdisk, type RamdiskResult } from '../../../src/images/ramdisk.js';
import { buildTestOs, type TestOsResult } from '../../../src/images/osimage.js';
import { needPeers, needRoot } from '../../helpers/peers.js';
import { FakeSeed } from './fakeseed.js';
import { GUEST_SEED_URL, OVMF_CODE, runQemu, userNet } from './qemu.js';

const CACHE = process.env.KSEED_CACHE ?? path.resolve('cache');
const NODE = 'node1';
const TOKEN = 'ksr-test-token-0123456789abcdef';
const MAC = '52:54:00:4b:53:01';
const DISK_BYTES = 64 * 1024 * 1024;
const META = `instance-id: iid-${NODE}-1\nlocal-hostname: ksr-host-1\n`;
const USER = '#cloud-config\nssh_authorized_keys:\n  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKseedTestKey test\n';

const ok =
  needRoot() &&
  needPeers('qemu-system-x86_64', 'busybox', 'apt-get', 'dpkg-deb', 'depmod', 'mkfs.fat', 'mcopy', 'mtype', 'syslinux', 'grub-mkimage', 'zstd', OVMF_CODE);

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

function readAt(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

function blankDisk(file: string): void {
  const fd = openSync(file, 'w');
  ftruncateSync(fd, DISK_BYTES);
  closeSync(fd);
}

describe.skipIf(!ok)('deploy ramdisk + test OS under QEMU', () => {
  let dir: string;
  let ramdisk: RamdiskResult;
  let testos: TestOsResult;
  let zst: string;
  const deployedDisk = () => path.join(dir, 'deployed.raw');

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ksr-deploy-'));
    ramdisk = await buildRamdisk({ cacheDir: CACHE });
    testos = await buildTestOs({ cacheDir: CACHE });
    zst = testos.zst;
  }, 600_000);

  afterAll(() => {
    if (dir && !process.env.KSR_KEEP) rmSync(dir, { recursive: true, force: true });
  });

  const agentArgs = (seed: FakeSeed, disk: string, extra = '') => [
    '-m', '512',
    '-no-reboot',
    '-kernel', ramdisk.kernel,
    '-initrd', ramdisk.initramfs,
    '-append', `console=ttyS0 quiet kseed.url=${GUEST_SEED_URL} kseed.node=${NODE} kseed.token=${TOKEN} kseed.mac=${MAC} ${extra}`,
    '-drive', `file=${disk},format=raw,if=virtio`,
    ...userNet(seed.port, MAC),
  ];

  it('builds are reused when inputs are unchanged, and a forced rebuild gives the same initramfs bytes', async () => {
    const again = await buildRamdisk({ cacheDir: CACHE });
    expect(again).toMatchObject({ reused: true, inputs: ramdisk.inputs, initramfsBytes: ramdisk.initramfsBytes });
    expect((await buildTestOs({ cacheDir: CACHE })).reused).toBe(true);
    const before = sha256(readFileSync(ramdisk.initramfs));
    const forced = await buildRamdisk({ cacheDir: CACHE, force: true });
    expect(forced.reused).toBe(false);
    expect(sha256(readFileSync(forced.initramfs))).toBe(before);
    expect(forced.modules.slice(0, 5)).toEqual(['virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_ring', 'virtio', 'virtio_pci']);
  }, 120_000);

  it('inspect: posts an inventory that describes the VM, reports ok, powers off', async () => {
    const seed = new FakeSeed({ node: NODE, token: TOKEN, task: () => 'TASK=inspect\nREBOOT=0\n' });
    await seed.start();
    try {
      const disk = path.join(dir, 'inspect.raw');
      blankDisk(disk);
      const vm = await runQemu({ dir, name: 'inspect', args: agentArgs(seed, disk), timeoutMs: 120_000 });
      expect(vm.killedBy, vm.serial).toBeNull();
      const inv = seed.inventory as {
        cpus: number;
        memory_mib: number;
        disks: { name: string; size_bytes: number; rotational: boolean; by_path: string }[];
        nics: { mac: string; link: boolean }[];
        boot_mode: string;
      };
      expect(inv, vm.serial).toBeDefined();
      expect(inv.cpus).toBe(1);
      expect(inv.memory_mib).toBe(512);
      expect(inv.boot_mode).toBe('bios');
      expect(inv.disks).toHaveLength(1);
      expect(inv.disks[0]).toMatchObject({ name: 'vda', size_bytes: DISK_BYTES });
      expect(inv.disks[0]!.by_path).toMatch(/^virtio-pci-0000:00:0[0-9a-f]\.0$/);
      expect(inv.nics).toEqual([expect.objectContaining({ mac: MAC, link: true })]);
      expect(seed.results).toEqual([expect.objectContaining({ status: 'ok', stage: 'inspect' })]);
      // every agent request carried the node's token
      expect(seed.requests.filter((r) => !r.authorized)).toEqual([]);
    } finally {
      await seed.stop();
    }
  }, 180_000);

  it('deploy without TARGET_DISK: refuses, reports fail, leaves every disk untouched', async () => {
    const seed = new FakeSeed({
      node: NODE,
      token: TOKEN,
      task: () => `TASK=deploy\nIMAGE_URL=${GUEST_SEED_URL}/artifacts/testos.raw.gz\nIMAGE_CHECKSUM=sha256:${testos.sha256.gz}\nIMAGE_COMPRESSION=gzip\nREBOOT=1\n`,
      artifacts: { 'testos.raw.gz': testos.gz },
    });
    await seed.start();
    try {
      const disk = path.join(dir, 'untouched.raw');
      blankDisk(disk);
      const pattern = randomBytes(1024 * 1024);
      const fd = openSync(disk, 'r+');
      writeSync(fd, pattern, 0, pattern.length, 0);
      closeSync(fd);
      const vm = await runQemu({ dir, name: 'notarget', args: agentArgs(seed, disk), timeoutMs: 120_000 });
      expect(vm.killedBy, vm.serial).toBeNull();
      expect(seed.results, vm.serial).toEqual([
        expect.objectContaining({ status: 'fail', stage: 'deploy', msg: 'deploy task without TARGET_DISK: refusing to write any disk' }),
      ]);
      expect(seed.requests.some((r) => r.path.startsWith('/artifacts/'))).toBe(false);
      expect(readAt(disk, 0, pattern.length).equals(pattern)).toBe(true);
    } finally {
      await seed.stop();
    }
  }, 180_000);

  it('inspect WAIT=1 then deploy in the same boot: streams the gzip image, verifies it, writes NoCloud data, reports ok', async () => {
    const seed = new FakeSeed({
      node: NODE,
      token: TOKEN,
      // fast track: the first task is an inspection that keeps the agent up; then the deploy
      task: (s) =>
        s.results.length === 0
          ? 'TASK=inspect\nWAIT=1\n'
          : [
              'TASK=deploy',
              `IMAGE_URL=${GUEST_SEED_URL}/artifacts/testos.raw.gz`,
              `IMAGE_CHECKSUM=sha256:${testos.sha256.gz}`,
              'IMAGE_FORMAT=raw',
              'IMAGE_COMPRESSION=gzip',
              `IMAGE_SIZE=${testos.gzBytes}`,
              'TARGET_DISK=/dev/vda',
              'REBOOT=1',
              '',
            ].join('\n'),
      nocloud: { 'meta-data': META, 'user-data': USER, 'network-config': 'version: 2\nethernets: {}\n' },
      artifacts: { 'testos.raw.gz': testos.gz },
    });
    await seed.start();
    try {
      blankDisk(deployedDisk());
      const vm = await runQemu({ dir, name: 'deploy', args: agentArgs(seed, deployedDisk()), timeoutMs: 180_000 });
      expect(vm.killedBy, vm.serial).toBeNull();
      expect(seed.results, vm.serial).toEqual([
        expect.objectContaining({ status: 'ok', stage: 'inspect' }),
        // the digest of what it streamed: the seed counts a deploy only with the served image's (docs/AGENT-API.md)
        expect.objectContaining({ status: 'ok', stage: 'deploy', digest: `sha256:${testos.sha256.gz}` }),
      ]);
      expect(seed.inventory).toBeDefined();
      expect(seed.results[1]!.msg).toContain(`sha256:${testos.sha256.gz}`);
      expect(seed.results[1]!.msg).toContain('NoCloud data on /dev/vda2');
      expect(seed.progress.length).toBeGreaterThan(0);
      // the boot partition is byte-identical to the image's
      const boot = testos.partitions[0]!;
      expect(sha256(readAt(deployedDisk(), 0, boot.offset + boot.size))).toBe(sha256(readAt(testos.raw, 0, boot.offset + boot.size)));
      // the CIDATA partition holds the seed's NoCloud files
      const cidata = testos.partitions[1]!;
      const mtype = (f: string) =>
        execFileSync('mtype', ['-i', `${deployedDisk()}@@${cidata.offset}`, `::${f}`], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } }).toString();
      expect(mtype('meta-data')).toBe(META);
      expect(mtype('user-data')).toBe(USER);
      expect(mtype('kseed.env')).toContain(`KSEED_NODE=${NODE}`);
    } finally {
      await seed.stop();
    }
  }, 240_000);

  it('the deployed disk boots alone in BIOS and in UEFI mode and calls back with its hostname', async () => {
    const seed = new FakeSeed({ node: NODE, token: TOKEN, task: () => 'TASK=none\n' });
    await seed.start();
    try {
      const boot = (uefi: boolean) =>
        runQemu({
          dir,
          name: uefi ? 'disk-uefi' : 'disk-bios',
          uefi,
          // -snapshot: both guests read the same disk file without writing it
          args: ['-m', '256', '-snapshot', '-drive', `file=${deployedDisk()},format=raw,if=virtio`, ...userNet(seed.port, MAC)],
          timeoutMs: 240_000,
          until: () => seed.callbacks.some((c) => c.boot_mode === (uefi ? 'uefi' : 'bios')),
        });
      const [bios, uefi] = await Promise.all([boot(false), boot(true)]);
      expect(bios.killedBy, bios.serial).toBe('until');
      expect(uefi.killedBy, uefi.serial).toBe('until');
      for (const mode of ['bios', 'uefi']) {
        expect(seed.callbacks).toContainEqual(
          expect.objectContaining({
            hostname: 'ksr-host-1',
            stage: 'booted',
            boot_mode: mode,
            instance_id: `iid-${NODE}-1`,
            user_data_sha256: sha256(Buffer.from(USER)),
          }),
        );
      }
      expect(seed.requests.filter((r) => !r.authorized)).toEqual([]);
    } finally {
      await seed.stop();
    }
  }, 300_000);

  it('deploy with a wrong checksum (zstd image): reports fail, wipes the disk, which then does not boot', async () => {
    const wrong = 'f'.repeat(64);
    const seed = new FakeSeed({
      node: NODE,
      token: TOKEN,
      task: () =>
        `TASK=deploy\nIMAGE_URL=${GUEST_SEED_URL}/artifacts/testos.raw.zst\nIMAGE_CHECKSUM=sha256:${wrong}\nIMAGE_FORMAT=raw\nIMAGE_COMPRESSION=zstd\nTARGET_DISK=/dev/vda\nREBOOT=1\n`,
      nocloud: { 'meta-data': META, 'user-data': USER },
      artifacts: { 'testos.raw.zst': zst },
    });
    await seed.start();
    try {
      const disk = path.join(dir, 'wrongsum.raw');
      blankDisk(disk);
      const vm = await runQemu({ dir, name: 'wrongsum', args: agentArgs(seed, disk), timeoutMs: 180_000 });
      expect(vm.killedBy, vm.serial).toBeNull();
      expect(seed.results, vm.serial).toEqual([expect.objectContaining({ status: 'fail', stage: 'deploy' })]);
      const msg = seed.results[0]!.msg!;
      // the stream decompressed fine; only the checksum was wrong, and the agent says what it got
      expect(msg).toContain(`checksum mismatch: got sha256:${sha256(readFileSync(zst))} want sha256:${wrong}`);
      expect(msg).toContain('disk wiped');
      expect(readAt(disk, 0, 1024 * 1024).every((b) => b === 0)).toBe(true);
      // the image was written past the wiped MiB (so the wipe, not a failed write, is what protects it)
      const boot = testos.partitions[0]!;
      expect(sha256(readAt(disk, boot.offset, 4096))).toBe(sha256(readAt(testos.raw, boot.offset, 4096)));
      const s2 = new FakeSeed({ node: NODE, token: TOKEN, task: () => 'TASK=none\n' });
      await s2.start();
      try {
        const b = await runQemu({
          dir,
          name: 'wrongsum-boot',
          args: ['-m', '256', '-drive', `file=${disk},format=raw,if=virtio`, ...userNet(s2.port, MAC)],
          timeoutMs: 60_000,
          until: (serial) => serial.includes('No bootable device'),
        });
        expect(b.serial).toContain('No bootable device');
        expect(s2.callbacks).toEqual([]);
      } finally {
        await s2.stop();
      }
    } finally {
      await seed.stop();
    }
  }, 300_000);

  it('wipe: zeroes the first and last MiB of TARGET_DISK only, reports ok', async () => {
    const seed = new FakeSeed({ node: NODE, token: TOKEN, task: () => 'TASK=wipe\nTARGET_DISK=/dev/vda\nREBOOT=0\n' });
    await seed.start();
    try {
      const disk = path.join(dir, 'wipe.raw');
      const other = path.join(dir, 'other.raw');
      const pattern = randomBytes(DISK_BYTES);
      writeFileSync(disk, pattern);
      writeFileSync(other, pattern);
      const args = agentArgs(seed, disk);
      args.push('-drive', `file=${other},format=raw,if=virtio`);
      const vm = await runQemu({ dir, name: 'wipe', args, timeoutMs: 120_000 });
      expect(vm.killedBy, vm.serial).toBeNull();
      expect(seed.results, vm.serial).toEqual([expect.objectContaining({ status: 'ok', stage: 'wipe' })]);
      const MiB = 1024 * 1024;
      const after = readFileSync(disk);
      expect(after.subarray(0, MiB).every((b) => b === 0)).toBe(true);
      expect(after.subarray(DISK_BYTES - MiB).every((b) => b === 0)).toBe(true);
      expect(after.subarray(MiB, DISK_BYTES - MiB).equals(pattern.subarray(MiB, DISK_BYTES - MiB))).toBe(true);
      expect(readFileSync(other).equals(pattern)).toBe(true);
    } finally {
      await seed.stop();
    }
  }, 180_000);

  it('a stalled image download fails the deploy after kseed.stall seconds and wipes the disk', async () => {
    const seed = new FakeSeed({
      node: NODE,
      token: TOKEN,
      task: () =>
        `TASK=deploy\nIMAGE_URL=${GUEST_SEED_URL}/artifacts/testos.raw.gz\nIMAGE_CHECKSUM=sha256:${testos.sha256.gz}\nIMAGE_COMPRESSION=gzip\nTARGET_DISK=/dev/vda\nREBOOT=0\n`,
      artifacts: { 'testos.raw.gz': testos.gz },
      stallAfter: { 'testos.raw.gz': 3 * 1024 * 1024 },
    });
    await seed.start();
    try {
      const disk = path.join(dir, 'stall.raw');
      blankDisk(disk);
      const vm = await runQemu({ dir, name: 'stall', args: agentArgs(seed, disk, 'kseed.stall=4'), timeoutMs: 150_000 });
      expect(vm.killedBy, vm.serial).toBeNull();
      expect(seed.results, vm.serial).toEqual([expect.objectContaining({ status: 'fail', stage: 'deploy', msg: 'download stalled: no data for 4s; disk wiped' })]);
      expect(readAt(disk, 0, 1024 * 1024).every((b) => b === 0)).toBe(true);
    } finally {
      await seed.stop();
    }
  }, 180_000);
});
