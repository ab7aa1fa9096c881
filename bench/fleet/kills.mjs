// The seed killed with SIGKILL at random moments and restarted (issue 19
// item 5), for bench/fleet --faults: provision starts; after a random delay
// every process of the seed (the provision process that runs the engine, the
// boot services, the seed service) gets SIGKILL at once, as a power cut or the
// OOM killer would; `kseed up` restarts the seed and provision runs again,
// resuming the nodes where the state store left them. After the last kill,
// provision runs to its end: that run is the one whose invariants count.
// The delays come from a seeded PRNG (the seed is printed), so a failing
// schedule can be replayed.
import { readFileSync } from 'node:fs';
import { prng } from '../../dist/util/random.js';

/**
 * @param o.kills how many kills
 * @param o.seed PRNG seed of the delays
 * @param o.minMs / o.maxMs bounds of each delay, from the (re)start of provision
 * @param o.start () => { enginePid: () => number|undefined, done: Promise }: one provision run
 * @param o.seedPids () => number[]: the seed's running processes besides provision
 * @param o.restart () => Promise<void>: `kseed up`
 * @param o.snapshot () => Promise<Record<string, number>>: node states counted, right after a kill
 */
export async function killAndRestart(o) {
  const rand = prng(o.seed);
  const log = [];
  for (let i = 0; i < o.kills; i++) {
    const delay = Math.round(o.minMs + rand() * (o.maxMs - o.minMs));
    const run = o.start();
    const early = await Promise.race([run.done.then((r) => r), new Promise((r) => setTimeout(() => r(undefined), delay))]);
    const victims = [...(run.enginePid() ? [run.enginePid()] : []), ...o.seedPids()];
    for (const pid of victims) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    // a run that ended before its kill moment still had the seed killed under it: its services
    const ended = early !== undefined;
    await run.done.catch(() => undefined);
    for (const pid of victims) while (alive(pid)) await new Promise((r) => setTimeout(r, 20));
    const states = await o.snapshot();
    const t1 = Date.now();
    await o.restart();
    log.push({ kill: i + 1, after_ms: delay, provision_had_ended: ended, killed: victims.length, states_at_kill: states, restart_ms: Date.now() - t1 });
  }
  return log;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    // a zombie child of ours counts as gone: /proc says so
    return !/^State:\s+Z/m.test(readStatus(pid));
  } catch {
    return false;
  }
}

function readStatus(pid) {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return '';
  }
}
