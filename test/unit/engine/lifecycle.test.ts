import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { canApply, finish, NODE_STATES, plan, start, TransitionError, type NodeState, type Verb } from '../../../src/engine/lifecycle.js';

const VERBS: Verb[] = ['enroll', 'inspect', 'provide', 'deploy', 'rebuild', 'undeploy', 'handoff'];

describe('lifecycle', () => {
  it('runs the happy path enroll -> manageable -> inspecting -> available -> deploying -> active', () => {
    let s: NodeState = 'enroll';
    const seen: NodeState[] = [s];
    for (const v of plan(s, 'active', { inspect: true })) {
      const during = start('n1', v, s);
      if (during !== s) seen.push(during);
      s = finish(v, 'done');
      if (seen[seen.length - 1] !== s) seen.push(s);
    }
    expect(seen).toEqual(['enroll', 'manageable', 'inspecting', 'manageable', 'available', 'deploying', 'active']);
  });

  it('plans only what is missing and retries failed phases', () => {
    expect(plan('enroll', 'active', { inspect: false })).toEqual(['enroll', 'provide', 'deploy']);
    expect(plan('available', 'active', { inspect: true })).toEqual(['deploy']);
    expect(plan('active', 'active', { inspect: true })).toEqual([]);
    expect(plan('handed-off', 'available', { inspect: false })).toEqual([]);
    expect(plan('deploy failed', 'active', { inspect: false })).toEqual(['deploy']);
    expect(plan('inspect failed', 'available', { inspect: true })).toEqual(['inspect', 'provide']);
    expect(plan('enroll failed', 'manageable', { inspect: false })).toEqual(['enroll']);
    expect(plan('manageable', 'manageable', { inspect: true })).toEqual(['inspect']);
    expect(plan('deploying', 'active', { inspect: false })).toEqual([]);
  });

  it('refuses verbs from states that do not allow them, naming node and state', () => {
    expect(() => start('ctl01', 'deploy', 'enroll')).toThrow(TransitionError);
    expect(() => start('ctl01', 'deploy', 'enroll')).toThrow(/ctl01: cannot deploy from state "enroll"/);
    expect(canApply('undeploy', 'available')).toBe(false);
    expect(canApply('rebuild', 'active')).toBe(true);
  });

  it('failures land in the failed state of their phase', () => {
    expect(finish('enroll', 'fail')).toBe('enroll failed');
    expect(finish('inspect', 'fail')).toBe('inspect failed');
    expect(finish('deploy', 'fail')).toBe('deploy failed');
    expect(finish('rebuild', 'fail')).toBe('deploy failed');
    expect(finish('undeploy', 'done')).toBe('available');
    // Ironic's word for a failed wipe (automated cleaning)
    expect(finish('undeploy', 'fail')).toBe('clean failed');
  });

  it('undeploy wipes through deleting; a failed wipe is retried before the node is used again', () => {
    expect(start('n', 'undeploy', 'active')).toBe('deleting');
    expect(start('n', 'undeploy', 'clean failed')).toBe('deleting');
    for (const v of ['deploy', 'rebuild', 'provide', 'inspect'] as const) expect(canApply(v, 'clean failed')).toBe(false);
    expect(plan('clean failed', 'active', { inspect: true })).toEqual(['undeploy', 'deploy']);
    expect(plan('clean failed', 'available', { inspect: false })).toEqual(['undeploy']);
    expect(plan('clean failed', 'manageable', { inspect: false })).toEqual(['undeploy']);
    expect(plan('deleting', 'active', { inspect: true })).toEqual([]);
  });

  it('every plan is a sequence of allowed verbs that reaches its target', () => {
    fc.assert(
      fc.property(fc.constantFrom(...NODE_STATES), fc.constantFrom('manageable', 'available', 'active' as const), fc.boolean(), (s0, target, inspect) => {
        let s = s0;
        for (const v of plan(s0, target, { inspect })) {
          expect(canApply(v, s)).toBe(true);
          s = finish(v, 'done');
        }
        return true;
      }),
    );
  });

  it('every verb from every state either transitions or throws, never returns undefined', () => {
    for (const s of NODE_STATES) for (const v of VERBS) {
      if (canApply(v, s)) expect(NODE_STATES).toContain(start('n', v, s));
      else expect(() => start('n', v, s)).toThrow(TransitionError);
    }
  });
});
