/**
 * The provisioning verbs through the seed service, on a simulated lab
 * (`kseed lab up --sim 2`, lab "vb", BMCs on UDP 15970+, the service on
 * 18377): `kseed bmc power`, `provision` and `undeploy` print the same
 * table and --json, with the same exit code, whether the seed service runs
 * (the CLI posts a job and follows it; the service's log shows its calls)
 * or not (the CLI works on the store); a node leased to someone else is
 * refused either way with the same message naming the holder and the
 * expiry, and with 409 over the API, nothing done; bad bodies get a 4xx
 * naming the problem and change nothing. Lane: rest.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SimNodeStatus } from '../../../src/lab/sim/daemon.js';
import { openState } from '../../../src/engine/state.js';
import type { CliRun } from '../../helpers/cli.js';
import { ensureBuilt } from '../../helpers/cli.js';
import { needPeers, needRoot } from '../../helpers/peers.js';
import { api, createToken, type Service, simSeed, startService } from './helpers.js';

const PORT = 18377;
const LAB = 'vb';
const BMC_BASE = 15970;
const [N1, N2] = ['node01', 'node02'];

const ok = needRoot() && needPeers('ip', 'ipmi_sim', 'ipmitool', '/usr/lib/ipxe/undionly.kpxe');

/**
 * What differs between two runs of the same verb: times (ms, seconds, ISO
 * stamps), and a node's phase timings, its whole history, which the second
 * run has one run longer.
 */
const steady = (text: string) => {
  try {
    return JSON.stringify(JSON.parse(text), (k, v) => (k === 'timings' ? undefined : ['ms', 'updated_at'].includes(k) ? 0 : v), 2).replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, 'T');
  } catch {
    // a time's width moves the columns after it, and the rule under the header
    return text.replace(/\d+(\.\d)? s\b|\d+ ms\b/g, 'N s').replace(/-+/g, '-').replace(/ +/g, ' ');
  }
};

describe.skipIf(!ok)('the verbs through the seed service print what they print on the store (simulated lab, real service)', () => {
  let lab: Awaited<ReturnType<typeof simSeed>>;
  let svc: Service | undefined;
  let token = '';
  const clean = { KSEED_URL: undefined, KSEED_TOKEN: undefined, KSEED_OWNER: undefined };
  const k = (args: string[], env: Record<string, string | undefined> = {}) => lab.k(args, { env: { ...clean, ...env } });
  const sim = (n: string): SimNodeStatus => JSON.parse(readFileSync(path.join(lab.root, '.kseed', 'lab', LAB, 'nodes', n, 'sim.json'), 'utf8'));
  /** The CLI's requests in the service's log. */
  const calls = (route: string) => svc!.output().split('\n').filter((l) => l.includes('"user":"cli@seed"') && l.includes(`"path":"/api/v1${route}${route.endsWith('/') ? '' : '"'}`));
  const eventCount = () => {
    const s = openState(path.join(lab.root, '.kseed'));
    try {
      return s.lastEventId();
    } finally {
      s.close();
    }
  };
  /** The same command on the store and through the service. */
  const runs: Record<string, { direct?: CliRun; via?: CliRun }> = {};
  const both = async (name: string, args: string[], via: boolean) => {
    const r = await k(args);
    (runs[name] ??= {})[via ? 'via' : 'direct'] = r;
    return r;
  };
  const script = async (via: boolean) => {
    expect((await both('status', ['--json', 'bmc', 'power', N1, N2, 'status'], via)).code).toBe(0);
    expect((await both('power-off', ['bmc', 'power', N1, N2, 'off'], via)).code).toBe(0);
    const p = await both('provision', ['provision', N1, N2], via);
    expect(p.code, p.stderr).toBe(0);
    expect((await both('provision-again', ['--json', 'provision', N1, N2], via)).code).toBe(0);
    const u = await both('undeploy', ['--json', 'undeploy', N1, N2], via);
    expect(u.code, u.stderr).toBe(0);
    expect((await both('undeploy-again', ['undeploy', N1, N2], via)).code).toBe(0);
    // an unknown node is bad input either way (exit 2), nothing done
    expect((await both('unknown', ['undeploy', N1, 'node09'], via)).code).toBe(2);
  };

  beforeAll(async () => {
    ensureBuilt();
    lab = await simSeed({ prefix: 'ksl-verbs-', lab: LAB, nodes: 2, bmcBase: BMC_BASE });
    token = await createToken(lab.root, 'ci');
    // both compared runs start from nodes enrolled, inspected and wiped once (available), so their verbs are the same
    for (const args of [['provision', N1, N2], ['undeploy', N1, N2]]) {
      const r = await k(args);
      if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
    }
  }, 240_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    process.stderr.write(`--- service\n${svc?.output().split('\n').slice(-40).join('\n')}\n`);
  });

  afterAll(async () => {
    await svc?.stop();
    await lab?.down();
  }, 60_000);

  it('bmc power, provision and undeploy: the same stdout and exit code on the store and through the service', async () => {
    await script(false);
    svc = await startService(lab.root, PORT);
    await script(true);
    // the second run went through the service: a job per long verb, followed to its end
    expect(calls('/provision').filter((l) => l.includes('"status":202'))).toHaveLength(2);
    expect(calls('/undeploy').filter((l) => l.includes('"status":202'))).toHaveLength(2);
    expect(calls('/undeploy').filter((l) => l.includes('"status":400'))).toHaveLength(1);
    expect(calls('/power').filter((l) => l.includes('"status":200'))).toHaveLength(2);
    expect(calls('/jobs/').filter((l) => l.includes('"method":"GET"') && l.includes('"status":200')).length).toBeGreaterThan(0);
    for (const [name, r] of Object.entries(runs)) {
      expect(r.via!.code, name).toBe(r.direct!.code);
      expect(steady(r.via!.stdout), name).toBe(steady(r.direct!.stdout));
    }
    expect(JSON.parse(runs['provision-again']!.via!.stdout)).toMatchObject({ engine: 'embedded', nodes: [{ node: N1, ok: true, state: 'active' }, { node: N2, ok: true, state: 'active' }] });
    expect(runs['undeploy-again']!.via!.stdout).toMatch(new RegExp(`^${N1} +unchanged +available`, 'm'));
    // the notes and progress lines come through too, and the errors are the same words
    expect(runs['undeploy-again']!.via!.stderr).toContain(`${N1}: already available: nothing to undeploy`);
    // the engine's lines, as they came (two nodes at once: their order between nodes may differ)
    const lines = (r: CliRun) => r.stderr.replace(/^\d\d:\d\d:\d\d /gm, '').split('\n').sort();
    expect(lines(runs.provision!.via!)).toEqual(lines(runs.provision!.direct!));
    expect(runs.provision!.via!.stderr).toContain('provisioning 2 nodes with the embedded engine');
    expect(runs.provision!.via!.stderr).toMatch(new RegExp(`\\d\\d:\\d\\d:\\d\\d ${N1} .*-> active`));
    expect(runs.unknown!.via!.stderr).toBe(runs.unknown!.direct!.stderr);
  });

  it('a node leased to someone else: the same refusal on both paths, 409 over the API naming holder and expiry, nothing done', async () => {
    const l = await api(svc!.url, 'POST', '/leases', { token, body: JSON.stringify({ owner: 'ci-9', nodes: [N1], ttl: '1h' }) });
    expect(l.status).toBe(201);
    const held = `node ${N1} is leased to ci-9 until ${l.body.expires_at} (lease ${l.body.id}; the holder runs verbs with KSEED_OWNER=ci-9); nothing was done`;
    const onsBefore = sim(N1).powerOns;
    const events = eventCount();
    const refused: CliRun[] = [];
    for (const args of [['bmc', 'power', N1, 'on'], ['provision', N1, N2], ['undeploy', N1]]) {
      const r = await k(args);
      expect([r.code, r.stdout, r.stderr]).toEqual([1, '', `kseed: ${held}\n`]);
      refused.push(r);
    }
    const raw = await api(svc!.url, 'POST', `/nodes/${N1}/power`, { token: await createToken(lab.root, 'other'), body: '{"state":"on"}' });
    expect(raw).toEqual({ status: 409, body: { error: 'node-leased', message: held } });
    // the token that acquired the lease is its holder: reading the power is anyone's, acting is its own
    const mine = await api(svc!.url, 'POST', `/nodes/${N1}/power`, { token, body: '{"state":"status"}' });
    expect(mine.status).toBe(200);
    expect(mine.body.nodes).toMatchObject([{ node: N1, ok: true, action: 'status', power: 'off' }]);
    // the seed's CLI acting for the holder (KSEED_OWNER) goes ahead
    const asHolder = await k(['--json', 'bmc', 'power', N1, 'status'], { KSEED_OWNER: 'ci-9' });
    expect(asHolder.code, asHolder.stderr).toBe(0);
    expect(sim(N1).powerOns).toBe(onsBefore);
    expect(eventCount()).toBe(events);

    // on the store, the same words
    await svc!.stop();
    svc = undefined;
    for (const [i, args] of [['bmc', 'power', N1, 'on'], ['provision', N1, N2], ['undeploy', N1]].entries()) {
      const r = await k(args);
      expect([r.code, r.stdout, r.stderr], args.join(' ')).toEqual([refused[i]!.code, refused[i]!.stdout, refused[i]!.stderr]);
    }
    expect(sim(N1).powerOns).toBe(onsBefore);
    svc = await startService(lab.root, PORT);
    // its release through the service is a job the CLI follows (its token acquired the lease: it may end it)
    const rel = await k(['--json', 'lease', 'release', l.body.id], { KSEED_URL: svc.url, KSEED_TOKEN: token });
    expect(rel.code, rel.stderr).toBe(0);
    expect(JSON.parse(rel.stdout)).toMatchObject({ id: l.body.id, end_reason: 'released', nodes: [{ name: N1, released: 'clean' }] });
    expect(svc.output()).toMatch(new RegExp(`"method":"POST","path":"/api/v1/leases/${l.body.id}/release","status":202,.*"user":"ci"`));
    expect(svc.output()).toMatch(/"type":"job","job":"job-[0-9a-f]+","kind":"release","user":"ci","state":"succeeded"/);
  });

  it('bad bodies: a 4xx naming the problem, no job, nothing changed', async () => {
    const events = eventCount();
    const ons = sim(N2).powerOns;
    const jobs = () => svc!.output().split('"type":"job"').length;
    const jobsBefore = jobs();
    const post = (route: string, body: string, headers?: Record<string, string>) => api(svc!.url, 'POST', route, { token, body, ...(headers ? { headers } : {}) });
    expect(await post('/provision', '{"nodes":["node02"],"force":true}')).toEqual({ status: 400, body: { error: 'unknown-field', message: 'unknown field "force"; known: nodes, all, inspect, wait_booted, concurrency, max_deploying, max_bmc, timeout, owner' } });
    expect(await post('/undeploy', '{"nodes":["node02"]')).toMatchObject({ status: 400, body: { error: 'invalid-json' } });
    expect(await post('/undeploy', '{}')).toEqual({ status: 400, body: { error: 'missing-field', message: 'field "nodes" is required' } });
    expect(await post(`/nodes/${N2}/power`, '{"state":"explode"}')).toEqual({ status: 400, body: { error: 'bad-field', message: 'field "state" must be one of on, off, cycle, reset, soft, status, not "explode"' } });
    expect(await post('/power', JSON.stringify({ nodes: [N2], state: 'on', owner: 'ci-9' }))).toMatchObject({ status: 403, body: { error: 'owner-not-yours' } });
    expect(await post('/provision', JSON.stringify({ nodes: [N2], pad: 'x'.repeat(70_000) }))).toMatchObject({ status: 413, body: { error: 'body-too-large' } });
    expect(await post('/undeploy', JSON.stringify({ nodes: ['node09'] }))).toMatchObject({ status: 400, body: { error: 'unknown-node' } });
    expect(await api(svc!.url, 'GET', '/jobs/job-0000000000', { token })).toMatchObject({ status: 404, body: { error: 'job-not-found' } });
    expect(await api(svc!.url, 'POST', '/provision', { body: '{}' })).toMatchObject({ status: 401 });
    expect(eventCount()).toBe(events);
    expect(sim(N2).powerOns).toBe(ons);
    expect(jobs()).toBe(jobsBefore);
  });
});
