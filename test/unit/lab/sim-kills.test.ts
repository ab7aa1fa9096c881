/** The seed-kill schedule (src/lab/sim/kills.ts): seeded delays, and every process of the seed SIGKILLed before each restart. */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { killAndRestart, killDelays } from '../../../src/lab/sim/kills.js';

const sleeper = () => {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  const done = new Promise<string | null>((r) => child.once('exit', (_code, sig) => r(sig)));
  return { child, done };
};

describe('killDelays', () => {
  it('a seed replays its schedule, within the bounds; another seed draws another', () => {
    const a = killDelays(20261207, 10, 3000, 15_000);
    expect(a).toHaveLength(10);
    for (const d of a) expect(d >= 3000 && d <= 15_000).toBe(true);
    expect(killDelays(20261207, 10, 3000, 15_000)).toEqual(a);
    expect(killDelays(424242, 10, 3000, 15_000)).not.toEqual(a);
  });
});

describe('killAndRestart', () => {
  it('SIGKILLs the run and the seed processes at each moment, waits for them to be gone, then restarts', async () => {
    const signals: (string | null)[] = [];
    const order: string[] = [];
    let seed = sleeper();
    const log = await killAndRestart({
      kills: 3,
      seed: 7,
      minMs: 20,
      maxMs: 60,
      start: () => {
        const run = sleeper();
        order.push('start');
        return { pid: () => run.child.pid, done: run.done.then((s) => signals.push(s)) };
      },
      seedPids: () => [seed.child.pid!],
      restart: async () => {
        // the killed seed process is gone before its successor starts
        signals.push(await seed.done);
        order.push('restart');
        seed = sleeper();
      },
      snapshot: async () => ({ active: order.length }),
    });
    seed.child.kill('SIGKILL');
    expect(order).toEqual(['start', 'restart', 'start', 'restart', 'start', 'restart']);
    expect(signals).toEqual(Array(6).fill('SIGKILL'));
    expect(log.map((x) => [x.kill, x.after_ms, x.provision_had_ended, x.killed])).toEqual(killDelays(7, 3, 20, 60).map((d, i) => [i + 1, d, false, 2]));
    expect(log.map((x) => x.states_at_kill)).toEqual([{ active: 1 }, { active: 3 }, { active: 5 }]);
  });

  it('a run that ended before its moment is recorded so, and the seed is still killed under it', async () => {
    let seed = sleeper();
    const log = await killAndRestart({
      kills: 1,
      seed: 1,
      minMs: 200,
      maxMs: 200,
      start: () => ({ pid: () => undefined, done: Promise.resolve() }),
      seedPids: () => [seed.child.pid!],
      restart: async () => {
        expect(await seed.done).toBe('SIGKILL');
        seed = sleeper();
      },
      snapshot: async () => ({}),
    });
    seed.child.kill('SIGKILL');
    expect(log.map((x) => [x.provision_had_ended, x.killed])).toEqual([[true, 1]]);
  });
});
