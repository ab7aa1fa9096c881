/**
 * The seed service's API against the real process (`kseed serve`, port
 * 18300 on 127.0.0.1): health without credentials, every other route
 * refused without a live token (missing, malformed, unknown, revoked), bad
 * input refused with a 4xx naming the problem while nothing changes and the
 * process keeps serving, 20 concurrent acquirers for 5 nodes (one node is
 * never in two leases), leases ended by the service at their expiry, the
 * CLI printing the same document through the API as on the store, and no
 * token secret in the service's log or the store.
 */
import { request } from 'node:http';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../../src/engine/state.js';
import { ensureBuilt, runKseed } from '../../helpers/cli.js';
import { api, createToken, type Service, siteDir, startService } from './helpers.js';

const PORT = 18300;

/** A raw request, for what fetch will not send (a body streamed past the limit without Content-Length). */
function streamed(url: string, token: string, bytes: number): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/api/v1/leases`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
      let t = '';
      res.on('data', (d) => (t += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(t) }));
    });
    // the service may cut the connection once it answered; only an error before any answer counts
    let answered = false;
    req.on('response', () => (answered = true));
    req.on('error', (err) => (answered ? undefined : reject(err)));
    const chunk = Buffer.alloc(8192, 0x20);
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

describe('seed service API (kseed serve on 127.0.0.1)', () => {
  let root: string;
  let svc: Service;
  let token: string;
  const secrets: string[] = [];

  beforeAll(async () => {
    ensureBuilt();
    root = siteDir('kseed-api-', 5);
    token = await createToken(root, 'alice');
    secrets.push(token);
    svc = await startService(root, PORT);
  });
  afterAll(async () => {
    await svc?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const leasesInStore = () => {
    const s = openState(path.join(root, '.kseed'));
    try {
      return { leases: s.nodeLeases.list({ all: true }), events: s.listEvents().filter((e) => e.kind.startsWith('lease')) };
    } finally {
      s.close();
    }
  };

  it('health answers anyone; every other route needs a live token, and says what is wrong with the one given', async () => {
    expect(await api(svc.url, 'GET', '/health')).toEqual({ status: 200, body: { ok: true, api: 'v1', version: expect.any(String) } });
    for (const route of ['/nodes', '/nodes/n1', '/events', '/leases', '/leases/ls-x']) {
      expect(await api(svc.url, 'GET', route), route).toMatchObject({ status: 401, body: { error: 'no-token', message: expect.stringMatching(/needs a token: Authorization: Bearer <token>/) } });
    }
    expect(await api(svc.url, 'GET', '/nodes', { headers: { authorization: `Basic ${token}` } })).toMatchObject({ status: 401, body: { error: 'bad-authorization' } });
    expect(await api(svc.url, 'GET', '/nodes', { token: 'kseed_not-a-real-one' })).toEqual({ status: 401, body: { error: 'unknown-token', message: 'unknown token' } });
    const bob = await createToken(root, 'bob');
    secrets.push(bob);
    expect((await api(svc.url, 'GET', '/nodes', { token: bob })).status).toBe(200);
    const r = await runKseed(['--json', 'token', 'revoke', 'bob'], { cwd: root });
    expect(r.code, r.stderr).toBe(0);
    const refused = await api(svc.url, 'POST', '/leases', { token: bob, body: '{"owner":"bob"}' });
    expect(refused).toMatchObject({ status: 401, body: { error: 'token-revoked', message: expect.stringMatching(/^token bob was revoked at \d{4}-\d\d-\d\dT/) } });
    expect(leasesInStore().leases).toEqual([]);
  });

  it('lists the site\'s nodes and the store\'s events', async () => {
    const nodes = await api(svc.url, 'GET', '/nodes', { token });
    expect(nodes.status).toBe(200);
    expect(nodes.body.nodes.map((n: any) => [n.name, n.state, n.lease])).toEqual(['n1', 'n2', 'n3', 'n4', 'n5'].map((n) => [n, null, null]));
    expect(await api(svc.url, 'GET', '/nodes/n9', { token })).toEqual({ status: 404, body: { error: 'unknown-node', message: 'no node n9' } });
    expect(await api(svc.url, 'GET', '/events?limit=5', { token })).toEqual({ status: 200, body: { events: [] } });
  });

  it('bad input is a 4xx naming the problem; nothing changes and the service keeps serving', async () => {
    const post = (body: string, headers?: Record<string, string>) => api(svc.url, 'POST', '/leases', { token, body, ...(headers ? { headers } : {}) });
    const cases: [Promise<{ status: number; body: any }>, number, string, RegExp][] = [
      [post('{"owner": "ci-1", '), 400, 'invalid-json', /^invalid JSON in the request body: /],
      [post('["ci-1"]'), 400, 'invalid-body', /must be a JSON object/],
      [post('{"owner":"ci-1","cuont":2}'), 400, 'unknown-field', /unknown field "cuont"; known: owner, count, nodes, profile, role, ttl/],
      [post('{"count":2}'), 400, 'missing-field', /field "owner" is required/],
      [post('{"owner":"ci-1","count":"2"}'), 400, 'bad-field', /field "count" must be a whole number/],
      [post('{"owner":"ci-1","ttl":"2 hours"}'), 400, 'bad-duration', /ttl "2 hours" is not a duration/],
      [post('{"owner":"ci-1","ttl":"30d"}'), 400, 'bad-ttl', /over the longest lease, 168h/],
      [post('{"owner":"ci-1","nodes":["n1","n9"]}'), 400, 'unknown-node', /unknown node n9: the site has n1, n2, n3, n4, n5/],
      [post('{"owner":"ci-1","count":6}'), 400, 'bad-count', /count 6 is more than the 5 nodes of the site/],
      [post(JSON.stringify({ owner: 'ci-1', pad: 'x'.repeat(70_000) })), 413, 'body-too-large', /over 65536 bytes/],
      [post('owner=ci-1', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported-media-type', /must be application\/json/],
      [streamed(svc.url, token, 1024 * 1024), 413, 'body-too-large', /over 65536 bytes/],
      [api(svc.url, 'GET', '/leases?owner=me', { token }), 400, 'unknown-parameter', /unknown query parameter "owner"; known: all/],
      [api(svc.url, 'GET', '/events?limit=0', { token }), 400, 'bad-parameter', /"limit" must be a whole number from 1 to 5000/],
      [api(svc.url, 'DELETE', '/leases', { token }), 405, 'method-not-allowed', /DELETE is not allowed on \/api\/v1\/leases; allowed: GET, POST/],
      [api(svc.url, 'GET', '/lease', { token }), 404, 'not-found', /no route \/api\/v1\/lease/],
      [api(svc.url, 'GET', '/nodes/%E0%A4%A', { token }), 400, 'bad-path', /malformed percent-encoding/],
      [api(svc.url, 'POST', '/leases/ls-none/release', { token, body: '{}' }), 404, 'lease-not-found', /no lease ls-none/],
      [api(svc.url, 'POST', '/leases/ls-none/release', { token, body: '{"keep":"yes"}' }), 400, 'bad-field', /field "keep" must be true or false/],
    ];
    for (const [p, status, error, message] of cases) {
      const a = await p;
      expect(a, JSON.stringify(a)).toMatchObject({ status, body: { error, message: expect.stringMatching(message) } });
    }
    expect(leasesInStore()).toEqual({ leases: [], events: [] });
    expect(svc.child.exitCode).toBeNull();
    expect((await api(svc.url, 'GET', '/health')).status).toBe(200);
  });

  it('20 concurrent acquirers for 5 nodes: 5 leases of distinct nodes, 15 refusals saying none is free', async () => {
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => api(svc.url, 'POST', '/leases', { token, body: JSON.stringify({ owner: `racer-${i}`, ttl: '10m' }) })),
    );
    const won = answers.filter((a) => a.status === 201);
    const lost = answers.filter((a) => a.status !== 201);
    expect(won).toHaveLength(5);
    expect(lost.map((a) => [a.status, a.body.error])).toEqual(Array(15).fill([409, 'lease-unavailable']));
    for (const a of lost) expect(a.body.message).toMatch(/^1 node asked, 0 free; free now: none; held: n1: racer-\d+ until /);
    const held = won.flatMap((a) => a.body.nodes.map((n: any) => n.name)).sort();
    expect(held).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
    const store = leasesInStore();
    expect(store.leases.filter((l) => l.ended_at === null).map((l) => l.id).sort()).toEqual(won.map((a) => a.body.id).sort());
    const nodes = await api(svc.url, 'GET', '/nodes', { token });
    expect(nodes.body.nodes.map((n: any) => n.lease?.owner)).toEqual(held.map((n) => won.find((a) => a.body.nodes[0].name === n)!.body.owner));
    for (const a of won) expect((await api(svc.url, 'POST', `/leases/${a.body.id}/release`, { token, body: '{"keep":true}' })).body).toMatchObject({ end_reason: 'released', keep: true });
  });

  it('the CLI prints the same document through the API (KSEED_URL) as on the store, and a refusal with the same exit code', async () => {
    const viaApi = { KSEED_URL: svc.url, KSEED_TOKEN: token };
    const a = await runKseed(['--json', 'lease', 'acquire', '--owner', 'ci-7', '--count', '2', '--ttl', '1h30m'], { cwd: root, env: viaApi });
    expect(a.code, a.stderr).toBe(0);
    const lease = JSON.parse(a.stdout);
    expect(lease).toMatchObject({ owner: 'ci-7', nodes: [{ name: 'n1', state: null, ip: null }, { name: 'n2', state: null, ip: null }], created_by: 'alice', end_reason: null });
    expect(Date.parse(lease.expires_at) - Date.parse(lease.created_at)).toBe(5_400_000);
    const listApi = await runKseed(['--json', 'lease', 'list'], { cwd: root, env: viaApi });
    const listStore = await runKseed(['--json', 'lease', 'list'], { cwd: root, env: { KSEED_URL: undefined } });
    expect(listApi.code).toBe(0);
    expect(JSON.parse(listApi.stdout)).toEqual({ leases: [lease] });
    expect(listStore.stdout).toBe(listApi.stdout);
    const tooMany = [
      await runKseed(['--json', 'lease', 'acquire', '--owner', 'ci-8', '--node', 'n2', '--node', 'n3'], { cwd: root, env: viaApi }),
      await runKseed(['--json', 'lease', 'acquire', '--owner', 'ci-8', '--node', 'n2', '--node', 'n3'], { cwd: root, env: { KSEED_URL: undefined } }),
    ];
    for (const r of tooMany) {
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ error: 'lease-unavailable', message: expect.stringMatching(/^node n2 \(ci-7 until .*\) is leased; free now: n3, n4, n5/) });
    }
    const badTtl = await runKseed(['--json', 'lease', 'acquire', '--owner', 'ci-8', '--ttl', 'soon'], { cwd: root, env: viaApi });
    expect(badTtl.code).toBe(2);
    expect(JSON.parse(badTtl.stdout)).toMatchObject({ error: 'bad-duration', message: 'ttl "soon" is not a duration: use a number with s, m, h or d, like 90s, 30m, 2h, 1h30m' });
    const renewed = await runKseed(['--json', 'lease', 'renew', lease.id, '--ttl', '2h'], { cwd: root, env: viaApi });
    expect(Date.parse(JSON.parse(renewed.stdout).expires_at)).toBeGreaterThan(Date.parse(lease.expires_at));
    const rel = await runKseed(['lease', 'release', lease.id], { cwd: root, env: viaApi });
    expect(rel.code, rel.stderr).toBe(0);
    expect(rel.stdout).toMatch(new RegExp(`^lease ${lease.id} released at .*: n1, n2 free`));
    const wrong = await runKseed(['lease', 'list'], { cwd: root, env: { KSEED_URL: svc.url, KSEED_TOKEN: 'kseed_wrong' } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe('kseed: unknown token\n');
  });

  it('the service ends a lease at its expiry by itself, and the nodes are free again', async () => {
    const a = await api(svc.url, 'POST', '/leases', { token, body: '{"owner":"short","count":5,"ttl":"1s"}' });
    expect(a.status).toBe(201);
    let l = a.body;
    for (let i = 0; i < 50 && l.ended_at === null; i++) {
      await new Promise((r) => setTimeout(r, 100));
      l = (await api(svc.url, 'GET', `/leases/${a.body.id}`, { token })).body;
    }
    expect(l).toMatchObject({ end_reason: 'expired', keep: false });
    expect(svc.output()).toContain(`"type":"lease-expired","lease":"${a.body.id}","owner":"short","nodes":["n1","n2","n3","n4","n5"]`);
    const ev = await api(svc.url, 'GET', '/events?node=n5&kind=lease-expired', { token });
    expect(ev.body.events.map((e: any) => e.detail.lease)).toEqual([a.body.id]);
  });

  it('refuses to serve plain HTTP off loopback, and says so when its port is taken', async () => {
    const off = await runKseed(['serve', '--host', '10.77.0.1', '--port', String(PORT + 50)], { cwd: root });
    expect(off.code).toBe(2);
    expect(off.stderr).toBe("kseed: the API serves plain HTTP on 127.0.0.0/8 only, not 10.77.0.1: serve it with --tls (a certificate of kseed's own CA, .kseed/secrets/api-ca.crt)\n");
    const taken = await runKseed(['serve', '--port', String(PORT)], { cwd: root });
    expect(taken.code).toBe(1);
    expect(taken.stderr).toBe(`kseed: the seed service cannot listen on 127.0.0.1:${PORT}: EADDRINUSE\n`);
    // the running service's run file is still its own
    expect(JSON.parse(readFileSync(path.join(root, '.kseed', 'run', 'api.json'), 'utf8')).pid).toBe(svc.child.pid);
  });

  it('no secret in the service log or any file of the store; the run file and the store are 0600', () => {
    const dir = path.join(root, '.kseed');
    expect(secrets.length).toBe(2);
    for (const s of secrets) expect(svc.output()).not.toContain(s);
    for (const f of readdirSync(dir)) if (statSync(path.join(dir, f)).isFile()) for (const s of secrets) expect(readFileSync(path.join(dir, f)).includes(s), f).toBe(false);
    expect(svc.output()).toMatch(/"type":"request","method":"POST","path":"\/api\/v1\/leases","status":201,"ms":\d+,"user":"alice"/);
    expect(statSync(path.join(dir, 'run', 'api.json')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dir, 'state.db')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path.join(dir, 'run', 'api.json'), 'utf8'))).toMatchObject({ pid: svc.child.pid, url: svc.url });
  });
});
