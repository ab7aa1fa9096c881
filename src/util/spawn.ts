/**
 * The processes kseed starts and does not wait for, as opposed to the tools
 * of tools.ts, which run to an end and report. Here are kseed's own boot
 * services (`kseed boot serve`, detached, found again by PID file), the lab's
 * ipmi_sim and QEMU (they outlive kseed and are checked by identity before
 * any signal, lab/proc.ts), and kseed re-run inside seed.netns with the
 * terminal handed through. Their supervision (PID files, readiness, signals)
 * is their callers'; what is shared is finding the program, so a missing one
 * is the same `missing-tool` error, naming its Debian package, as a tool's.
 * With tools.ts, the only files that start processes (test/unit/layout/tools.test.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { requireTool } from './tools.js';

/**
 * Starts `argv` in its own process group (a Ctrl-C of kseed does not reach
 * it), stdout and stderr to the open file `out`, and lets kseed exit
 * without it. The caller owns the PID.
 */
export function startDetached(argv: string[], o: { out: number; cwd?: string; env?: NodeJS.ProcessEnv }): ChildProcess {
  const cmd = requireTool(argv[0]!);
  return spawn(cmd, argv.slice(1), { detached: true, stdio: ['ignore', o.out, o.out], ...(o.cwd ? { cwd: o.cwd } : {}), ...(o.env ? { env: o.env } : {}) });
}

/** Starts `argv` on kseed's own terminal (stdin, stdout, stderr inherited); the caller waits for it and passes signals on. */
export function startAttached(argv: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const cmd = requireTool(argv[0]!);
  return spawn(cmd, argv.slice(1), { stdio: 'inherit', env });
}

/**
 * Starts `argv` and hands each line of its stdout and stderr to `onLine`
 * as it comes (a log followed: `docker logs --follow`); the caller ends it
 * (kill) and learns of its end by the child's `close`. A partial last line
 * is dropped: a line counts once it is whole.
 */
export function startLineReader(argv: string[], onLine: (line: string, from: 'stdout' | 'stderr') => void): ChildProcess {
  const cmd = requireTool(argv[0]!);
  const child = spawn(cmd, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  for (const from of ['stdout', 'stderr'] as const) {
    let buf = '';
    child[from]!.setEncoding('utf8');
    child[from]!.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        onLine(line, from);
      }
    });
  }
  return child;
}
