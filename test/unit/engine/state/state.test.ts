import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NODE_STATES, openState, SCHEMA_VERSION, StateConflict, type StateStore } from '../../../../src/engine/state.js';
import { buildWorker } from './child.js';

const tmp: string[] = [];
function stateDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'kseed-state-'));
  tmp.push(d);
  return path.join(d, '.kseed');
}
afterAll(() => tmp.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('state store', () => {
  let s: StateStore;
  let t = 1_000_000;
  afterEach(() => s?.close());

  it('creates .kseed 0700 and state.db 0600, in WAL mode, at the current schema version', () => {
    const dir = stateDir();
    s = openState(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dir, 'state.db')).mode & 0o777).toBe(0o600);
    expect(s.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(s.db.pragma('busy_timeout', { simple: true })).toBe(15000);
    expect(s.schemaVersion()).toBe(SCHEMA_VERSION);
  });

  it('tightens an existing world-readable state dir', () => {
    const dir = stateDir();
    s = openState(dir);
    s.close();
    chmodSync(dir, 0o755);
    s = openState(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('records every transition as an event, atomically with the state change', () => {
    s = openState(stateDir(), { now: () => (t += 1000) });
    s.ensureNode('ctl01', { profile: 'dell-poweredge', phase: 'enroll' });
    s.transition('ctl01', 'manageable', { phase: 'enroll', reason: 'power credentials ok' });
    s.transition('ctl01', 'available', { phase: 'provide' });
    s.transition('ctl01', 'deploying', { phase: 'deploy' });
    s.transition('ctl01', 'deploy failed', { phase: 'deploy', error: 'no disk matched the root device hint' });
    expect(s.getNode('ctl01')).toMatchObject({ state: 'deploy failed', last_error: 'no disk matched the root device hint', profile: 'dell-poweredge' });
    s.transition('ctl01', 'deploying', { phase: 'deploy', from: ['deploy failed', 'available'] });
    expect(s.getNode('ctl01')!.last_error).toBeNull();
    const evs = s.listEvents('ctl01');
    expect(evs.map((e) => [e.kind, e.from_state, e.to_state])).toEqual([
      ['created', null, 'enroll'],
      ['transition', 'enroll', 'manageable'],
      ['transition', 'manageable', 'available'],
      ['transition', 'available', 'deploying'],
      ['transition', 'deploying', 'deploy failed'],
      ['transition', 'deploy failed', 'deploying'],
    ]);
    expect(evs[1]!.detail).toEqual({ reason: 'power credentials ok', phase: 'enroll' });
    expect(evs[4]!.detail.error).toBe('no disk matched the root device hint');
    // timestamps strictly from the injected clock, one second apart
    expect(evs.map((e) => e.ts - evs[0]!.ts)).toEqual([0, 1000, 2000, 3000, 4000, 5000]);
  });

  it('derives phase timings and per-state spans from the events', () => {
    s = openState(stateDir(), { now: () => t });
    t = 10_000;
    s.ensureNode('n', { phase: 'enroll' });
    t = 11_500;
    s.transition('n', 'manageable', { phase: 'enroll' });
    t = 20_000;
    s.transition('n', 'available', { phase: 'provide' });
    t = 30_000;
    s.transition('n', 'deploying', { phase: 'deploy' });
    t = 95_000;
    s.transition('n', 'active', { phase: 'deploy' });
    expect(s.phaseTimings('n')).toEqual([
      { phase: 'enroll', start: 10_000, end: 11_500, ms: 1500 },
      { phase: 'provide', start: 20_000, end: 20_000, ms: 0 },
      { phase: 'deploy', start: 30_000, end: 95_000, ms: 65_000 },
    ]);
    const spans = s.stateSpans('n');
    expect(spans.map((x) => [x.state, x.ms])).toEqual([
      ['enroll', 1500],
      ['manageable', 8500],
      ['available', 10_000],
      ['deploying', 65_000],
      ['active', undefined],
    ]);
  });

  it('compare-and-set transitions refuse a node in another state and change nothing', () => {
    s = openState(stateDir());
    s.ensureNode('n');
    expect(() => s.transition('n', 'active', { from: 'deploying' })).toThrow(StateConflict);
    expect(() => s.transition('n', 'active', { from: 'deploying' })).toThrow('node n is enroll, expected deploying');
    expect(() => s.transition('ghost', 'active')).toThrow('node ghost is not in the state store');
    expect(() => s.transition('n', 'bogus' as never)).toThrow('unknown node state');
    expect(s.getNode('n')!.state).toBe('enroll');
    expect(s.listEvents('n')).toHaveLength(1);
  });

  it('accepts every state of the lifecycle module', () => {
    s = openState(stateDir());
    s.ensureNode('n');
    for (const st of NODE_STATES) expect(s.transition('n', st).state).toBe(st);
    expect(s.listEvents('n')).toHaveLength(NODE_STATES.length + 1);
  });

  it('a failure inside tx() rolls back everything it wrote', () => {
    s = openState(stateDir());
    s.ensureNode('n');
    expect(() =>
      s.tx(() => {
        s.transition('n', 'manageable');
        s.set('k', 1);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(s.getNode('n')!.state).toBe('enroll');
    expect(s.get('k')).toBeUndefined();
    expect(s.listEvents('n')).toHaveLength(1);
  });

  it('updates node columns and merges data', () => {
    s = openState(stateDir());
    s.ensureNode('n', { data: { a: 1 } });
    s.updateNode('n', { power: 'on', ip: '10.77.0.11', data: { b: 2 } });
    expect(s.getNode('n')).toMatchObject({ power: 'on', ip: '10.77.0.11', data: { a: 1, b: 2 } });
    expect(s.removeNode('n', 'deleted from the site file')).toBe(true);
    expect(s.getNode('n')).toBeUndefined();
    expect(s.listEvents('n').at(-1)).toMatchObject({ kind: 'removed', from_state: 'enroll', detail: { reason: 'deleted from the site file' } });
    expect(s.removeNode('n')).toBe(false);
  });

  it('hands out leases: renewal keeps the address, fixed addresses win, the pool exhausts, expired ones are reused', () => {
    let now = 1_000_000;
    s = openState(stateDir(), { now: () => now });
    const pool = { start: '10.77.0.100', end: '10.77.0.102', exclude: ['10.77.0.101'] };
    const a = s.allocateLease('52:54:00:00:00:0a', pool, { ttlSeconds: 60, hostname: 'a' })!;
    expect(a).toEqual({ mac: '52:54:00:00:00:0a', ip: '10.77.0.100', hostname: 'a', expires_at: 1_060_000, state: 'offered' });
    const b = s.allocateLease('52:54:00:00:00:0b', pool, { ttlSeconds: 60 })!;
    expect(b.ip).toBe('10.77.0.102'); // .101 is excluded
    expect(s.allocateLease('52:54:00:00:00:0c', pool, { ttlSeconds: 60 })).toBeUndefined();
    now += 30_000;
    expect(s.allocateLease('52:54:00:00:00:0a', pool, { ttlSeconds: 60, state: 'bound' })).toMatchObject({ ip: '10.77.0.100', state: 'bound', expires_at: 1_090_000 });
    // b expires: c may take its address
    now += 31_000;
    expect(s.allocateLease('52:54:00:00:00:0c', pool, { ttlSeconds: 60 })!.ip).toBe('10.77.0.102');
    expect(s.getLease('52:54:00:00:00:0b')).toBeUndefined();
    // a node's fixed address, even outside the pool
    expect(s.allocateLease('52:54:00:00:00:0d', { ...pool, fixed: '10.77.0.11' }, { ttlSeconds: 60 })!.ip).toBe('10.77.0.11');
    // a fixed address held by someone else's live lease is refused
    expect(s.allocateLease('52:54:00:00:00:0e', { ...pool, fixed: '10.77.0.11' }, { ttlSeconds: 60 })).toBeUndefined();
    expect(s.leaseByIp('10.77.0.100')!.mac).toBe('52:54:00:00:00:0a');
    s.setLeaseState('52:54:00:00:00:0a', 'released');
    expect(s.allocateLease('52:54:00:00:00:0f', pool, { ttlSeconds: 60 })!.ip).toBe('10.77.0.100');
    expect(s.listLeases({ activeOnly: true }).map((l) => l.ip)).toEqual(['10.77.0.11', '10.77.0.100', '10.77.0.102']);
    now += 120_000;
    expect(s.pruneLeases()).toBe(3);
    expect(s.listLeases()).toEqual([]);
  });

  it('keeps lab resources, kv values and node claims', () => {
    let now = 5_000;
    s = openState(stateDir(), { now: () => now });
    s.putResource('netns', 'ksl-lab');
    s.putResource('process', 'ipmi_sim-node1', { pid: 4242, data: { port: 17001 } });
    expect(s.listResources().map((r) => `${r.kind}/${r.name}`)).toEqual(['netns/ksl-lab', 'process/ipmi_sim-node1']);
    expect(s.getResource('process', 'ipmi_sim-node1')).toMatchObject({ pid: 4242, data: { port: 17001 } });
    expect(s.removeResource('netns', 'ksl-lab')).toBe(true);
    expect(s.listResources('netns')).toEqual([]);

    s.set('stack.hash', { sha: 'abc' });
    expect(s.get('stack.hash')).toEqual({ sha: 'abc' });
    expect(s.update<number>('n', (v) => (v ?? 41) + 1)).toBe(42);
    expect(s.delete('n')).toBe(true);

    expect(s.claimNode('cmp01', 'ci-123', 60_000)).toMatchObject({ ok: true, claim: { owner: 'ci-123', expires_at: 65_000 } });
    expect(s.claimNode('cmp01', 'alice', 60_000)).toMatchObject({ ok: false, heldBy: { owner: 'ci-123' } });
    expect(s.releaseClaim('cmp01', 'alice')).toBe(false);
    now += 61_000;
    expect(s.claimNode('cmp01', 'alice', 60_000)).toMatchObject({ ok: true, claim: { owner: 'alice' } });
    expect(s.releaseClaim('cmp01', 'alice')).toBe(true);
    expect(s.listClaims()).toEqual([]);
  });

  it('issues per-node tokens, stores only their hash, and expires and revokes them', () => {
    let now = 1_000;
    s = openState(stateDir(), { now: () => now });
    const a = s.issueNodeToken('node1', 'deploy', 60_000);
    const b = s.issueNodeToken('node2', 'deploy', 60_000);
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
    expect(s.verifyNodeToken(a, 'deploy')).toBe('node1');
    expect(s.verifyNodeToken(b, 'deploy')).toBe('node2');
    expect(s.verifyNodeToken(a, 'cloud-init')).toBeUndefined();
    expect(s.verifyNodeToken(`${a}x`, 'deploy')).toBeUndefined();
    expect(s.verifyNodeToken('', 'deploy')).toBeUndefined();
    const stored = s.db.prepare('SELECT token_hash FROM node_tokens').all() as { token_hash: string }[];
    expect(JSON.stringify(stored)).not.toContain(a);
    expect(s.revokeNodeTokens('node2')).toBe(1);
    expect(s.verifyNodeToken(b, 'deploy')).toBeUndefined();
    now += 60_000;
    expect(s.verifyNodeToken(a, 'deploy')).toBeUndefined();
  });

  it('migrates an old database forward and refuses one from a newer kseed', () => {
    const dir = stateDir();
    s = openState(dir, { targetVersion: 0 });
    expect(s.schemaVersion()).toBe(0);
    s.close();
    // a v1 database with data in it, as the first release wrote it
    s = openState(dir, { targetVersion: 1 });
    s.ensureNode('old');
    expect(s.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'node_tokens'").get()).toEqual({ n: 0 });
    s.close();
    s = openState(dir);
    expect(s.getNode('old')!.state).toBe('enroll');
    expect(s.verifyNodeToken(s.issueNodeToken('old', 'deploy', 1000), 'deploy')).toBe('old');
    expect(s.schemaVersion()).toBe(SCHEMA_VERSION);
    s.ensureNode('n');
    s.close();
    const raw = new Database(path.join(dir, 'state.db'));
    raw.prepare('UPDATE schema_version SET version = ?').run(SCHEMA_VERSION + 1);
    raw.close();
    expect(() => openState(dir)).toThrow(/newer than this kseed understands/);
  });
});

describe('state store across processes', () => {
  let worker: string;
  beforeAll(() => {
    worker = buildWorker();
  });
  afterAll(() => rmSync(path.dirname(worker), { recursive: true, force: true }));

  function run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
    return new Promise((resolve) => {
      const p = spawn(process.execPath, [worker, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (err += d));
      p.on('close', (code) => resolve({ code, out, err }));
    });
  }

  it('four processes hammering one database lose no update', async () => {
    const dir = stateDir();
    openState(dir).close();
    const N = 100;
    const results = await Promise.all([1, 2, 3, 4].map((id) => run(['hammer', dir, String(id), String(N)])));
    for (const r of results) expect(r, r.err).toMatchObject({ code: 0, out: 'done\n' });
    const s = openState(dir);
    try {
      expect(s.get('counter')).toBe(4 * N);
      const shared = s.get<string[]>('shared')!;
      expect(shared).toHaveLength(4 * N);
      expect(new Set(shared).size).toBe(4 * N);
      for (const id of [1, 2, 3, 4]) {
        const evs = s.listEvents(`w${id}`);
        expect(evs).toHaveLength(N + 1);
        // each transition's from_state is the previous one's to_state: no interleaving
        for (let i = 1; i < evs.length; i++) expect(evs[i]!.from_state).toBe(evs[i - 1]!.to_state);
      }
      const leases = s.listLeases();
      expect(leases).toHaveLength(4 * 8);
      expect(new Set(leases.map((l) => l.ip)).size).toBe(4 * 8);
      expect(s.db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      s.close();
    }
  });

  function spawnUntil(args: string[], until: (out: string) => boolean) {
    const p = spawn(process.execPath, [worker, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const ready = new Promise<void>((resolve, reject) => {
      p.stdout.on('data', (d) => {
        out += d;
        if (until(out)) resolve();
      });
      p.on('close', (code) => reject(new Error(`worker exited ${code} early`)));
    });
    const killed = new Promise<void>((resolve) => p.on('close', () => resolve()));
    return { p, ready, killed, output: () => out };
  }

  it('a writer killed with SIGKILL mid-transaction leaves only committed data, and the lock is free', async () => {
    const dir = stateDir();
    const w = spawnUntil(['crash', dir], (o) => o.includes('READY'));
    await w.ready;
    expect(existsSync(path.join(dir, 'state.db-wal'))).toBe(true);
    w.p.kill('SIGKILL');
    await w.killed;
    const s = openState(dir, { busyTimeoutMs: 2000 });
    try {
      expect(s.get('committed')).toBe(1);
      expect(s.get('uncommitted0')).toBeUndefined();
      expect(s.db.prepare("SELECT count(*) AS n FROM kv WHERE key LIKE 'uncommitted%'").get()).toEqual({ n: 0 });
      s.set('after', true); // would time out if the dead writer's lock survived
      expect(s.get('after')).toBe(true);
      expect(s.db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      s.close();
    }
  });

  it('every commit a killed writer acknowledged survives', async () => {
    const dir = stateDir();
    openState(dir).close();
    const w = spawnUntil(['loop', dir], (o) => o.split('\n').length > 200);
    await w.ready;
    w.p.kill('SIGKILL');
    await w.killed;
    const acked = w
      .output()
      .split('\n')
      .filter((l) => /^\d+$/.test(l))
      .map(Number);
    const last = acked.at(-1)!;
    const s = openState(dir);
    try {
      const counter = s.get<number>('counter')!;
      // the worker may have committed one more than it managed to print
      expect(counter === last || counter === last + 1).toBe(true);
      expect(s.listNodes()).toHaveLength(counter);
      expect(s.db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      s.close();
    }
  });
});
