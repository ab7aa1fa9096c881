/**
 * `kseed lease acquire --wait` as CI runs it: through the real service
 * (`kseed serve`, port 18345) it blocks while the nodes are held, says on
 * stderr what it waits for, backs off instead of hammering the API (counted
 * in the service's request log), and gets the node once its holder releases
 * it; `--timeout` gives up with exit 1 naming the holders; a request no
 * wait can satisfy fails at once (exit 2); on the store itself (no
 * KSEED_URL) it gets a node when the lease holding it expires. And
 * `--role`/`--profile` choose among the site's nodes (the profile matched
 * at enrollment winning over the site file's), with bad input naming what
 * the site has. A store locked by another process makes the service answer
 * 503 with Retry-After, and the CLI ask again.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { openState } from '../../../src/engine/state.js';
import { ensureBuilt, KSEED_BIN, runKseed } from '../../helpers/cli.js';
import { api, createToken, type Service, siteDir, startService } from './helpers.js';

const PORT = 18345;

/** A kseed run in the background: its exit, stdout and stderr, and when it ended. */
function background(args: string[], cwd: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [KSEED_BIN, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string; at: number }>((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr, at: Date.now() })));
  return { child, done, stderr: () => stderr };
}

const until = async (what: string, ok: () => boolean, ms = 15_000) => {
  for (const t0 = Date.now(); !ok(); await new Promise((r) => setTimeout(r, 50))) if (Date.now() - t0 > ms) throw new Error(`no ${what} after ${ms} ms`);
};

describe('kseed lease acquire --wait', () => {
  let root: string;
  let svc: Service;
  let token: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    ensureBuilt();
    root = siteDir('kseed-api-wait-', 2, undefined, (i) => [', roles: [control], profile: qemu-lab', ', roles: [compute], profile: dell-poweredge'][i]!);
    token = await createToken(root, 'ci');
    svc = await startService(root, PORT);
    env = { KSEED_URL: svc.url, KSEED_TOKEN: token };
  });
  // A failed test must not leave its leases for the next one to trip over (one
  // failure in CI's run at 5542ff1 became six): end every live lease on the
  // store itself, which may end any lease.
  afterEach(async () => {
    const s = openState(path.join(root, '.kseed'));
    let live: string[];
    try {
      live = s.nodeLeases.list().map((l) => l.id);
    } finally {
      s.close();
    }
    for (const id of live) expect((await runKseed(['lease', 'release', id], { cwd: root, env: { KSEED_URL: undefined, KSEED_TOKEN: undefined } })).code).toBe(0);
  });
  afterAll(async () => {
    await svc?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** Acquires the service refused as unavailable so far (its request log). */
  const refusals = () => svc.output().split('\n').filter((l) => l.includes('"type":"request"') && l.includes('"method":"POST","path":"/api/v1/leases","status":409')).length;

  it('blocks while the nodes are held, backs off, says what it waits for, and gets the node once it is released', async () => {
    const hold = await api(svc.url, 'POST', '/leases', { token, body: JSON.stringify({ owner: 'holder', count: 2 }) });
    expect(hold.status).toBe(201);
    const before = refusals();
    const t0 = Date.now();
    const w = background(['lease', 'acquire', '--owner', 'waiter', '--wait'], root, env);
    await until('waiting line', () => w.stderr().includes('waiting ('));
    // it is still waiting a while later, having asked only a few times
    await new Promise((r) => setTimeout(r, 3000));
    expect(w.child.exitCode).toBeNull();
    const released = Date.now();
    expect((await api(svc.url, 'POST', `/leases/${hold.body.id}/release`, { token })).status).toBe(200);
    const r = await w.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^lease ls-[0-9a-f]{10} for waiter until \S+\n/);
    expect(r.stdout).toMatch(/waiter +n1\b/);
    expect(r.stderr).toMatch(/^waiting \(\d+ s\): 1 node asked, 0 free; free now: none; held: n1: holder until \S+; n2: holder until \S+$/m);
    // one line per change of what it waits for: the same two holders all along, so one line
    expect(r.stderr.split('\n').filter((l) => l.startsWith('waiting ('))).toHaveLength(1);
    // back-off: tries at about 0.5, 1, 2, 4... s apart (each ±25%), never a busy loop
    const refused = refusals() - before;
    const waited = released - t0;
    expect(refused).toBeGreaterThanOrEqual(2);
    expect(refused).toBeLessThanOrEqual(Math.floor(Math.log2(waited / 375 + 1)) + 2);
    const leases = await api(svc.url, 'GET', '/leases', { token });
    expect(leases.body.leases).toMatchObject([{ owner: 'waiter', nodes: [{ name: 'n1' }] }]);
    expect((await api(svc.url, 'POST', `/leases/${leases.body.leases[0].id}/release`, { token })).status).toBe(200);
  });

  it('--timeout gives up with exit 1 naming who holds the nodes; nothing is leased to it', async () => {
    const hold = await api(svc.url, 'POST', '/leases', { token, body: JSON.stringify({ owner: 'holder', count: 2 }) });
    const r = await runKseed(['lease', 'acquire', '--owner', 'impatient', '--wait', '--timeout', '2'], { cwd: root, env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^kseed: no lease after waiting 2 s: 1 node asked, 0 free; free now: none; held: n1: holder until \S+; n2: holder until \S+$/m);
    const j = await runKseed(['--json', 'lease', 'acquire', '--owner', 'impatient', '--wait', '--timeout', '1'], { cwd: root, env });
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toMatchObject({ error: 'lease-timeout' });
    expect((await api(svc.url, 'GET', '/leases?all=true', { token })).body.leases.filter((l: { owner: string }) => l.owner === 'impatient')).toEqual([]);
    expect((await api(svc.url, 'POST', `/leases/${hold.body.id}/release`, { token })).status).toBe(200);
  });

  it('what no wait can satisfy fails at once (exit 2); --timeout without --wait is refused', async () => {
    const r = await runKseed(['lease', 'acquire', '--owner', 'greedy', '--count', '3', '--wait'], { cwd: root, env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('count 3 is more than the 2 nodes of the site');
    const u = await runKseed(['lease', 'acquire', '--owner', 'x', '--node', 'n9', '--wait'], { cwd: root, env });
    expect(u.code).toBe(2);
    expect(u.stderr).toContain('unknown node n9');
    const t = await runKseed(['lease', 'acquire', '--owner', 'x', '--timeout', '5'], { cwd: root, env });
    expect(t.code).toBe(2);
    expect(t.stderr).toContain('--timeout goes with --wait');
  });

  it('on the store itself (no KSEED_URL): gets the node when the lease holding it expires', async () => {
    const hold = await runKseed(['--json', 'lease', 'acquire', '--owner', 'short', '--node', 'n2', '--ttl', '2s'], { cwd: root });
    expect(hold.code, hold.stderr).toBe(0);
    const other = await runKseed(['--json', 'lease', 'acquire', '--owner', 'other', '--node', 'n1'], { cwd: root });
    expect(other.code, other.stderr).toBe(0);
    const r = await runKseed(['--json', 'lease', 'acquire', '--owner', 'next', '--wait', '--timeout', '20'], { cwd: root, env: { KSEED_URL: undefined, KSEED_TOKEN: undefined } });
    expect(r.code, r.stderr).toBe(0);
    const l = JSON.parse(r.stdout);
    expect(l).toMatchObject({ owner: 'next', nodes: [{ name: 'n2' }], created_by: null });
    expect(Date.parse(l.created_at)).toBeGreaterThanOrEqual(Date.parse(JSON.parse(hold.stdout).expires_at));
    for (const id of [l.id, JSON.parse(other.stdout).id]) expect((await runKseed(['lease', 'release', id], { cwd: root })).code).toBe(0);
  });

  it('--role and --profile choose among the site nodes, through the API and on the store; what no node fits is bad input naming what there is', async () => {
    const acq = (args: string[], e: Record<string, string | undefined> = env) => runKseed(['--json', 'lease', 'acquire', '--owner', 'sel', ...args], { cwd: root, env: e });
    const compute = await acq(['--role', 'compute']);
    expect(compute.code, compute.stdout).toBe(0);
    expect(JSON.parse(compute.stdout).nodes.map((n: { name: string }) => n.name)).toEqual(['n2']);
    const lab = await acq(['--profile', 'qemu-lab']);
    expect(lab.code, lab.stdout).toBe(0);
    expect(JSON.parse(lab.stdout).nodes.map((n: { name: string }) => n.name)).toEqual(['n1']);
    // held now: waiting for a compute node gives up naming its holder
    const busy = await runKseed(['lease', 'acquire', '--owner', 'sel2', '--role', 'compute', '--wait', '--timeout', '1'], { cwd: root, env });
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/no lease after waiting 1 s: 1 node asked, 0 free; free now: none; held: .*n2: sel until/);
    for (const id of [JSON.parse(compute.stdout).id, JSON.parse(lab.stdout).id]) expect((await api(svc.url, 'POST', `/leases/${id}/release`, { token })).status).toBe(200);

    const none = await runKseed(['lease', 'acquire', '--owner', 'sel', '--role', 'storage'], { cwd: root, env });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no node of the site has role storage: roles compute, control; profiles dell-poweredge, qemu-lab');
    const many = await runKseed(['lease', 'acquire', '--owner', 'sel', '--role', 'compute', '--count', '2'], { cwd: root, env });
    expect(many.code).toBe(2);
    expect(many.stderr).toContain('count 2 is more than the 1 node with role compute (n2)');
    const both = await runKseed(['lease', 'acquire', '--owner', 'sel', '--role', 'compute', '--node', 'n1'], { cwd: root, env });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('nodes named, and a role or profile');
    const unknownField = await api(svc.url, 'POST', '/leases', { token, body: JSON.stringify({ owner: 'sel', role: 7 }) });
    expect(unknownField).toMatchObject({ status: 400, body: { error: 'bad-field', message: 'field "role" must be a string' } });

    // the profile kseed matched at enrollment wins over the site file's
    const s = openState(path.join(root, '.kseed'));
    try {
      s.ensureNode('n1');
      s.updateNode('n1', { profile: 'supermicro' });
    } finally {
      s.close();
    }
    const direct = await acq(['--profile', 'supermicro'], { KSEED_URL: undefined, KSEED_TOKEN: undefined });
    expect(direct.code, direct.stdout).toBe(0);
    expect(JSON.parse(direct.stdout)).toMatchObject({ nodes: [{ name: 'n1' }], created_by: null });
    const gone = await runKseed(['lease', 'acquire', '--owner', 'sel', '--profile', 'qemu-lab'], { cwd: root, env });
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain('no node of the site has profile qemu-lab: roles compute, control; profiles dell-poweredge, supermicro');
    // acquired on the seed itself: no token may end it through the API; the seed's own CLI can
    const id = JSON.parse(direct.stdout).id;
    const refused = await api(svc.url, 'POST', `/leases/${id}/release`, { token });
    expect(refused).toEqual({ status: 403, body: { error: 'lease-not-yours', message: `lease ${id} (owner sel) was acquired on the seed itself, not through the API: token ci may not release it (\`kseed lease release ${id}\` on the seed can)` } });
    expect((await runKseed(['lease', 'release', id], { cwd: root })).code).toBe(0);
  });

  it('through the API only the token that acquired a lease renews or releases it; the holder still can', async () => {
    const mine = await api(svc.url, 'POST', '/leases', { token, body: JSON.stringify({ owner: 'pipeline-1' }) });
    expect(mine.status).toBe(201);
    const other = await createToken(root, 'other-ci');
    for (const [what, body] of [['renew', '{"ttl":"2h"}'], ['release', '{}']] as const) {
      const r = await api(svc.url, 'POST', `/leases/${mine.body.id}/${what}`, { token: other, body });
      expect(r).toEqual({ status: 403, body: { error: 'lease-not-yours', message: `lease ${mine.body.id} (owner pipeline-1) was acquired with token ci: token other-ci may not ${what} it (\`kseed lease ${what} ${mine.body.id}\` on the seed can)` } });
    }
    const cli = await runKseed(['lease', 'release', mine.body.id], { cwd: root, env: { ...env, KSEED_TOKEN: other } });
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('may not release it');
    // nothing changed: still live, same expiry
    expect((await api(svc.url, 'GET', `/leases/${mine.body.id}`, { token })).body).toMatchObject({ ended_at: null, expires_at: mine.body.expires_at });
    expect((await api(svc.url, 'POST', `/leases/${mine.body.id}/release`, { token })).body).toMatchObject({ end_reason: 'released' });
  });

  it('a store another process holds locked: 503 with Retry-After, nothing changed; the CLI asks again and gets its lease once the lock is gone', async () => {
    const s = openState(path.join(root, '.kseed'));
    s.db.exec('BEGIN IMMEDIATE');
    let locked = true;
    try {
      const res = await fetch(`${svc.url}/api/v1/leases`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"owner":"busy"}' });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(await res.json()).toEqual({ error: 'store-busy', message: 'the state store is busy (another kseed process is writing to it): try again' });
      expect((await api(svc.url, 'GET', '/health')).status).toBe(200);
      const before = svc.output().split('\n').filter((l) => l.includes('"status":503')).length;
      const cli = background(['--json', 'lease', 'acquire', '--owner', 'patient'], root, env);
      await until('the CLI\'s refused try', () => svc.output().split('\n').filter((l) => l.includes('"status":503')).length > before, 20_000);
      expect(cli.child.exitCode).toBeNull();
      s.db.exec('COMMIT');
      locked = false;
      const r = await cli.done;
      expect(r.code, r.stdout).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ owner: 'patient', nodes: [{ name: 'n1' }] });
      expect(s.nodeLeases.list({ all: true }).filter((l) => l.owner === 'busy')).toEqual([]);
      expect((await api(svc.url, 'POST', `/leases/${JSON.parse(r.stdout).id}/release`, { token })).status).toBe(200);
    } finally {
      if (locked) s.db.exec('ROLLBACK');
      s.close();
    }
  }, 60_000);
});
