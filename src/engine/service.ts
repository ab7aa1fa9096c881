/**
 * The embedded boot services as a managed background service: `kseed up`
 * starts a detached `kseed boot serve` (inside `ip netns exec <netns>` when
 * the seed lives in a namespace, so the PID we keep is the server itself),
 * with a pid file and a log under .kseed/, and waits until it listens;
 * `kseed down` stops it by that PID. The pid file alone is never trusted: a
 * PID is only signalled when its command line is still our server's.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KseedError } from '../errors.js';
import { startDetached } from '../util/spawn.js';

/** bin/kseed.js of this installation (it runs dist/). */
export const KSEED_BIN = fileURLToPath(new URL('../../bin/kseed.js', import.meta.url));

/**
 * The Ironic stack's agent service (dist/service/agent-main.js). A process
 * the engine starts, as it starts bin/kseed.js, not a module it imports.
 */
export const AGENT_MAIN = fileURLToPath(new URL('../service/agent-main.js', import.meta.url));

export interface BootServiceOptions {
  stateDir: string;
  configPath: string;
  netns?: string;
  artifacts?: string;
  kernel?: string;
  initrd?: string;
  /** default 30 s */
  readyTimeoutMs?: number;
  /** node binary + script; default process.execPath + KSEED_BIN */
  command?: string[];
}

/** The boot service of a site: in seed.netns when there is one, serving the artifacts directory given (`kseed up --artifacts`, resolved here). */
export function bootServiceOf(
  site: { file: string; seed: { netns?: string | undefined } },
  stateDir: string,
  o: { artifacts?: string; kernel?: string; initrd?: string },
): BootServiceOptions {
  return {
    stateDir,
    configPath: site.file,
    ...(site.seed.netns ? { netns: site.seed.netns } : {}),
    ...(o.artifacts ? { artifacts: path.resolve(o.artifacts) } : {}),
    ...(o.kernel ? { kernel: o.kernel } : {}),
    ...(o.initrd ? { initrd: o.initrd } : {}),
  };
}

export interface BootServiceInfo {
  pid: number;
  pidFile: string;
  log: string;
  /** true when it was already running (nothing started) */
  already: boolean;
  /** The `listening` record of kseed boot serve --json (addresses, ports). */
  listening?: Record<string, unknown>;
}

export const pidFileOf = (stateDir: string) => path.join(stateDir, 'run', 'boot-serve.pid');
export const logFileOf = (stateDir: string) => path.join(stateDir, 'logs', 'boot-serve.log');

/** The command line of `pid` (undefined once it is gone). */
export function cmdlineOf(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

/** Our server: a process whose command line runs `boot serve` for this very site file. */
function isOurServer(pid: number, configPath: string | undefined): boolean {
  const c = cmdlineOf(pid);
  if (!c) return false;
  const i = c.indexOf('boot');
  if (i < 0 || c[i + 1] !== 'serve') return false;
  return configPath === undefined || c.includes(configPath);
}

function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The running server's PID, if any (a stale pid file is removed). */
export function bootServicePid(stateDir: string, configPath?: string): number | undefined {
  const file = pidFileOf(stateDir);
  const pid = readPid(file);
  if (pid === undefined) return undefined;
  if (isOurServer(pid, configPath)) return pid;
  rmSync(file, { force: true });
  return undefined;
}

/**
 * The directory the running boot services serve under /artifacts/ (their
 * `--artifacts`, else the default beside the state), so what kseed puts there
 * for the nodes (the cephadm .deb) is looked up where the nodes fetch it.
 */
export function servedArtifactsDir(stateDir: string, configPath?: string): string {
  const pid = bootServicePid(stateDir, configPath);
  const c = pid === undefined ? undefined : cmdlineOf(pid);
  const i = c?.indexOf('--artifacts') ?? -1;
  return i >= 0 && c![i + 1] ? path.resolve(path.dirname(configPath ?? stateDir), c![i + 1]!) : path.join(stateDir, 'cache', 'ramdisk');
}

/**
 * The deploy kernel and initramfs the running seed does not find where it
 * serves /artifacts/: without them a node to inspect or deploy cannot boot
 * (enrolling still works, so `kseed up` says so instead of failing).
 */
export function missingRamdisk(stateDir: string, configPath: string, o: { kernel?: string; initrd?: string } = {}): string[] {
  const dir = servedArtifactsDir(stateDir, configPath);
  return [o.kernel ?? 'vmlinuz', o.initrd ?? 'initramfs.gz'].map((f) => path.join(dir, f)).filter((f) => !existsSync(f));
}

/**
 * Follows a log from a byte offset: each call reads only the bytes appended
 * since the last one (never the whole file), and splits on newline bytes
 * before decoding, so a multi-byte character can never shift the offset.
 */
export class LogFollower {
  private pos: number;
  private partial: Buffer = Buffer.alloc(0);

  constructor(private readonly file: string, since: number) {
    this.pos = since;
  }

  /** Complete lines appended since the last call (a line still being written waits). */
  lines(): string[] {
    let fd: number;
    try {
      fd = openSync(this.file, 'r');
    } catch {
      return [];
    }
    const chunks: Buffer[] = [this.partial];
    try {
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.pos);
        if (n <= 0) break;
        this.pos += n;
        chunks.push(Buffer.from(buf.subarray(0, n)));
      }
    } finally {
      closeSync(fd);
    }
    const all = Buffer.concat(chunks);
    const end = all.lastIndexOf(0x0a);
    if (end < 0) {
      this.partial = all;
      return [];
    }
    this.partial = Buffer.from(all.subarray(end + 1));
    return all.subarray(0, end).toString('utf8').split('\n');
  }
}

/** The last `n` lines after byte offset `since`, reading at most 64 KiB from the end. */
function tailFrom(file: string, since: number, n: number): string {
  try {
    const size = statSync(file).size;
    const start = Math.max(since, size - 64 * 1024);
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(size - start);
      readSync(fd, buf, 0, buf.length, start);
      return buf.toString('utf8').split('\n').slice(-n).join('\n');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A kseed process to start in the background and wait for (engine/service.ts's boot services, service/daemon.ts's API). */
export interface DaemonStart {
  argv: string[];
  /** It runs in the site file's directory. */
  configPath: string;
  /** Appended to (0600); what the process prints goes there. */
  log: string;
  /** default 30 s */
  readyTimeoutMs?: number | undefined;
  /** Names it in the error: "<what> did not start". */
  what: string;
  code: string;
  /** It is ready once it printed the JSON record `{service: <this>, type: 'listening'}`. */
  service: string;
  /** Called with the PID as soon as there is one (to record it). */
  started?(pid: number): void;
  /** Called when it failed to become ready (to remove what `started` recorded). */
  failed?(): void;
}

/**
 * Starts a detached process, logging to `log`, and waits for its ready
 * record; one that exits first or stays silent past the timeout is an
 * error carrying its log's tail (and the silent one is stopped).
 */
export async function startDaemon(o: DaemonStart): Promise<{ pid: number; ready: Record<string, unknown> }> {
  mkdirSync(path.dirname(o.log), { recursive: true, mode: 0o700 });
  const since = existsSync(o.log) ? statSync(o.log).size : 0;
  const fd = openSync(o.log, 'a', 0o600);
  let child;
  try {
    child = startDetached(o.argv, { out: fd, cwd: path.dirname(o.configPath) });
  } finally {
    closeSync(fd);
  }
  let exited: string | undefined;
  child.once('exit', (code, sig) => (exited = sig ? `signal ${sig}` : `exit code ${code}`));
  child.once('error', (err) => (exited = err.message));
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new KseedError(`could not start ${o.what}`, { code: o.code });
  o.started?.(pid);
  const deadline = Date.now() + (o.readyTimeoutMs ?? 30_000);
  const follow = new LogFollower(o.log, since);
  for (;;) {
    const l = listeningRecord(follow.lines(), o.service);
    if (l) return { pid, ready: l };
    if (exited !== undefined || Date.now() > deadline) {
      const tail = tailFrom(o.log, since, 15);
      if (exited === undefined) process.kill(pid, 'SIGTERM');
      o.failed?.();
      throw new KseedError(`${o.what} did not start (${exited ?? 'not listening after the timeout'}); log ${o.log}`, { code: o.code, detail: tail });
    }
    await sleep(100);
  }
}

/** SIGTERM to `pid`, SIGKILL after 10 s while `alive()` still says it is the process meant. */
export async function stopDaemon(pid: number, alive: () => boolean): Promise<{ forced: boolean }> {
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (alive()) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      await sleep(200);
      return { forced: true };
    }
    await sleep(100);
  }
  return { forced: false };
}

/** The first JSON record of `service` with type `listening` among `lines`. */
function listeningRecord(lines: string[], service: string): Record<string, unknown> | undefined {
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      const j = JSON.parse(line) as Record<string, unknown>;
      if (j.service === service && j.type === 'listening') return j;
    } catch {
      /* not one of our JSON records */
    }
  }
  return undefined;
}

export async function startBootService(o: BootServiceOptions): Promise<BootServiceInfo> {
  const pidFile = pidFileOf(o.stateDir);
  const log = logFileOf(o.stateDir);
  const running = bootServicePid(o.stateDir, o.configPath);
  if (running !== undefined) return { pid: running, pidFile, log, already: true };
  // `ip netns exec` would only say so in the service log: name the cure up front.
  if (o.netns && !existsSync(path.join('/run/netns', o.netns))) {
    throw new KseedError(`network namespace "${o.netns}" (seed.netns) does not exist: create the lab with \`kseed lab up\`, or remove seed.netns`, { code: 'no-netns' });
  }
  mkdirSync(path.dirname(pidFile), { recursive: true, mode: 0o700 });
  const args = [
    ...(o.command ?? [process.execPath, KSEED_BIN]),
    '--config',
    o.configPath,
    '--json',
    'boot',
    'serve',
    ...(o.artifacts ? ['--artifacts', o.artifacts] : []),
    ...(o.kernel ? ['--kernel', o.kernel] : []),
    ...(o.initrd ? ['--initrd', o.initrd] : []),
  ];
  // `ip netns exec` execs the command: the child's PID is the server's
  const argv = o.netns ? ['ip', 'netns', 'exec', o.netns, ...args] : args;
  const { pid, ready } = await startDaemon({
    argv,
    configPath: o.configPath,
    log,
    readyTimeoutMs: o.readyTimeoutMs,
    what: 'boot services',
    code: 'boot-serve',
    service: 'serve',
    started: (p) => writeFileSync(pidFile, `${p}\n`, { mode: 0o600 }),
    failed: () => rmSync(pidFile, { force: true }),
  });
  return { pid, pidFile, log, already: false, listening: ready };
}

/** Stops the server by its PID (SIGTERM, then SIGKILL after 10 s); false when none ran. */
export async function stopBootService(stateDir: string, configPath?: string): Promise<{ stopped: boolean; pid?: number; forced?: boolean }> {
  const pid = bootServicePid(stateDir, configPath);
  if (pid === undefined) return { stopped: false };
  const { forced } = await stopDaemon(pid, () => isOurServer(pid, undefined));
  rmSync(pidFileOf(stateDir), { force: true });
  return { stopped: true, pid, forced };
}
