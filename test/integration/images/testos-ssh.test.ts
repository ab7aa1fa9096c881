/**
 * The SSH test OS (`kseed images testos --ssh`) without a VM: its initramfs,
 * unpacked from the built disk, runs in a chroot with its own mount and UTS
 * namespaces inside a network namespace this test creates (ksl-hs). There
 * templates/osimage/ssh.sh does what it does on a booted node: reads the
 * NoCloud user-data, authorizes the keys for root and for the user it names,
 * starts dropbear on port 22. Then real OpenSSH clients log in, copy a file
 * over SFTP and run the image's python3. The full boot path is
 * test/e2e/handoff.test.ts.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { elfNeeded, isElf } from '../../../src/images/elf.js';
import { buildTestOs, type TestOsResult } from '../../../src/images/osimage.js';
import { nodeUserData } from '../../../src/handoff/userdata.js';
import type { NodeSpec, Site } from '../../../src/site/types.js';
import { deleteNetns, Netns } from '../../helpers/netns.js';
import { needPeers, needRoot } from '../../helpers/peers.js';

const CACHE = process.env.KSEED_CACHE ?? path.resolve('cache');
const NS = 'ksl-hs';

const ok = needRoot() && needPeers('busybox', 'apt-get', 'dpkg-deb', 'mkfs.fat', 'mcopy', 'syslinux', 'grub-mkimage', 'zstd', 'unshare', 'chroot', 'ssh', 'sftp', 'ssh-keygen');

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

describe.skipIf(!ok)('the SSH test OS image', () => {
  let img: TestOsResult;
  let work = '';
  let root = '';
  let ns: Netns | undefined;
  let shell: ChildProcess | undefined;
  const key = () => path.join(work, 'key');

  beforeAll(async () => {
    img = await buildTestOs({ cacheDir: CACHE, ssh: true });
    work = mkdtempSync(path.join(os.tmpdir(), 'ksl-hs-'));
    root = path.join(work, 'root');
    mkdirSync(root);
    const boot = img.partitions.find((p) => p.label === 'KSEEDBOOT')!;
    execFileSync('mcopy', ['-i', `${img.raw}@@${boot.offset}`, '::/initrd.gz', path.join(work, 'initrd.gz')], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
    execFileSync('busybox', ['cpio', '-i', '-d', '-m'], { cwd: root, input: gunzipSync(readFileSync(path.join(work, 'initrd.gz'))), maxBuffer: 1 << 30, stdio: ['pipe', 'ignore', 'ignore'] });
  }, 600_000);

  afterAll(async () => {
    if (shell?.pid) {
      try {
        process.kill(shell.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    // kills dropbear and anything else still running in the namespace
    await deleteNetns(NS);
    if (work) rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('holds dropbear, sftp-server and python3 with every shared library they name, and a precompiled stdlib', () => {
    expect(img.ssh).toBeDefined();
    expect(img.ssh!.packages.map((p) => p.split('=')[0])).toEqual(expect.arrayContaining(['dropbear-bin', 'openssh-sftp-server', `python${img.ssh!.python}-minimal`, `libpython${img.ssh!.python}-stdlib`]));
    expect(img.ssh!.compiled).toBe(true);
    for (const f of ['usr/sbin/dropbear', 'usr/bin/dropbearkey', 'usr/lib/openssh/sftp-server', `usr/bin/python${img.ssh!.python}`, 'lib64/ld-linux-x86-64.so.2', 'etc/kseed/ssh.sh']) {
      expect(statSync(path.join(root, f)).isFile(), f).toBe(true);
    }
    const sonames = new Set(readdirSync(path.join(root, 'lib/x86_64-linux-gnu')));
    let elves = 0;
    for (const f of walk(root)) {
      const buf = readFileSync(f);
      if (!isElf(buf)) continue;
      elves++;
      for (const so of elfNeeded(buf) ?? []) expect(sonames.has(so), `${path.relative(root, f)} needs ${so}`).toBe(true);
    }
    expect(elves).toBeGreaterThan(40);
    const lib = path.join(root, 'usr/lib', `python${img.ssh!.python}`);
    expect(readdirSync(path.join(lib, '__pycache__')).some((f) => f.startsWith('os.cpython-'))).toBe(true);
    expect(readdirSync(lib)).not.toContain('test');
  });

  it('ssh.sh authorizes the user-data keys for root and the named user; OpenSSH logs in, copies over SFTP, runs python3', async () => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kseed-handoff@hs', '-f', key()]);
    const pub = readFileSync(`${key()}.pub`, 'utf8').trim();
    // the user-data exactly as the seed serves it for a non-root hand-off user
    const ud = nodeUserData({ name: 'hs1' } as NodeSpec, { site: 'hs', handoff: { ssh_user: 'kolla' } } as unknown as Site, pub);
    mkdirSync(path.join(root, 'run/kseed'), { recursive: true });
    writeFileSync(path.join(root, 'run/kseed/user-data'), ud);

    ns = await Netns.create(NS);
    const script = [
      `mount -t proc proc ${root}/proc`,
      `mount -t devtmpfs devtmpfs ${root}/dev`,
      `exec chroot ${root} /bin/busybox sh -c '/bin/busybox --install -s; export PATH=/usr/bin:/bin:/usr/sbin:/sbin; hostname hs1; log() { echo "kseed-testos: $*"; }; . /etc/kseed/ssh.sh; wait'`,
    ].join(' && ');
    shell = ns.spawn('unshare', ['--mount', '--uts', '--fork', 'sh', '-c', script]);
    let out = '';
    shell.stdout!.on('data', (d) => (out += d));
    shell.stderr!.on('data', (d) => (out += d));
    for (let i = 0; i < 100 && !/dropbear listening/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
    expect(out).toMatch(/ssh: 1 authorized key\(s\) for: root kolla/);
    expect(out).toMatch(/ssh host key: SHA256:\S+/);

    const opts = ['-i', key(), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10'];
    const inNs = (cmd: string, args: string[], input?: string) => spawnSync('ip', ['netns', 'exec', NS, cmd, ...args], { encoding: 'utf8', timeout: 60_000, ...(input !== undefined ? { input } : {}) });
    let probe = inNs('ssh', [...opts, 'root@127.0.0.1', 'true']);
    for (let i = 0; i < 50 && probe.status !== 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
      probe = inNs('ssh', [...opts, 'root@127.0.0.1', 'true']);
    }
    expect(probe.status, probe.stderr + out).toBe(0);

    const local = path.join(work, 'probe.txt');
    writeFileSync(local, 'over sftp\n');
    const put = inNs('sftp', [...opts, '-b', '-', 'kolla@127.0.0.1'], `put ${local} probe.txt\n`);
    expect(put.status, put.stderr).toBe(0);
    const k = inNs('ssh', [...opts, 'kolla@127.0.0.1', 'id -u; echo $HOME; cat probe.txt; python3 -c "import json, zipfile, subprocess, selectors, syslog, pwd, grp, locale, hashlib; print(json.dumps({\'ok\': hashlib.sha256(b\'\').hexdigest()[:8]}))"']);
    expect(k.status, k.stderr).toBe(0);
    expect(k.stdout.split('\n')).toEqual(['1000', '/home/kolla', 'over sftp', '{"ok": "e3b0c442"}', '']);
    // a pty (Ansible's -tt) works too
    const tty = inNs('ssh', [...opts, '-tt', 'root@127.0.0.1', 'tty']);
    expect(tty.status, tty.stderr).toBe(0);
    expect(tty.stdout.trim()).toMatch(/^\/dev\/pts\/\d+$/);
    // no password, no other key
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(work, 'other')]);
    const other = inNs('ssh', [...opts.map((o) => (o === key() ? path.join(work, 'other') : o)), 'root@127.0.0.1', 'true']);
    expect(other.status).not.toBe(0);
    expect(other.stderr).toMatch(/Permission denied \(publickey\)/);
  }, 120_000);
});
