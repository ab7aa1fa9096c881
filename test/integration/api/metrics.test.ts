/**
 * The seed service's /metrics against the real process (`kseed serve`, port
 * 18344 on 127.0.0.1) and a real reader: Prometheus's own `promtool check
 * metrics` (Debian's prometheus package) accepts the exposition with no
 * lint finding, and the values are what the store and the requests made
 * say: nodes by state, leases live/released/expired, finished phase
 * durations, requests by route pattern and status, latency histograms
 * whose buckets add up. A scraper needs a live token like every other
 * route (missing and revoked ones are refused).
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../../src/engine/state.js';
import { ensureBuilt, runKseed } from '../../helpers/cli.js';
import { needPeers } from '../../helpers/peers.js';
import { api, createToken, samples, type Service, siteDir, startService } from './helpers.js';

const PORT = 18344;
const ok = needPeers('promtool');

async function scrape(url: string, token?: string): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(`${url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

describe.skipIf(!ok)('GET /metrics (Prometheus text format, checked by promtool)', () => {
  let root: string;
  let svc: Service;
  let token: string;

  beforeAll(async () => {
    ensureBuilt();
    root = siteDir('kseed-api-metrics-', 5);
    // node histories on a clock of the test's own, so the phase durations are known to the millisecond
    let t = 1_700_000_000_000;
    const at = (ms: number) => (t = 1_700_000_000_000 + ms);
    const s = openState(path.join(root, '.kseed'), { now: () => t });
    try {
      at(0);
      for (const n of ['n1', 'n2', 'n3', 'n4']) s.ensureNode(n, { phase: 'enroll' });
      at(2000);
      s.transition('n1', 'manageable', { phase: 'enroll' }); // enroll 2 s, done
      at(3000);
      s.transition('n2', 'manageable', { phase: 'enroll' }); // enroll 3 s
      at(4000);
      s.transition('n4', 'manageable', { phase: 'enroll' }); // enroll 4 s
      at(10_000);
      s.transition('n2', 'inspecting', { phase: 'inspect' });
      s.transition('n4', 'inspecting', { phase: 'inspect' }); // still inspecting: not a finished run
      at(70_000);
      s.transition('n2', 'available', { phase: 'inspect' }); // inspect 60 s
      at(80_000);
      s.transition('n2', 'deploying', { phase: 'deploy' });
      at(680_000);
      s.transition('n2', 'active', { phase: 'deploy' }); // deploy 600 s
      // n3 is still enrolling (its run is not final), n5 was never touched
    } finally {
      s.close();
    }
    token = await createToken(root, 'prometheus');
    svc = await startService(root, PORT);
  });
  afterAll(async () => {
    await svc?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('needs a live token: none, a revoked one and another method are refused, and counted', async () => {
    expect(await scrape(svc.url)).toMatchObject({ status: 401, text: expect.stringContaining('"error":"no-token"') });
    const old = await createToken(root, 'old-scraper');
    expect((await runKseed(['token', 'revoke', 'old-scraper'], { cwd: root })).code).toBe(0);
    expect(await scrape(svc.url, old)).toMatchObject({ status: 401, text: expect.stringContaining('"error":"token-revoked"') });
    const post = await fetch(`${svc.url}/metrics`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(post.status).toBe(405);
    expect(await post.json()).toMatchObject({ error: 'method-not-allowed' });
    expect((await fetch(`${svc.url}/metrics?x=1`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(400);
  });

  it('promtool accepts the exposition; nodes, leases, phases and requests are counted as they happened', async () => {
    // leases: one live, one released, one expired
    const live = await api(svc.url, 'POST', '/leases', { token, body: JSON.stringify({ owner: 'ci-1', nodes: ['n1'] }) });
    const rel = await api(svc.url, 'POST', '/leases', { token, body: JSON.stringify({ owner: 'ci-2', nodes: ['n3'] }) });
    const exp = await api(svc.url, 'POST', '/leases', { token, body: JSON.stringify({ owner: 'ci-3', nodes: ['n5'], ttl: '1s' }) });
    expect([live.status, rel.status, exp.status]).toEqual([201, 201, 201]);
    expect((await api(svc.url, 'POST', `/leases/${rel.body.id}/release`, { token })).status).toBe(200);
    let polls = 0;
    for (const t0 = Date.now(); ; await new Promise((r) => setTimeout(r, 250))) {
      polls++;
      const l = await api(svc.url, 'GET', `/leases/${exp.body.id}`, { token });
      if (l.body.end_reason === 'expired') break;
      if (Date.now() - t0 > 15_000) throw new Error(`lease ${exp.body.id} not expired after 15 s: ${JSON.stringify(l.body)}`);
    }
    expect((await api(svc.url, 'GET', '/nodes')).status).toBe(401);
    expect((await api(svc.url, 'GET', '/nope', { token })).status).toBe(404);

    const r = await scrape(svc.url, token);
    expect(r.status).toBe(200);
    expect(r.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    const check = spawnSync('promtool', ['check', 'metrics'], { input: r.text, encoding: 'utf8' });
    expect({ code: check.status, out: `${check.stdout}${check.stderr}` }).toEqual({ code: 0, out: '' });

    const m = samples(r.text);
    expect(m.get('kseed_build_info{version="0.1.0"}')).toBe(1);
    const states = Object.fromEntries([...m].filter(([k]) => k.startsWith('kseed_nodes{')).map(([k, v]) => [/state="([^"]+)"/.exec(k)![1], v]));
    expect(Object.entries(states).filter(([, v]) => v > 0)).toEqual([['enroll', 2], ['manageable', 1], ['inspecting', 1], ['active', 1]]);
    expect(Object.keys(states)).toContain('deploy failed'); // every lifecycle state has a series, 0 or not
    expect(m.get('kseed_leases_live')).toBe(1);
    expect(m.get('kseed_leased_nodes')).toBe(1);
    expect(m.get('kseed_leases_ended_total{reason="released"}')).toBe(1);
    expect(m.get('kseed_leases_ended_total{reason="expired"}')).toBe(1);

    // finished phase runs only: enroll of n1, n2, n4 (2+3+4 s); inspect of n2 (60 s; n4's is still going on); deploy of n2 (600 s)
    const phase = (p: string, k: 'count' | 'sum') => m.get(`kseed_phase_duration_seconds_${k}{phase="${p}"}`);
    expect([phase('enroll', 'count'), phase('enroll', 'sum')]).toEqual([3, 9]);
    expect(m.get('kseed_phase_duration_seconds_bucket{phase="enroll",le="1"}')).toBe(0);
    expect(m.get('kseed_phase_duration_seconds_bucket{phase="enroll",le="5"}')).toBe(3);
    expect([phase('inspect', 'count'), phase('inspect', 'sum')]).toEqual([1, 60]);
    expect(m.get('kseed_phase_duration_seconds_bucket{phase="inspect",le="30"}')).toBe(0);
    expect(m.get('kseed_phase_duration_seconds_bucket{phase="inspect",le="60"}')).toBe(1);
    expect([phase('deploy', 'count'), phase('deploy', 'sum')]).toEqual([1, 600]);
    expect(m.get('kseed_phase_duration_seconds_bucket{phase="deploy",le="300"}')).toBe(0);
    expect(m.get('kseed_phase_duration_seconds_bucket{phase="deploy",le="600"}')).toBe(1);

    // requests by route pattern (never a lease id), method and status
    const req = (route: string, method: string, status: number) => m.get(`kseed_api_requests_total{route="${route}",method="${method}",status="${status}"}`);
    expect(req('/api/v1/leases', 'POST', 201)).toBe(3);
    expect(req('/api/v1/leases/:id/release', 'POST', 200)).toBe(1);
    expect(req('/api/v1/leases/:id', 'GET', 200)).toBe(polls);
    expect(req('/api/v1/nodes', 'GET', 401)).toBe(1);
    expect(req('unmatched', 'GET', 404)).toBe(1);
    expect(req('/metrics', 'GET', 401)).toBe(2);
    expect(req('/metrics', 'POST', 405)).toBe(1);
    expect(req('/metrics', 'GET', 400)).toBe(1);
    expect([...m.keys()].some((k) => k.includes(exp.body.id))).toBe(false);

    // each route's latency histogram: cumulative buckets, +Inf = count = its requests
    const routes = new Set([...m.keys()].filter((k) => k.startsWith('kseed_api_requests_total')).map((k) => /route="([^"]+)"/.exec(k)![1]!));
    for (const route of routes) {
      const buckets = [...m].filter(([k]) => k.startsWith(`kseed_api_request_duration_seconds_bucket{route="${route}",`)).map(([, v]) => v);
      expect(buckets.length, route).toBe(13);
      expect(buckets, route).toEqual([...buckets].sort((a, b) => a - b));
      const count = m.get(`kseed_api_request_duration_seconds_count{route="${route}"}`);
      const total = [...m].filter(([k]) => k.startsWith(`kseed_api_requests_total{route="${route}",`)).reduce((n, [, v]) => n + v, 0);
      expect([buckets.at(-1), count], route).toEqual([total, total]);
      expect(m.get(`kseed_api_request_duration_seconds_sum{route="${route}"}`), route).toBeGreaterThan(0);
    }

    // the scrape itself is counted by the next one
    const again = samples((await scrape(svc.url, token)).text);
    expect(again.get('kseed_api_requests_total{route="/metrics",method="GET",status="200"}')).toBe(1);
  });
});
