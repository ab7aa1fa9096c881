/**
 * A kill -9 of the seed service during lease operations loses or duplicates
 * none: eight clients acquire and release leases on 5 nodes as fast as the
 * real `kseed serve` (port 18301) answers, and the service is SIGKILLed
 * three times mid-traffic and started again on the same store. Afterwards
 * every lease the API acknowledged (201) is in the store with its nodes,
 * still live unless its release was acknowledged, every acknowledged
 * release is ended; live leases never share a node, and the membership
 * table agrees with the leases exactly (no orphan, no half lease).
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../../src/engine/state.js';
import { ensureBuilt } from '../../helpers/cli.js';
import { api, createToken, type Service, siteDir, startService } from './helpers.js';

const PORT = 18301;
const NODES = ['n1', 'n2', 'n3', 'n4', 'n5'];

describe('seed service killed with SIGKILL during lease operations', () => {
  let root: string;
  let svc: Service | undefined;
  let token: string;

  beforeAll(async () => {
    ensureBuilt();
    root = siteDir('kseed-api-kill9-', NODES.length);
    token = await createToken(root, 'ci');
  });
  afterAll(async () => {
    await svc?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('loses no acknowledged lease or release and never puts a node in two leases', async () => {
    const acquired = new Map<string, string[]>();
    const released = new Set<string>();
    let answered = 0;
    // requests the kill cut in flight: the kill must land during operations, not between them
    let cut = 0;
    for (let round = 0; round < 3; round++) {
      svc = await startService(root, PORT);
      const s = svc;
      let stop = false;
      // workers 0 and 1 keep what they get: the store fills, refusals (409) mix with the traffic
      const worker = async (w: number) => {
        while (!stop) {
          try {
            const a = await api(s.url, 'POST', '/leases', { token, body: JSON.stringify({ owner: `w${w}-r${round}`, ttl: '1h' }) });
            answered++;
            if (a.status === 409) continue;
            expect(a.status, JSON.stringify(a.body)).toBe(201);
            acquired.set(a.body.id, a.body.nodes.map((n: { name: string }) => n.name));
            if (w < 2) {
              while (!stop) await new Promise((r) => setTimeout(r, 20));
              return;
            }
            const r = await api(s.url, 'POST', `/leases/${a.body.id}/release`, { token, body: '{}' });
            answered++;
            expect(r.status).toBe(200);
            released.add(a.body.id);
          } catch (err) {
            // the kill: a request in flight has no answer, its outcome is unknown (and either is fine)
            if (!stop) throw err;
            cut++;
            return;
          }
        }
      };
      const target = answered + 40;
      const running = Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
      while (answered < target) await new Promise((r) => setTimeout(r, 5));
      // from here a request without an answer is expected: the ones in flight are cut by the kill
      stop = true;
      await s.kill9();
      await running;
      svc = undefined;
      // workers 0 and 1 of this round hold their leases: release them next round through a fresh service, or here
      const st = openState(path.join(root, '.kseed'));
      try {
        for (const [id] of acquired) if (!released.has(id) && st.nodeLeases.get(id)?.ended_at === null && /-r\d+$/.test(st.nodeLeases.get(id)!.owner)) {
          st.nodeLeases.release(id);
          released.add(id);
        }
      } finally {
        st.close();
      }
    }
    expect(acquired.size).toBeGreaterThan(20);
    expect(cut).toBeGreaterThan(0);
    const st = openState(path.join(root, '.kseed'));
    try {
      for (const [id, nodes] of acquired) {
        const l = st.nodeLeases.get(id);
        expect(l, `acknowledged lease ${id} is in the store`).toBeDefined();
        expect(l!.nodes).toEqual(nodes);
        if (released.has(id)) expect(l!.end_reason, id).toBe('released');
      }
      const live = st.nodeLeases.list();
      const liveNodes = live.flatMap((l) => l.nodes);
      expect(new Set(liveNodes).size).toBe(liveNodes.length);
      const members = st.db.prepare('SELECT node, lease_id FROM node_lease_members ORDER BY node').all() as { node: string; lease_id: string }[];
      expect(members).toEqual(live.flatMap((l) => l.nodes.map((node) => ({ node, lease_id: l.id }))).sort((a, b) => a.node.localeCompare(b.node)));
      // an ended lease holds no node; every lease row is whole (its nodes recorded)
      for (const l of st.nodeLeases.list({ all: true })) {
        expect(l.nodes.length).toBe(1);
        if (l.ended_at !== null) expect(members.some((m) => m.lease_id === l.id)).toBe(false);
      }
    } finally {
      st.close();
    }
    // and the service serves the store it left behind
    svc = await startService(root, PORT);
    const list = await api(svc.url, 'GET', '/leases', { token });
    expect(list.status).toBe(200);
    const free = NODES.length - list.body.leases.length;
    if (free > 0) expect((await api(svc.url, 'POST', '/leases', { token, body: JSON.stringify({ owner: 'after', count: free }) })).status).toBe(201);
    expect((await api(svc.url, 'POST', '/leases', { token, body: '{"owner":"one-too-many"}' })).status).toBe(409);
  });
});
