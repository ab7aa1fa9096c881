/**
 * The lease desk on a real state store, with the engine's work given as
 * functions (the engine itself runs in test/integration/api/lease-release):
 * --provision chooses only nodes with an image and refuses named ones
 * without (nothing leased), makes the lease's key (0600, deleted at the
 * release that frees the last node), and a release wipes only nodes with
 * an OS on them, recording each node's outcome; a failed wipe keeps that
 * node held.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openState, type StateStore } from '../../../src/engine/state.js';
import { LeaseDesk, type LeaseCandidate, type LeaseWork } from '../../../src/service/leases.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const NODES: LeaseCandidate[] = [
  { name: 'n1', roles: [], image: true },
  { name: 'n2', roles: [], image: false },
  { name: 'n3', roles: [], image: true },
];

describe('lease desk', () => {
  let store: StateStore;
  afterEach(() => store?.close());

  it('the expiry of a lease whose deploy still runs waits for the deploy, then wipes', async () => {
    let t = 1_000_000;
    const d0 = mkdtempSync(path.join(tmpdir(), 'kseed-desk-'));
    dirs.push(d0);
    store = openState(path.join(d0, '.kseed'), { now: () => t });
    const calls: string[] = [];
    let finish: () => void = () => undefined;
    const d = new LeaseDesk(store, NODES, {
      secretsDir: path.join(d0, '.kseed', 'secrets'),
      wipe: async (nodes) => (calls.push(`wipe ${nodes.join(',')}`), nodes.map((node) => ({ node, ok: true }))),
      provision: (nodes) => new Promise((resolve) => (finish = () => resolve(nodes.map((node) => ({ node, ok: true }))))),
    });
    const l = d.acquire({ owner: 'ci', nodes: ['n1'], ttl: '1s', provision: true });
    const deploying = d.provision(l.id);
    t += 2000;
    expect(await d.expire()).toEqual([]);
    expect(store.nodeLeases.get(l.id)?.ended_at).toBeNull();
    store.ensureNode('n1');
    store.db.prepare("UPDATE nodes SET state = 'active' WHERE name = ?").run('n1');
    finish();
    await deploying;
    expect((await d.expire()).map((x) => [x.id, x.end_reason, x.nodes[0]!.released])).toEqual([[l.id, 'expired', 'wiped']]);
    expect(calls).toEqual(['wipe n1']);
  });

  function desk2(failWipe: string[] = []) {
    const d = mkdtempSync(path.join(tmpdir(), 'kseed-desk-'));
    dirs.push(d);
    store = openState(path.join(d, '.kseed'));
    const calls: string[] = [];
    const work: LeaseWork = {
      secretsDir: path.join(d, '.kseed', 'secrets'),
      wipe: async (nodes, owner) => {
        calls.push(`wipe ${nodes.join(',')} as ${owner}`);
        return nodes.map((node) => (failWipe.includes(node) ? { node, ok: false, error: 'BMC refused the password' } : { node, ok: true }));
      },
      provision: async (nodes, owner) => {
        calls.push(`provision ${nodes.join(',')} as ${owner}`);
        return nodes.map((node) => ({ node, ok: true }));
      },
    };
    return { desk: new LeaseDesk(store, NODES, work), calls };
  }

  it('--provision leases only nodes with an image; one named without is bad input and nothing is leased', () => {
    const { desk: d } = desk2();
    expect(() => d.acquire({ owner: 'ci', nodes: ['n1', 'n2'], provision: true })).toThrow(/--provision: n2 has no image to deploy/);
    expect(() => d.acquire({ owner: 'ci', count: 3, provision: true })).toThrow(/--provision: count 3 is more than the 2 nodes with an image \(n1, n3\)/);
    expect(store.nodeLeases.list({ all: true })).toEqual([]);
    const l = d.acquire({ owner: 'ci', count: 2, provision: true });
    expect(l.nodes.map((n) => n.name)).toEqual(['n1', 'n3']);
  });

  it('makes the lease its key (0600, OpenSSH format), gives its path and public line, and deletes it at release', async () => {
    const { desk: d, calls } = desk2();
    const l = d.acquire({ owner: 'ci-9', nodes: ['n1'], provision: true });
    expect(l.ssh_key!.public).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\S+ kseed-lease@ci-9$/);
    expect(statSync(l.ssh_key!.file).mode & 0o777).toBe(0o600);
    expect(readFileSync(l.ssh_key!.file, 'utf8')).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END OPENSSH PRIVATE KEY-----\n$/);
    expect(store.nodeLeases.holderOf('n1')?.ssh_key).toBe(l.ssh_key!.public);
    await d.provision(l.id);
    expect(calls).toEqual(['provision n1 as ci-9']);
    const r = await d.release(l.id);
    // never deployed in this store: nothing to wipe, and the key goes
    expect(r.nodes).toMatchObject([{ name: 'n1', released: 'clean' }]);
    expect(r.ssh_key).toBeNull();
    expect(existsSync(l.ssh_key!.file)).toBe(false);
    // a lease without --provision has no key
    expect(d.acquire({ owner: 'ci', nodes: ['n2'] }).ssh_key).toBeNull();
  });

  it('wipes only the nodes with an OS; a failed wipe names its error and keeps that node held by the ended lease', async () => {
    const { desk: d, calls } = desk2(['n3']);
    const l = d.acquire({ owner: 'ci', nodes: ['n1', 'n2', 'n3'], provision: false });
    // deployed nodes (the engine's path there is the integration test's)
    for (const n of ['n1', 'n3']) {
      store.ensureNode(n);
      store.db.prepare("UPDATE nodes SET state = 'active' WHERE name = ?").run(n);
    }
    const r = await d.release(l.id);
    expect(calls).toEqual(['wipe n1,n3 as ci']);
    expect(r.nodes.map((n) => [n.name, n.released, n.error])).toEqual([['n1', 'wiped', undefined], ['n2', 'clean', undefined], ['n3', 'failed', 'BMC refused the password']]);
    expect(store.nodeLeases.holderOf('n3')?.id).toBe(l.id);
    expect(store.nodeLeases.holderOf('n1')).toBeUndefined();
  });
});
