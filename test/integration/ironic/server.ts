/**
 * Debian's real Ironic (the all-in-one `ironic` from ironic-common) for
 * tests: a temp dir with sqlite, rpc_transport=none, http_basic with a
 * bcrypt htpasswd, fake-hardware + ipmi, the API on 127.0.0.1:<port>.
 * Started once per test file; stopped by its PID (its own process group).
 */
import { spawn } from 'node:child_process';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';

const run = promisify(execFile);

export interface TestIronic {
  url: string;
  username: string;
  password: string;
  dir: string;
  pid: number;
  log(): string;
  stop(): Promise<void>;
}

/** extraHtpasswd: more `user:bcrypt` lines (e.g. the one `kseed render` generates). */
export async function startIronic(o: { port: number; httpPort?: number; minCommandInterval?: number; maxLimit?: number; extraHtpasswd?: string }): Promise<TestIronic> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ksi-ironic-'));
  const username = 'ksitest';
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  // cost 4: the tests do hundreds of requests, and Ironic checks bcrypt on each
  writeFileSync(path.join(dir, 'htpasswd'), `${username}:${bcrypt.hashSync(password, 4)}\n${o.extraHtpasswd ?? ''}`, { mode: 0o600 });
  for (const d of ['state', 'httpboot', 'tftpboot/master_images', 'lock']) mkdirSync(path.join(dir, d), { recursive: true });
  const url = `http://127.0.0.1:${o.port}`;
  const conf = `[DEFAULT]
auth_strategy = http_basic
http_basic_auth_user_file = ${dir}/htpasswd
rpc_transport = none
host = ksi-test-${o.port}
my_ip = 127.0.0.1
state_path = ${dir}/state
debug = false
use_stderr = true
enabled_hardware_types = ipmi,fake-hardware
enabled_boot_interfaces = ipxe,pxe,fake
enabled_deploy_interfaces = direct,ramdisk,fake
enabled_power_interfaces = ipmitool,fake
enabled_management_interfaces = ipmitool,fake
enabled_network_interfaces = noop
default_network_interface = noop
enabled_inspect_interfaces = no-inspect,fake
enabled_bios_interfaces = no-bios,fake
enabled_console_interfaces = no-console,fake
enabled_raid_interfaces = no-raid,fake
enabled_rescue_interfaces = no-rescue,fake
enabled_storage_interfaces = noop,fake
enabled_vendor_interfaces = ipmitool,no-vendor,fake
[api]
host_ip = 127.0.0.1
port = ${o.port}
${o.maxLimit ? `max_limit = ${o.maxLimit}\n` : ''}[database]
connection = sqlite:///${dir}/ironic.sqlite
[dhcp]
dhcp_provider = none
[conductor]
automated_clean = false
[deploy]
http_url = http://127.0.0.1:${o.httpPort ?? o.port + 1}
http_root = ${dir}/httpboot
[pxe]
tftp_root = ${dir}/tftpboot
tftp_master_path = ${dir}/tftpboot/master_images
[ipmi]
min_command_interval = ${o.minCommandInterval ?? 1}
# a BMC that does not answer fails after this, not Ironic's default 60 s
command_retry_timeout = 5
[oslo_concurrency]
lock_path = ${dir}/lock
[service_catalog]
endpoint_override = ${url}
`;
  const confFile = path.join(dir, 'ironic.conf');
  writeFileSync(confFile, conf);
  await run('ironic-dbsync', ['--config-file', confFile, 'create_schema'], { timeout: 120_000 });
  const logFile = path.join(dir, 'ironic.log');
  const { openSync, closeSync } = await import('node:fs');
  const out = openSync(logFile, 'a');
  const child = spawn('ironic', ['--config-file', confFile], { stdio: ['ignore', out, out], detached: true });
  closeSync(out);
  const pid = child.pid!;
  let exited = false;
  const exitP = new Promise<void>((r) => child.once('exit', () => ((exited = true), r())));
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const stop = async () => {
    if (!exited) {
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      const t = setTimeout(() => {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, 5000);
      await exitP;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // ~3 s idle; the budget is for a loaded 2-core machine
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (exited) {
      const l = log();
      await stop();
      throw new Error(`ironic exited at start:\n${l.split('\n').slice(-20).join('\n')}`);
    }
    try {
      const r = await fetch(`${url}/`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error('ironic did not answer within 90 s');
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, username, password, dir, pid, log, stop };
}
