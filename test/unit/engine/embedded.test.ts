/**
 * The embedded engine's phase runner with in-memory BMCs and a simulated
 * ramdisk writing the events the boot services would write, on a real
 * state store in a temp dir, in virtual time. No sockets, no VMs.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Bmc, BmcIdentity, BmcTarget, BootOptions, PowerAction, PowerState } from '../../../src/bmc/types.js';
import { StateBootBackend } from '../../../src/boot/backend.js';
import { EmbeddedEngine } from '../../../src/engine/embedded.js';
import { chooseRootDevice } from '../../../src/engine/rootdevice.js';
import { ownerName, realClock } from '../../../src/engine/runner.js';
import { virtualMediaSeed } from '../../../src/engine/vmedia.js';
import { openState, type StateStore } from '../../../src/engine/state.js';
import { loadProfiles } from '../../../src/profiles/load.js';
import type { HardwareProfile } from '../../../src/profiles/schema.js';
import type { NodeSpec, Site } from '../../../src/site/types.js';
import { DEFAULT_LIMITS, type ProgressEvent } from '../../../src/engine/types.js';
import { FakeClock } from './fakeclock.js';

const DISK = { name: 'vda', size_bytes: 10 * 1024 ** 3, model: '', serial: 'SER-1', wwn: '', rotational: false, hctl: '', by_path: '' };

function node(name: string, port: number, extra: Partial<NodeSpec> = {}): NodeSpec {
  return {
    name,
    bmc: { type: 'ipmi', address: '127.0.0.1', port, username: 'admin', password: { value: 'pw' } },
    macs: [`52:54:00:00:00:${String(port % 100).padStart(2, '0')}`],
    roles: ['compute'],
    profile: 'qemu-lab',
    root_device: { serial: 'SER-1' },
    image: { url: 'http://10.0.0.1/img.raw', checksum: `sha256:${'a'.repeat(64)}`, format: 'raw' },
    ...extra,
  };
}

/** What the lab's node does when powered on: the ramdisk (as the boot services record it) for busy states. */
type Behaviour = 'ok' | 'silent' | 'hang' | 'wipe-fails' | 'dies-after-inspect';

class FakeBmc implements Bmc {
  readonly protocol = 'ipmi' as const;
  constructor(
    readonly target: BmcTarget,
    private readonly world: World,
  ) {}
  private get n() {
    return this.world.nodes.get(this.target.port!)!;
  }
  private async gate(): Promise<void> {
    if (this.n.bmc === 'hang') await new Promise(() => {});
  }
  async powerStatus(): Promise<PowerState> {
    await this.gate();
    return this.n.power;
  }
  async power(a: PowerAction): Promise<void> {
    await this.gate();
    this.world.log.push(`${this.n.name} power ${a}`);
    if (a === 'off') this.n.power = 'off';
    if (a === 'on') {
      this.n.power = 'on';
      this.world.boot(this.n.name);
    }
  }
  async setBootDevice(o: BootOptions): Promise<void> {
    await this.gate();
    this.world.log.push(`${this.n.name} bootdev ${o.device}`);
    this.n.bootdev = o.device;
  }
  async getBootDevice(): Promise<BootOptions> {
    return { device: 'pxe' };
  }
  async insertMedia(image: string): Promise<void> {
    await this.gate();
    this.world.log.push(`${this.n.name} insert ${image}`);
    this.world.onInsert?.(image);
  }
  async ejectMedia(): Promise<void> {
    await this.gate();
    this.world.log.push(`${this.n.name} eject`);
  }
  async identity(): Promise<BmcIdentity> {
    await this.gate();
    return { protocol: 'ipmi', manufacturerId: 4753, productId: 0x100, manufacturer: 'QEMU' };
  }
  async close(): Promise<void> {
    if (this.n.bmc !== 'hang') this.world.bmcOpen--;
  }
}

class World {
  nodes = new Map<number, { name: string; power: PowerState; bmc: Behaviour; ramdisk: Behaviour; boot: number; bootdev?: string }>();
  log: string[] = [];
  /** BMC conversations open now, and the most at once. */
  bmcOpen = 0;
  bmcPeak = 0;
  /** Hung BMC conversations whose backstop has not yet fired (the step's start without its end). */
  hungHeld(): number {
    return [...this.nodes.values()].filter((n) => n.bmc === 'hang' && (() => {
      const steps = this.store().listEvents(n.name, { kind: 'step' });
      return steps.filter((e) => e.detail.status === 'start').length > steps.filter((e) => e.detail.status !== 'start').length;
    })()).length;
  }
  /** Ramdisk instances running now (from power-on to their last task), and the most at once. */
  ramdisks = new Set<string>();
  ramdiskPeak = 0;
  /** Every task a ramdisk instance fetched, `<node>#<boot> <task> <disk>`. */
  tasks: string[] = [];
  specs: NodeSpec[] = [];
  /** Sees each virtual-media image URL as the BMC is handed it. */
  onInsert: ((image: string) => void) | undefined;
  constructor(
    private readonly store: () => StateStore,
    private readonly clock: FakeClock,
  ) {}
  add(name: string, port: number, bmc: Behaviour = 'ok', ramdisk: Behaviour = 'ok') {
    this.nodes.set(port, { name, power: 'off', bmc, ramdisk, boot: 0 });
  }
  /**
   * The network boot: the deploy ramdisk's loop (templates/ramdisk/init)
   * against the real StateBootBackend over the same store: inventory, then
   * tasks until one ends the boot. A power-off ends the instance.
   */
  boot(name: string): void {
    const n = [...this.nodes.values()].find((x) => x.name === name)!;
    const id = ++n.boot;
    if (n.ramdisk === 'silent') return;
    // booted from its disk: the installed OS calls back (templates/os/kseed-callback does at each boot until one gets through)
    if (n.bootdev === 'disk') {
      void this.clock.sleep(1000).then(() => n.boot === id && n.power === 'on' && this.store().recordEvent(name, 'callback', { stage: 'booted', hostname: name }));
      return;
    }
    const alive = () => n.boot === id && n.power === 'on';
    const b = new StateBootBackend({ store: this.store(), nodes: this.specs, chooseRootDevice });
    const off = () => {
      n.power = 'off';
    };
    const instance = `${name}#${id}`;
    this.ramdisks.add(instance);
    this.ramdiskPeak = Math.max(this.ramdiskPeak, this.ramdisks.size);
    void (async () => {
      await this.clock.sleep(1000);
      if (!alive()) return;
      b.onInventory(name, { cpus: 1, memory_mib: 1024, disks: [DISK], nics: [], boot_mode: 'bios' });
      for (let i = 0; i < 900 && alive(); i++) {
        const t = b.taskFor(name);
        this.tasks.push(`${name}#${id} ${t.task}${'targetDisk' in t && t.targetDisk ? ` ${t.targetDisk}` : ''}${t.task === 'inspect' && t.wait ? ' wait' : ''}`);
        if (t.task === 'inspect') {
          b.onResult(name, { status: 'ok', stage: 'inspect', msg: 'inventory posted' });
          // the first boot's kernel panics after reporting: the node stays on, nothing polls
          if (n.ramdisk === 'dies-after-inspect' && id === 1) return;
          if (t.wait) continue;
          return off();
        }
        if (t.task === 'deploy') {
          b.onProgress(name, { stage: 'deploy', pct: 50, msg: '' });
          b.onResult(name, { status: 'ok', stage: 'deploy', msg: `written to ${t.targetDisk}`, digest: t.imageChecksum });
          // reboot: the network-first boot gets the local disk, whose OS calls back
          setImmediate(() => {
            try {
              if (alive() && b.nodeByName(name)?.action !== 'deploy') this.store().recordEvent(name, 'callback', { stage: 'booted', hostname: name });
            } catch {
              /* store closed: the test is over */
            }
          });
          return;
        }
        if (t.task === 'wipe') {
          if (n.ramdisk === 'wipe-fails') b.onResult(name, { status: 'fail', stage: 'wipe', msg: `cannot write ${t.targetDisk}` });
          else b.onResult(name, { status: 'ok', stage: 'wipe', msg: `metadata of ${t.targetDisk} erased` });
          return off();
        }
        if (t.task === 'fail') {
          b.onResult(name, { status: 'fail', stage: 'task', msg: t.reason });
          return off();
        }
        await this.clock.sleep(1000);
      }
    })()
      .catch(() => undefined)
      .finally(() => this.ramdisks.delete(instance));
  }
}

let profiles: HardwareProfile[];
beforeAll(async () => {
  profiles = await loadProfiles();
});

describe('EmbeddedEngine', () => {
  let dir: string;
  let store: StateStore;
  let clock: FakeClock;
  let world: World;
  let progress: ProgressEvent[];

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'kse-engine-'));
    clock = new FakeClock();
    store = openState(dir, { now: () => clock.now() });
    world = new World(() => store, clock);
    progress = [];
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const engine = (nodes: NodeSpec[], extra: Partial<ConstructorParameters<typeof EmbeddedEngine>[0]> = {}) => {
    world.specs = nodes;
    return new EmbeddedEngine({
      site: { file: '/x/kseed.yaml', dir: '/x', nodes } as unknown as Site,
      store,
      profiles,
      connect: async (t) => {
        // a hung BMC's conversation is abandoned at its timeout (it never closes): counted as the slot it held, below
        if (world.nodes.get(t.port!)?.bmc !== 'hang') world.bmcOpen++;
        world.bmcPeak = Math.max(world.bmcPeak, world.bmcOpen + world.hungHeld());
        return new FakeBmc(t, world);
      },
      clock,
      pollMs: 1000,
      onProgress: (e) => progress.push(e),
      ...extra,
    });
  };

  it('provision: enroll -> inspect -> provide -> deploy in one ramdisk boot, a transition event per step, timings per phase', async () => {
    world.add('n1', 1);
    const e = engine([node('n1', 1)]);
    const [o] = await e.provision(['n1'], { waitBooted: true });
    expect(o).toMatchObject({ node: 'n1', ok: true, state: 'active', verbs: ['enroll', 'inspect', 'provide', 'deploy'] });
    const transitions = store.listEvents('n1', { kind: 'transition' }).map((x) => `${x.from_state}->${x.to_state}`);
    expect(transitions).toEqual(['enroll->enroll', 'enroll->manageable', 'manageable->inspecting', 'inspecting->manageable', 'manageable->available', 'available->deploying', 'deploying->active']);
    expect(progress.filter((p) => p.kind === 'transition').map((p) => p.to)).toEqual(['enroll', 'manageable', 'inspecting', 'manageable', 'available', 'deploying', 'active']);
    // intent and result of every BMC step
    const steps = store.listEvents('n1', { kind: 'step' }).map((x) => `${x.detail.step}:${x.detail.status}`);
    expect(steps).toEqual(['identify:start', 'identify:done', 'netboot:start', 'netboot:done', 'fast-track:done']);
    expect(world.log).toEqual(['n1 bootdev pxe', 'n1 power on']);
    // one ramdisk boot: told to wait after inspecting, idle while manageable/available, then the deploy
    const tasks = [...new Set(world.tasks)];
    expect(tasks).toEqual(['n1#1 inspect wait', 'n1#1 none', 'n1#1 deploy /dev/vda']);
    expect(store.listEvents('n1', { kind: 'agent-result' }).map((x) => `${x.detail.stage}:${x.detail.status}`)).toEqual(['inspect:ok', 'deploy:ok']);
    const st = e.status(['n1'])[0]!;
    expect(st).toMatchObject({ state: 'active', profile: 'qemu-lab', booted_hostname: 'n1', last_error: null });
    expect(st.timings.map((t) => t.phase)).toEqual(['enroll', 'inspect', 'provide', 'deploy', 'boot']);
    expect(store.getNode('n1')!.data.target_disk).toBe('/dev/vda');
    expect(store.getClaim('n1')).toBeUndefined();
    // again: converged, nothing runs
    const [again] = await e.provision(['n1']);
    expect(again).toMatchObject({ ok: true, state: 'active', verbs: [], skipped: true });
  });

  it('a UEFI node is then set to boot from its disk and restarted (the firmware has no entry for the new disk)', async () => {
    world.add('n1', 1);
    const e = engine([node('n1', 1, { boot_mode: 'uefi' })]);
    const [o] = await e.provision(['n1'], { inspect: false });
    expect(o).toMatchObject({ ok: true, state: 'active', verbs: ['enroll', 'provide', 'deploy'] });
    expect(world.log).toEqual(['n1 bootdev pxe', 'n1 power on', 'n1 bootdev disk', 'n1 power off', 'n1 power on']);
    const deployed = store.listEvents('n1', { kind: 'transition' }).find((x) => x.to_state === 'active')!.id;
    expect(store.listEvents('n1', { kind: 'step', sinceId: deployed }).map((x) => `${x.detail.step}:${x.detail.status}`)).toEqual(['boot-disk:start', 'boot-disk:done']);
  });

  it('boot: virtual-media: a CD with a fresh token and the static address is inserted, booted once from Cd, then ejected and deleted; the disk boots', async () => {
    const art = path.join(dir, 'artifacts');
    mkdirSync(art);
    writeFileSync(path.join(art, 'vmlinuz'), Buffer.alloc(4096, 1));
    writeFileSync(path.join(art, 'initramfs.gz'), Buffer.alloc(4096, 2));
    world.add('n1', 1);
    const n1 = node('n1', 1, { boot: 'virtual-media', ip: '10.0.0.21' });
    world.specs = [n1];
    const site = { file: '/x/kseed.yaml', dir: '/x', nodes: [n1], seed: { address: '10.0.0.1', prefix: 24, dhcp: { mode: 'off', lease_seconds: 600 }, ports: { http: 8080 } } } as unknown as Site;
    let cfg = '';
    let isoMode = 0;
    world.onInsert = (url) => {
      const file = path.join(art, new URL(url).pathname.replace(/^\/artifacts\//, ''));
      isoMode = statSync(file).mode & 0o777;
      cfg = execFileSync('isoinfo', ['-i', file, '-R', '-x', '/isolinux/isolinux.cfg'], { encoding: 'utf8' });
    };
    // real time for the engine: building the CD waits for real processes, which virtual time would skip past
    const e = new EmbeddedEngine({ site, store, profiles, connect: async (t) => new FakeBmc(t, world), clock: realClock, pollMs: 20, vmedia: virtualMediaSeed(site, art) });
    const [o] = await e.provision(['n1']);
    expect(o, `${o!.error} ${JSON.stringify(store.listEvents('n1', { kind: 'step' }).map((x) => x.detail))}`).toMatchObject({ ok: true, state: 'active', verbs: ['enroll', 'inspect', 'provide', 'deploy'] });
    expect(world.log).toEqual([expect.stringMatching(/^n1 insert http:\/\/10\.0\.0\.1:8080\/artifacts\/vmedia\/n1-[0-9a-f]{32}\.iso$/), 'n1 bootdev cdrom', 'n1 power on', 'n1 eject', 'n1 bootdev disk', 'n1 power off', 'n1 power on']);
    // the CD's command line: the seed, the node, its PXE MAC, the kernel's ip= with the seed subnet's mask, and a live token
    const append = /APPEND initrd=\/kseed\/initrd.gz (.*)/.exec(cfg)![1]!.split(' ');
    expect(append).toEqual(['kseed.url=http://10.0.0.1:8080', 'kseed.node=n1', expect.stringMatching(/^kseed\.token=/), 'kseed.mac=52:54:00:00:00:01', 'console=ttyS0', 'ip=10.0.0.21:::255.255.255.0:n1::off']);
    const token = append[2]!.slice('kseed.token='.length);
    expect(store.verifyNodeToken(token, 'agent')).toBe('n1');
    expect(isoMode).toBe(0o600);
    const steps = store.listEvents('n1', { kind: 'step' }).map((x) => `${x.detail.step}:${x.detail.status}`);
    expect(steps).toEqual(['identify:start', 'identify:done', 'vmedia-boot:start', 'vmedia-boot:done', 'fast-track:done', 'boot-disk:start', 'boot-disk:done']);
    expect(store.listEvents('n1', { kind: 'boot-script' }).map((x) => x.detail.purpose)).toEqual(['virtual-media']);
    // the CD held a token: it is gone from the seed once ejected
    expect(readdirSync(path.join(art, 'vmedia'))).toEqual([]);
  });

  it('virtual media, a silent node: the timeout says whether the BMC ever fetched the CD (the boot services record the fetch); the CD is ejected and deleted', async () => {
    const art = path.join(dir, 'artifacts');
    mkdirSync(art);
    writeFileSync(path.join(art, 'vmlinuz'), Buffer.alloc(4096, 1));
    writeFileSync(path.join(art, 'initramfs.gz'), Buffer.alloc(4096, 2));
    world.add('n1', 1, 'ok', 'silent');
    world.add('n2', 2, 'ok', 'silent');
    const specs = [node('n1', 1, { boot: 'virtual-media' }), node('n2', 2, { boot: 'virtual-media' })];
    world.specs = specs;
    const site = { file: '/x/kseed.yaml', dir: '/x', nodes: specs, seed: { address: '10.0.0.1', prefix: 24, dhcp: { mode: 'off', lease_seconds: 600 }, ports: { http: 8080 } } } as unknown as Site;
    const boot = new StateBootBackend({ store, nodes: specs, chooseRootDevice });
    // n2's BMC fetches its CD from the seed (twice: recorded once); n1's never does
    world.onInsert = (url) => {
      const rel = new URL(url).pathname.replace(/^\/artifacts\//, '');
      if (rel.startsWith('vmedia/n2-')) for (let i = 0; i < 2; i++) boot.onArtifact(rel, 200);
    };
    const e = new EmbeddedEngine({ site, store, profiles, connect: async (t) => new FakeBmc(t, world), clock: realClock, pollMs: 20, timeouts: { inspect: 3000 }, vmedia: virtualMediaSeed(site, art) });
    const [o1, o2] = await e.provision(['n1', 'n2']);
    expect(o1).toMatchObject({ ok: false, state: 'inspect failed', error: "inspect timed out after 3 s waiting for the deploy ramdisk's inspect result; the BMC never fetched the virtual-media CD from the seed" });
    expect(o2).toMatchObject({ ok: false, state: 'inspect failed', error: "inspect timed out after 3 s waiting for the deploy ramdisk's inspect result (the BMC fetched the virtual-media CD; the ramdisk never called back)" });
    expect(store.listEvents('n2', { kind: 'vmedia-fetched' })).toHaveLength(1);
    expect(store.listEvents('n1', { kind: 'vmedia-fetched' })).toHaveLength(0);
    // powered off after the failure, then the CD out and its file gone
    for (const n of ['n1', 'n2']) expect(world.log.filter((l) => l.startsWith(`${n} `)).slice(-2)).toEqual([`${n} power off`, `${n} eject`]);
    expect(readdirSync(path.join(art, 'vmedia'))).toEqual([]);
  });

  it('a BMC that does not answer fails its node (enroll failed, timeout) while the other node finishes', async () => {
    world.add('n1', 1);
    world.add('n2', 2, 'hang');
    const e = engine([node('n1', 1), node('n2', 2)], { timeouts: { bmc: 5000 } });
    const out = await e.provision(['n1', 'n2']);
    expect(out[0]).toMatchObject({ ok: true, state: 'active' });
    expect(out[1]).toMatchObject({ ok: false, state: 'enroll failed', verbs: ['enroll'] });
    expect(out[1]!.error).toMatch(/BMC identify timed out after 5 s/);
    expect(store.getNode('n2')!.last_error).toBe(out[1]!.error);
  });

  it('limits: at most --max-deploying ramdisks and --max-bmc BMC conversations at once; a hung BMC holds its slot only until its timeout', async () => {
    const names = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7'];
    names.forEach((n, i) => world.add(n, i + 1, n === 'n7' ? 'hang' : 'ok'));
    const e = engine(
      names.map((n, i) => node(n, i + 1)),
      { concurrency: 7, limits: { ramdisks: 2, bmc: 1 }, timeouts: { bmc: 5000 } },
    );
    const out = await e.provision(names, { waitBooted: true });
    expect(out.map((o) => o.state)).toEqual(['active', 'active', 'active', 'active', 'active', 'active', 'enroll failed']);
    expect(out[6]!.error).toMatch(/BMC identify timed out after 5 s/);
    // the limits bind (7 nodes at once were allowed) and hold
    expect(world.ramdiskPeak).toBe(2);
    expect(world.bmcPeak).toBe(1);
    // still one ramdisk boot per node: a fast-tracked deploy keeps the slot of its inspection
    for (const n of names.slice(0, 6)) expect(new Set(world.tasks.filter((t) => t.startsWith(`${n}#`)).map((t) => t.split(' ')[0]))).toEqual(new Set([`${n}#1`]));
    // a node waiting for a slot is not yet in its busy state, so no phase timer runs for the wait
    const inspecting = names.slice(0, 6).map((n) => store.listEvents(n, { kind: 'transition' }).find((x) => x.to_state === 'inspecting')!.id);
    expect(new Set(inspecting).size).toBe(6);
    // with the defaults, the same fleet has no such bound below 20 and 32
    expect(DEFAULT_LIMITS).toEqual({ ramdisks: 20, bmc: 32 });
  });

  it('the queue for a BMC slot is no part of enroll\'s time: dead BMCs holding the slots do not time out the nodes behind them', async () => {
    world.add('n1', 1, 'hang');
    world.add('n2', 2, 'hang');
    world.add('n3', 3);
    // n3's enroll has 1 s + its BMC budget of 1 s + 2 s of grace; n1 and n2 hold the one slot for 5 s each before it
    const n3 = node('n3', 3, { bmc: { ...node('n3', 3).bmc, timeout_ms: 1000 } });
    const e = engine([node('n1', 1), node('n2', 2), n3], { limits: { bmc: 1 }, timeouts: { bmc: 5000, enroll: 1000 } });
    const out = await e.provision(['n1', 'n2', 'n3']);
    expect(out.map((o) => o.state)).toEqual(['enroll failed', 'enroll failed', 'active']);
    const steps = (n: string) => store.listEvents(n, { kind: 'step' }).filter((x) => x.detail.step === 'identify');
    // n3 spoke to its BMC only after both hung conversations were given up, 10 s in, past its own enroll time
    expect(steps('n3')[0]!.ts - steps('n1')[0]!.ts).toBeGreaterThanOrEqual(10_000);
  });

  it('without --concurrency every node is worked on at once: the ramdisk limit, not a node count, bounds the fleet', async () => {
    const names = Array.from({ length: 24 }, (_, i) => `n${i + 1}`);
    names.forEach((n, i) => world.add(n, i + 1));
    const e = engine(names.map((n, i) => node(n, i + 1)));
    const out = await e.provision(names, { waitBooted: true });
    expect(out.every((o) => o.state === 'active')).toBe(true);
    expect(world.ramdiskPeak).toBe(DEFAULT_LIMITS.ramdisks);
  });

  it('a limit that is not a positive integer is refused when the engine is made', () => {
    expect(() => engine([node('n1', 1)], { limits: { ramdisks: 0 } })).toThrow('the ramdisk limit must be a positive integer, got 0');
    expect(() => engine([node('n1', 1)], { limits: { bmc: 1.5 } })).toThrow('the BMC limit must be a positive integer, got 1.5');
  });

  it('a ramdisk that never reports fails the phase with what it waited for', async () => {
    world.add('n1', 1, 'ok', 'silent');
    const e = engine([node('n1', 1)], { timeouts: { inspect: 600_000 } });
    const [o] = await e.provision(['n1']);
    expect(o).toMatchObject({ ok: false, state: 'inspect failed' });
    expect(o!.error).toBe("inspect timed out after 600 s waiting for the deploy ramdisk's inspect result; nothing heard from the node since it began: no iPXE boot script was fetched, so its network boot never reached the seed");
    // a failed phase is retried by the next run
    world.nodes.get(1)!.ramdisk = 'ok';
    const [o2] = await e.provision(['n1']);
    expect(o2).toMatchObject({ ok: true, state: 'active', verbs: ['inspect', 'provide', 'deploy'] });
  });

  it('a root-device hint that matches no disk fails the deploy with that reason before anything boots', async () => {
    world.add('n1', 1);
    const e = engine([node('n1', 1, { root_device: { serial: 'NO-SUCH-DISK' } })]);
    const [o] = await e.provision(['n1']);
    expect(o).toMatchObject({ ok: false, state: 'deploy failed', verbs: ['enroll', 'inspect', 'provide', 'deploy'] });
    expect(o!.error).toMatch(/^no disk matches root-device hint \{"serial":"NO-SUCH-DISK"\}/);
    // only the inspection booted the node; its ramdisk, waiting for a deploy that never comes, is powered off
    expect(world.log.filter((l) => l.endsWith('power on'))).toHaveLength(1);
    expect(world.log.at(-1)).toBe('n1 power off');
    expect(world.nodes.get(1)!.power).toBe('off');
    expect(world.tasks.some((t) => t.includes('deploy'))).toBe(false);
  });

  it('seed TFTP off and a bios boot mode from the hardware profile: the node fails with that reason before its BMC is touched', async () => {
    world.add('n1', 1);
    world.specs = [node('n1', 1)];
    const e = new EmbeddedEngine({ site: { file: '/x/kseed.yaml', dir: '/x', nodes: world.specs, seed: { tftp: { enabled: false } } } as unknown as Site, store, profiles, connect: async (t) => new FakeBmc(t, world), clock, pollMs: 1000 });
    const [o] = await e.provision(['n1']);
    expect(o).toMatchObject({ ok: false, state: 'inspect failed' });
    expect(o!.error).toMatch(/^boot mode bios \(hardware profile qemu-lab\) cannot network-boot with seed\.tftp\.enabled false/);
    expect(world.log.filter((l) => !l.endsWith('power off'))).toEqual([]);
  });

  it('an engine that did not inspect the node does not rely on a ramdisk left waiting: it boots a fresh one', async () => {
    world.add('n1', 1);
    const first = engine([node('n1', 1)]);
    await first.enroll('n1');
    // a previous engine's fast-track inspection, then the engine went away with the ramdisk still waiting
    store.transition('n1', 'inspecting', { phase: 'inspect' });
    store.updateNode('n1', { data: { op: { verb: 'inspect', since: store.listEvents('n1').at(-1)!.id, started_at: 0, owner: 'gone', attempt: 1, next: 'deploy' } } });
    world.nodes.get(1)!.power = 'on';
    world.boot('n1');
    await clock.sleep(5000);
    expect([...new Set(world.tasks)]).toEqual(['n1#1 inspect wait', 'n1#1 none']);
    store.updateNode('n1', { data: { op: null } });
    store.transition('n1', 'available', { phase: 'inspect' });
    world.log = [];
    const [o] = await engine([node('n1', 1)]).provision(['n1']);
    expect(o).toMatchObject({ ok: true, state: 'active', verbs: ['deploy'] });
    // off before on: the waiting ramdisk is gone, the deploy goes to a new boot
    expect(world.log).toEqual(['n1 bootdev pxe', 'n1 power off', 'n1 power on']);
    expect(world.tasks.filter((t) => t.includes('deploy'))).toEqual(['n1#2 deploy /dev/vda']);
  });

  it('a fast-track ramdisk that dies after inspecting: the node is booted again after the fast-track limit and deployed', async () => {
    world.add('n1', 1, 'ok', 'dies-after-inspect');
    const e = engine([node('n1', 1)], { timeouts: { fastTrack: 30_000 } });
    const t0 = clock.now();
    const [o] = await e.provision(['n1']);
    expect(o).toMatchObject({ ok: true, state: 'active', verbs: ['enroll', 'inspect', 'provide', 'deploy'] });
    const steps = store.listEvents('n1', { kind: 'step' }).map((x) => `${x.detail.step}:${x.detail.status}`);
    expect(steps).toEqual(['identify:start', 'identify:done', 'netboot:start', 'netboot:done', 'fast-track:fail', 'netboot:start', 'netboot:done']);
    expect(store.listEvents('n1', { kind: 'step' }).find((x) => x.detail.step === 'fast-track')!.detail.error).toBe(
      'the ramdisk kept up after inspection did not take its deploy task within 30 s',
    );
    // the second boot (power off, on) took the deploy; the dead one never did
    expect(world.log).toEqual(['n1 bootdev pxe', 'n1 power on', 'n1 bootdev pxe', 'n1 power off', 'n1 power on']);
    expect([...new Set(world.tasks)]).toEqual(['n1#1 inspect wait', 'n1#2 deploy /dev/vda']);
    expect(progress.some((p) => p.message?.includes('booting it again'))).toBe(true);
    // the wait was the limit, not the 45-minute deploy timeout
    expect(clock.now() - t0).toBeLessThan(60_000);
  });

  it('inspect alone: the ramdisk is not told to wait and the node is powered off', async () => {
    world.add('n1', 1);
    const e = engine([node('n1', 1)]);
    await e.enroll('n1');
    expect(await e.inspect('n1')).toMatchObject({ ok: true, state: 'manageable', verbs: ['inspect'] });
    expect([...new Set(world.tasks)]).toEqual(['n1#1 inspect']);
    expect(world.nodes.get(1)!.power).toBe('off');
    // provision of an inspected (manageable) node inspects again in the boot that deploys
    world.tasks = [];
    const [o] = await e.provision(['n1']);
    expect(o).toMatchObject({ ok: true, state: 'active', verbs: ['inspect', 'provide', 'deploy'] });
    expect([...new Set(world.tasks)]).toEqual(['n1#2 inspect wait', 'n1#2 none', 'n1#2 deploy /dev/vda']);
  });

  describe('resume after a seed was killed', () => {
    const leftDeploying = (name: string, owner: string) => {
      store.ensureNode(name);
      for (const s of ['manageable', 'available', 'deploying'] as const) store.transition(name, s, { phase: 'x' });
      const since = store.listEvents(name).at(-1)!.id;
      store.updateNode(name, { data: { inventory: { disks: [DISK] }, op: { verb: 'deploy', since, started_at: 0, owner, attempt: 1 } } });
      store.claimNode(name, owner, 3600_000);
      return since;
    };

    it('finishes from a result the ramdisk posted while no engine ran: nothing is deployed again', async () => {
      world.add('n1', 1);
      leftDeploying('n1', ownerName(hostname(), 999_999_999));
      store.recordEvent('n1', 'agent-result', { status: 'ok', stage: 'deploy', msg: 'written' });
      const [o] = await engine([node('n1', 1)]).provision(['n1']);
      expect(o).toMatchObject({ ok: true, state: 'active', verbs: ['deploy'] });
      expect(world.log).toEqual([]);
      expect(store.listEvents('n1', { kind: 'claim-takeover' })).toHaveLength(1);
    });

    it('restarts an unreported deploy with one network boot and converges', async () => {
      world.add('n1', 1);
      world.nodes.get(1)!.power = 'on'; // the old ramdisk is still writing
      leftDeploying('n1', ownerName(hostname(), 999_999_999));
      const [o] = await engine([node('n1', 1)]).provision(['n1'], { waitBooted: true });
      expect(o).toMatchObject({ ok: true, state: 'active', verbs: ['deploy'] });
      expect(store.getNode('n1')!.data.booted).toMatchObject({ hostname: 'n1' });
      // off before on: the old writer is gone before the new one boots
      expect(world.log).toEqual(['n1 bootdev pxe', 'n1 power off', 'n1 power on']);
      expect(store.listEvents('n1', { kind: 'resume' })[0]!.detail).toMatchObject({ verb: 'deploy', attempt: 2 });
      const results = store.listEvents('n1', { kind: 'agent-result' }).filter((x) => x.detail.status === 'ok');
      expect(results).toHaveLength(1);
    });

    it('a rebuild a killed seed left, finished from its ramdisk\'s report, is not run a second time by the next rebuild', async () => {
      world.add('n1', 1);
      const since = leftDeploying('n1', ownerName(hostname(), 999_999_999));
      store.updateNode('n1', { data: { op: { verb: 'rebuild', since, started_at: 0, owner: ownerName(hostname(), 999_999_999), attempt: 1 } } });
      store.recordEvent('n1', 'agent-result', { status: 'ok', stage: 'deploy', msg: 'written' });
      const o = await engine([node('n1', 1)]).rebuild('n1');
      expect(o, o.error).toMatchObject({ ok: true, state: 'active', verbs: ['rebuild'] });
      // nothing booted again: the finished rebuild is the one asked for
      expect(world.log).toEqual([]);
      expect(store.listEvents('n1', { kind: 'transition' }).filter((x) => x.to_state === 'deploying')).toHaveLength(1);
    });

    const leftActiveWaiting = (name: string) => {
      leftDeploying(name, ownerName(hostname(), 999_999_999));
      store.recordEvent(name, 'agent-result', { status: 'ok', stage: 'deploy', msg: 'written' });
      store.transition(name, 'active', { phase: 'deploy' });
      store.updateNode(name, { data: { op: null } });
      store.recordEvent(name, 'boot-wait', { phase: 'boot' });
    };

    it('an active node whose wait for the first-boot callback the kill cut short: --wait-booted takes the callback that came meanwhile, the BMC untouched', async () => {
      world.add('n1', 1);
      leftActiveWaiting('n1');
      store.recordEvent('n1', 'callback', { stage: 'booted', hostname: 'n1' });
      const [o] = await engine([node('n1', 1)]).provision(['n1'], { waitBooted: true });
      expect(o).toMatchObject({ ok: true, state: 'active' });
      expect(store.getNode('n1')!.data.booted).toMatchObject({ hostname: 'n1' });
      expect(store.listEvents('n1', { kind: 'booted' })).toHaveLength(1);
      expect(world.log).toEqual([]);
    });

    it('a callback that came before the wait was recorded (the deploy finished by a resume, that engine killed too) still counts: nothing is restarted', async () => {
      world.add('n1', 1);
      const since = leftDeploying('n1', ownerName(hostname(), 999_999_999));
      store.recordEvent('n1', 'agent-result', { status: 'ok', stage: 'deploy', msg: 'written' });
      store.recordEvent('n1', 'callback', { stage: 'booted', hostname: 'n1' });
      store.transition('n1', 'active', { phase: 'deploy' });
      store.updateNode('n1', { data: { op: null } });
      store.recordEvent('n1', 'boot-wait', { phase: 'boot', since });
      const [o] = await engine([node('n1', 1)]).provision(['n1'], { waitBooted: true });
      expect(o).toMatchObject({ ok: true, state: 'active' });
      expect(store.getNode('n1')!.data.booted).toMatchObject({ hostname: 'n1' });
      expect(world.log).toEqual([]);
    });

    it('an active BIOS node whose OS never called back while the seed was down: --wait-booted restarts it from its disk, and its OS calls again', async () => {
      world.add('n1', 1);
      world.nodes.get(1)!.power = 'on'; // up in its OS, done calling
      leftActiveWaiting('n1');
      const [o] = await engine([node('n1', 1)]).provision(['n1'], { waitBooted: true });
      expect(o).toMatchObject({ ok: true, state: 'active' });
      expect(store.getNode('n1')!.data.booted).toMatchObject({ hostname: 'n1' });
      // a BIOS node's first disk boot needs no power cycle (iPXE sanboots it); this one does
      expect(world.log).toEqual(['n1 bootdev disk', 'n1 power off', 'n1 power on']);
    });

    it('without --wait-booted, or once the wait ended (booted or timed out), an active node is left as it is', async () => {
      world.add('n1', 1);
      world.add('n2', 2);
      leftActiveWaiting('n1');
      leftActiveWaiting('n2');
      store.recordEvent('n2', 'boot-wait-failed', { phase: 'boot', error: 'first boot timed out' });
      const [a] = await engine([node('n1', 1)]).provision(['n1']);
      expect(a).toMatchObject({ ok: true, state: 'active', verbs: [] });
      const [b] = await engine([node('n2', 2)]).provision(['n2'], { waitBooted: true });
      expect(b).toMatchObject({ ok: true, state: 'active', verbs: [] });
      expect(store.listEvents('n2', { kind: 'boot-wait' })).toHaveLength(1);
      expect(world.log).toEqual([]);
    });

    it('leaves a node alone that a live engine still holds', async () => {
      world.add('n1', 1);
      leftDeploying('n1', ownerName(hostname(), process.pid === 1 ? 2 : 1)); // pid 1 is always alive
      const [o] = await engine([node('n1', 1)], { owner: 'other' }).provision(['n1']);
      expect(o).toMatchObject({ ok: false, state: 'deploying', verbs: [] });
      expect(o!.error).toMatch(/claimed by kseed-engine@/);
      expect(world.log).toEqual([]);
    });
  });

  it('refuses a node leased to someone else, naming the holder and the expiry; the holder goes ahead', async () => {
    world.add('n1', 1);
    const l = store.nodeLeases.acquire({ owner: 'ci-42', nodes: ['n1'], ttlMs: 3600_000 }, ['n1']);
    const until = new Date(l.expires_at).toISOString();
    for (const leaseOwner of [undefined, 'ci-7']) {
      const [o] = await engine([node('n1', 1)], leaseOwner ? { leaseOwner } : {}).provision(['n1']);
      expect(o).toMatchObject({ ok: false, state: 'enroll', verbs: [] });
      expect(o!.error).toBe(`node n1 is leased to ci-42 until ${until} (lease ${l.id}; the holder runs verbs with KSEED_OWNER=ci-42)`);
    }
    expect(world.log).toEqual([]);
    const [mine] = await engine([node('n1', 1)], { leaseOwner: 'ci-42' }).provision(['n1']);
    expect(mine).toMatchObject({ ok: true, state: 'active' });
    // once released, anyone may work on it again
    store.nodeLeases.release(l.id);
    const after = await engine([node('n1', 1)]).undeploy('n1');
    expect(after).toMatchObject({ ok: true, state: 'available' });
  });

  it('a node held by an ended lease after a failed wipe, or by an expired one not yet released, is refused until its release ran; its holder goes ahead', async () => {
    world.add('n1', 1);
    const e = engine([node('n1', 1)]);
    await e.provision(['n1']);
    const l = store.nodeLeases.acquire({ owner: 'ci-5', nodes: ['n1'], ttlMs: 3600_000 }, ['n1']);
    const ended = store.nodeLeases.finish(l.id, 'released', false, { n1: { result: 'failed', error: 'BMC refused the password' } });
    world.log = [];
    // ended long before its expiry: the expiry does not free it, only a release that wipes
    const o = await engine([node('n1', 1)], { leaseOwner: 'ci-7' }).undeploy('n1');
    expect(o).toMatchObject({ ok: false, state: 'active', verbs: [] });
    expect(o!.error).toBe(`node n1 is held by ended lease ${l.id} (ci-5, released at ${new Date(ended.ended_at!).toISOString()}) after a failed wipe (BMC refused the password): \`kseed lease release ${l.id}\` retries the wipe`);
    expect(world.log).toEqual([]);
    // the release's retry wipes as the lease's owner
    expect(await engine([node('n1', 1)], { leaseOwner: 'ci-5' }).undeploy('n1')).toMatchObject({ ok: true, state: 'available' });

    // past its expiry but not released yet: its release (a wipe) is due, nobody else starts a verb under it
    store.nodeLeases.finish(l.id, 'released', false, { n1: { result: 'wiped' } });
    expect(await e.provision(['n1'])).toMatchObject([{ ok: true, state: 'active' }]);
    const l2 = store.nodeLeases.acquire({ owner: 'ci-6', nodes: ['n1'], ttlMs: 1000 }, ['n1']);
    clock.t += 2000;
    const late = await engine([node('n1', 1)]).undeploy('n1');
    expect(late).toMatchObject({ ok: false, state: 'active', verbs: [] });
    expect(late!.error).toBe(`node n1 is held by lease ${l2.id} of ci-6, which expired at ${new Date(l2.expires_at).toISOString()}: its release (a wipe) is due; the seed service runs it within seconds, else \`kseed lease release ${l2.id}\``);
  });

  it('rebuild and undeploy of an active node', async () => {
    world.add('n1', 1);
    const e = engine([node('n1', 1)]);
    await e.provision(['n1']);
    expect(await e.rebuild('n1')).toMatchObject({ ok: true, state: 'active', verbs: ['rebuild'] });
    expect(store.listEvents('n1', { kind: 'agent-result' }).filter((x) => x.detail.stage === 'deploy')).toHaveLength(2);
    world.log = [];
    world.tasks = [];
    const u = await e.undeploy('n1');
    expect(u).toMatchObject({ ok: true, state: 'available', verbs: ['undeploy'] });
    // a ramdisk boot that wipes the disk the hint selects and powers itself off
    expect(world.log).toEqual(['n1 bootdev pxe', 'n1 power off', 'n1 power on']);
    expect(store.listEvents('n1', { kind: 'step' }).slice(-2).map((x) => `${x.detail.step}:${x.detail.status}`)).toEqual(['power-off:start', 'power-off:done']);
    expect(world.tasks.at(-1)).toMatch(/^n1#\d+ wipe \/dev\/vda$/);
    expect(world.nodes.get(1)!.power).toBe('off');
    const transitions = store.listEvents('n1', { kind: 'transition' }).slice(-2).map((x) => `${x.from_state}->${x.to_state}:${x.detail.phase}`);
    expect(transitions).toEqual(['active->deleting:undeploy', 'deleting->available:undeploy']);
    expect(e.status(['n1'])[0]!.timings.at(-1)).toMatchObject({ phase: 'undeploy' });
    expect(store.getNode('n1')!.data).toMatchObject({ booted: null, target_disk: null });
    // asked again: already available, so success with nothing touched (it can be repeated)
    world.log = [];
    expect(await e.undeploy('n1')).toMatchObject({ ok: true, skipped: true, state: 'available', verbs: [] });
    expect(world.log).toEqual([]);
    expect(store.listEvents('n1', { kind: 'transition' }).slice(-1).map((x) => x.to_state)).toEqual(['available']);
  });

  it('undeploy of a node that never got an OS (never enrolled, enrolled, inspect failed): success, its state and BMC untouched', async () => {
    for (const [i, n] of ['n1', 'n2', 'n3'].entries()) world.add(n, i + 1);
    const e = engine([node('n1', 1), node('n2', 2), node('n3', 3)]);
    expect(await e.enroll('n2')).toMatchObject({ ok: true, state: 'manageable' });
    store.ensureNode('n3');
    store.transition('n3', 'manageable', { phase: 'enroll' });
    store.transition('n3', 'inspect failed', { phase: 'inspect' });
    world.log = [];
    const transitions = () => store.listEvents(undefined, { kind: 'transition' }).length;
    const before = transitions();
    for (const [n, state] of [['n1', 'enroll'], ['n2', 'manageable'], ['n3', 'inspect failed']] as const) {
      expect(await e.undeploy(n)).toMatchObject({ node: n, ok: true, skipped: true, state, verbs: [] });
      expect(store.getNode(n)!.state).toBe(state);
    }
    expect(world.log).toEqual([]);
    expect(transitions()).toBe(before);
  });

  it('an undeploy a killed seed left (its wipe reported) is finished, not failed, by the next undeploy', async () => {
    world.add('n1', 1);
    store.ensureNode('n1');
    for (const s of ['manageable', 'available', 'deploying', 'active', 'deleting'] as const) store.transition('n1', s, { phase: 'x' });
    const since = store.listEvents('n1').at(-1)!.id;
    const owner = ownerName(hostname(), 999_999_999);
    store.updateNode('n1', { data: { inventory: { disks: [DISK] }, op: { verb: 'undeploy', since, started_at: 0, owner, attempt: 1 } } });
    store.claimNode('n1', owner, 3600_000);
    store.recordEvent('n1', 'agent-result', { status: 'ok', stage: 'wipe', msg: 'wiped' });
    const u = await engine([node('n1', 1)]).undeploy('n1');
    expect(u, u.error).toMatchObject({ ok: true, state: 'available', verbs: ['undeploy'] });
    expect(world.log).toEqual([]);
  });

  describe('undeploy failures end in clean failed, never a hang', () => {
    const active = async (ramdisk: Behaviour, spec: Partial<NodeSpec> = {}) => {
      world.add('n1', 1);
      const e = engine([node('n1', 1, spec)], { timeouts: { undeploy: 600_000 } });
      expect((await e.provision(['n1']))[0]).toMatchObject({ ok: true, state: 'active' });
      world.nodes.get(1)!.ramdisk = ramdisk;
      return e;
    };

    it('a wipe the ramdisk reports as failed: clean failed with its reason, powered off; provision wipes again, then deploys', async () => {
      const e = await active('wipe-fails');
      const u = await e.undeploy('n1');
      expect(u).toMatchObject({ ok: false, state: 'clean failed', verbs: ['undeploy'] });
      expect(u.error).toBe('wipe: cannot write /dev/vda');
      expect(store.getNode('n1')!.last_error).toBe(u.error);
      expect(world.nodes.get(1)!.power).toBe('off');
      world.nodes.get(1)!.ramdisk = 'ok';
      const [o] = await e.provision(['n1']);
      expect(o).toMatchObject({ ok: true, state: 'active', verbs: ['undeploy', 'deploy'] });
    });

    it('a ramdisk that never reports: the undeploy times out into clean failed and the node is powered off', async () => {
      const e = await active('silent');
      const u = await e.undeploy('n1');
      expect(u).toMatchObject({ ok: false, state: 'clean failed' });
      expect(u.error).toBe("undeploy timed out after 600 s waiting for the deploy ramdisk's wipe result; nothing heard from the node since it began: no iPXE boot script was fetched, so its network boot never reached the seed");
      expect(world.nodes.get(1)!.power).toBe('off');
      expect(store.getClaim('n1')).toBeUndefined();
    });

    it('a hint that selects no disk of the stored inventory: refused before anything boots', async () => {
      await active('ok');
      world.log = [];
      // the site file's hint changed since the deploy
      const u = await engine([node('n1', 1, { root_device: { serial: 'OTHER' } })]).undeploy('n1');
      expect(u).toMatchObject({ ok: false, state: 'clean failed' });
      expect(u.error).toMatch(/^not wiping: no disk matches root-device hint \{"serial":"OTHER"\}/);
      // nothing touched the node: its OS keeps running
      expect(world.log).toEqual([]);
      expect(world.nodes.get(1)!.power).toBe('on');
    });
  });
});
