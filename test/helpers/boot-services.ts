/**
 * Pieces of the boot-serve integration tests: the composed boot services
 * running in a namespace (serve-fixture.mjs over dist/), QEMU guests whose
 * NIC is a tap on the test's bridge, and a recording udhcpc.
 */
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { JsonLinesProcess } from './json-lines.js';
import { type Netns, waitForLine } from './netns.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const dist = (p: string) => path.join(repoRoot, 'dist', p);
const fixture = path.join(repoRoot, 'test/integration/boot/serve-fixture.mjs');
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

export function tmpDir(tag: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `kst-${tag}-`));
}

export interface ServeEvent {
  t: number;
  service: string;
  type: string;
  [k: string]: unknown;
}

export class ServeProcess extends JsonLinesProcess<ServeEvent> {
  static async start(ns: Netns, dir: string, cfg: Record<string, unknown>): Promise<{ serve: ServeProcess; info: Record<string, unknown> }> {
    const file = path.join(dir, 'serve.json');
    writeFileSync(file, JSON.stringify(cfg));
    const child = ns.spawn(process.execPath, [fixture, file]);
    const serve = new ServeProcess(child);
    const line = await waitForLine(child, /^READY /, 30_000);
    return { serve, info: JSON.parse(line.slice('READY '.length)) as Record<string, unknown> };
  }

  of(mac: string): ServeEvent[] {
    return this.events.filter((e) => e.mac === mac);
  }
}

/**
 * The boot services of the site in `dir` (kseed.yaml, state in .kseed/),
 * in `ns`, serving the deploy ramdisk (cached in <repo>/cache after the
 * first build: apt-get download of the cloud kernel and busybox).
 */
export async function startServeWithRamdisk(ns: Netns, dir: string, extra: Record<string, unknown> = {}): Promise<ServeProcess> {
  const { buildRamdisk } = (await import(dist('images/ramdisk.js'))) as typeof import('../../src/images/ramdisk.js');
  const rd = await buildRamdisk({ cacheDir: path.join(repoRoot, 'cache') });
  const { serve } = await ServeProcess.start(ns, dir, {
    site: path.join(dir, 'kseed.yaml'),
    stateDir: path.join(dir, '.kseed'),
    artifactsDir: path.dirname(rd.kernel),
    kernel: path.basename(rd.kernel),
    initrd: path.basename(rd.initramfs),
    ...extra,
  });
  return serve;
}

/** A boot test's afterAll: the services and the state store closed, then the lab (whatever still runs in its namespaces: QEMU, dnsmasq, udhcpc) and the directory. */
export async function tearDownBootLab(o: { serve?: ServeProcess; state?: { close(): void }; lab?: { destroy(): Promise<void> }; dir?: string }): Promise<void> {
  try {
    await o.serve?.stop();
    o.state?.close();
  } finally {
    await o.lab?.destroy();
    if (o.dir) rmSync(o.dir, { recursive: true, force: true });
  }
}

export interface VmRun {
  serial: string;
  /** ms since epoch when QEMU was started ("power on") */
  t0: number;
  exitCode: number | null;
  killed: boolean;
}

export interface VmOptions {
  ns: Netns;
  dir: string;
  name: string;
  tap: string;
  mac: string;
  uefi?: boolean;
  /** Keep QEMU's iPXE option ROM (BIOS default); false leaves PXE to the firmware's own stack. */
  nicRom?: boolean;
  timeoutMs: number;
  /** Polled with the serial text so far; true kills the VM. */
  until?: (serial: string) => boolean;
}

/** Boots one TCG guest with its NIC on `tap` (inside `ns`) until it powers off, `until` holds, or time runs out. */
export async function bootVm(o: VmOptions): Promise<VmRun> {
  const serialFile = path.join(o.dir, `${o.name}.serial`);
  writeFileSync(serialFile, '');
  const args = ['-name', o.name, '-accel', 'tcg', '-m', '512', '-nographic', '-nodefaults', '-no-user-config', '-monitor', 'none'];
  args.push('-serial', `file:${serialFile}`);
  if (o.uefi) {
    const vars = path.join(o.dir, `${o.name}.vars.fd`);
    copyFileSync(OVMF_VARS, vars);
    args.push('-machine', 'q35', '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`);
  }
  const rom = (o.nicRom ?? true) ? '' : ',romfile=';
  args.push('-netdev', `tap,id=n0,ifname=${o.tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n0,mac=${o.mac}${rom}`, '-boot', 'n');
  const t0 = Date.now();
  const child = spawn('ip', ['netns', 'exec', o.ns.name, 'qemu-system-x86_64', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const read = () => (existsSync(serialFile) ? readFileSync(serialFile, 'latin1') : '');
  let killed = false;
  const exitCode = await new Promise<number | null>((resolve) => {
    const timer = setInterval(() => {
      if ((o.until && o.until(read())) || Date.now() - t0 > o.timeoutMs) {
        killed = true;
        child.kill('SIGKILL');
      }
    }, 200);
    child.once('exit', (code) => {
      clearInterval(timer);
      resolve(code);
    });
  });
  const serial = read();
  if (exitCode !== 0 && !killed) throw new Error(`qemu ${o.name} failed (${exitCode}): ${stderr.slice(-1000)}`);
  return { serial, t0, exitCode, killed };
}

/** busybox udhcpc once, as a PXE client (option 60); the lease environment, or null when nobody answered. */
export async function udhcpcOnce(c: { exec: Netns['exec']; ns: Netns }, ifname: string, dir: string): Promise<Record<string, string> | null> {
  const script = path.join(dir, `udhcpc-${c.ns.name}.sh`);
  const envFile = path.join(dir, `udhcpc-${c.ns.name}.env`);
  writeFileSync(script, `#!/bin/sh\ncase "$1" in bound|renew) env > ${envFile} ;; esac\nexit 0\n`);
  chmodSync(script, 0o755);
  writeFileSync(envFile, '');
  await c.exec('udhcpc', ['-i', ifname, '-f', '-q', '-n', '-t', '3', '-T', '1', '-A', '1', '-V', 'PXEClient:Arch:00000:UNDI:002001', '-s', script], { timeoutMs: 20_000 });
  const text = readFileSync(envFile, 'utf8');
  if (!text) return null;
  return Object.fromEntries(text.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

export function waitFor<T>(fn: () => T | undefined | null | false, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      const v = fn();
      if (v) return resolve(v);
      if (Date.now() - t0 > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 100);
    };
    tick();
  });
}
