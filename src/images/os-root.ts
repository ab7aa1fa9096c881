/**
 * The node OS's root tree: debootstrap's minbase (unpacked from the cache's
 * --make-tarball, the one the seed images use), then Debian's own packages
 * installed with apt inside a chroot, then the few files that make it a
 * cloud image (cloud-init NoCloud drop-in, the first-boot callback, fstab,
 * GRUB's files). Everything here runs on the build host as root.
 */
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync, lstatSync } from 'node:fs';
import path from 'node:path';
import { KseedError } from '../errors.js';
import { output as run } from '../util/tools.js';
import { TEMPLATES } from './kernel.js';

/** What every node image needs to boot, be configured by cloud-init and call back (not overridable). */
export const OS_BASE_PACKAGES = [
  'linux-image-amd64',
  'grub-pc',
  'grub-efi-amd64-bin',
  'cloud-init',
  'cloud-guest-utils',
  'openssh-server',
  'netplan.io',
  'systemd-sysv',
  'systemd-resolved',
  'dbus',
  'udev',
  'kmod',
  'iproute2',
  'fdisk',
  'gdisk',
  'e2fsprogs',
  'apparmor',
  'ca-certificates',
  'procps',
  'netbase',
  'isc-dhcp-client',
  'curl',
];

/**
 * The rest, as Kolla-Ansible and cephadm expect a host (`--packages` replaces this list).
 * Kolla-Ansible's bootstrap-servers (baremetal role, Debian) installs git, iputils-ping,
 * tzdata, python3-pip, python3-setuptools and python3-dbus: present already, it fetches nothing.
 */
export const OS_DEFAULT_PACKAGES = ['python3', 'sudo', 'lvm2', 'chrony', 'docker.io', 'python3-docker', 'git', 'iputils-ping', 'tzdata', 'python3-pip', 'python3-setuptools', 'python3-dbus'];

export const KERNEL_CMDLINE = 'console=tty0 console=ttyS0,115200';

export interface RootIds {
  rootUuid: string;
  /** FAT volume id of the ESP, `XXXX-XXXX` */
  espId: string;
}

const CHROOT_ENV = { DEBIAN_FRONTEND: 'noninteractive', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

/** Bind mounts for apt and the kernel's postinst inside the chroot; undone in reverse order, lazily if busy. */
export class Chroot {
  private mounted: string[] = [];
  constructor(readonly root: string) {}

  async mount(archives: string): Promise<void> {
    const m = async (args: string[], at: string) => {
      mkdirSync(path.join(this.root, at), { recursive: true });
      await run('mount', [...args, path.join(this.root, at)]);
      this.mounted.push(path.join(this.root, at));
    };
    await m(['--bind', '/dev'], 'dev');
    await m(['--bind', '/dev/pts'], 'dev/pts');
    await m(['-t', 'proc', 'proc'], 'proc');
    await m(['-t', 'sysfs', 'sysfs'], 'sys');
    // .debs land in the cache: a rebuild downloads only what changed
    mkdirSync(archives, { recursive: true });
    await m(['--bind', archives], 'var/cache/apt/archives');
  }

  async unmount(): Promise<void> {
    for (const p of this.mounted.reverse()) {
      await run('umount', [p]).catch(() => run('umount', ['-l', p]).catch(() => undefined));
    }
    this.mounted = [];
  }

  run(args: string[], timeoutMs = 1_800_000): Promise<string> {
    return run('chroot', [this.root, ...args], { env: CHROOT_ENV, timeoutMs });
  }
}

function write(root: string, rel: string, text: string | Buffer, mode = 0o644): void {
  const p = path.join(root, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  if (existsSync(p) || isLink(p)) unlinkSync(p);
  writeFileSync(p, text);
  chmodSync(p, mode);
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** apt inside the chroot: full sources, newest packages, then ours; no daemon starts (policy-rc.d). */
export async function installPackages(ch: Chroot, sources: string, packages: string[], say: (m: string) => void): Promise<void> {
  const root = ch.root;
  write(root, 'etc/apt/sources.list', sources);
  write(root, 'usr/sbin/policy-rc.d', '#!/bin/sh\n# image build: never start a daemon in the chroot\nexit 101\n', 0o755);
  // apt resolves the mirror's name with the build host's resolver; cleared again in configureRoot
  write(root, 'etc/resolv.conf', readFileSync('/etc/resolv.conf'));
  say('apt-get update (chroot)');
  await ch.run(['apt-get', '-q', 'update']);
  say('apt-get upgrade (chroot)');
  await ch.run(['apt-get', '-q', '-y', '-o', 'Dpkg::Options::=--force-confold', 'dist-upgrade']);
  say(`apt-get install ${packages.length} packages (chroot)`);
  await ch.run(['apt-get', '-q', '-y', '--no-install-recommends', '-o', 'Dpkg::Options::=--force-confold', 'install', ...packages]);
}

/** The kernel version installed in /boot (exactly one is expected). */
export function kernelVersion(root: string): string {
  const v = readdirSync(path.join(root, 'boot'))
    .filter((f) => f.startsWith('vmlinuz-'))
    .map((f) => f.slice('vmlinuz-'.length))
    .sort();
  if (v.length === 0) throw new KseedError('no kernel in the image\'s /boot: is linux-image-amd64 in the package list?', { code: 'build-failed' });
  return v[v.length - 1]!;
}

/** Early GRUB config built into core.img and BOOTX64.EFI: find the root filesystem, then normal mode from it. */
export function grubEarlyConfig(rootUuid: string): string {
  return `search.fs_uuid ${rootUuid} root\nset prefix=($root)/boot/grub\n`;
}

export function grubConfig(rootUuid: string, kver: string): string {
  return readFileSync(path.join(TEMPLATES, 'os/grub.cfg'), 'utf8')
    .replaceAll('{{ROOT_UUID}}', rootUuid)
    .replaceAll('{{KVER}}', kver)
    .replaceAll('{{CMDLINE}}', KERNEL_CMDLINE);
}

export function fstab(ids: RootIds): string {
  return [`UUID=${ids.rootUuid} / ext4 errors=remount-ro 0 1`, `UUID=${ids.espId} /boot/efi vfat umask=0077,nofail 0 2`, ''].join('\n');
}

/** GRUB modules each early image needs to find an ext4 root on GPT. */
const GRUB_CORE = ['part_gpt', 'part_msdos', 'ext2', 'search', 'search_fs_uuid'];

/**
 * The cloud-image files, GRUB's module folders and images, and the clean-up.
 * Returns the path of BOOTX64.EFI (outside the root tree) for the ESP.
 */
export async function configureRoot(ch: Chroot, ids: RootIds, work: string): Promise<{ efi: string; kernelVersion: string }> {
  const root = ch.root;
  const tdir = path.join(TEMPLATES, 'os');
  write(root, 'etc/cloud/cloud.cfg.d/90-kseed.cfg', readFileSync(path.join(tdir, '90-kseed.cfg')));
  write(root, 'usr/local/sbin/kseed-callback', readFileSync(path.join(tdir, 'kseed-callback')), 0o755);
  write(root, 'etc/systemd/system/kseed-callback.service', readFileSync(path.join(tdir, 'kseed-callback.service')));
  mkdirSync(path.join(root, 'etc/systemd/system/cloud-init.target.wants'), { recursive: true });
  const want = path.join(root, 'etc/systemd/system/cloud-init.target.wants/kseed-callback.service');
  if (!isLink(want)) symlinkSync('/etc/systemd/system/kseed-callback.service', want);
  await ch.run(['systemctl', 'enable', 'systemd-networkd.service']);
  write(root, 'etc/fstab', fstab(ids));
  mkdirSync(path.join(root, 'boot/efi'), { recursive: true });
  write(
    root,
    'etc/default/grub',
    [
      '# kseed node OS: serial console first (servers and the lab are driven over it)',
      'GRUB_DEFAULT=0',
      'GRUB_TIMEOUT=1',
      'GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`',
      'GRUB_CMDLINE_LINUX_DEFAULT=""',
      `GRUB_CMDLINE_LINUX="${KERNEL_CMDLINE}"`,
      'GRUB_TERMINAL="console serial"',
      'GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"',
      '',
    ].join('\n'),
  );
  // every node gets its own identity at first boot: machine-id (systemd), host keys (cloud-init)
  write(root, 'etc/machine-id', '');
  rmSync(path.join(root, 'var/lib/dbus/machine-id'), { force: true });
  for (const f of readdirSync(path.join(root, 'etc/ssh'))) if (f.startsWith('ssh_host_')) rmSync(path.join(root, 'etc/ssh', f));
  write(root, 'etc/hostname', 'localhost\n');
  write(root, 'etc/hosts', '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n');

  const kver = kernelVersion(root);
  if (!existsSync(path.join(root, `boot/initrd.img-${kver}`))) await ch.run(['update-initramfs', '-c', '-k', kver]);
  // GRUB: module folders where normal mode loads them, the menu, the two early images
  for (const plat of ['i386-pc', 'x86_64-efi']) {
    const from = path.join(root, 'usr/lib/grub', plat);
    if (!existsSync(from)) throw new KseedError(`the image has no /usr/lib/grub/${plat}: grub-pc and grub-efi-amd64-bin are required`, { code: 'build-failed' });
    rmSync(path.join(root, 'boot/grub', plat), { recursive: true, force: true });
    cpSync(from, path.join(root, 'boot/grub', plat), { recursive: true });
  }
  write(root, 'boot/grub/grub.cfg', grubConfig(ids.rootUuid, kver));
  write(root, 'tmp/kseed-early.cfg', grubEarlyConfig(ids.rootUuid));
  await ch.run(['grub-mkimage', '-O', 'i386-pc', '-o', '/boot/grub/i386-pc/core.img', '-c', '/tmp/kseed-early.cfg', '-p', '/boot/grub', 'biosdisk', ...GRUB_CORE]);
  await ch.run(['grub-mkimage', '-O', 'x86_64-efi', '-o', '/tmp/BOOTX64.EFI', '-c', '/tmp/kseed-early.cfg', '-p', '/boot/grub', 'fat', ...GRUB_CORE]);
  const efi = path.join(work, 'BOOTX64.EFI');
  copyFileSync(path.join(root, 'tmp/BOOTX64.EFI'), efi);

  // what the build leaked or left: resolver, daemon policy, apt lists, logs, temp files
  rmSync(path.join(root, 'usr/sbin/policy-rc.d'), { force: true });
  const resolv = path.join(root, 'etc/resolv.conf');
  // systemd-resolved's postinst made it its stub's link; without resolved, an empty file (cloud-init fills it)
  if (!isLink(resolv)) write(root, 'etc/resolv.conf', '');
  rmSync(path.join(root, 'var/lib/apt/lists'), { recursive: true, force: true });
  mkdirSync(path.join(root, 'var/lib/apt/lists/partial'), { recursive: true });
  for (const f of ['pkgcache.bin', 'srcpkgcache.bin']) rmSync(path.join(root, 'var/cache/apt', f), { force: true });
  for (const d of ['tmp', 'var/tmp']) {
    for (const f of readdirSync(path.join(root, d))) rmSync(path.join(root, d, f), { recursive: true, force: true });
  }
  rmSync(path.join(root, 'var/lib/cloud'), { recursive: true, force: true });
  return { efi, kernelVersion: kver };
}

/** Installed packages, `name=version`, sorted. */
export async function installedPackages(ch: Chroot): Promise<string[]> {
  const out = await ch.run(['dpkg-query', '-W', '-f', '${Package}=${Version}\n'], 60_000);
  return out.split('\n').filter(Boolean).sort();
}
