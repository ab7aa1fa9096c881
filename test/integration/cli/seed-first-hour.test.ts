/**
 * Issue 16, the first hour around a running seed, through the built CLI: a
 * real `kseed up` (embedded engine) in a namespace of its own, then `kseed
 * doctor` must recognise kseed's own DHCP/TFTP/HTTP by the state dir's PID
 * (exit 0) and still fail on a port someone else holds, and `kseed logs`
 * shows .kseed/logs. No VM: the DHCP probe of doctor is the only client.
 */
import { type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, KSEED_BIN, runKseed } from '../../helpers/cli.js';
import { Lab, waitForLine } from '../../helpers/netns.js';
import { needRoot } from '../../helpers/peers.js';

const ok = needRoot();
const NS = 'kfh-s';

describe.skipIf(!ok)('after kseed up on the embedded engine', () => {
  let dir: string;
  let lab: Lab;
  let pid: number;
  const kseed = (args: string[]) => runKseed(args, { cwd: dir, env: { KSEED_BMC_PASSWORD: 'password' } });

  beforeAll(async () => {
    ensureBuilt();
    dir = mkdtempSync(path.join(os.tmpdir(), 'ksi-seedfh-'));
    lab = await Lab.create('kfh');
    await lab.bridge('br0', '10.193.0.1/24');
    writeFileSync(
      path.join(dir, 'kseed.yaml'),
      [
        'site: seedfh',
        'engine: embedded',
        'seed:',
        '  interface: br0',
        `  netns: ${NS}`,
        '  address: 10.193.0.1/24',
        '  dhcp: { mode: authoritative, range: 10.193.0.100-10.193.0.199 }',
        // the seed service `up` starts beside the boot services (on the host's 127.0.0.1): a port of this test's own
        '  ports: { api: 18343 }',
        'defaults:',
        '  bmc: { type: ipmi, username: admin, password: { env: KSEED_BMC_PASSWORD } }',
        '  root_device: { name: /dev/vda }',
        'nodes:',
        '  - { name: node01, bmc: { address: 127.0.0.1, port: 1 }, macs: ["52:54:00:fe:00:01"] }',
        '',
      ].join('\n'),
    );
    const up = await kseed(['--json', 'up']);
    expect(up.code, up.stderr).toBe(0);
    const j = JSON.parse(up.stdout);
    pid = j.boot_services.pid;
    expect(pid).toBeGreaterThan(0);
    // no deploy ramdisk where the seed serves /artifacts/: up succeeds and says so
    const ramdisk = path.join(dir, '.kseed', 'cache', 'ramdisk');
    expect(j.warnings).toEqual([
      `deploy ramdisk missing (${ramdisk}/vmlinuz, ${ramdisk}/initramfs.gz): nodes can be enrolled, not inspected or deployed; \`kseed images ramdisk\` builds it there`,
    ]);
  }, 60_000);

  afterAll(async () => {
    try {
      if (dir) await kseed(['down']);
    } finally {
      await lab?.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("doctor recognises kseed's own DHCP/TFTP/HTTP: exit 0, no port conflict, its DHCP server named", async () => {
    const r = await kseed(['doctor', '--probe-seconds', '1']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^udp/67 +ok +DHCP served by kseed's boot services \\(pid ${pid}\\)$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^udp/69 +ok +TFTP served by kseed's boot services \\(pid ${pid}\\)$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^tcp/8080 +ok +HTTP served by kseed's boot services \\(pid ${pid}\\)$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^DHCP servers +ok +kseed's own DHCP server \\(pid ${pid}\\) serves br0; no other DHCP server answered within 1000 ms$`, 'm'));
    expect(r.stdout).not.toMatch(/ fail /);
    const j = await kseed(['--json', 'doctor', '--probe-seconds', '1']);
    expect(j.code).toBe(0);
    const report = JSON.parse(j.stdout);
    expect(report.kseedServices).toMatchObject({ pid });
    expect(report.kseedServices.udp).toEqual(expect.arrayContaining([67, 69]));
    expect(report.kseedServices.tcp).toContain(8080);
  });

  it('a port held by another process in the same namespace is still a conflict (exit 1)', async () => {
    // ip netns exec execs node: the child's PID is the holder's
    const holder: ChildProcess = lab.server.spawn(process.execPath, ['-e', "require('dgram').createSocket('udp4').bind(4011, () => console.log('bound'))"]);
    try {
      await waitForLine(holder, /bound/);
      const r = await kseed(['doctor', '--probe-seconds', '1']);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^udp\/4011 +fail +proxyDHCP port in use \(EADDRINUSE\): stop that service or turn kseed's proxyDHCP off$/m);
      expect(r.stdout).toMatch(/^udp\/67 +ok +DHCP served by kseed's boot services/m);
    } finally {
      holder.kill('SIGTERM');
    }
  });

  it('up again: already running, still names the missing deploy ramdisk and the command that builds it; no warning once it is there', async () => {
    const again = await kseed(['up']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`^boot services already running \\(pid ${pid}\\)`));
    const ramdisk = path.join(dir, '.kseed', 'cache', 'ramdisk');
    expect(again.stderr).toBe(
      `warning: deploy ramdisk missing (${ramdisk}/vmlinuz, ${ramdisk}/initramfs.gz): nodes can be enrolled, not inspected or deployed; \`kseed images ramdisk\` builds it there\n`,
    );
    mkdirSync(ramdisk, { recursive: true });
    writeFileSync(path.join(ramdisk, 'vmlinuz'), 'kernel');
    const half = await kseed(['--json', 'up']);
    expect(JSON.parse(half.stdout).warnings).toEqual([expect.stringMatching(new RegExp(`^deploy ramdisk missing \\(${ramdisk}/initramfs\\.gz\\)`))]);
    writeFileSync(path.join(ramdisk, 'initramfs.gz'), 'initramfs');
    const whole = await kseed(['up']);
    expect(whole).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse((await kseed(['--json', 'up'])).stdout).warnings).toBeUndefined();
  });

  it('logs shows .kseed/logs/boot-serve.log, one log by name, and follows it', async () => {
    const all = await kseed(['logs', '--tail', '1000']);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/^\{.*"service":"serve","type":"listening","interface":"br0","seedAddress":"10.193.0.1"/m);
    const one = await kseed(['logs', 'boot-serve', '--tail', '1']);
    expect(one.code).toBe(0);
    expect(one.stdout.split('\n')).toHaveLength(2);
    const bad = await kseed(['logs', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(`kseed: no log "nope" under ${path.join(dir, '.kseed', 'logs')}: there are boot-serve, api\n`);

    // follow: the doctor's DHCP probe (an unknown MAC) is logged by the server as it happens
    const { spawn } = await import('node:child_process');
    const follow = spawn(process.execPath, [KSEED_BIN, 'logs', 'boot-serve', '-f', '--tail', '1'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    follow.stdout.on('data', (d) => (out += d));
    const ignored = () => out.split('\n').filter((l) => /"service":"dhcp","type":"ignored".*"reason":"MAC not in inventory"/.test(l)).length;
    const until = async (what: string, ok: () => boolean) => {
      for (const t0 = Date.now(); !ok(); await new Promise((r) => setTimeout(r, 100))) {
        if (Date.now() - t0 > 20_000) throw new Error(`logs -f: no ${what} after 20 s (stdout: ${out.slice(-500)})`);
      }
    };
    try {
      // the tail's one line says the follower runs; the lines after it are new
      await until('first line', () => out.includes('\n'));
      const before = ignored();
      expect((await kseed(['doctor', '--probe-seconds', '1'])).code).toBe(0);
      await until('new DHCP line', () => ignored() > before);
      expect(out.split('\n').filter(Boolean).every((l) => l.startsWith('{"ts":'))).toBe(true);
    } finally {
      follow.kill('SIGTERM');
    }
  });
});
