/**
 * Commands on the handed-off nodes over the hand-off's SSH login: one
 * `ssh` per command, the script on stdin (never on a command line `ps`
 * shows), root through sudo when the login user is not root.
 */
import { runQuiet } from '../util/tools.js';
import { sshHostKeyArgs } from './kolla.js';

export interface Login {
  user: string;
  keyFile: string;
  knownHosts: string;
}

export interface RemoteResult {
  code: number;
  stdout: string;
  stderr: string;
  /** ssh itself failed (exit 255): the host is unreachable or refused the key */
  unreachable: boolean;
  /** kseed stopped waiting after this many ms (ssh, killed then, also exits 255: not unreachable) */
  timedOutMs?: number;
}

/** What one ssh run came to; a run kseed killed for its time is a timeout, whatever ssh's exit code. */
export function remoteResult(r: { exitCode?: number; timedOut?: boolean; stdout?: unknown; stderr?: unknown }, timeoutMs: number): RemoteResult {
  const code = r.exitCode ?? (r.timedOut ? 124 : 1);
  return { code, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), unreachable: code === 255 && !r.timedOut, ...(r.timedOut ? { timedOutMs: timeoutMs } : {}) };
}

export function sshArgv(login: Login, addr: string, remote: string): string[] {
  return ['ssh', '-i', login.keyFile, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=15', '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=4', ...sshHostKeyArgs(login.knownHosts), `${login.user}@${addr}`, remote];
}

/** Runs a POSIX sh script on the host, as root unless `asUser`. */
export async function runRemote(
  login: Login,
  addr: string,
  script: string,
  opts: { asUser?: boolean; timeoutMs?: number; onLine?: (line: string) => void } = {},
): Promise<RemoteResult> {
  const argv = sshArgv(login, addr, opts.asUser || login.user === 'root' ? 'sh -s' : 'sudo -n sh -s');
  const timeoutMs = opts.timeoutMs ?? 1_800_000;
  const r = await runQuiet(argv[0]!, argv.slice(1), {
    input: script,
    timeoutMs,
    ...(opts.onLine ? { onLine: (line: string, from: 'stdout' | 'stderr') => from === 'stdout' && opts.onLine!(line) } : {}),
  });
  // callers parse the output as ssh's last line left it, without the final newline
  const strip = (s: string) => s.replace(/\r?\n$/, '');
  return remoteResult({ ...r, stdout: strip(r.stdout), stderr: strip(r.stderr) }, timeoutMs);
}

/** The last meaningful line of a failed command's stderr, for a one-line reason. */
export function reasonOf(r: RemoteResult): string {
  if (r.timedOutMs !== undefined) return `no end after ${Math.round(r.timedOutMs / 60_000)} min (kseed stopped waiting; last output: ${r.stdout.trim().split('\n').at(-1) || 'none'})`;
  const lines = r.stderr.split('\n').map((l) => l.trim()).filter((l) => l && !/^Warning: Permanently added/.test(l));
  return lines.at(-1) ?? `exit ${r.code}`;
}

/** A here-doc carrying `text` into a script, with a terminator the text cannot contain. */
export function heredoc(text: string): string {
  let tag = 'KSEED_EOF';
  while (text.includes(tag)) tag += '_';
  return `<<'${tag}'\n${text.endsWith('\n') ? text : `${text}\n`}${tag}`;
}
