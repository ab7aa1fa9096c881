/**
 * The generated chassis_control program run by a real sh, the way ipmi_sim
 * runs it, with a stand-in vm.sh (a shell loop) instead of QEMU: power on is
 * idempotent and returns at once, power off really ends the process, and a
 * zombie or a reused PID counts as off.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderChassisScript } from '../../../src/lab/bmc-config.js';
import { liveCmdline, readPidFile } from '../../../src/lab/proc.js';
import { needPeers } from '../../helpers/peers.js';

let dir = '';
let script = '';
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'ksl-chassis-'));
  script = path.join(dir, 'chassis.sh');
  writeFileSync(script, renderChassisScript(dir), { mode: 0o755 });
  // stand-in VM: a process whose command line names the node dir, like vm.sh/QEMU
  writeFileSync(path.join(dir, 'vm.sh'), '#!/bin/sh\necho $$ > "$(dirname "$0")/vm.pid"\nwhile :; do sleep 0.2; done\n', { mode: 0o755 });
  chmodSync(path.join(dir, 'vm.sh'), 0o755);
});

function chassis(...args: string[]): { out: string; ms: number } {
  const t0 = Date.now();
  const out = execFileSync('sh', ['-c', `${script} ${args.join(' ')}`], { encoding: 'utf8', timeout: 5000 });
  return { out, ms: Date.now() - t0 };
}

const pids: number[] = [];
afterAll(() => {
  if (!dir) return;
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!needPeers('sh', 'setsid'))('chassis_control program', () => {
  it('reports power off and boot "none" before anything happened', () => {
    expect(chassis('get', 'power', 'boot').out).toBe('power:0\nboot:none\n');
  });

  it('powers on once, detached, and returns without waiting for the VM', async () => {
    const on = chassis('set', 'power', '1');
    const pid = readPidFile(path.join(dir, 'vm.pid'))!;
    pids.push(pid);
    // the PID is written right after the fork: the exec of vm.sh may still be under way
    const deadline = Date.now() + 5000;
    while (!liveCmdline(pid)?.includes(`${dir}/vm.sh`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(liveCmdline(pid)).toContain(`${dir}/vm.sh`);
    // a second power on (ipmi_sim re-runs a command when ipmitool retransmits) starts nothing new
    chassis('set', 'power', '1');
    await new Promise((r) => setTimeout(r, 300));
    expect(readPidFile(path.join(dir, 'vm.pid'))).toBe(pid);
    expect(chassis('get', 'power').out).toBe('power:1\n');
    console.log(`chassis.sh set power 1: ${on.ms} ms`);
  });

  it('powers off by PID, fast, and twice is harmless', () => {
    const pid = readPidFile(path.join(dir, 'vm.pid'))!;
    const off = chassis('set', 'power', '0');
    expect(liveCmdline(pid)).toBeUndefined();
    expect(existsSync(path.join(dir, 'vm.pid'))).toBe(false);
    expect(chassis('set', 'power', '0').out).toBe('');
    expect(chassis('get', 'power').out).toBe('power:0\n');
    console.log(`chassis.sh set power 0: ${off.ms} ms`);
  });

  it('soft off without a QMP socket falls back to a hard off', () => {
    chassis('set', 'power', '1');
    const pid = readPidFile(path.join(dir, 'vm.pid'))!;
    pids.push(pid);
    expect(chassis('get', 'power').out).toBe('power:1\n');
    chassis('set', 'shutdown', '1');
    expect(liveCmdline(pid)).toBeUndefined();
    expect(chassis('get', 'power').out).toBe('power:0\n');
  });

  it('records the boot device and refuses unknown ones', () => {
    chassis('set', 'boot', 'default');
    expect(chassis('get', 'boot').out).toBe('boot:default\n');
    chassis('set', 'boot', 'pxe');
    expect(readFileSync(path.join(dir, 'boot'), 'utf8')).toBe('pxe\n');
    expect(() => chassis('set', 'boot', 'floppy')).toThrow();
    expect(chassis('get', 'boot').out).toBe('boot:pxe\n');
  });

  it('accepts identify with its single quoted value', () => {
    expect(() => chassis('set', 'identify', '"5 0"')).not.toThrow();
  });

  it('counts a zombie VM as off', async () => {
    // a parent that never reaps: its child becomes a zombie when killed
    const parent = spawn('sh', ['-c', `"${dir}/vm.sh" & echo $! > "${dir}/z.pid"; exec sleep 30`], { stdio: 'ignore', detached: true });
    pids.push(parent.pid!);
    let child: number | undefined;
    for (let i = 0; i < 50 && child === undefined; i++) {
      await new Promise((r) => setTimeout(r, 50));
      child = readPidFile(path.join(dir, 'z.pid'));
    }
    expect(child).toBeDefined();
    pids.push(child!);
    writeFileSync(path.join(dir, 'vm.pid'), `${child}\n`);
    expect(chassis('get', 'power').out).toBe('power:1\n');
    process.kill(child!, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    expect(readFileSync(`/proc/${child}/status`, 'utf8')).toMatch(/^State:\s*Z/m);
    expect(chassis('get', 'power').out).toBe('power:0\n');
  });

  it('counts a reused PID (a process that is not this node\'s VM) as off', () => {
    writeFileSync(path.join(dir, 'vm.pid'), `${process.pid}\n`);
    expect(chassis('get', 'power').out).toBe('power:0\n');
    // and never signals it
    chassis('set', 'power', '0');
    expect(liveCmdline(process.pid)).toBeDefined();
  });
});
