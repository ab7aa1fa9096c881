/**
 * Processes the lab starts (ipmi_sim, QEMU) outlive kseed, so they are found
 * again by PID file and checked by identity before any signal: a PID may have
 * been reused, and a killed child may linger as a zombie until init reaps it
 * (lab.md gotcha 6), which `kill -0` would call alive.
 */
import { readFileSync, readdirSync } from 'node:fs';

/**
 * The last `lines` lines of a started helper's output file, for the error
 * that says why it did not come up; '' when there is none.
 */
export function outputTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export function readPidFile(file: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

function readProc(pid: number, what: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${what}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** Command line of a live (non-zombie) process, NULs turned into spaces; undefined otherwise. */
export function liveCmdline(pid: number): string | undefined {
  const status = readProc(pid, 'status');
  if (status === undefined) return undefined;
  if (/^State:\s*Z/m.test(status)) return undefined;
  const cmd = readProc(pid, 'cmdline');
  if (cmd === undefined || cmd === '') return undefined; // kernel thread or exiting
  return cmd.replace(/\0/g, ' ').trimEnd();
}

/** Alive, not a zombie, and its command line contains `marker` (a path only our process has). */
export function isOurs(pid: number | undefined, marker: string): boolean {
  if (pid === undefined) return false;
  const cmd = liveCmdline(pid);
  return cmd !== undefined && cmd.includes(marker);
}

/** Every live process whose command line contains `marker` (e.g. a lab directory). */
export function findByMarker(marker: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    if (isOurs(pid, marker)) out.push(pid);
  }
  return out.sort((a, b) => a - b);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * SIGTERM, wait up to `graceMs`, then SIGKILL; resolves when none of them is
 * alive (zombies count as gone). `check` re-verifies identity each round so a
 * reused PID is never signalled twice.
 */
export async function terminate(pids: number[], check: (pid: number) => boolean, graceMs = 3000): Promise<number[]> {
  const mine = pids.filter(check);
  for (const p of mine) signal(p, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  let left = mine.filter(check);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50);
    left = left.filter(check);
  }
  for (const p of left) signal(p, 'SIGKILL');
  const killDeadline = Date.now() + 3000;
  while (left.length > 0 && Date.now() < killDeadline) {
    await sleep(50);
    left = left.filter(check);
  }
  return mine;
}
