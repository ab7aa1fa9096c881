/**
 * Node leases and API tokens in the state store, on a real SQLite file with
 * a test clock: all-or-nothing acquisition, who holds what until when,
 * renew/release/expiry with their events, the refusals (unknown node, too
 * many, TTL out of range), and a token's secret never stored.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openState, type StateStore } from '../../../../src/engine/state.js';
import { MAX_LEASE_MS } from '../../../../src/engine/state-node-leases.js';

const tmp: string[] = [];
function stateDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'kseed-nlease-'));
  tmp.push(d);
  return path.join(d, '.kseed');
}
afterAll(() => tmp.forEach((d) => rmSync(d, { recursive: true, force: true })));

const NODES = ['n1', 'n2', 'n3', 'n4', 'n5'];
const H = 3600_000;

describe('node leases', () => {
  let s: StateStore;
  let t = 1_000_000;
  afterEach(() => s?.close());
  const open = () => (s = openState(stateDir(), { now: () => t }));

  it('hands out the first free nodes in site order, all or nothing, and names the holder of the rest', () => {
    open();
    const a = s.nodeLeases.acquire({ owner: 'ci-1', count: 2, ttlMs: H }, NODES);
    expect(a).toMatchObject({ owner: 'ci-1', nodes: ['n1', 'n2'], created_at: t, expires_at: t + H, ended_at: null, keep: false });
    expect(a.id).toMatch(/^ls-[0-9a-f]{10}$/);
    const b = s.nodeLeases.acquire({ owner: 'ci-2', nodes: ['n4'], ttlMs: H }, NODES);
    expect(b.nodes).toEqual(['n4']);
    // 3 asked, 2 free (n3, n5): nothing is taken
    expect(() => s.nodeLeases.acquire({ owner: 'ci-3', count: 3, ttlMs: H }, NODES)).toThrow(/3 nodes asked, 2 free; free now: n3, n5/);
    expect(() => s.nodeLeases.acquire({ owner: 'ci-3', nodes: ['n3', 'n2'], ttlMs: H }, NODES)).toThrow(/node n2 \(ci-1 until 1970-01-01T01:16:40.000Z\) is leased; free now: n3, n5/);
    expect(s.nodeLeases.holderOf('n3')).toBeUndefined();
    expect(s.nodeLeases.list().map((l) => l.id)).toEqual([a.id, b.id]);
    expect(s.nodeLeases.holderOf('n2')?.id).toBe(a.id);
    expect(s.listEvents('n1', { kind: 'leased' })).toHaveLength(1);
    expect(s.listEvents('n1', { kind: 'leased' })[0]!.detail).toEqual({ lease: a.id, owner: 'ci-1', expires_at: new Date(t + H).toISOString() });
  });

  it('refuses bad requests before touching anything', () => {
    open();
    const bad: [object, RegExp][] = [
      [{ owner: 'x', nodes: ['n9'], ttlMs: H }, /unknown node n9: the site has n1, n2, n3, n4, n5/],
      [{ owner: 'x', count: 6, ttlMs: H }, /count 6 is more than the 5 nodes of the site/],
      [{ owner: 'x', count: 0, ttlMs: H }, /count must be a whole number of at least 1/],
      [{ owner: 'x', nodes: ['n1', 'n1'], ttlMs: H }, /a node is named twice/],
      [{ owner: 'x', nodes: ['n1'], count: 2, ttlMs: H }, /count 2 does not match the 1 nodes named/],
      [{ owner: 'has space', ttlMs: H }, /owner "has space" is not valid/],
      [{ owner: 'x', ttlMs: MAX_LEASE_MS + 1000 }, /over the longest lease, 168h/],
      [{ owner: 'x', ttlMs: 10 }, /ttl must be at least 1s/],
    ];
    for (const [req, msg] of bad) expect(() => s.nodeLeases.acquire(req as never, NODES), JSON.stringify(req)).toThrow(msg);
    expect(s.nodeLeases.list({ all: true })).toEqual([]);
    expect(s.listEvents()).toEqual([]);
  });

  it('renews, releases (twice is no error, --keep recorded) and frees the nodes', () => {
    open();
    const a = s.nodeLeases.acquire({ owner: 'ci-1', count: 2, ttlMs: H }, NODES);
    t += 1000;
    expect(s.nodeLeases.renew(a.id, 2 * H).expires_at).toBe(t + 2 * H);
    const r = s.nodeLeases.release(a.id, { keep: true });
    expect(r).toMatchObject({ ended_at: t, end_reason: 'released', keep: true });
    expect(s.nodeLeases.release(a.id)).toEqual(r);
    expect(s.nodeLeases.holderOf('n1')).toBeUndefined();
    expect(() => s.nodeLeases.renew(a.id, H)).toThrow(/lease ls-\w+ released at .*: acquire a new one/);
    expect(() => s.nodeLeases.release('ls-nope')).toThrow(/no lease ls-nope/);
    expect(s.nodeLeases.acquire({ owner: 'ci-2', count: 5, ttlMs: H }, NODES).nodes).toEqual(NODES);
    expect(s.listEvents('n2').map((e) => e.kind)).toEqual(['leased', 'lease-renewed', 'lease-released', 'leased']);
  });

  it('a lease past its expiry holds its nodes until its release ran (the wipe), then frees them; renew refuses it', () => {
    open();
    const a = s.nodeLeases.acquire({ owner: 'ci-1', count: 5, ttlMs: 60_000 }, NODES);
    t += 59_999;
    expect(s.nodeLeases.due()).toEqual([]);
    t += 1;
    expect(s.nodeLeases.due().map((l) => l.id)).toEqual([a.id]);
    // an acquirer does not take a node whose release (its wipe) has not run yet
    expect(() => s.nodeLeases.acquire({ owner: 'ci-2', ttlMs: H }, NODES)).toThrow(/1 node asked, 0 free/);
    expect(() => s.nodeLeases.renew(a.id, H)).toThrow(/expired at .*: its nodes are being released/);
    expect(s.nodeLeases.pending(a.id).nodes).toEqual(NODES);
    s.nodeLeases.finish(a.id, 'expired', false, Object.fromEntries(NODES.map((n) => [n, { result: 'wiped' as const }])));
    const b = s.nodeLeases.acquire({ owner: 'ci-2', ttlMs: H }, NODES);
    expect(b.nodes).toEqual(['n1']);
    expect(s.nodeLeases.get(a.id)).toMatchObject({ end_reason: 'expired', ended_at: t, outcomes: { n5: { result: 'wiped' } } });
    expect(s.listEvents('n5').map((e) => e.kind)).toEqual(['leased', 'lease-expired']);
    expect(s.listEvents('n5')[1]!.detail).toEqual({ lease: a.id, owner: 'ci-1', keep: false, result: 'wiped' });
    expect(() => s.nodeLeases.renew(a.id, H)).toThrow(/expired/);
    expect(s.nodeLeases.due()).toEqual([]);
  });

  it('a failed wipe ends the lease but keeps that node held, named with its error, until a release again frees it', () => {
    open();
    const a = s.nodeLeases.acquire({ owner: 'ci-1', count: 2, ttlMs: H }, NODES);
    s.nodeLeases.acquire({ owner: 'ci-9', nodes: ['n5'], ttlMs: H }, NODES);
    expect(s.nodeLeases.stats()).toEqual({ live: 2, leased_nodes: 3, wipe_failed_nodes: 0, released: 0, expired: 0 });
    s.nodeLeases.finish(a.id, 'released', false, { n1: { result: 'wiped' }, n2: { result: 'failed', error: 'the ramdisk did not call back' } });
    // n2 is held, but by no live lease: the metrics tell it from a leased node
    expect(s.nodeLeases.stats()).toEqual({ live: 1, leased_nodes: 1, wipe_failed_nodes: 1, released: 1, expired: 0 });
    expect(s.nodeLeases.get(a.id)).toMatchObject({ end_reason: 'released', outcomes: { n1: { result: 'wiped' }, n2: { result: 'failed', error: 'the ramdisk did not call back' } } });
    expect(s.nodeLeases.holderOf('n1')).toBeUndefined();
    expect(s.nodeLeases.holderOf('n2')?.id).toBe(a.id);
    expect(s.nodeLeases.pending(a.id).nodes).toEqual(['n2']);
    expect([...s.nodeLeases.holders()].map(([n, l]) => [n, l.id, l.ended_at !== null]).sort()).toEqual([['n2', a.id, true], ['n5', expect.stringMatching(/^ls-/), false]]);
    expect(() => s.nodeLeases.acquire({ owner: 'ci-2', nodes: ['n2'], ttlMs: H }, NODES)).toThrow(/node n2 \(ci-1 until .*\) is leased/);
    expect(s.listEvents('n2', { kind: 'lease-wipe-failed' })[0]!.detail).toEqual({ lease: a.id, owner: 'ci-1', error: 'the ramdisk did not call back' });
    t += 5000;
    const again = s.nodeLeases.finish(a.id, 'released', false, { n2: { result: 'wiped' } });
    // the first end's time and reason stay; the node is free now
    expect(again.ended_at).toBe(t - 5000);
    expect(again.outcomes).toEqual({ n1: { result: 'wiped' }, n2: { result: 'wiped' } });
    expect(s.nodeLeases.pending(a.id).nodes).toEqual([]);
    expect(s.nodeLeases.holderOf('n2')).toBeUndefined();
    expect(s.nodeLeases.stats()).toEqual({ live: 1, leased_nodes: 1, wipe_failed_nodes: 0, released: 1, expired: 0 });
  });

  it('the store refuses a node in two live leases even when asked directly', () => {
    open();
    const a = s.nodeLeases.acquire({ owner: 'ci-1', nodes: ['n1'], ttlMs: H }, NODES);
    expect(() => s.db.prepare('INSERT INTO node_lease_members (node, lease_id) VALUES (?, ?)').run('n1', a.id)).toThrow(/UNIQUE constraint failed/);
  });
});

describe('API tokens', () => {
  let s: StateStore;
  let t = 5_000_000;
  afterEach(() => s?.close());

  it('creates a token whose secret is returned once and stored only as a hash', () => {
    const dir = stateDir();
    s = openState(dir, { now: () => t });
    const a = s.tokens.create('alice');
    expect(a.secret).toMatch(/^kseed_[A-Za-z0-9_-]{43}$/);
    expect(s.tokens.check(a.secret)).toEqual({ ok: true, name: 'alice' });
    expect(s.tokens.list()).toEqual([{ name: 'alice', created_at: t, revoked_at: null, last_used_at: t }]);
    s.close();
    // no file of the store holds the secret (the WAL included)
    for (const f of readdirSync(dir)) expect(readFileSync(path.join(dir, f)).includes(a.secret), f).toBe(false);
  });

  it('tells revoked from unknown, refuses a second live token of one name, and takes the name again after revoke', () => {
    s = openState(stateDir(), { now: () => t });
    const a = s.tokens.create('ci.runner-1');
    expect(() => s.tokens.create('ci.runner-1')).toThrow(/a token named ci.runner-1 exists: revoke it first/);
    expect(() => s.tokens.create('bad name')).toThrow(/token name "bad name" is not valid/);
    t += 10;
    expect(s.tokens.revoke('ci.runner-1')).toBe(true);
    expect(s.tokens.revoke('ci.runner-1')).toBe(false);
    expect(s.tokens.check(a.secret)).toEqual({ ok: false, reason: 'revoked', name: 'ci.runner-1', revoked_at: t });
    expect(s.tokens.check('kseed_nope')).toEqual({ ok: false, reason: 'unknown' });
    expect(s.tokens.check('')).toEqual({ ok: false, reason: 'unknown' });
    const b = s.tokens.create('ci.runner-1');
    expect(s.tokens.check(b.secret)).toEqual({ ok: true, name: 'ci.runner-1' });
    expect(s.tokens.check(a.secret).ok).toBe(false);
    expect(s.tokens.list().map((x) => [x.name, x.revoked_at])).toEqual([['ci.runner-1', t], ['ci.runner-1', null]]);
  });
});
