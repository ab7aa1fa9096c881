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
import type { Readable } from 'node:stream';
import { execa, execaSync } from 'execa';
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
  'ssh-keygen': 'openssh-client',
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
  /** stdin read from this file (a hand-off step's stdin) */
  inputFile?: string;
  /** stdin fed from this stream (a member inside a bundle file) */
  inputStream?: Readable;
  env?: Record<string, string>;
  /** Default 30 s; build tools pass their own; 0 waits as long as the tool runs (a Kolla-Ansible deploy). */
  timeoutMs?: number;
  /** Each line of output as it comes, from either stream (progress, a log). */
  onLine?: (line: string, from: 'stdout' | 'stderr') => void;
  /** Each chunk of output as it comes, both streams in arrival order (a log file kept byte for byte). */
  onChunk?: (chunk: Buffer) => void;
  /** false: keep no output in memory (an hour-long build's chatter goes to onLine only); stdout and stderr come back empty. */
  buffer?: boolean;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  /** kseed stopped it (timeoutMs); exitCode is then 124 unless the tool chose its own on SIGTERM */
  timedOut?: true;
}

type Outcome = { exitCode?: number; timedOut?: boolean; code?: string; stdout?: unknown; stderr?: unknown };

/** The shape every run reports: a timeout is exit 124 (as timeout(1)), a tool that could not start throws `missing-tool`. */
function resultOf(cmd: string, r: Outcome): RunResult {
  if (r.code === 'ENOENT') throw missingTool(path.basename(cmd));
  const exitCode = typeof r.exitCode === 'number' ? r.exitCode : r.timedOut ? 124 : 1;
  return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') + (r.timedOut ? `\n(timed out)` : ''), exitCode, ...(r.timedOut ? { timedOut: true as const } : {}) };
}

/** Splits a stream into lines for onLine; the last unterminated line comes with the end. */
function follow(stream: Readable | null | undefined, from: 'stdout' | 'stderr', opts: RunOptions): void {
  if (!stream) return;
  if (!opts.onLine && !opts.onChunk) {
    // unbuffered output nobody reads would fill the pipe and stall the tool
    if (opts.buffer === false) stream.resume();
    return;
  }
  let buf = '';
  stream.on('data', (chunk: Buffer | string) => {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    opts.onChunk?.(b);
    if (!opts.onLine) return;
    buf += b.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      opts.onLine(buf.slice(0, nl), from);
      buf = buf.slice(nl + 1);
    }
  });
  stream.on('end', () => {
    if (buf) opts.onLine?.(buf, from);
    buf = '';
  });
}

function stdinOf(opts: RunOptions) {
  if (opts.input !== undefined) return { input: opts.input };
  if (opts.inputFile !== undefined) return { inputFile: opts.inputFile };
  if (opts.inputStream) return { stdin: 'pipe' as const };
  return { stdin: 'ignore' as const };
}

function start(cmd: string, args: string[], opts: RunOptions, encoding: 'utf8' | 'buffer' = 'utf8') {
  const child = execa(cmd, args, {
    reject: false,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.env ? { env: opts.env } : {}),
    extendEnv: true,
    timeout: opts.timeoutMs ?? 30_000,
    ...stdinOf(opts),
    stripFinalNewline: false,
    buffer: opts.buffer ?? true,
    encoding,
  });
  follow(child.stdout, 'stdout', opts);
  follow(child.stderr, 'stderr', opts);
  if (opts.inputStream && child.stdin) {
    // a tool that exits early closes its stdin: its exit code and stderr tell why, not EPIPE
    child.stdin.on('error', () => {});
    opts.inputStream.pipe(child.stdin);
  }
  return child;
}

/** Runs and reports; never throws on a non-zero exit (callers that expect "already exists" etc.). A missing tool throws. */
export async function runQuiet(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return resultOf(cmd, (await start(cmd, args, opts)) as Outcome);
}

/** The error of a tool that ran and failed: the message names the command, the detail carries its stderr. */
export function toolFailed(cmd: string, args: string[], r: RunResult): KseedError {
  return new KseedError(`${path.basename(cmd)} ${args.slice(0, 4).join(' ')}${args.length > 4 ? ' ...' : ''} failed (exit ${r.exitCode})`, {
    detail: (r.stderr || r.stdout).trim(),
    code: TOOL_ERROR.failed,
  });
}

/** Runs and fails loudly: the message says which command failed, the detail has stderr. */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await runQuiet(cmd, args, opts);
  if (r.exitCode !== 0) throw toolFailed(cmd, args, r);
  return r;
}

/** run() for a tool whose stdout is bytes (a file copied out of an image); 5 min by default. */
export async function outputBytes(cmd: string, args: string[], opts: RunOptions = {}): Promise<Buffer> {
  const raw = (await start(cmd, args, { ...opts, timeoutMs: opts.timeoutMs ?? 300_000 }, 'buffer')) as Outcome;
  const r = resultOf(cmd, { ...raw, stdout: '', stderr: raw.stderr === undefined ? '' : Buffer.from(raw.stderr as Uint8Array).toString('utf8') });
  if (r.exitCode !== 0) throw toolFailed(cmd, args, r);
  return Buffer.from(raw.stdout as Uint8Array);
}

/**
 * `a | b`: the first tool's stdout is the second's stdin. Fails with
 * `tool-failed` naming whichever of the two failed (the first one when
 * both did: the second only saw a cut stream), its stderr as detail.
 */
export async function runPipe(a: [cmd: string, args: string[]], b: [cmd: string, args: string[]], opts: RunOptions = {}): Promise<RunResult> {
  const timeout = opts.timeoutMs ?? 300_000;
  const dst = execa(b[0], b[1], { reject: false, timeout, stdin: 'pipe', stripFinalNewline: false, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  const src = execa(a[0], a[1], { reject: false, timeout, stdin: 'ignore', buffer: { stdout: false }, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  dst.stdin?.on('error', () => {});
  if (dst.stdin) src.stdout?.pipe(dst.stdin);
  // a second tool that never started or ended early reads no more: stop the first and drain
  // its stdout, or it (and this promise) would wait on a pipe nobody empties
  void dst.finally(() => {
    if (src.exitCode === null) src.kill();
    src.stdout?.unpipe();
    src.stdout?.resume();
  });
  const [ra, rb] = await Promise.all([src, dst]);
  const first = resultOf(a[0], ra as Outcome);
  const second = resultOf(b[0], rb as Outcome);
  if (first.exitCode !== 0) throw toolFailed(a[0], a[1], first);
  if (second.exitCode !== 0) throw toolFailed(b[0], b[1], second);
  return second;
}

/**
 * runQuiet(), blocking: for the few synchronous callers (netif's interface
 * queries, asked from synchronous checks). Default 5 s.
 */
export function runSyncQuiet(cmd: string, args: string[], opts: Pick<RunOptions, 'timeoutMs' | 'env' | 'cwd'> = {}): RunResult {
  const r = execaSync(cmd, args, {
    reject: false,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.env ? { env: opts.env } : {}),
    timeout: opts.timeoutMs ?? 5_000,
    stdin: 'ignore',
    stripFinalNewline: false,
  });
  return resultOf(cmd, r as Outcome);
}

/** output(), blocking; 5 s by default. */
export function outputSync(cmd: string, args: string[], opts: Pick<RunOptions, 'timeoutMs' | 'env' | 'cwd'> = {}): string {
  const r = runSyncQuiet(cmd, args, opts);
  if (r.exitCode !== 0) throw toolFailed(cmd, args, r);
  return r.stdout.replace(/\r?\n$/, '');
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
