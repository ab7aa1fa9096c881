/**
 * What the verb routes accept (service/api-verbs.ts), checked before
 * anything is touched: the body's fields and their types, the power state,
 * who may name a lease owner; and the lease guard's refusal of a set of
 * nodes (service/verbs.ts refuseLeased) naming every holder and expiry.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openState } from '../../../src/engine/state.js';
import { ApiError, parseBody } from '../../../src/service/api-input.js';
import { actorOf, engineVerb, POWER_MANY, POWER_ONE, power, VERB_FIELDS } from '../../../src/service/api-verbs.js';
import { refuseLeased } from '../../../src/service/verbs.js';

const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    return `${e.status} ${e.code}: ${e.message}`;
  }
  throw new Error('not refused');
};

describe('verb route bodies', () => {
  it('refuses unknown fields, wrong types, missing required fields, bad JSON, naming the field', () => {
    expect(refusal(() => parseBody('{"nodes":["n1"],"wipe":true}', VERB_FIELDS.undeploy))).toBe('400 unknown-field: unknown field "wipe"; known: nodes, concurrency, max_deploying, max_bmc, timeout, owner');
    expect(refusal(() => parseBody('{}', VERB_FIELDS.undeploy))).toBe('400 missing-field: field "nodes" is required');
    expect(refusal(() => parseBody('{"nodes":"n1"}', VERB_FIELDS.rebuild))).toBe('400 bad-field: field "nodes" must be a list of strings');
    expect(refusal(() => parseBody('{"all":true,"timeout":"10"}', VERB_FIELDS.provision))).toBe('400 bad-field: field "timeout" must be a number');
    expect(refusal(() => parseBody('{"nodes":[], ', VERB_FIELDS.provision))).toMatch(/^400 invalid-json: invalid JSON in the request body: /);
    expect(refusal(() => parseBody('{"nodes":["n1"]}', POWER_MANY))).toBe('400 missing-field: field "state" is required');
    expect(refusal(() => parseBody('{"state":"on","nodes":["n1"]}', POWER_ONE))).toMatch(/^400 unknown-field: unknown field "nodes"/);
    // what is accepted comes back as sent
    expect(parseBody('{"all":true,"inspect":false,"wait_booted":true,"concurrency":2.5,"timeout":600}', VERB_FIELDS.provision)).toEqual({ all: true, inspect: false, wait_booted: true, concurrency: 2.5, timeout: 600 });
  });

  it('a power state that is no action is refused before the site is read', async () => {
    const v = { siteFile: '/nonexistent/kseed.yaml', stateDir: '/nonexistent', store: undefined as never, jobs: undefined as never };
    await expect(power(v, 'ci', Buffer.from('{"state":"explode"}'), 'n1')).rejects.toMatchObject({ status: 400, code: 'bad-field', message: 'field "state" must be one of on, off, cycle, reset, soft, status, not "explode"' });
    await expect(engineVerb(v, 'undeploy', 'ci', Buffer.from('{"nodes":["n1"],"timeout":0}'))).rejects.toMatchObject({ status: 400, message: 'field "timeout" must be a positive number' });
    await expect(power(undefined, 'ci', Buffer.from('{"state":"on"}'), 'n1')).rejects.toMatchObject({ status: 501, code: 'no-site' });
  });

  it('only the seed\'s own CLI names another lease owner; a token may name itself', () => {
    expect(actorOf('ci', undefined)).toEqual({ token: 'ci' });
    expect(actorOf('cli@seed', 'pipeline-7')).toEqual({ token: 'cli@seed', owner: 'pipeline-7' });
    expect(actorOf('ci', 'ci')).toEqual({ token: 'ci', owner: 'ci' });
    expect(refusal(() => actorOf('ci', 'pipeline-7'))).toBe('403 owner-not-yours: token ci acts as ci: only the seed\'s own CLI names another owner ("owner": "pipeline-7")');
  });
});

describe('refuseLeased', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kseed-verbs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names every node held by someone else with its holder and expiry; the holder, by owner or by the token that acquired it, goes ahead', () => {
    let t = 1_700_000_000_000;
    const s = openState(dir, { now: () => t });
    try {
      const a = s.nodeLeases.acquire({ owner: 'ci-1', nodes: ['n1'], ttlMs: 3600_000, createdBy: 'tok-a' }, ['n1', 'n2', 'n3']);
      const b = s.nodeLeases.acquire({ owner: 'ci-2', nodes: ['n2'], ttlMs: 60_000 }, ['n1', 'n2', 'n3']);
      const at = (ms: number) => new Date(ms).toISOString();
      let err: any;
      try {
        refuseLeased(s, ['n1', 'n2', 'n3'], { token: 'tok-b' }, t);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'node-leased', exitCode: 1 });
      expect(err.message).toBe(
        `node n1 is leased to ci-1 until ${at(a.expires_at)} (lease ${a.id}; the holder runs verbs with KSEED_OWNER=ci-1); node n2 is leased to ci-2 until ${at(b.expires_at)} (lease ${b.id}; the holder runs verbs with KSEED_OWNER=ci-2); nothing was done`,
      );
      expect(() => refuseLeased(s, ['n1', 'n3'], { token: 'tok-a' }, t)).not.toThrow();
      expect(() => refuseLeased(s, ['n2'], { owner: 'ci-2' }, t)).not.toThrow();
      expect(() => refuseLeased(s, ['n3'], {}, t)).not.toThrow();
      t += 120_000;
      expect(() => refuseLeased(s, ['n2'], {}, t)).toThrow(`node n2 is held by lease ${b.id} of ci-2, which expired at ${at(b.expires_at)}: its release (a wipe) is due`);
    } finally {
      s.close();
    }
  });
});
