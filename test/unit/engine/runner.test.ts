import { describe, expect, it } from 'vitest';
import {
  agentOutcome,
  bootCallback,
  lastHeard,
  limiter,
  semaphore,
  ownerIsDead,
  ownerName,
  PhaseTimeout,
  resumeDecision,
  withTimeout,
  type EventLike,
  type OpRecord,
} from '../../../src/engine/runner.js';
import { FakeClock } from './fakeclock.js';

let id = 0;
const ev = (kind: string, detail: Record<string, unknown>): EventLike => ({ id: ++id, kind, detail });
const op = (o: Partial<OpRecord> = {}): OpRecord => ({ verb: 'deploy', since: 0, started_at: 0, owner: 'x', attempt: 1, ...o });

describe('agentOutcome', () => {
  it('a deploy ends with the ramdisk deploy result; an inspect result seen meanwhile does not count', () => {
    const evs = [ev('inventory', {}), ev('agent-result', { status: 'ok', stage: 'inspect', msg: '' })];
    expect(agentOutcome('deploy', evs)).toBeUndefined();
    evs.push(ev('agent-progress', { stage: 'deploy', pct: 50 }), ev('agent-result', { status: 'ok', stage: 'deploy', msg: 'written to /dev/vda' }));
    expect(agentOutcome('deploy', evs)).toEqual({ status: 'ok', msg: 'written to /dev/vda' });
    expect(agentOutcome('rebuild', evs)).toEqual({ status: 'ok', msg: 'written to /dev/vda' });
  });

  it('any failure the ramdisk reports ends the verb with its reason', () => {
    const evs = [ev('agent-result', { status: 'fail', stage: 'task', msg: 'no disk matches root-device hint {"serial":"X"}' })];
    expect(agentOutcome('deploy', evs)).toEqual({ status: 'fail', stage: 'task', reason: 'no disk matches root-device hint {"serial":"X"}' });
    expect(agentOutcome('inspect', [ev('agent-result', { status: 'fail', stage: 'wait' })])).toEqual({ status: 'fail', stage: 'wait', reason: 'wait failed' });
  });

  it('bootCallback finds the first-boot callback and its hostname', () => {
    expect(bootCallback([ev('callback', { stage: 'other' })])).toBeUndefined();
    expect(bootCallback([ev('callback', { stage: 'booted', hostname: 'node01' })])).toEqual({ stage: 'booted', hostname: 'node01' });
  });
});

describe('lastHeard: how far a node got, for the reason of a timeout', () => {
  const at = (kind: string, detail: Record<string, unknown>, ts: number) => ({ ...ev(kind, detail), ts });
  const T = Date.UTC(2026, 11, 7, 6, 0, 0);
  it('no word from the node: its network boot never reached the seed', () => {
    expect(lastHeard([])).toBe('nothing heard from the node since it began: no iPXE boot script was fetched, so its network boot never reached the seed');
    // the engine's own events are not the node's word
    expect(lastHeard([at('step', { step: 'power on', status: 'done' }, T), at('transition', {}, T)])).toMatch(/^nothing heard/);
  });

  it('names the last thing the node did, with its time', () => {
    const evs = [at('boot-script', { purpose: 'deploy' }, T), at('inventory', {}, T + 1000)];
    expect(lastHeard(evs.slice(0, 1))).toBe('last heard at 2026-12-07T06:00:00.000Z: it fetched its iPXE boot script');
    expect(lastHeard(evs)).toBe('last heard at 2026-12-07T06:00:01.000Z: its ramdisk posted its inventory');
    evs.push(at('task', { task: 'deploy' }, T + 2000), at('agent-progress', { stage: 'deploy', pct: 0, msg: 'writing http://s/i.raw' }, T + 3000), at('step', {}, T + 9000));
    expect(lastHeard(evs)).toBe('last heard at 2026-12-07T06:00:03.000Z: its ramdisk reported deploy 0% (writing http://s/i.raw)');
    expect(lastHeard(evs.slice(0, 3))).toBe('last heard at 2026-12-07T06:00:02.000Z: its ramdisk took the task deploy');
    expect(lastHeard([at('agent-result', { status: 'ok', stage: 'inspect' }, T)])).toBe("last heard at 2026-12-07T06:00:00.000Z: its ramdisk's inspect result was ok");
  });
});

describe('resumeDecision (a restarted seed and a busy node)', () => {
  it('finishes from what the ramdisk already reported, without running anything again', () => {
    const evs = [ev('agent-result', { status: 'ok', stage: 'deploy', msg: '' })];
    expect(resumeDecision('deploying', op({ since: 0 }), evs)).toEqual({ action: 'finish', outcome: 'done', verb: 'deploy' });
    expect(resumeDecision('deploying', op({ verb: 'rebuild' }), evs)).toEqual({ action: 'finish', outcome: 'done', verb: 'rebuild' });
    const failed = [ev('agent-result', { status: 'fail', stage: 'deploy', msg: 'checksum mismatch' })];
    expect(resumeDecision('deploying', op(), failed)).toEqual({ action: 'finish', outcome: 'fail', verb: 'deploy', reason: 'checksum mismatch' });
  });

  it('reports from before the interrupted run started do not count: the work restarts', () => {
    const old = ev('agent-result', { status: 'ok', stage: 'deploy', msg: '' });
    expect(resumeDecision('deploying', op({ since: old.id }), [old])).toEqual({ action: 'restart', verb: 'deploy' });
  });

  it('restarts an unreported inspection, and names the verb from the state when no intent was recorded', () => {
    expect(resumeDecision('inspecting', undefined, [])).toEqual({ action: 'restart', verb: 'inspect' });
    expect(resumeDecision('deleting', undefined, [])).toEqual({ action: 'restart', verb: 'undeploy' });
    // an intent of another verb than the state allows is not trusted
    expect(resumeDecision('inspecting', op({ verb: 'deploy' }), [])).toEqual({ action: 'restart', verb: 'inspect' });
  });

  it('gives up after too many interrupted attempts instead of power-cycling forever', () => {
    const d = resumeDecision('deploying', op({ attempt: 3 }), []);
    expect(d).toMatchObject({ action: 'finish', outcome: 'fail', verb: 'deploy' });
    expect((d as { reason: string }).reason).toMatch(/interrupted 3 times/);
  });

  it('does nothing for states that are not busy', () => {
    expect(resumeDecision('active', undefined, []).action).toBe('skip');
    expect(resumeDecision('available', op(), []).action).toBe('skip');
  });
});

describe('claim owners', () => {
  it('only an engine process of this host that is gone is dead', () => {
    const alive = (pid: number) => pid === 42;
    expect(ownerIsDead(ownerName('seed1', 42), 'seed1', alive)).toBe(false);
    expect(ownerIsDead(ownerName('seed1', 43), 'seed1', alive)).toBe(true);
    // another host's engine, or a CI pipeline's lease, is never taken over early
    expect(ownerIsDead(ownerName('seed2', 43), 'seed1', alive)).toBe(false);
    expect(ownerIsDead('ci-pipeline-1234', 'seed1', alive)).toBe(false);
    // a job of the seed service: its process decides
    expect(ownerIsDead(`${ownerName('seed1', 43)}#job-1`, 'seed1', alive)).toBe(true);
    expect(ownerIsDead(`${ownerName('seed1', 42)}#job-1`, 'seed1', alive)).toBe(false);
  });
});

describe('limiter', () => {
  it('never runs more than n tasks at once and runs them all', async () => {
    const run = limiter(2);
    let active = 0;
    let peak = 0;
    const done: number[] = [];
    await Promise.all(
      [1, 2, 3, 4, 5].map((i) =>
        run(async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 5));
          active--;
          done.push(i);
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(done.sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it('a semaphore serves those asking first before the others, each group in call order; an aborted waiter leaves the queue', async () => {
    const s = semaphore(1);
    await s.acquire();
    const order: string[] = [];
    const ac = new AbortController();
    const wait = (name: string, first = false, signal?: AbortSignal) => s.acquire(signal, first).then(() => order.push(name), () => order.push(`${name} aborted`));
    const all = [wait('a'), wait('b'), wait('F1', true), wait('x', true, ac.signal), wait('F2', true), wait('c')];
    ac.abort(new Error('gone'));
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 1));
      s.release();
    }
    await Promise.all(all);
    expect(order).toEqual(['x aborted', 'F1', 'F2', 'a', 'b', 'c']);
    expect(s.waiting).toBe(0);
  });

  it('a failing task frees its slot', async () => {
    const run = limiter(1);
    await expect(run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(run(async () => 7)).resolves.toBe(7);
    expect(() => limiter(0)).toThrow(RangeError);
  });
});

describe('withTimeout (virtual time)', () => {
  it('fails with what the phase waited for, and aborts the work', async () => {
    const clock = new FakeClock();
    let aborted = false;
    const p = withTimeout(clock, 600_000, 'deploy', async (signal, note) => {
      note('the ramdisk result');
      signal.addEventListener('abort', () => (aborted = true));
      await new Promise(() => {}); // a BMC that never answers
    });
    await expect(p).rejects.toThrow(PhaseTimeout);
    await expect(p).rejects.toThrow('deploy timed out after 600 s waiting for the ramdisk result');
    expect(aborted).toBe(true);
  });

  it('returns the work result in time and leaves no timer running', async () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    await expect(withTimeout(clock, 1000, 'x', async (signal) => { await clock.sleep(500, signal); return 'ok'; })).resolves.toBe('ok');
    expect(clock.now() - t0).toBe(500);
  });
});
