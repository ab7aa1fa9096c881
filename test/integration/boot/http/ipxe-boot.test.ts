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
import { inCI, needPeers, needRoot } from '../../../helpers/peers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const built = existsSync(path.resolve(here, '../../../../dist/boot/http/index.js'));
if (!built) {
  if (inCI) throw new Error('dist/ missing: npm test builds before running vitest');
  console.warn('SKIP: dist/ not built (npm run build)');
}
// QEMU loads its default virtio-net ROM from ipxe-qemu itself (an explicit romfile= was not
// run by SeaBIOS here); the path only checks that ipxe-qemu is installed.
const ROM = '/usr/lib/ipxe/qemu/efi-virtio.rom';
const NS = 'kst-q1';
const BR = 'kst-qbr0';
const TAP = 'kst-qt0';
const SEED = '10.78.0.1';
const HTTP_PORT = 18280;
const MAC = '52:54:00:78:00:01';
const MAC_LOCAL = '52:54:00:78:00:02';
const MAC_UNKNOWN = '52:54:00:78:00:03';


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
        JSON.stringify({ address: SEED, httpPort: HTTP_PORT, artifacts: art, nodes: [
          { name: 'n1', macs: [MAC], state: 'deploying', token: 'tok-n1-0123456789abcdef' },
          { name: 'n2', macs: [MAC_LOCAL], state: 'active' },
        ] }),
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

  /** One VM at a time on the tap; returns its serial log path and a stop function. */
  function vm(name: string, mac: string): { serial: string; stop: () => Promise<void> } {
    const serial = path.join(dir, `${name}.serial`);
    const q = spawn(
      'ip',
      [
        'netns', 'exec', NS, 'qemu-system-x86_64', '-accel', 'tcg', '-m', '256', '-nographic', '-nodefaults', '-no-user-config',
        '-monitor', 'none', '-serial', `file:${serial}`,
        '-netdev', `tap,id=n0,ifname=${TAP},script=no,downscript=no`,
        '-device', `virtio-net-pci,netdev=n0,mac=${mac},bootindex=1`,
      ],
      { stdio: 'ignore' },
    );
    procs.push(q);
    return {
      serial,
      stop: async () => {
        if (q.exitCode === null) q.kill('SIGTERM');
        await new Promise((r) => (q.exitCode !== null ? r(null) : q.once('exit', r)));
      },
    };
  }
  const http = (p: string) => events.find((e) => e.src === 'http' && e.path === p);
  const serialOf = (f: string) => (existsSync(f) ? readFileSync(f, 'latin1') : '');

  it('fetches boot.ipxe over TFTP, its deploy script and the ramdisk over HTTP', async () => {
    const { serial, stop } = vm('deploy', MAC);
    const q = { kill: () => void stop() };
    try {
      await waitFor(() => http('/artifacts/initrd.gz') !== undefined, 90_000);
    } catch {
      const tail = existsSync(serial) ? readFileSync(serial, 'latin1').slice(-3000) : '(no serial log)';
      throw new Error(`iPXE did not fetch the ramdisk.\nserial:\n${tail}\nevents:\n${events.map((e) => JSON.stringify(e)).join('\n')}`);
    }
    q.kill();
    await stop();
    const tftpEnd = events.find((e) => e.src === 'tftp' && e.type === 'end' && e.file === 'boot.ipxe');
    expect(tftpEnd).toMatchObject({ ok: true });
    expect(http('/boot/52-54-00-78-00-01.ipxe')).toMatchObject({ status: 200, node: 'n1' });
    expect(http('/artifacts/vmlinuz')).toMatchObject({ status: 200 });
    expect(http('/artifacts/initrd.gz')).toMatchObject({ status: 200 });
    const log = readFileSync(serial, 'latin1');
    expect(log).toContain('kseed: n1: deploy ramdisk');
  }, 180_000);

  it('an active node gets the local-boot script and fetches no ramdisk; an unknown MAC gets exit', async () => {
    const a = vm('local', MAC_LOCAL);
    await waitFor(() => serialOf(a.serial).includes('booting from local disk'), 90_000).catch(() => {
      throw new Error(`no local-boot script ran:\n${serialOf(a.serial).slice(-2000)}`);
    });
    // No disk: sanboot fails, the script exits and SeaBIOS moves on.
    await waitFor(() => /No bootable device|Boot failed/.test(serialOf(a.serial).split('booting from local disk')[1] ?? ''), 60_000);
    await a.stop();
    expect(http('/boot/52-54-00-78-00-02.ipxe')).toMatchObject({ status: 200, node: 'n2' });

    const u = vm('unknown', MAC_UNKNOWN);
    await waitFor(() => serialOf(u.serial).includes('not booting from the network'), 90_000).catch(() => {
      throw new Error(`no no-boot script ran:\n${serialOf(u.serial).slice(-2000)}`);
    });
    await u.stop();
    expect(http('/boot/52-54-00-78-00-03.ipxe')).toMatchObject({ status: 200 });
    // Only the deploy node ever fetched the ramdisk.
    expect(events.filter((e) => e.src === 'http' && String(e.path).startsWith('/artifacts/')).length).toBe(2);
  }, 240_000);

});

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}
