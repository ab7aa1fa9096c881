/**
 * The Ironic client against Debian's real Ironic (fake-hardware driver):
 * every lifecycle verb, power, boot device, validate, ports, failures with
 * last_error, timeouts, auth and version errors. Ports 21600-21602.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IRONIC_API_VERSION, IronicClient, IronicError, IronicNodeFailed, IronicTimeout, IronicVersionError, compareVersions } from '../../../src/ironic/index.js';
import { needPeers } from '../../helpers/peers.js';
import { startIronic, type TestIronic } from './server.js';

const PORT = 21600;
const HANG_PORT = 21602;
const FAKE = {
  driver: 'fake-hardware',
  boot_interface: 'fake',
  deploy_interface: 'fake',
  power_interface: 'fake',
  management_interface: 'fake',
  inspect_interface: 'fake',
};

describe.skipIf(!needPeers('ironic', 'ironic-dbsync'))('Ironic client against Debian Ironic', () => {
  let ironic: TestIronic;
  let c: IronicClient;
  const requests: { method: string; path: string; status: number }[] = [];

  beforeAll(async () => {
    // max_limit 2: listing more than two nodes must follow Ironic's `next` links
    ironic = await startIronic({ port: PORT, maxLimit: 2 });
    c = await IronicClient.connect({
      url: ironic.url,
      username: ironic.username,
      password: ironic.password,
      pollMs: 200,
      onRequest: (r) => requests.push(r),
    });
  });
  afterAll(async () => {
    await ironic?.stop();
  });

  it('reads the version range and speaks a version inside it', async () => {
    const v = await c.versions();
    expect(v.max).toBe('1.82');
    expect(compareVersions(IRONIC_API_VERSION, v.max)).toBeLessThanOrEqual(0);
    expect(compareVersions(IRONIC_API_VERSION, v.min)).toBeGreaterThanOrEqual(0);
  });

  it('is refused without credentials and with a wrong password (401)', async () => {
    const anon = new IronicClient({ url: ironic.url });
    // version discovery stays public
    expect((await anon.versions()).max).toBe('1.82');
    const e1 = await anon.listNodes().catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(IronicError);
    expect((e1 as IronicError).status).toBe(401);
    expect((e1 as IronicError).faultstring).toMatch(/Authorization required/);
    const wrong = new IronicClient({ url: ironic.url, username: ironic.username, password: 'not-it' });
    const e2 = await wrong.getNode('x').catch((e: unknown) => e);
    expect((e2 as IronicError).status).toBe(401);
    expect((e2 as IronicError).message).not.toContain('not-it');
  });

  it('a version the server does not serve is a clear error, before and on a request', async () => {
    const e1 = await IronicClient.connect({ url: ironic.url, username: ironic.username, password: ironic.password, apiVersion: '1.99' }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(IronicVersionError);
    expect((e1 as Error).message).toMatch(/1\.1\.\.1\.82.*1\.99/);
    const direct = new IronicClient({ url: ironic.url, username: ironic.username, password: ironic.password, apiVersion: '1.99' });
    const e2 = await direct.listNodes().catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(IronicVersionError);
    expect((e2 as IronicVersionError).max).toBe('1.82');
  });

  it('an unreachable Ironic is an error naming the URL, not a hang', async () => {
    const dead = new IronicClient({ url: 'http://127.0.0.1:21603', timeoutMs: 3000 });
    const e = await dead.versions().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(IronicError);
    expect((e as IronicError).status).toBe(0);
    expect((e as Error).message).toMatch(/ECONNREFUSED.*127\.0\.0\.1:21603/);
  });

  it('every lifecycle verb: enroll -> manage -> inspect -> provide -> active -> rebuild -> deleted, with ports, power, boot device', async () => {
    const n = await c.createNode({ name: 'life-0', ...FAKE, driver_info: { secret_thing: 's3cr3t' }, properties: { cpus: 2 } });
    expect(n.provision_state).toBe('enroll');
    expect(n.name).toBe('life-0');
    expect(n.deploy_interface).toBe('fake');

    const p = await c.createPort({ node_uuid: n.uuid, address: '52:54:00:AA:00:01' });
    expect(p.address).toBe('52:54:00:aa:00:01');
    expect((await c.listPorts('life-0')).map((x) => x.address)).toEqual(['52:54:00:aa:00:01']);

    const val = await c.validateNode('life-0');
    expect(val.power?.result).toBe(true);
    expect(val.management?.result).toBe(true);

    const changes: string[] = [];
    const m = await c.manage('life-0', { onChange: (s) => changes.push(String(s.provision_state)) });
    expect(m.provision_state).toBe('manageable');
    expect(changes.at(-1)).toBe('manageable');

    const i = await c.inspect('life-0');
    expect(i.provision_state).toBe('manageable');
    expect(i.inspection_finished_at).toBeTruthy();

    expect((await c.provide('life-0')).provision_state).toBe('available');

    expect((await c.powerOn('life-0')).power_state).toBe('power on');
    expect((await c.getStates('life-0')).power_state).toBe('power on');
    expect((await c.powerOff('life-0')).power_state).toBe('power off');

    await c.setBootDevice('life-0', 'pxe');
    expect((await c.getBootDevice('life-0')).boot_device).toBe('pxe');
    // the fake management interface knows pxe only: asking for more is Ironic's 400, with its reason
    expect(await c.supportedBootDevices('life-0')).toEqual(['pxe']);
    const bad = await c.setBootDevice('life-0', 'disk', true).catch((x: unknown) => x);
    expect((bad as IronicError).faultstring).toMatch(/Invalid boot device disk/);

    await c.updateNode('life-0', { instance_info: { image_source: 'http://127.0.0.1:21601/img.raw', root_gb: 1 } });
    const a = await c.deploy('life-0', { configdrive: { meta_data: { hostname: 'life-0' }, user_data: '#cloud-config\n' } });
    expect(a.provision_state).toBe('active');
    expect(a.instance_info?.image_source).toBe('http://127.0.0.1:21601/img.raw');

    const r = await c.rebuild('life-0');
    expect(r.provision_state).toBe('active');

    const d = await c.undeploy('life-0');
    expect(d.provision_state).toBe('available');

    // JSON patch: replace, remove
    const u = await c.updateNode('life-0', { description: 'kseed test', instance_info: { root_gb: undefined } });
    expect(u.description).toBe('kseed test');
    expect(u.instance_info?.root_gb).toBeUndefined();
    const pt = await c.patchNode('life-0', [{ op: 'remove', path: '/properties/cpus' }]);
    expect(pt.properties?.cpus).toBeUndefined();

    // Ironic masks what looks like a secret; we never get it back in clear
    expect(JSON.stringify(await c.getNode('life-0'))).not.toContain('s3cr3t');

    await c.deletePort(p.uuid);
    expect(await c.listPorts('life-0')).toEqual([]);
    await c.deleteNode('life-0');
    expect(await c.findNode('life-0')).toBeUndefined();
  });

  it('lists every node across pages', async () => {
    for (let k = 0; k < 5; k++) await c.createNode({ name: `list-${k}`, ...FAKE });
    const all = await c.listNodes();
    const names = all.map((x) => x.name).filter((x) => x?.startsWith('list-'));
    expect(names.sort()).toEqual(['list-0', 'list-1', 'list-2', 'list-3', 'list-4']);
    const few = await c.listNodes({ fields: ['name', 'provision_state'] });
    expect(few.filter((x) => x.name?.startsWith('list-')).every((x) => x.provision_state === 'enroll')).toBe(true);
    // more than one page was fetched
    expect(requests.filter((r) => r.path.startsWith('/v1/nodes/detail')).length).toBeGreaterThanOrEqual(3);
    for (let k = 0; k < 5; k++) await c.deleteNode(`list-${k}`);
  });

  it('a name taken twice is a 409 with Ironic\'s reason', async () => {
    await c.createNode({ name: 'dup-0', ...FAKE });
    const e = await c.createNode({ name: 'dup-0', ...FAKE }).catch((x: unknown) => x);
    expect((e as IronicError).status).toBe(409);
    expect((e as IronicError).faultstring).toMatch(/dup-0/);
    await c.deleteNode('dup-0');
  });

  it('a verb not allowed in the node\'s state is a 400 with Ironic\'s reason', async () => {
    await c.createNode({ name: 'bad-verb', ...FAKE });
    const e = await c.provide('bad-verb').catch((x: unknown) => x);
    expect((e as IronicError).status).toBe(400);
    expect((e as IronicError).faultstring).toMatch(/"provide" can not be performed .* "enroll"/);
    const missing = await c.getNode('no-such-node').catch((x: unknown) => x);
    expect((missing as IronicError).notFound).toBe(true);
    expect((missing as Error).message).toMatch(/GET \/v1\/nodes\/no-such-node: HTTP 404: Node no-such-node could not be found/);
    await c.deleteNode('bad-verb');
  });

  it('a deploy that fails surfaces Ironic\'s last_error', async () => {
    // ramdisk deploy whose kernel URL nothing serves: Ironic fails validating the image href
    const n = await c.createNode({ name: 'fail-0', ...FAKE, boot_interface: 'ipxe', deploy_interface: 'ramdisk' });
    await c.createPort({ node_uuid: n.uuid, address: '52:54:00:aa:00:02' });
    await c.manage('fail-0');
    await c.provide('fail-0');
    await c.updateNode('fail-0', { instance_info: { kernel: 'http://127.0.0.1:21603/k', ramdisk: 'http://127.0.0.1:21603/r' } });
    const e = await c.deploy('fail-0', { timeoutMs: 60_000 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(IronicNodeFailed);
    const f = e as IronicNodeFailed;
    expect(f.state).toBe('deploy failed');
    expect(f.lastError).toMatch(/127\.0\.0\.1:21603/);
    expect(f.message).toMatch(/^node fail-0: active failed, it is deploy failed: .*21603/);
    // back to available from deploy failed
    expect((await c.undeploy('fail-0')).provision_state).toBe('available');
  });

  it('a BMC that does not answer: manage falls back to enroll and the wait says why', async () => {
    // an ipmi node whose BMC nobody answers: Ironic's power check fails and the node rests in enroll
    await c.createNode({
      name: 'bmc-0',
      driver: 'ipmi',
      driver_info: { ipmi_address: '127.0.0.1', ipmi_port: 21603, ipmi_username: 'admin', ipmi_password: 'wrong' },
    });
    const e = await c.manage('bmc-0', { timeoutMs: 110_000 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(IronicNodeFailed);
    expect((e as IronicNodeFailed).state).toBe('enroll');
    expect((e as IronicNodeFailed).lastError).toMatch(/ipmitool|power|IPMI/i);
    expect((e as Error).message).not.toContain('wrong');
    await c.deleteNode('bmc-0');
  }, 120_000);

  it('a wait that runs out of time names the node, the target and where it is', async () => {
    // an HTTP server that accepts and never answers: Ironic's image check hangs in deploying
    const socks = new Set<Socket>();
    const hang: Server = createServer((s) => {
      socks.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => hang.listen(HANG_PORT, '127.0.0.1', () => r()));
    try {
      const n = await c.createNode({ name: 'slow-0', ...FAKE, boot_interface: 'ipxe', deploy_interface: 'ramdisk' });
      await c.createPort({ node_uuid: n.uuid, address: '52:54:00:aa:00:03' });
      await c.manage('slow-0');
      await c.provide('slow-0');
      await c.updateNode('slow-0', { instance_info: { kernel: `http://127.0.0.1:${HANG_PORT}/k`, ramdisk: `http://127.0.0.1:${HANG_PORT}/r` } });
      const e = await c.deploy('slow-0', { timeoutMs: 3000 }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(IronicTimeout);
      const t = e as IronicTimeout;
      expect(t.node).toBe('slow-0');
      expect(t.message).toMatch(/^node slow-0: timed out after \d+ s waiting for active \(-> active\); it is deploying \(target active\)/);
    } finally {
      for (const s of socks) s.destroy();
      hang.close();
    }
    // with the server gone the deploy ends (failed); the node can be cleaned up
    const end = await c.waitSettled('slow-0', { timeoutMs: 90_000 });
    expect(end.provision_state).toBe('deploy failed');
  }, 120_000);

  it('abort stops a waiting operation and the node lands in its failed state', async () => {
    // manual cleaning with the direct deploy interface waits for an agent that never comes: clean wait
    await c.createNode({ name: 'abort-0', ...FAKE, deploy_interface: 'direct' });
    await c.manage('abort-0');
    await c.setProvisionState('abort-0', 'clean', { clean_steps: [{ interface: 'deploy', step: 'erase_devices_metadata' }] });
    // clean wait keeps a target (manageable): a transient state, waited for with a predicate
    const before = await c.waitFor('abort-0', 'clean wait', (n) => n.provision_state === 'clean wait', { timeoutMs: 30_000 });
    expect(before.provision_state).toBe('clean wait');
    const after = await c.abort('abort-0', { timeoutMs: 30_000 });
    expect(after.provision_state).toBe('clean failed');
    expect(after.last_error).toMatch(/aborted/);
    // clean failed -> manage -> manageable
    expect((await c.manage('abort-0')).provision_state).toBe('manageable');
    await c.deleteNode('abort-0');
  });

  it("the polls of waits under way at once share Ironic's list request; each wait still ends with its own node", async () => {
    const seen: string[] = [];
    // a poll waits a quarter of pollMs for others to join it: 1 s, so that the four manages' first polls meet
    const c4 = new IronicClient({ url: ironic.url, username: ironic.username, password: ironic.password, pollMs: 4000, onRequest: (r) => seen.push(`${r.method} ${r.path}`) });
    const names = [0, 1, 2, 3].map((k) => `batch-${k}`);
    const nodes = [];
    for (const name of names) nodes.push(await c4.createNode({ name, ...FAKE }));
    try {
      const out = await Promise.all(nodes.map((n) => c4.manage(n.uuid)));
      expect(out.map((n) => [n.name, n.provision_state])).toEqual(names.map((n) => [n, 'manageable']));
      // the waits' polls: the list (paged: the server's max_limit is 2), never one node's state fields alone
      expect(seen.filter((p) => /^GET \/v1\/nodes\?fields=/.test(p)).length).toBeGreaterThan(0);
      expect(seen.filter((p) => /^GET \/v1\/nodes\/[^?]+\?fields=/.test(p))).toEqual([]);
      // a wait alone polls its own node
      const single = await c4.provide(nodes[0]!.uuid);
      expect(single.provision_state).toBe('available');
      expect(seen.filter((p) => /^GET \/v1\/nodes\/[^?]+\?fields=/.test(p)).length).toBeGreaterThan(0);
    } finally {
      for (const name of names) await c4.deleteNode(name);
    }
  });

  it('never logs request bodies: the request hook sees method, path and status only', () => {
    expect(requests.length).toBeGreaterThan(20);
    for (const r of requests) expect(Object.keys(r).sort()).toEqual(['method', 'ms', 'path', 'status']);
    expect(JSON.stringify(requests)).not.toContain('s3cr3t');
  });
});
