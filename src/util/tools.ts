/**
 * The one way kseed finds and runs an external tool (debootstrap, ip, qemu,
 * docker, skopeo...): found on PATH plus the sbin directories; when missing,
 * the error names the Debian package that provides it; when it fails, the
 * short message names the command and the detail carries its stderr.
 *
 * Error codes (KseedError.code), the same everywhere:
 * - `missing-tool`: the program is not installed (a missing docker CLI too);
 * - `tool-failed`: it ran and exited non-zero (or timed out);
 * - `no-docker`: the docker CLI is there but no Docker engine answers it.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { KseedError } from '../errors.js';

export const TOOL_ERROR = { missing: 'missing-tool', failed: 'tool-failed', noDocker: 'no-docker' } as const;

/** The Debian package of each tool kseed runs whose package is not named like it. */
const PACKAGES: Record<string, string> = {
  'apt-get': 'apt',
  'apt-cache': 'apt',
  'dpkg-deb': 'dpkg',
  'dpkg-query': 'dpkg',
  depmod: 'kmod',
  'mkfs.fat': 'dosfstools',
  mcopy: 'mtools',
  mmd: 'mtools',
  'grub-mkimage': 'grub-common',
  ip: 'iproute2',
  'qemu-system-x86_64': 'qemu-system-x86',
  'qemu-img': 'qemu-utils',
  ipmi_sim: 'openipmi',
  setsid: 'util-linux',
  docker: 'docker.io',
  'docker-compose': 'docker-compose',
  ssh: 'openssh-client',
  'ansible-playbook': 'ansible',
  'kolla-ansible': 'kolla-ansible',
};

/** The Debian package that provides `cmd` (a path's basename counts). */
export function toolPackage(cmd: string): string {
  const base = path.basename(cmd);
  return PACKAGES[base] ?? base;
}

/** PATH plus the sbin directories, which a non-root PATH often lacks. */
function searchPath(): string[] {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (!dirs.includes(d)) dirs.push(d);
  }
  return dirs;
}

/** The tool's path, or undefined when it is not installed. A path is checked as given. */
export function which(cmd: string): string | undefined {
  const candidates = cmd.includes('/') ? [cmd] : searchPath().map((d) => path.join(d, cmd));
  for (const p of candidates) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

/** The error for a tool that is not installed; `why` says what it is needed for. */
export function missingTool(cmd: string, why?: string): KseedError {
  return new KseedError(`${cmd} not found: install the Debian package ${toolPackage(cmd)}${why ? ` (${why})` : ''}`, { code: TOOL_ERROR.missing });
}

export function requireTool(cmd: string, why?: string): string {
  const p = which(cmd);
  if (!p) throw missingTool(cmd, why);
  return p;
}

/** The tools of the list that are not installed. */
export function missingTools(cmds: readonly string[]): string[] {
  return [...new Set(cmds)].filter((c) => !which(c));
}

export interface RunOptions {
  cwd?: string;
  input?: string | Buffer;
  env?: Record<string, string>;
  /** Default 30 s; build tools pass their own. */
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs and reports; never throws on a non-zero exit (callers that expect "already exists" etc.). A missing tool throws. */
export async function runQuiet(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await execa(cmd, args, {
    reject: false,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.env ? { env: opts.env } : {}),
    extendEnv: true,
    timeout: opts.timeoutMs ?? 30_000,
    ...(opts.input === undefined ? { stdin: 'ignore' as const } : { input: opts.input }),
    stripFinalNewline: false,
  });
  if ((r as { code?: string }).code === 'ENOENT') throw missingTool(path.basename(cmd));
  const exitCode = typeof r.exitCode === 'number' ? r.exitCode : r.timedOut ? 124 : 1;
  return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') + (r.timedOut ? `\n(timed out)` : ''), exitCode };
}

/** Runs and fails loudly: the message says which command failed, the detail has stderr. */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await runQuiet(cmd, args, opts);
  if (r.exitCode !== 0) {
    throw new KseedError(`${path.basename(cmd)} ${args.slice(0, 4).join(' ')}${args.length > 4 ? ' ...' : ''} failed (exit ${r.exitCode})`, {
      detail: (r.stderr || r.stdout).trim(),
      code: TOOL_ERROR.failed,
    });
  }
  return r;
}

/** run(), for its stdout without the final newline; 5 min by default, as build tools (debootstrap, apt-get download) take. */
export async function output(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return (await run(cmd, args, { ...opts, timeoutMs: opts.timeoutMs ?? 300_000 })).stdout.replace(/\r?\n$/, '');
}

/**
 * The Docker engine's version, through the docker CLI: the one check of
 * "is Docker usable" (images, Compose). A missing CLI is `missing-tool`,
 * an engine that does not answer `no-docker`.
 */
export async function dockerEngine(docker = 'docker', env?: NodeJS.ProcessEnv): Promise<string> {
  const r = await execa(docker, ['info', '--format', '{{.ServerVersion}}'], { reject: false, timeout: 20_000, ...(env ? { env } : {}) });
  if ((r as { code?: string }).code === 'ENOENT' || r.exitCode === undefined) {
    throw new KseedError(`docker CLI not found (${docker}): install the Debian package docker.io`, { code: TOOL_ERROR.missing, detail: String(r.stderr || r.message || '') });
  }
  if (r.exitCode !== 0) {
    throw new KseedError(`no Docker engine reachable (\`${docker} info\` failed): start dockerd or check DOCKER_HOST`, {
      code: TOOL_ERROR.noDocker,
      detail: `$ ${docker} info\n${String(r.stderr)}`,
    });
  }
  return String(r.stdout).trim();
}
