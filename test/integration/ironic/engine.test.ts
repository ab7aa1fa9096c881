/**
 * The Ironic engine against Debian's real Ironic (fake-hardware, no VMs)
 * with a real kseed state store: provision to active, resume after a
 * simulated crash, rebuild, undeploy, kseed's BMC check failing before
 * Ironic is touched (a real ipmi_sim with another password), status.
 * Ports: Ironic 21610, ramdisk file server 21611, ipmi_sim 21620-21621.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBmc } from '../../../src/bmc/index.js';
import { StateBootBackend } from '../../../src/boot/backend.js';
import { IronicEngine, type KseedRamdisk } from '../../../src/engine/ironic.js';
import { IRONIC_URL_KEY, ironicStatus, KSEED_RAMDISK_KEY, openEngine } from '../../../src/engine/open.js';
import { ensureSecrets } from '../../../src/render/secrets.js';
import { chooseRootDevice } from '../../../src/engine/rootdevice.js';
import { ownerName, type Clock } from '../../../src/engine/runner.js';
import { openState, type StateStore } from '../../../src/engine/state.js';
import { IronicClient } from '../../../src/ironic/index.js';
import { loadProfiles } from '../../../src/profiles/load.js';
import type { HardwareProfile } from '../../../src/profiles/schema.js';
import type { NodeSpec, Site } from '../../../src/site/types.js';
import { needPeers } from '../../helpers/peers.js';
import { startBmc, tempRoot, writeBmc } from '../bmc/ipmi/helpers.js';
import { startIronic, type TestIronic } from './server.js';

const IRONIC_PORT = 21610;
const FILES_PORT = 21611;
const BMC_PORT = 21620;

/** Made in code on purpose: the profile schema refuses fake-hardware, so a site file never can. */
function fakeProfile(name: string, deploy: 'fake' | 'ramdisk' | 'direct'): HardwareProfile {
  return {
    name,
    description: 'test machine without a BMC',
    vendor: 'test',
    match: { fru: { manufacturer: '^nothing$' } },
    bmc: { protocol: 'ipmi', timeout_ms: 1000, retries: 0 },
    boot: { mode: 'bios' },
    root_device: { name: '/dev/vda' },
    ironic: { driver: 'fake-hardware', boot: 'ipxe', deploy: deploy, power: 'ipmitool', management: 'ipmitool', inspect: 'no-inspect' },
    quirks: [],
    source: '(test)',
  } as unknown as HardwareProfile;
}

function node(name: string, k: number, extra: Partial<NodeSpec> = {}): NodeSpec {
  return {
    name,
    bmc: { type: 'ipmi', address: '127.0.0.1', port: 623, username: 'admin', password: { value: 'unused' } },
    macs: [`52:54:00:16:00:${k.toString(16).padStart(2, '0')}`, `52:54:00:16:01:${k.toString(16).padStart(2, '0')}`],
    roles: ['compute'],
    profile: 'test-fake',
    image: { url: `http://127.0.0.1:${FILES_PORT}/disk.raw`, checksum: `sha256:${'a'.repeat(64)}`, format: 'raw' },
    ...extra,
  };
}

function siteOf(dir: string, nodes: NodeSpec[]): Site {
  return {
    file: path.join(dir, 'kseed.yaml'),
    dir,
    site: 'ironic-engine-test',
    engine: 'ironic',
    seed: {
      interface: 'lo',
      address: '127.0.0.1',
      prefix: 8,
      dhcp: { mode: 'off', lease_seconds: 3600 },
      ports: { http: FILES_PORT, tftp: 69, ironic_api: IRONIC_PORT, registry: 21612, inspector: 21613 },
    },
    defaults: {},
    registry: { enabled: false, username: 'kseed' },
    ironic: { deploy_interface: 'direct', inspector: true, min_command_interval: 1, conductors: 1 },
    nodes,
    handoff: { ssh_user: 'root' },
  };
}

/** A clock whose sleeps never end once frozen: the engine process "dies" without a trace. */
class FreezableClock implements Clock {
  frozen = false;
  private timers = new Set<NodeJS.Timeout>();
  now(): number {
    return Date.now();
  }
  private freezeNext = false;
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.freezeNext) this.freeze();
    if (this.frozen) return new Promise(() => {});
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          this.timers.delete(t);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }
  /** The engine's next wait is where it dies (its phase timer was set up before). */
  freezeOnNextSleep(): void {
    this.freezeNext = true;
  }
  freeze(): void {
    this.frozen = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(!needPeers('ironic', 'ironic-dbsync', 'ipmi_sim', 'ipmitool'))('Ironic engine against Debian Ironic (fake-hardware)', () => {
  let ironic: TestIronic;
  let client: IronicClient;
  let files: Server;
  let dir: string;
  let profiles: HardwareProfile[];
  const kseedRamdisk: KseedRamdisk = {
    kernelUrl: `http://127.0.0.1:${FILES_PORT}/vmlinuz`,
    ramdiskUrl: `http://127.0.0.1:${FILES_PORT}/initramfs.gz`,
    agentUrl: `http://127.0.0.1:${FILES_PORT}`,
  };

  beforeAll(async () => {
    // what Ironic downloads for a ramdisk deploy: any bytes do on fake hardware
    files = createServer((req, res) => {
      // Ironic checks image hrefs with HEAD and needs Content-Length there
      res.writeHead(['/vmlinuz', '/initramfs.gz', '/disk.raw', '/ipa.kernel', '/ipa.initramfs'].includes(req.url ?? '') ? 200 : 404, { 'Content-Type': 'application/octet-stream', 'Content-Length': 4096 });
      res.end(req.method === 'HEAD' ? undefined : Buffer.alloc(4096, 7));
    });
    await new Promise<void>((r) => files.listen(FILES_PORT, '127.0.0.1', () => r()));
    dir = mkdtempSync(path.join(tmpdir(), 'ksi-engine-'));
    // the credentials `kseed render` generates for a site, which openEngine must find by itself
    await ensureSecrets(path.join(dir, 'open', '.kseed', 'secrets'), { registryUser: 'kseed', inspector: false });
    const rendered = readFileSync(path.join(dir, 'open', '.kseed', 'secrets', 'ironic-htpasswd'), 'utf8');
    ironic = await startIronic({ port: IRONIC_PORT, httpPort: FILES_PORT, extraHtpasswd: rendered });
    client = await IronicClient.connect({ url: ironic.url, username: ironic.username, password: ironic.password, pollMs: 200 });
    profiles = [fakeProfile('test-fake', 'fake'), fakeProfile('test-fake-ramdisk', 'ramdisk'), fakeProfile('test-fake-direct', 'direct'), ...(await loadProfiles())];
  });
  afterAll(async () => {
    await ironic?.stop();
    await new Promise((r) => files?.close(r));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const engineFor = (site: Site, store: StateStore, extra: Partial<ConstructorParameters<typeof IronicEngine>[0]> = {}) =>
    new IronicEngine({ site, store, profiles, client, connect: connectBmc, pollMs: 200, kseedRamdisk, ...extra });

  const ironicCount = async (name: string) => (await client.listNodes({ fields: ['name'] })).filter((n) => n.name === name).length;

  it('provisions 3 nodes to active (enroll, inspect, provide, deploy), rebuilds and undeploys one; status shows both views', async () => {
    const nodes = [node('fk0', 1), node('fk1', 2), node('fk2', 3)];
    const site = siteOf(path.join(dir, 'three'), nodes);
    const store = openState(path.join(site.dir, '.kseed'));
    const seen: string[] = [];
    const engine = engineFor(site, store, { onProgress: (e) => seen.push(`${e.node} ${e.from ?? ''}->${e.to ?? ''}`) });
    try {
      const out = await engine.provision(nodes.map((n) => n.name));
      for (const o of out) {
        expect(o, o.error).toMatchObject({ ok: true, state: 'active', verbs: ['enroll', 'inspect', 'provide', 'deploy'] });
      }
      for (const n of nodes) {
        const i = await client.getNode(n.name);
        expect(i.provision_state).toBe('active');
        expect(i.driver).toBe('fake-hardware');
        expect(i.properties?.capabilities).toBe('boot_mode:bios');
        expect(i.properties?.root_device).toEqual({ name: '/dev/vda' });
        expect(i.inspection_finished_at).toBeTruthy();
        expect((await client.listPorts(n.name)).map((p) => p.address).sort()).toEqual([...n.macs].sort());
        expect(store.getNode(n.name)!.state).toBe('active');
      }
      expect(store.phaseTimings('fk0').map((t) => t.phase)).toEqual(['enroll', 'inspect', 'provide', 'deploy']);
      expect(seen).toContain('fk1 available->deploying');

      // a second run converges: nothing to do, nothing created
      const again = await engine.provision(['fk0']);
      expect(again[0]).toMatchObject({ ok: true, skipped: true, verbs: [] });
      expect(await ironicCount('fk0')).toBe(1);

      const rb = await engine.rebuild('fk1');
      expect(rb, rb.error).toMatchObject({ ok: true, state: 'active', verbs: ['rebuild'] });
      expect(store.listEvents('fk1', { kind: 'transition' }).filter((e) => e.to_state === 'deploying')).toHaveLength(2);

      const ud = await engine.undeploy('fk2');
      expect(ud, ud.error).toMatchObject({ ok: true, state: 'available', verbs: ['undeploy'] });
      expect((await client.getNode('fk2')).provision_state).toBe('available');

      // a verb the state does not allow is this node's error, not a throw
      const bad = await engine.rebuild('fk2');
      expect(bad).toMatchObject({ ok: false, state: 'available' });
      expect(bad.error).toMatch(/cannot rebuild fk2: it is available/);

      const st = engine.status();
      expect(st.map((s) => [s.node, s.state])).toEqual([
        ['fk0', 'active'],
        ['fk1', 'active'],
        ['fk2', 'available'],
      ]);
      expect(st[2]!.ironic).toMatchObject({ provision_state: 'available' });
      // Ironic changed behind kseed's back: refreshStatus asks it
      await client.powerOn('fk2');
      const fresh = await engine.refreshStatus(['fk2']);
      expect(fresh[0]!.ironic).toMatchObject({ provision_state: 'available', power_state: 'power on', last_error: null });
    } finally {
      store.close();
    }
  }, 180_000);

  it('undeploy of a node that never got an OS succeeds and leaves it so (nothing created in Ironic); Ironic\'s state, not a stale store, decides', async () => {
    const nodes = [node('ud0', 60), node('ud1', 61)];
    const site = siteOf(path.join(dir, 'undeployed'), nodes);
    const store = openState(path.join(site.dir, '.kseed'));
    try {
      const e = engineFor(site, store);
      // never enrolled: not created in Ironic by the undeploy
      expect(await e.undeploy('ud0')).toMatchObject({ ok: true, skipped: true, state: 'enroll', verbs: [] });
      expect(await ironicCount('ud0')).toBe(0);
      // enrolled: left manageable, in Ironic too
      expect((await e.enroll('ud1')).state).toBe('manageable');
      expect(await e.undeploy('ud1')).toMatchObject({ ok: true, skipped: true, state: 'manageable', verbs: [] });
      expect((await client.getNode('ud1')).provision_state).toBe('manageable');
      // deployed while the store still says manageable (a seed killed before it recorded it): undeploy runs
      expect((await e.provision(['ud1']))[0]).toMatchObject({ ok: true, state: 'active' });
      store.transition('ud1', 'manageable', { reason: 'test: the crash lost the last transitions' });
      const u = await e.undeploy('ud1');
      expect(u, u.error).toMatchObject({ ok: true, state: 'available', verbs: ['undeploy'] });
      expect((await client.getNode('ud1')).provision_state).toBe('available');
      // and again: already available
      expect(await e.undeploy('ud1')).toMatchObject({ ok: true, skipped: true, state: 'available', verbs: [] });
    } finally {
      store.close();
    }
  }, 120_000);

  it('resumes after a crash: a node left in Ironic is continued, never created twice', async () => {
    const nodes = [node('cr0', 10)];
    const site = siteOf(path.join(dir, 'crash'), nodes);
    const stateDir = path.join(site.dir, '.kseed');
    // run 1 gets as far as manageable in Ironic, then the seed "dies": the store still says enroll
    const s1 = openState(stateDir);
    const e1 = engineFor(site, s1);
    expect((await e1.enroll('cr0')).state).toBe('manageable');
    expect((await e1.inspect('cr0')).state).toBe('manageable');
    s1.transition('cr0', 'enroll', { reason: 'test: the crash lost the last transitions' });
    s1.updateNode('cr0', { data: { inspected_at: null } });
    s1.close();

    const s2 = openState(stateDir);
    try {
      const out = await engineFor(site, s2).provision(['cr0']);
      // continued from Ironic's manageable; its finished inspection is not run again
      expect(out[0], out[0]!.error).toMatchObject({ ok: true, state: 'active', verbs: ['provide', 'deploy'] });
      expect(await ironicCount('cr0')).toBe(1);
      expect(s2.listEvents('cr0', { kind: 'ironic-created' })).toHaveLength(1);
      expect(await client.listPorts('cr0')).toHaveLength(2);
    } finally {
      s2.close();
    }
  }, 120_000);

  it('ramdisk deploy: kseed state deploying first, the agent token in Ironic\'s kernel args works, waits for the agent; a crashed engine is resumed', async () => {
    const nodes = [node('rd0', 20, { profile: 'test-fake-ramdisk' })];
    const site = siteOf(path.join(dir, 'ramdisk'), nodes);
    site.ironic.inspector = false;
    const stateDir = path.join(site.dir, '.kseed');
    const s1 = openState(stateDir);
    const clock = new FreezableClock();
    // an owner whose process no longer exists: what a SIGKILLed seed leaves behind
    const deadOwner = ownerName(hostname(), 2 ** 22 + 12345);
    const e1 = engineFor(site, s1, { clock, owner: deadOwner });
    void e1.provision(['rd0']);

    // Ironic went active (it only booted the ramdisk) but kseed still waits for its agent
    await until('Ironic active', async () => (await client.findNode('rd0'))?.provision_state === 'active');
    await until('kseed deploying', () => s1.getNode('rd0')?.state === 'deploying');
    // it dies while waiting for its ramdisk's report
    clock.freezeOnNextSleep();
    await until('the engine waiting for its agent', () => clock.frozen);
    const ii = (await client.getNode('rd0')).instance_info as Record<string, string>;
    expect(ii.kernel).toBe(kseedRamdisk.kernelUrl);
    expect(ii.ramdisk).toBe(kseedRamdisk.ramdiskUrl);
    // Ironic's API masks the token; the iPXE script it wrote for the node carries the real one
    expect(ii.ramdisk_kernel_arguments).toBe(`kseed.url=${kseedRamdisk.agentUrl} kseed.node=rd0 kseed.token=****** kseed.mac=52:54:00:16:00:14 console=ttyS0`);
    const script = readFileSync(path.join(ironic.dir, 'httpboot', (await client.getNode('rd0')).uuid, 'config'), 'utf8');
    const token = /kseed\.token=(\S+) kseed\.mac=52:54:00:16:00:14 console=ttyS0/.exec(script)?.[1];
    expect(token, script).toBeTruthy();
    s1.close();

    // the seed comes back: the agent service and a new engine on a reopened store
    const s2 = openState(stateDir);
    try {
      const agent = new StateBootBackend({ store: s2, nodes: site.nodes, chooseRootDevice });
      expect(agent.verifyToken('rd0', token)).toBe(true);
      expect(agent.verifyToken('rd0', 'forged')).toBe(false);
      expect(agent.taskFor('rd0').task).toBe('deploy');
      const resumed = engineFor(site, s2).provision(['rd0'], { waitBooted: true });
      await new Promise((r) => setTimeout(r, 1500));
      expect(s2.getNode('rd0')!.state).toBe('deploying');
      agent.onResult('rd0', { status: 'ok', stage: 'deploy', msg: 'image written to /dev/vda', digest: `sha256:${'a'.repeat(64)}` });
      agent.onCallback('rd0', { stage: 'booted', hostname: 'rd0', fields: { stage: 'booted', hostname: 'rd0' } });
      const [out] = await resumed;
      expect(out, out!.error).toMatchObject({ ok: true, state: 'active', verbs: ['deploy'] });
      expect(s2.listEvents('rd0', { kind: 'resume' })).toHaveLength(1);
      expect(s2.listEvents('rd0', { kind: 'ironic-created' })).toHaveLength(1);
      expect(await ironicCount('rd0')).toBe(1);
      const st = new IronicEngine({ site, store: s2, profiles, client, connect: connectBmc }).status(['rd0'])[0]!;
      expect(st.booted_hostname).toBe('rd0');

      // a failing agent fails the node with its message
      const before = (await client.getNode('rd0')).provision_updated_at;
      const rb = engineFor(site, s2, { kseedRamdisk: { ...kseedRamdisk, extraArgs: 'console=ttyS1,115200 kseed.wait=60' } }).rebuild('rd0');
      await until('rebuild deploying', () => s2.getNode('rd0')?.state === 'deploying' || undefined);
      // Ironic is still active from the deploy when kseed's store says deploying: wait for its rebuild to have moved it
      await until('Ironic active again', async () => {
        const n = await client.getNode('rd0');
        return (n.provision_state === 'active' && n.provision_updated_at !== before) || undefined;
      });
      // the caller's arguments first, its console instead of ours; a new token for the new deploy
      expect(((await client.getNode('rd0')).instance_info as Record<string, string>).ramdisk_kernel_arguments).toBe(
        `console=ttyS1,115200 kseed.wait=60 kseed.url=${kseedRamdisk.agentUrl} kseed.node=rd0 kseed.token=****** kseed.mac=52:54:00:16:00:14`,
      );
      expect(agent.verifyToken('rd0', token)).toBe(false);
      agent.onResult('rd0', { status: 'fail', stage: 'deploy', msg: 'checksum mismatch' });
      const r = await rb;
      expect(r).toMatchObject({ ok: false, state: 'deploy failed', error: 'checksum mismatch' });

      // Ironic still has it active, but no image was written: provision keeps the failure and
      // deploys again (an Ironic rebuild), never "active, unchanged" with nothing on disk
      const failedAt = (await client.getNode('rd0')).provision_updated_at;
      expect((await client.getNode('rd0')).provision_state).toBe('active');
      const mark = s2.listEvents('rd0').at(-1)!.id;
      const again = engineFor(site, s2).provision(['rd0']);
      await until('deploying again', () => s2.getNode('rd0')?.state === 'deploying' || undefined);
      await until('Ironic active after its rebuild', async () => {
        const n = await client.getNode('rd0');
        return (n.provision_state === 'active' && n.provision_updated_at !== failedAt) || undefined;
      });
      agent.onResult('rd0', { status: 'ok', stage: 'deploy', msg: 'image written to /dev/vda', digest: `sha256:${'a'.repeat(64)}` });
      const [redo] = await again;
      expect(redo, redo!.error).toMatchObject({ ok: true, state: 'active', verbs: ['deploy'] });
      const moves = s2.listEvents('rd0', { sinceId: mark, kind: 'transition' }).map((e) => `${e.from_state} -> ${e.to_state}`);
      expect(moves[0]).toBe('deploy failed -> deploying');
      expect(moves).not.toContain('deploy failed -> active');
    } finally {
      s2.close();
    }
  }, 180_000);

  it('kseed\'s own BMC check fails a node with a wrong password before anything is created in Ironic; the right one goes to active over real IPMI', async () => {
    const root = tempRoot('ksi-bmc-');
    const bmc = await startBmc(writeBmc(root, { name: 'ksi-bmc0', port: BMC_PORT, password: 'password' }));
    try {
      const bmcOf = (pw: string) => ({ type: 'ipmi' as const, address: '127.0.0.1', port: BMC_PORT, username: 'admin', password: { value: pw } });
      const nodes = [node('bmcbad', 30, { profile: 'qemu-lab', bmc: bmcOf('not-the-password') }), node('bmcgood', 31, { profile: 'qemu-lab', bmc: bmcOf('password'), boot_mode: 'uefi' })];
      const site = siteOf(path.join(dir, 'bmc'), nodes);
      // this Ironic has no inspector interface enabled
      site.ironic.inspector = false;
      const store = openState(path.join(site.dir, '.kseed'));
      try {
        const engine = engineFor(site, store);
        const [bad, good] = await Promise.all([engine.enroll('bmcbad'), engine.enroll('bmcgood')]);
        expect(bad).toMatchObject({ ok: false, state: 'enroll failed' });
        expect(bad!.error).toMatch(/127\.0\.0\.1:21620/);
        expect(bad!.error).not.toContain('not-the-password');
        expect(await client.findNode('bmcbad')).toBeUndefined();
        expect(store.listEvents('bmcbad', { kind: 'step' }).map((e) => e.detail.status)).toEqual(['start', 'fail']);

        // the right password: kseed's check passes, then Ironic's own ipmitool manages it
        expect(good, good!.error).toMatchObject({ ok: true, state: 'manageable' });
        const g = await client.getNode('bmcgood');
        expect(g.driver).toBe('ipmi');
        expect(g.deploy_interface).toBe('ramdisk');
        expect(g.driver_info).toMatchObject({ ipmi_address: '127.0.0.1', ipmi_port: BMC_PORT, ipmi_username: 'admin', ipmi_password: '******', ipmi_cipher_suite: 3 });
        expect(g.power_state).toMatch(/^power (on|off)$/);

        const st = await engine.refreshStatus(['bmcbad', 'bmcgood']);
        expect(st[0]).toMatchObject({ state: 'enroll failed', ironic: { error: 'not in Ironic' } });
        expect(st[0]!.last_error).toMatch(/21620/);
        expect(st[1]).toMatchObject({ state: 'manageable', profile: 'qemu-lab', ironic: { provision_state: 'manageable' } });

        // on to active through Ironic's ipmitool: a ramdisk deploy (power on, PXE), the agent's report,
        // then (UEFI) boot device disk, persistently, and a restart through Ironic
        const agent = new StateBootBackend({ store, nodes: site.nodes, chooseRootDevice });
        const deploying = engine.provision(['bmcgood']);
        await until('Ironic active', async () => (await client.getNode('bmcgood')).provision_state === 'active', 90_000);
        expect(store.getNode('bmcgood')!.state).toBe('deploying');
        expect(bmc.power()).toBe('1');
        agent.onResult('bmcgood', { status: 'ok', stage: 'deploy', msg: 'image written to /dev/vda', digest: `sha256:${'a'.repeat(64)}` });
        const [dep] = await deploying;
        expect(dep, dep!.error).toMatchObject({ ok: true, state: 'active', verbs: ['provide', 'deploy'] });
        // what reached the BMC, in order: Ironic's deploy (PXE, power on), then kseed's boot from disk
        // (ipmi_sim's chassis control names the disk "default") with an off/on restart
        const log = readFileSync(path.join(bmc.dir, 'chassis.log'), 'utf8').trim().split('\n');
        expect(log.slice(-5)).toEqual(['set boot pxe', 'set power 1', 'set boot default', 'set power 0', 'set power 1']);
        expect(bmc.bootFile()).toBe('default');
        expect(bmc.power()).toBe('1');
      } finally {
        store.close();
      }
    } finally {
      await bmc.stop();
      rmSync(root, { recursive: true, force: true });
    }
  }, 120_000);

  it('openEngine: engine ironic finds Ironic and its credentials from the rendered stack; clear errors otherwise', async () => {
    const site = siteOf(path.join(dir, 'open'), [node('op0', 40)]);
    const stateDir = path.join(site.dir, '.kseed');
    const pre = openState(stateDir);
    pre.set(KSEED_RAMDISK_KEY, kseedRamdisk);
    pre.close();
    const opened = await openEngine(site, stateDir);
    try {
      expect(opened.engine.engine).toBe('ironic');
      // what `kseed up` recorded for ramdisk deploys
      expect((opened.engine as IronicEngine).kseedRamdisk).toEqual(kseedRamdisk);
      // an authenticated answer: the node is simply not there (a 401 would say so)
      const st = await (opened.engine as IronicEngine).refreshStatus();
      expect(st[0]).toMatchObject({ node: 'op0', ironic: { error: 'not in Ironic' } });
    } finally {
      await opened.close();
    }
    expect(await ironicStatus(site, stateDir)).toMatchObject([{ node: 'op0', state: 'enroll', ironic: { error: 'not in Ironic' } }]);
    // Ironic down (where `kseed up` said it answers): the store's rows, and why Ironic's view is missing
    const kv = openState(stateDir);
    kv.set(IRONIC_URL_KEY, 'http://127.0.0.1:21619');
    kv.close();
    const down = await ironicStatus(site, stateDir);
    expect(down).toMatchObject([{ node: 'op0', state: 'enroll', ironic: { error: 'Ironic at http://127.0.0.1:21619 does not answer (is the seed stack up? `kseed up`)' } }]);
    const kv2 = openState(stateDir);
    kv2.delete(IRONIC_URL_KEY);
    kv2.close();
    const e1 = await openEngine(siteOf(path.join(dir, 'never-rendered'), []), path.join(dir, 'never-rendered', '.kseed')).catch((e: unknown) => e);
    expect((e1 as Error).message).toMatch(/no Ironic credentials in .*never-rendered.*run `kseed up`/);
    const e2 = await openEngine(site, stateDir, { ironic: { url: 'http://127.0.0.1:21619' } }).catch((e: unknown) => e);
    expect((e2 as Error).message).toBe('Ironic at http://127.0.0.1:21619 does not answer (is the seed stack up? `kseed up`)');
  });

  it('direct deploy: IPA kernel/ramdisk and the image with its checksum go to Ironic; with no IPA calling back the phase times out naming the wait', async () => {
    const nodes = [node('dd0', 50, { profile: 'test-fake-direct' }), node('dd1', 51, { profile: 'test-fake-direct', root_device: { size_gb: { min: 10, max: 20 } } })];
    const site = siteOf(path.join(dir, 'direct'), nodes);
    site.ironic.inspector = false;
    const store = openState(path.join(site.dir, '.kseed'));
    try {
      const noIpa = await engineFor(site, store).provision(['dd0']);
      expect(noIpa[0]).toMatchObject({ ok: false, state: 'deploy failed' });
      expect(noIpa[0]!.error).toMatch(/direct deploys need ironic\.deploy_kernel and ironic\.deploy_ramdisk/);

      site.ironic.deploy_kernel = `http://127.0.0.1:${FILES_PORT}/ipa.kernel`;
      site.ironic.deploy_ramdisk = `http://127.0.0.1:${FILES_PORT}/ipa.initramfs`;
      const out = await engineFor(site, store, { timeouts: { deploy: 8000 } }).provision(['dd0', 'dd1']);
      expect(out[0]).toMatchObject({ ok: false, state: 'deploy failed' });
      expect(out[0]!.error).toMatch(/^deploy timed out after 8 s waiting for Ironic \((deploying|wait call-back) -> active\)/);
      const n = await client.getNode('dd0');
      expect(n.provision_state).toBe('wait call-back');
      expect(n.deploy_interface).toBe('direct');
      expect(n.driver_info).toMatchObject({ deploy_kernel: site.ironic.deploy_kernel, deploy_ramdisk: site.ironic.deploy_ramdisk });
      expect(n.instance_info).toMatchObject({ image_source: nodes[0]!.image!.url, image_os_hash_algo: 'sha256', image_os_hash_value: 'a'.repeat(64), image_disk_format: 'raw' });
      // a size range Ironic cannot express is refused for direct deploys, before anything is created
      expect(out[1]).toMatchObject({ ok: false, state: 'enroll failed' });
      expect(out[1]!.error).toMatch(/size range, which Ironic cannot express/);
      expect(await client.findNode('dd1')).toBeUndefined();

      // undeploy stops a deploy Ironic still waits on (wait call-back) instead of resuming the wait
      const ud = await engineFor(site, store).undeploy('dd0');
      expect(ud, ud.error).toMatchObject({ ok: true, state: 'available' });
      expect((await client.getNode('dd0')).provision_state).toBe('available');
    } finally {
      store.close();
    }
  }, 120_000);
});
