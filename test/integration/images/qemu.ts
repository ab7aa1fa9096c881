/**
 * Runs one QEMU (TCG) guest with its serial console in a file, until it exits
 * by itself (poweroff, or reboot with -no-reboot), until `until()` holds (then
 * it is killed), or until the time limit (killed too; reported, not thrown).
 * -nographic (stdout ignored) rather than -display none: only then does SeaBIOS
 * print to the serial port, which the no-bootable-disk check reads.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface QemuRun {
  /** exit code, or null when we killed it */
  code: number | null;
  killedBy: 'until' | 'timeout' | null;
  serial: string;
  seconds: number;
}

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

export interface QemuOptions {
  dir: string;
  name: string;
  args: string[];
  uefi?: boolean;
  timeoutMs: number;
  /** polled every 200 ms with the serial output so far */
  until?: (serial: string) => boolean;
}

/**
 * User-mode networking locked down: `restrict=on` isolates the guest, and the
 * only way out is the guestfwd to the test's own server on 127.0.0.1, so the
 * guest reaches exactly one loopback port and nothing else. The guest sees the
 * seed at http://10.0.2.100:80 (slirp's DHCP gives it 10.0.2.15).
 */
export function userNet(seedPort: number, mac: string, pxeRom = false): string[] {
  return [
    '-netdev',
    `user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:80-cmd:busybox nc 127.0.0.1 ${seedPort}`,
    '-device',
    `virtio-net-pci,netdev=n0,mac=${mac}${pxeRom ? '' : ',romfile='}`,
  ];
}
export const GUEST_SEED_URL = 'http://10.0.2.100';

export async function runQemu(o: QemuOptions): Promise<QemuRun> {
  const serialLog = path.join(o.dir, `${o.name}.serial`);
  const args = ['-name', o.name, '-accel', 'tcg', '-nodefaults', '-no-user-config', '-nographic', '-monitor', 'none'];
  args.push('-serial', `file:${serialLog}`);
  if (o.uefi) {
    const vars = path.join(o.dir, `${o.name}.vars.fd`);
    if (!existsSync(vars)) copyFileSync(OVMF_VARS, vars);
    args.push('-machine', 'q35', '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`);
  }
  args.push(...o.args);
  const t0 = Date.now();
  const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let killedBy: QemuRun['killedBy'] = null;
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const timer = setTimeout(() => {
    killedBy = 'timeout';
    child.kill('SIGKILL');
  }, o.timeoutMs);
  const poll = setInterval(() => {
    if (!o.until || killedBy) return;
    const serial = existsSync(serialLog) ? readFileSync(serialLog, 'utf8') : '';
    if (o.until(serial)) {
      killedBy = 'until';
      child.kill('SIGKILL');
    }
  }, 200);
  const code = await exited;
  clearTimeout(timer);
  clearInterval(poll);
  const serial = existsSync(serialLog) ? readFileSync(serialLog, 'utf8').replace(/\r/g, '') : '';
  if (code !== 0 && killedBy === null && stderr) {
    return { code, killedBy, serial: `${serial}\n[qemu stderr] ${stderr}`, seconds: (Date.now() - t0) / 1000 };
  }
  return { code: killedBy ? null : code, killedBy, serial, seconds: (Date.now() - t0) / 1000 };
}
