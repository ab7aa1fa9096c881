/**
 * The external tools the lab drives, found on PATH once, and one way to run
 * them: a failure becomes a KseedError whose message names the command and
 * whose detail carries stderr.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { KseedError } from '../errors.js';

/** Debian package that provides each tool, for the "missing tool" message. */
const PACKAGES: Record<string, string> = {
  ip: 'iproute2',
  'qemu-system-x86_64': 'qemu-system-x86',
  'qemu-img': 'qemu-utils',
  ipmi_sim: 'openipmi',
  ipmitool: 'ipmitool',
  setsid: 'util-linux',
};

/** PATH plus the sbin directories, which a non-root PATH often lacks. */
function searchPath(): string[] {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (!dirs.includes(d)) dirs.push(d);
  }
  return dirs;
}

export function which(cmd: string): string | undefined {
  for (const d of searchPath()) {
    const p = path.join(d, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

export function requireTool(cmd: string): string {
  const p = which(cmd);
  if (!p) {
    const pkg = PACKAGES[cmd];
    throw new KseedError(`${cmd} not found${pkg ? ` (install the Debian package ${pkg})` : ''}`, { code: 'missing-tool' });
  }
  return p;
}

export interface LabTools {
  ip: string;
  qemu: string;
  qemuImg: string;
  ipmiSim: string;
  ipmitool: string;
  setsid: string;
}

export function labTools(): LabTools {
  return {
    ip: requireTool('ip'),
    qemu: requireTool('qemu-system-x86_64'),
    qemuImg: requireTool('qemu-img'),
    ipmiSim: requireTool('ipmi_sim'),
    ipmitool: requireTool('ipmitool'),
    setsid: requireTool('setsid'),
  };
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Run and fail loudly: the message says which command failed, the detail has stderr. */
export async function run(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  const r = await runQuiet(cmd, args, opts);
  if (r.exitCode !== 0) {
    throw new KseedError(`${path.basename(cmd)} ${args.join(' ')} failed (exit ${r.exitCode})`, {
      detail: (r.stderr || r.stdout).trim(),
      code: 'tool-failed',
    });
  }
  return r;
}

/** Run and report, never throw on a non-zero exit (callers that expect "already exists" etc.). */
export async function runQuiet(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  const r = await execa(cmd, args, {
    reject: false,
    ...(opts.env ? { env: opts.env } : {}),
    extendEnv: true,
    timeout: opts.timeoutMs ?? 30_000,
    ...(opts.input === undefined ? { stdin: 'ignore' as const } : { input: opts.input }),
    stripFinalNewline: false,
  });
  const exitCode = typeof r.exitCode === 'number' ? r.exitCode : r.timedOut ? 124 : 1;
  return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') + (r.timedOut ? `\n(timed out)` : ''), exitCode };
}
