/**
 * The seed killed with SIGKILL at random moments and restarted (issue 19
 * item 5), for bench/fleet --faults and the fleet fault test: provision
 * starts; after a random delay every process of the seed (the provision
 * process, the boot services, the seed service that runs provision's job)
 * gets SIGKILL at once, as a power cut or the OOM killer would; `kseed up`
 * restarts the seed and provision runs again, resuming the nodes where the
 * state store left them. After the last kill the caller runs provision to
 * its end: that run is the one whose invariants count. The delays come
 * from a seeded PRNG, so a failing schedule can be replayed.
 */
import { readFileSync } from 'node:fs';
import { prng } from '../../util/random.js';

/** The bench's and the test's window for a kill, from each (re)start of provision. */
export const KILL_WINDOW_MS = { min: 3000, max: 15_000 } as const;

/** One provision run that can be killed: its process id (once it has one) and its end. */
export interface KillableRun {
  pid: () => number | undefined;
  done: Promise<unknown>;
}

export interface KillPlan {
  kills: number;
  /** PRNG seed of the delays. */
  seed: number;
  /** Bounds of each delay, from the (re)start of provision. */
  minMs: number;
  maxMs: number;
  /** Starts one provision run. */
  start: () => KillableRun;
  /** The seed's running processes besides provision (boot services, seed service), as the last `kseed up` left them. */
  seedPids: () => number[];
  /** `kseed up`. */
  restart: () => Promise<void>;
  /** Node states counted right after a kill, for the record. */
  snapshot: () => Promise<Record<string, number>>;
}

export interface KillRecord {
  kill: number;
  after_ms: number;
  /** The run ended before its kill moment: the seed's services were still killed under it. */
  provision_had_ended: boolean;
  killed: number;
  states_at_kill: Record<string, number>;
  restart_ms: number;
}

/** The delays a seed draws, in order: what `killAndRestart` will wait before each kill. */
export function killDelays(seed: number, kills: number, minMs: number, maxMs: number): number[] {
  const rand = prng(seed);
  return Array.from({ length: kills }, () => Math.round(minMs + rand() * (maxMs - minMs)));
}

export async function killAndRestart(o: KillPlan): Promise<KillRecord[]> {
  const log: KillRecord[] = [];
  for (const [i, delay] of killDelays(o.seed, o.kills, o.minMs, o.maxMs).entries()) {
    const run = o.start();
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      run.done.then(
        () => true,
        () => true,
      ),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), delay))),
    ]);
    clearTimeout(timer);
    const pid = run.pid();
    const victims = [...(pid ? [pid] : []), ...o.seedPids()];
    for (const p of victims) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await run.done.catch(() => undefined);
    // the next `kseed up` must not find the old processes still holding their ports
    for (const p of victims) while (alive(p)) await new Promise((r) => setTimeout(r, 20));
    const states = await o.snapshot();
    const t1 = Date.now();
    await o.restart();
    log.push({ kill: i + 1, after_ms: delay, provision_had_ended: ended, killed: victims.length, states_at_kill: states, restart_ms: Date.now() - t1 });
  }
  return log;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // a zombie child of the caller's counts as gone: /proc says so
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}
