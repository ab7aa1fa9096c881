/**
 * Shared pieces of the DHCP integration tests: kseed's server running in a
 * namespace (serve-fixture.mjs over dist/), and the real clients (busybox
 * udhcpc, ISC dhclient) with scripts that only record, never touch /etc.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DhcpEvent } from '../../src/boot/dhcp/handlers.js';
import { JsonLinesProcess } from './json-lines.js';
import type { Client, Netns } from './netns.js';
import { waitForLine } from './netns.js';
import { isOurs, readPidFile } from '../../src/lab/proc.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = path.join(repoRoot, 'test/integration/boot/dhcp/serve-fixture.mjs');

export function tmpDir(tag: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `ksd-${tag}-`));
}

/** What the DHCP server reports, one JSON line each (the server's own type). */
export type KseedEvent = DhcpEvent;

export class KseedProcess extends JsonLinesProcess<KseedEvent> {
  static async start(ns: Netns, dir: string, cfg: Record<string, unknown>): Promise<KseedProcess> {
    const file = path.join(dir, `kseed-${Date.now()}.json`);
    writeFileSync(file, JSON.stringify(cfg));
    const child = ns.spawn(process.execPath, [fixture, file]);
    const k = new KseedProcess(child);
    await waitForLine(child, /^READY$/);
    return k;
  }

  /** Start and expect failure: returns stderr. */
  static async startFails(ns: Netns, dir: string, cfg: Record<string, unknown>): Promise<string> {
    const file = path.join(dir, `kseed-${Date.now()}.json`);
    writeFileSync(file, JSON.stringify(cfg));
    const r = await ns.exec(process.execPath, [fixture, file], { timeoutMs: 15_000 });
    if (r.code === 0) throw new Error('kseed started but should not have');
    return r.stderr;
  }
}

/** Runs busybox udhcpc once; returns the environment its script saw at `bound`, or null. */
export async function udhcpc(c: Client, dir: string, args: string[] = [], timeoutMs = 20_000): Promise<{ env: Record<string, string>; log: string } | null> {
  const script = path.join(dir, `udhcpc-${c.ns.name}.sh`);
  const envFile = path.join(dir, `udhcpc-${c.ns.name}.env`);
  // configures the address like busybox's default script (RELEASE is sent from
  // it), but only inside the client's namespace; records the environment
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      'case "$1" in',
      '  deconfig) ip -4 addr flush dev "$interface" ;;',
      `  bound|renew) ip -4 addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface"; env > ${envFile} ;;`,
      'esac',
      'exit 0',
      '',
    ].join('\n'),
  );
  chmodSync(script, 0o755);
  writeFileSync(envFile, '');
  const r = await c.exec('udhcpc', ['-i', c.ifname, '-f', '-q', '-n', '-t', '4', '-T', '1', '-A', '1', '-s', script, ...args], { timeoutMs });
  const text = readFileSync(envFile, 'utf8');
  if (!text) return null;
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return { env, log: r.stdout + r.stderr };
}

/** Runs ISC dhclient once (-1) with a recording script; returns the lease file text. */
export async function dhclient(c: Client, dir: string, conf = '', extra: string[] = []): Promise<{ code: number | null; leases: string; log: string; pidFile: string; leaseFile: string; script: string; confFile: string }> {
  const script = path.join(dir, `dhclient-${c.ns.name}.sh`);
  const leaseFile = path.join(dir, `dhclient-${c.ns.name}.leases`);
  const pidFile = path.join(dir, `dhclient-${c.ns.name}.pid`);
  const confFile = path.join(dir, `dhclient-${c.ns.name}.conf`);
  // the stock dhclient-script would rewrite the host's /etc/resolv.conf
  // (it configures the address inside the client's namespace only)
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      `echo "reason=$reason ip=$new_ip_address" >> ${dir}/dhclient-${c.ns.name}.events`,
      'case "$reason" in BOUND|REBOOT|RENEW) ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface" ;; esac',
      'exit 0',
      '',
    ].join('\n'),
  );
  chmodSync(script, 0o755);
  writeFileSync(confFile, conf);
  const r = await c.exec('dhclient', ['-1', '-v', '-cf', confFile, '-sf', script, '-lf', leaseFile, '-pf', pidFile, ...extra, c.ifname], { timeoutMs: 40_000 });
  let leases = '';
  try {
    leases = readFileSync(leaseFile, 'utf8');
  } catch {
    /* no lease */
  }
  return { code: r.code, leases, log: r.stdout + r.stderr, pidFile, leaseFile, script, confFile };
}

/**
 * Stops a daemon started with `file` as its pid file (dhclient -pf) and
 * returns once it has exited. dhclient writes the file after it forked and
 * its parent exited, so it may not exist yet when `dhclient -1` returns; and
 * the killed daemon is reparented to whichever reaper is above the test,
 * which may leave it a zombie for a while (isOurs counts that as gone, as
 * it does a reused PID).
 */
export async function killPidFile(file: string): Promise<void> {
  let pid: number;
  try {
    pid = await waitFor(() => readPidFile(file), 5000);
  } catch {
    return; // never daemonized
  }
  const running = () => isOurs(pid, file);
  if (!running()) return;
  process.kill(pid, 'SIGTERM');
  try {
    await waitFor(() => !running(), 10_000);
  } catch {
    process.kill(pid, 'SIGKILL');
    await waitFor(() => !running(), 5000);
  }
}

export function waitFor<T>(fn: () => T | undefined | null | false, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      const v = fn();
      if (v) return resolve(v);
      if (Date.now() - t0 > timeoutMs) return reject(new Error('condition not met in time'));
      setTimeout(tick, 50);
    };
    tick();
  });
}
