/**
 * The seed service as part of the seed's lifecycle: `kseed up` starts
 * `kseed serve` detached (engine/service.ts's startDaemon, log in
 * .kseed/logs/api.log), `kseed down` stops it by the PID it recorded in
 * .kseed/run/api.json, `kseed status` says where it listens and whether it
 * answers. The run file is written by the service once it listens and
 * removed by it on a clean stop, so a run file whose PID is gone means the
 * service died: status reports it as crashed, and the next `up` starts a
 * new one. A PID is only signalled while its command line is still
 * `kseed ... serve`: the run file lives in this seed's .kseed/ and only a
 * service of this seed writes it there, so the command line needs no site
 * file (a `kseed serve` started by hand in the site's directory is found too).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { cmdlineOf, KSEED_BIN, startDaemon, stopDaemon } from '../engine/service.js';
import { API_PREFIX } from './api.js';
import { httpCall } from './client.js';
import { runFileOf } from './serve.js';

export const apiLogOf = (stateDir: string) => path.join(stateDir, 'logs', 'api.log');

export interface ApiRunFile {
  pid: number;
  url: string;
  /** With --tls: the CA file clients verify it with. */
  ca?: string;
  started_at: string;
}

export interface ApiServiceInfo {
  pid: number;
  url: string;
  log: string;
  /** true when it was already running (nothing started) */
  already: boolean;
}

export interface ApiServiceStatus {
  running: boolean;
  pid?: number;
  url?: string;
  /** Whether GET /api/v1/health answered 200 just now. */
  answers: boolean;
  /** The run file names a PID that is gone: the service died without its clean stop. */
  crashed?: { pid: number; url: string; started_at: string };
  log: string;
}

function readRunFile(stateDir: string): ApiRunFile | undefined {
  try {
    const j = JSON.parse(readFileSync(runFileOf(stateDir), 'utf8')) as ApiRunFile;
    return Number.isInteger(j.pid) && j.pid > 0 && typeof j.url === 'string' ? j : undefined;
  } catch {
    return undefined;
  }
}

/** `kseed ... serve` (not `kseed boot serve`), by its command line. */
function isService(pid: number): boolean {
  const c = cmdlineOf(pid);
  const i = c?.indexOf('serve') ?? -1;
  return i > 0 && c![i - 1] !== 'boot' && c!.some((a) => a.endsWith('kseed.js') || a.endsWith('/kseed'));
}

/** The running service's run file, if its PID is still a seed service. */
export function apiService(stateDir: string): ApiRunFile | undefined {
  const r = readRunFile(stateDir);
  return r && isService(r.pid) ? r : undefined;
}

async function answers(r: ApiRunFile): Promise<boolean> {
  try {
    const ca = r.ca ? readFileSync(r.ca, 'utf8') : undefined;
    return (await httpCall(`${r.url}${API_PREFIX}/health`, { method: 'GET', ...(ca ? { ca } : {}), timeoutMs: 2000 })).status === 200;
  } catch {
    return false;
  }
}

/** Starts `kseed serve` in the background unless one runs for this site; waits until it listens. */
export async function startApiService(o: { stateDir: string; configPath: string; readyTimeoutMs?: number; command?: string[] }): Promise<ApiServiceInfo> {
  const log = apiLogOf(o.stateDir);
  const running = apiService(o.stateDir);
  if (running) return { pid: running.pid, url: running.url, log, already: true };
  const { pid, ready } = await startDaemon({
    argv: [...(o.command ?? [process.execPath, KSEED_BIN]), '--config', o.configPath, '--json', 'serve'],
    configPath: o.configPath,
    log,
    readyTimeoutMs: o.readyTimeoutMs,
    what: 'the seed service (kseed serve)',
    code: 'api-serve',
    service: 'api',
  });
  return { pid, url: String(ready.url), log, already: false };
}

/** Stops the service by its recorded PID (SIGTERM, SIGKILL after 10 s); a stale run file is removed. */
export async function stopApiService(stateDir: string): Promise<{ stopped: boolean; pid?: number; forced?: boolean }> {
  const r = apiService(stateDir);
  if (!r) {
    if (existsSync(runFileOf(stateDir))) rmSync(runFileOf(stateDir), { force: true });
    return { stopped: false };
  }
  const { forced } = await stopDaemon(r.pid, () => isService(r.pid));
  // a service killed after 10 s had no chance to remove it
  rmSync(runFileOf(stateDir), { force: true });
  return { stopped: true, pid: r.pid, forced };
}

export async function apiServiceStatus(stateDir: string): Promise<ApiServiceStatus> {
  const log = apiLogOf(stateDir);
  const r = apiService(stateDir);
  if (r) return { running: true, pid: r.pid, url: r.url, answers: await answers(r), log };
  const stale = readRunFile(stateDir);
  return { running: false, answers: false, ...(stale ? { crashed: stale } : {}), log };
}

/** One line for `kseed status` and `kseed up`. */
export function apiServiceLine(s: ApiServiceStatus): string {
  if (s.running) return `seed service: ${s.answers ? 'running' : 'running but not answering'} (pid ${s.pid}) on ${s.url}`;
  if (s.crashed) return `seed service: not running: pid ${s.crashed.pid} (started ${s.crashed.started_at}) died without stopping; log ${s.log}; \`kseed up\` starts it again`;
  return 'seed service: not running (kseed up starts it; kseed serve runs it in the foreground)';
}
