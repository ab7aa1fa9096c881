/**
 * Real iPXE (QEMU's virtio option ROM, BIOS, -accel tcg) against kseed's TFTP
 * and HTTP servers, in a network namespace this test creates: dnsmasq only
 * hands out the address and "boot.ipxe" (no TFTP); iPXE fetches boot.ipxe from
 * kseed's TFTP, chains /boot/<mac>.ipxe from kseed's HTTP, then the deploy
 * kernel and initrd (here dummy bytes: the test stops once iPXE fetched them).
 * Runs the servers from dist/ (`npm test` builds first).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inCI, needPeers, needRoot } from '../../helpers/peers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const built = existsSync(path.resolve(here, '../../../dist/boot/http/index.js'));
if (!built) {
  if (inCI) throw new Error('dist/ missing: npm test builds before running vitest');
  console.warn('SKIP: dist/ not built (npm run build)');
}
// QEMU loads its default virtio-net ROM (ipxe-qemu) itself: an explicit romfile= was not run by SeaBIOS here.
const ROM = '/usr/lib/ipxe/qemu/efi-virtio.rom';
const NS = 'kst-q1';
const BR = 'kst-qbr0';
const TAP = 'kst-qt0';
const SEED = '10.78.0.1';
const HTTP_PORT = 18280;
const MAC = '52:54:00:78:00:01';

const ip = (...a: string[]) => execFileSync('ip', a, { stdio: 'pipe' });

describe.skipIf(!built || !needRoot() || !needPeers('ip', 'dnsmasq', 'qemu-system-x86_64', ROM))('iPXE boots through kseed TFTP + HTTP (QEMU, BIOS)', () => {
  let dir: string;
  const procs: ChildProcess[] = [];
  const events: Record<string, unknown>[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kst-ipxe-'));
    const art = path.join(dir, 'artifacts');
    mkdirSync(art);
    writeFileSync(path.join(art, 'vmlinuz'), Buffer.alloc(4096, 1));
    writeFileSync(path.join(art, 'initrd.gz'), Buffer.alloc(2048, 2));
    try {
      ip('netns', 'del', NS);
    } catch {
      /* not there */
    }
    ip('netns', 'add', NS);
    ip('-n', NS, 'link', 'set', 'lo', 'up');
    ip('-n', NS, 'link', 'add', BR, 'type', 'bridge');
    ip('-n', NS, 'addr', 'add', `${SEED}/24`, 'dev', BR);
    // iPXE waits ~16 s for IPv6 router advertisements unless it gets one (lab.md 3.5).
    ip('-n', NS, 'addr', 'add', 'fd78::1/64', 'dev', BR, 'nodad');
    ip('-n', NS, 'link', 'set', BR, 'up');
    ip('-n', NS, 'tuntap', 'add', 'dev', TAP, 'mode', 'tap');
    ip('-n', NS, 'link', 'set', TAP, 'master', BR);
    ip('-n', NS, 'link', 'set', TAP, 'up');

    const runner = spawn(
      'ip',
      [
        'netns', 'exec', NS, 'node', path.join(here, 'boot-runner.mjs'),
        JSON.stringify({ address: SEED, httpPort: HTTP_PORT, artifacts: art, nodes: [{ name: 'n1', macs: [MAC], state: 'deploying', token: 'tok-n1-0123456789abcdef' }] }),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    procs.push(runner);
    let buf = '';
    runner.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        events.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    });
    await waitFor(() => events.some((e) => e.ready), 20_000);

    writeFileSync(
      path.join(dir, 'dnsmasq.conf'),
      [
        'port=0',
        `interface=${BR}`,
        'bind-interfaces',
        'except-interface=lo',
        `dhcp-leasefile=${dir}/leases`,
        'dhcp-range=10.78.0.100,10.78.0.150,255.255.255.0,1h',
        'dhcp-authoritative',
        'no-ping',
        `dhcp-boot=boot.ipxe,,${SEED}`,
        'dhcp-userclass=set:ipxe,iPXE',
        'dhcp-option=tag:ipxe,encap:175,176,1',
        'enable-ra',
        'dhcp-range=fd78::,ra-only,64',
        `ra-param=${BR},0,0`,
      ].join('\n') + '\n',
    );
    const dns = spawn('ip', ['netns', 'exec', NS, 'dnsmasq', '-k', `--conf-file=${dir}/dnsmasq.conf`, '--user=root', '--group=root'], { stdio: 'ignore' });
    procs.push(dns);
  }, 60_000);

  afterAll(async () => {
    for (const p of procs.reverse()) {
      if (p.exitCode === null) p.kill('SIGTERM');
      await new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)));
    }
    try {
      ip('netns', 'del', NS);
    } catch {
      /* gone */
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('fetches boot.ipxe over TFTP, its deploy script and the ramdisk over HTTP', async () => {
    const serial = path.join(dir, 'serial.log');
    const q = spawn(
      'ip',
      [
        'netns', 'exec', NS, 'qemu-system-x86_64', '-accel', 'tcg', '-m', '256', '-nographic', '-nodefaults', '-no-user-config',
        '-monitor', 'none', '-serial', `file:${serial}`,
        '-netdev', `tap,id=n0,ifname=${TAP},script=no,downscript=no`,
        '-device', `virtio-net-pci,netdev=n0,mac=${MAC},bootindex=1`,
      ],
      { stdio: 'ignore' },
    );
    procs.push(q);
    const http = (p: string) => events.find((e) => e.src === 'http' && e.path === p);
    try {
      await waitFor(() => http('/artifacts/initrd.gz') !== undefined, 90_000);
    } catch {
      const tail = existsSync(serial) ? readFileSync(serial, 'latin1').slice(-3000) : '(no serial log)';
      throw new Error(`iPXE did not fetch the ramdisk.\nserial:\n${tail}\nevents:\n${events.map((e) => JSON.stringify(e)).join('\n')}`);
    }
    q.kill('SIGTERM');
    const tftpEnd = events.find((e) => e.src === 'tftp' && e.type === 'end' && e.file === 'boot.ipxe');
    expect(tftpEnd).toMatchObject({ ok: true });
    expect(http('/boot/52-54-00-78-00-01.ipxe')).toMatchObject({ status: 200, node: 'n1' });
    expect(http('/artifacts/vmlinuz')).toMatchObject({ status: 200 });
    expect(http('/artifacts/initrd.gz')).toMatchObject({ status: 200 });
    const log = readFileSync(serial, 'latin1');
    expect(log).toContain('kseed: n1: deploy ramdisk');
  }, 180_000);
});

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}
