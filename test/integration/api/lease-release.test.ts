/**
 * Leases that deploy and wipe, on a simulated lab (`kseed lab up --sim 3`,
 * lab "lr", BMCs 15940+, the service on 18370): `lease acquire --provision`
 * (through the service, and on the store itself) deploys the nodes with a
 * key made for the lease (its private half 0600 under .kseed/secrets/, the
 * public half in the user-data the simulated node was given) and waits for
 * their first boot (`--detach`: the service deploys on, the CLI returns at
 * once); a release wipes the nodes
 * through the engine's undeploy (the simulated ramdisk erases its disk and
 * says so) and they end available; `--keep` leaves the OS and the node
 * active; a second release succeeds unchanged; an unknown id is refused;
 * the service's expiry runs the same release (wipe); a node whose wipe
 * fails (its BMC refuses the site's password) is named, stays held by the
 * ended lease, the other is released, exit 3, and a release again (the
 * password fixed) frees it; meanwhile its node view names the ended lease and
 * the wipe's error, and /metrics counts it as held, not leased. Lane: rest; 31 s at load 10, 80 s at load 20.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SimNodeStatus } from '../../../src/lab/sim/daemon.js';
import { ensureBuilt, runKseed } from '../../helpers/cli.js';
import { needPeers, needRoot } from '../../helpers/peers.js';
import { netnsList } from '../lab/helpers.js';
import { api, createToken, samples, type Service, simSeed, startService } from './helpers.js';

const PORT = 18370;
const LAB = 'lr';
const BMC_BASE = 15940;
const MiB = 1024 * 1024;
// the lab's node names (lab/names.ts)
const [N1, N2, N3] = ['node01', 'node02', 'node03'];

const ok = needRoot() && needPeers('ip', 'ipmi_sim', 'ipmitool', 'ssh-keygen', '/usr/lib/ipxe/undionly.kpxe');

describe.skipIf(!ok)('lease release wipes (simulated lab, real service)', () => {
  let root = '';
  let site = '';
  let svc: Service | undefined;
  let token = '';
  let env: Record<string, string> = {};
  const k = (args: string[], o: { timeoutMs?: number; env?: Record<string, string> } = {}) => runKseed(['--config', site, ...args], { cwd: root, timeoutMs: o.timeoutMs ?? 120_000, ...(o.env ? { env: o.env } : {}) });
  const nodeDir = (n: string) => path.join(root, '.kseed', 'lab', LAB, 'nodes', n);
  const sim = (n: string): SimNodeStatus => JSON.parse(readFileSync(path.join(nodeDir(n), 'sim.json'), 'utf8'));
  /** What the simulated disk holds: its deploy label (empty once wiped) and whether its first MiB has any data. */
  const disk = (n: string) => {
    const file = path.join(nodeDir(n), 'disk.img');
    const buf = Buffer.alloc(MiB);
    const fd = openSync(file, 'r');
    try {
      readSync(fd, buf, 0, MiB, 0);
    } finally {
      closeSync(fd);
    }
    return { label: readFileSync(`${file}.kseed.env`, 'utf8'), data: buf.some((b: number) => b !== 0) };
  };
  const stateOf = async (n: string) => (await api(svc!.url, 'GET', `/nodes/${n}`, { token })).body.state as string;
  const wipes = (n: string) => sim(n).phases.filter((p) => p.phase === 'wipe').length;

  let lab: Awaited<ReturnType<typeof simSeed>> | undefined;

  beforeAll(async () => {
    ensureBuilt();
    lab = await simSeed({ prefix: 'ksl-lease-', lab: LAB, nodes: 3, bmcBase: BMC_BASE });
    ({ root, site } = lab);
    token = await createToken(root, 'ci');
    svc = await startService(root, PORT);
    env = { KSEED_URL: svc.url, KSEED_TOKEN: token };
  }, 240_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail' || !root) return;
    const tail = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').slice(-30).join('\n') : `(no ${f})`);
    process.stderr.write(`--- sim.out\n${tail(path.join(root, '.kseed', 'lab', LAB, 'sim.out'))}\n--- service\n${svc?.output().split('\n').slice(-30).join('\n')}\n`);
  });

  afterAll(async () => {
    await svc?.stop();
    if (!lab) return;
    await lab.down();
    expect(netnsList().filter((n) => n.startsWith(`ksl-${LAB}`))).toEqual([]);
  }, 60_000);

  /** A --provision lease's key: the file 0600, OpenSSH reads it, its public half is the lease's and is in each node's user-data. */
  const checkKey = (doc: any) => {
    const file = doc.ssh_key.file as string;
    expect(path.dirname(file)).toBe(path.join(root, '.kseed', 'secrets'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const pub = execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim();
    expect(pub).toBe(doc.ssh_key.public);
    expect(pub).toMatch(new RegExp(`^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\\S+ kseed-lease@${doc.owner}$`));
    for (const n of doc.nodes) expect(JSON.parse(disk(n.name).label).userData).toContain(pub);
    return file;
  };
  let keyA = '';
  let keyB = '';
  let a: any;
  let b: any;

  it('acquire --provision deploys the nodes with a key made for the lease and waits for their first boot (through the service, and on the store)', async () => {
    const viaApi = await k(['--json', 'lease', 'acquire', '--owner', 'ci-1', '--node', N1, '--node', N2, '--provision'], { env });
    expect(viaApi.code, viaApi.stderr).toBe(0);
    a = JSON.parse(viaApi.stdout);
    expect(a).toMatchObject({ owner: 'ci-1', nodes: [{ name: N1, state: 'active', booted: true }, { name: N2, state: 'active', booted: true }] });
    for (const n of a.nodes) expect(n.ip).toMatch(/^10\.77\.0\.\d+$/);
    keyA = checkKey(a);
    // the private key is never printed, nor logged by the service
    const priv = readFileSync(keyA, 'utf8');
    expect(priv).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    const body = priv.split('\n')[1]!;
    expect(viaApi.stdout + viaApi.stderr + svc!.output()).not.toContain(body);

    const direct = await k(['--json', 'lease', 'acquire', '--owner', 'ci-2', '--node', N3, '--provision']);
    expect(direct.code, direct.stderr).toBe(0);
    b = JSON.parse(direct.stdout);
    expect(b).toMatchObject({ owner: 'ci-2', nodes: [{ name: N3, state: 'active', booted: true }] });
    keyB = checkKey(b);
    expect(keyB).not.toBe(keyA);
    expect(b.ssh_key.public).not.toBe(a.ssh_key.public);
    // another lease's key is not in a node's user-data
    expect(JSON.parse(disk(N3).label).userData).not.toContain(a.ssh_key.public.split(' ')[1]);
  });

  it('release wipes the nodes through the engine (available, disk erased); --keep leaves the OS; twice succeeds; unknown id refused', async () => {
    for (const n of [N1, N2, N3]) expect(disk(n)).toMatchObject({ data: true });

    const rel = await k(['lease', 'release', a.id], { env });
    expect(rel.code, rel.stderr).toBe(0);
    expect(rel.stdout).toMatch(new RegExp(`^lease ${a.id} released at \\S+: ${N1}, ${N2} free \\(wiped: ${N1}, ${N2}\\)\\n$`));
    expect(existsSync(keyA)).toBe(false);
    for (const n of [N1, N2]) {
      expect(await stateOf(n)).toBe('available');
      expect(wipes(n)).toBe(1);
      // the simulated ramdisk erased the disk: no label, no data left at its start
      expect(disk(n)).toEqual({ label: '', data: false });
    }

    // acquired on the store itself: released there too (a token may not end it)
    const keep = await k(['--json', 'lease', 'release', b.id, '--keep']);
    expect(keep.code, keep.stderr).toBe(0);
    expect(JSON.parse(keep.stdout)).toMatchObject({ id: b.id, end_reason: 'released', keep: true, nodes: [{ name: N3, state: 'active', released: 'kept' }] });
    expect(await stateOf(N3)).toBe('active');
    expect(wipes(N3)).toBe(0);
    expect(disk(N3).data).toBe(true);
    expect(JSON.parse(disk(N3).label)).toMatchObject({ node: N3 });
    expect(existsSync(keyB)).toBe(false);

    // the verb repeated succeeds and changes nothing (through the API and on the store itself)
    const first = (await api(svc!.url, 'GET', `/leases/${a.id}`, { token })).body;
    expect(first).toMatchObject({ end_reason: 'released', keep: false, ssh_key: null, nodes: [{ name: N1, state: 'available', released: 'wiped' }, { name: N2, state: 'available', released: 'wiped' }] });
    const again = await k(['--json', 'lease', 'release', a.id], { env });
    expect(again.code, again.stderr).toBe(0);
    const direct = await k(['--json', 'lease', 'release', a.id]);
    expect(direct.code, direct.stderr).toBe(0);
    for (const r of [again, direct]) expect(JSON.parse(r.stdout)).toEqual(first);
    expect(wipes(N1)).toBe(1);

    const none = await k(['lease', 'release', 'ls-0000000000'], { env });
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('kseed: no lease ls-0000000000 (`kseed lease list --all` lists them)\n');
  });

  it('the service expires a lease by running its release: the node is wiped and available', async () => {
    // N3 kept its OS above: lease it briefly and let it run out
    const l = await api(svc!.url, 'POST', '/leases', { token, body: JSON.stringify({ owner: 'forgetful', nodes: [N3], ttl: '2s' }) });
    expect(l.status).toBe(201);
    let v = l.body;
    for (const t0 = Date.now(); v.ended_at === null && Date.now() - t0 < 60_000; await new Promise((r) => setTimeout(r, 250))) v = (await api(svc!.url, 'GET', `/leases/${l.body.id}`, { token })).body;
    expect(v).toMatchObject({ end_reason: 'expired', keep: false, nodes: [{ name: N3, state: 'available', released: 'wiped' }] });
    expect(wipes(N3)).toBe(1);
    expect(disk(N3)).toEqual({ label: '', data: false });
    expect(svc!.output()).toContain(`"type":"lease-expired","lease":"${l.body.id}","owner":"forgetful","nodes":["${N3}"]`);
  });

  it('--provision --detach through the service returns at once, the service deploys on; --detach alone or on the store is refused', async () => {
    const alone = await k(['lease', 'acquire', '--owner', 'd', '--detach'], { env });
    expect([alone.code, alone.stderr]).toEqual([2, 'kseed: --detach goes with --provision\n']);
    const onStore = await k(['lease', 'acquire', '--owner', 'd', '--provision', '--detach']);
    expect(onStore.code).toBe(2);
    expect(onStore.stderr).toMatch(/^kseed: --detach needs the seed service \(KSEED_URL and KSEED_TOKEN\)/);
    const r = await k(['--json', 'lease', 'acquire', '--owner', 'det', '--node', N3, '--provision', '--detach'], { env });
    expect(r.code, r.stderr).toBe(0);
    const l = JSON.parse(r.stdout);
    expect(l.nodes).toMatchObject([{ name: N3, booted: false }]);
    let v = l;
    for (const t0 = Date.now(); !v.nodes[0].booted && Date.now() - t0 < 60_000; await new Promise((res) => setTimeout(res, 250))) v = (await api(svc!.url, 'GET', `/leases/${l.id}`, { token })).body;
    expect(v.nodes).toMatchObject([{ name: N3, state: 'active', booted: true }]);
    checkKey(v);
    const rel = await k(['--json', 'lease', 'release', l.id], { env });
    expect(rel.code, rel.stderr).toBe(0);
    expect(disk(N3)).toEqual({ label: '', data: false });
  });

  it('a wipe that fails for one node names it, releases the other, exits 3, keeps the node held; a release again frees it', async () => {
    const l = await k(['--json', 'lease', 'acquire', '--owner', 'ci-3', '--node', N1, '--node', N2, '--provision']);
    expect(l.code, l.stderr).toBe(0);
    const id = JSON.parse(l.stdout).id as string;
    // N2's BMC now refuses the site's password: its wipe cannot start (on the store itself, which reads the site file now)
    const good = readFileSync(site, 'utf8');
    const line = good.split('\n').find((x) => x.includes(`port: ${BMC_BASE + 1} }`))!;
    expect(line, good).toBeDefined();
    writeFileSync(site, good.replace(line, line.replace(/ }$/, ', password: { value: not-the-password } }')));
    const rel = await k(['--json', 'lease', 'release', id]);
    expect(rel.code, rel.stderr).toBe(3);
    expect(rel.stderr).toMatch(new RegExp(`^kseed: ${N2}: wipe failed: .+`, 'm'));
    const doc = JSON.parse(rel.stdout);
    expect(doc).toMatchObject({ end_reason: 'released', nodes: [{ name: N1, state: 'available', released: 'wiped' }, { name: N2, released: 'failed' }] });
    expect(doc.nodes[1].error).toBeTruthy();
    // still held by the ended lease: nobody gets a disk with ci-3's data on it
    const other = await k(['--json', 'lease', 'acquire', '--owner', 'ci-4', '--node', N2]);
    expect(other.code).toBe(1);
    expect(JSON.parse(other.stdout)).toMatchObject({ error: 'lease-unavailable' });
    expect(disk(N2).data).toBe(true);
    // the node's view and /metrics tell a node held by an ended lease from a leased one
    const view = (await api(svc!.url, 'GET', `/nodes/${N2}`, { token })).body;
    expect(view.lease).toEqual({ id, owner: 'ci-3', expires_at: doc.expires_at, ended_at: doc.ended_at, end_reason: 'released', wipe_failed: doc.nodes[1].error });
    expect((await api(svc!.url, 'GET', `/nodes/${N1}`, { token })).body.lease).toBeNull();
    const scrape = await fetch(`${svc!.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    const m = samples(await scrape.text());
    expect({ leases: m.get('kseed_leases_live'), leased: m.get('kseed_leased_nodes'), held: m.get('kseed_lease_wipe_failed_nodes') }).toEqual({ leases: 0, leased: 0, held: 1 });

    writeFileSync(site, good);
    const again = await k(['--json', 'lease', 'release', id]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ ended_at: doc.ended_at, nodes: [{ name: N1, released: 'wiped' }, { name: N2, state: 'available', released: 'wiped' }] });
    expect(disk(N2)).toEqual({ label: '', data: false });
  });
});
