/**
 * The pure parts of the node OS image and of the seed's image conversion:
 * the GPT layout, GRUB's BIOS sectors, the package list, format sniffing.
 */
import { describe, expect, it } from 'vitest';
import { sniffFormat } from '../../../src/images/convert.js';
import { grubBiosSectors } from '../../../src/images/grub-bios.js';
import { osPackageList } from '../../../src/images/nodeos.js';
import { osDiskLayout } from '../../../src/images/os-disk.js';
import { fstab, grubConfig, grubEarlyConfig, OS_BASE_PACKAGES } from '../../../src/images/os-root.js';

const MiB = 1024 * 1024;

describe('node OS disk layout', () => {
  it('BIOS boot, ESP, CIDATA, then root filling the disk up to the backup GPT MiB', () => {
    const l = osDiskLayout(4096 * MiB);
    expect(l.bios).toMatchObject({ number: 1, type: 'ef02', start: 2048, sectors: 2048 });
    expect(l.esp).toMatchObject({ number: 2, type: 'ef00', start: 4096, sectors: 100 * 2048 });
    expect(l.cidata).toMatchObject({ number: 3, type: '0700', start: 4096 + 204800, sectors: 4 * 2048 });
    expect(l.root.start).toBe(l.cidata.start + l.cidata.sectors);
    // root is last (growpart grows it) and ends one MiB before the end of the disk
    expect(l.root.start + l.root.sectors).toBe((4096 * MiB) / 512 - 2048);
    expect(l.root.start % 2048).toBe(0);
    expect(() => osDiskLayout(100 * MiB)).toThrow(/at least 512 MiB/);
    expect(() => osDiskLayout(4096 * MiB + 1)).toThrow(/whole number of MiB/);
  });
});

describe('GRUB BIOS sectors (what grub-bios-setup writes)', () => {
  const boot = Buffer.alloc(512, 0xab);
  const mbr = Buffer.alloc(512);
  mbr.fill(0x11, 0x1b8, 0x1fe);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  const core = Buffer.alloc(512 * 40 + 100, 0xcd);

  it('keeps the partition table, points boot.img at core.img and core.img at its own rest', () => {
    const s = grubBiosSectors(boot, core, mbr, 2048, 2048);
    expect(s.mbr.subarray(0x1b8).equals(mbr.subarray(0x1b8))).toBe(true);
    expect(s.mbr.readBigUInt64LE(0x5c)).toBe(2048n);
    expect(s.mbr[0x64]).toBe(0xff);
    expect([s.mbr[0x66], s.mbr[0x67]]).toEqual([0x90, 0x90]);
    // boot.img's code is untouched elsewhere
    expect(s.mbr[0x10]).toBe(0xab);
    expect(s.core.length).toBe(41 * 512);
    expect(s.core.readBigUInt64LE(500)).toBe(2049n);
    expect(s.core.readUInt16LE(508)).toBe(40);
    expect(s.core.readUInt16LE(510)).toBe(0x820);
    expect(s.core.subarray(488, 500).every((b) => b === 0)).toBe(true);
    expect(s.core[512]).toBe(0xcd);
  });

  it('refuses a disk without a partition table and a core.img larger than its partition', () => {
    expect(() => grubBiosSectors(boot, core, Buffer.alloc(512), 2048, 2048)).toThrow(/no 0x55AA/);
    expect(() => grubBiosSectors(boot, core, mbr, 2048, 40)).toThrow(/does not fit the BIOS boot partition \(40 sectors\)/);
  });
});

describe('node OS files', () => {
  it('GRUB finds the root by UUID, boots with the serial console; fstab by UUID', () => {
    const u = '11111111-2222-4333-a444-555555555555';
    expect(grubEarlyConfig(u)).toBe(`search.fs_uuid ${u} root\nset prefix=($root)/boot/grub\n`);
    const cfg = grubConfig(u, '6.1.0-99-amd64');
    expect(cfg).toContain(`linux /boot/vmlinuz-6.1.0-99-amd64 root=UUID=${u} ro console=tty0 console=ttyS0,115200`);
    expect(cfg).toContain('initrd /boot/initrd.img-6.1.0-99-amd64');
    expect(cfg).not.toContain('{{');
    expect(fstab({ rootUuid: u, espId: 'ABCD-1234' })).toBe(`UUID=${u} / ext4 errors=remount-ro 0 1\nUUID=ABCD-1234 /boot/efi vfat umask=0077,nofail 0 2\n`);
  });

  it('package list: base always, extras replaced or added; no option-like names', () => {
    expect(osPackageList({})).toEqual([...OS_BASE_PACKAGES, 'python3', 'sudo', 'lvm2', 'chrony', 'docker.io', 'python3-docker', 'git', 'iputils-ping', 'tzdata', 'python3-pip', 'python3-setuptools', 'python3-dbus']);
    expect(osPackageList({ packages: ['vim'], addPackages: ['curl', 'jq'] })).toEqual([...OS_BASE_PACKAGES, 'vim', 'jq']);
    expect(() => osPackageList({ addPackages: ['--force-yes'] })).toThrow('"--force-yes" is not a Debian package name');
  });
});

describe('image format sniffing', () => {
  it('names containers by their magic, raw otherwise', () => {
    const at = (off: number, magic: Buffer | string) => {
      const b = Buffer.alloc(0x8010);
      Buffer.from(magic as string, 'latin1').copy(b, off);
      return b;
    };
    expect(sniffFormat(at(0, 'QFI\xfb'))).toBe('qcow2');
    expect(sniffFormat(at(0, 'KDMV'))).toBe('vmdk');
    expect(sniffFormat(at(0, 'vhdxfile'))).toBe('vhdx');
    expect(sniffFormat(at(0x8001, 'CD001'))).toBe('iso');
    expect(sniffFormat(at(0, '\x1f\x8b'))).toBe('gzip');
    expect(sniffFormat(at(0, '\x28\xb5\x2f\xfd'))).toBe('zstd');
    expect(sniffFormat(at(0, '\xfd7zXZ\0'))).toBe('xz');
    expect(sniffFormat(Buffer.alloc(4096))).toBe('raw');
    expect(sniffFormat(Buffer.from('QF'))).toBe('raw');
  });
});
