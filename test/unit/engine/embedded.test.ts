/**
 * The embedded engine's phase runner with in-memory BMCs and a simulated
 * ramdisk writing the events the boot services would write, on a real
 * state store in a temp dir, in virtual time. No sockets, no VMs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Bmc, BmcIdentity, BmcTarget, BootOptions, PowerAction, PowerState } from '../../../src/bmc/types.js';
import { EmbeddedEngine } from '../../../src/engine/embedded.js';
import { ownerName } from '../../../src/engine/runner.js';
import { openState, type StateStore } from '../../../src/engine/state.js';
import { loadProfiles } from '../../../src/profiles/load.js';
import type { HardwareProfile } from '../../../src/profiles/schema.js';
import type { NodeSpec, Site } from '../../../src/site/types.js';
import type { ProgressEvent } from '../../../src/engine/types.js';
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
type Behaviour = 'ok' | 'silent' | 'hang';

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
  }
  async getBootDevice(): Promise<BootOptions> {
    return { device: 'pxe' };
  }
  async identity(): Promise<BmcIdentity> {
    await this.gate();
    return { protocol: 'ipmi', manufacturerId: 4753, productId: 0x100, manufacturer: 'QEMU' };
  }
  async close(): Promise<void> {}
}

class World {
  nodes = new Map<number, { name: string; power: PowerState; bmc: Behaviour; ramdisk: Behaviour }>();
  log: string[] = [];
  constructor(private readonly store: () => StateStore) {}
  add(name: string, port: number, bmc: Behaviour = 'ok', ramdisk: Behaviour = 'ok') {
    this.nodes.set(port, { name, power: 'off', bmc, ramdisk });
  }
  /** The network boot: what StateBootBackend + the ramdisk would record. */
  boot(name: string): void {
    const n = [...this.nodes.values()].find((x) => x.name === name)!;
    if (n.ramdisk !== 'ok') return;
    setImmediate(() => {
      const st = this.store();
      const state = st.getNode(name)?.state;
      if (state === 'inspecting') {
        st.updateNode(name, { data: { inventory: { cpus: 1, memory_mib: 1024, disks: [DISK], nics: [], boot_mode: 'bios' } } });
        st.recordEvent(name, 'inventory', {});
        st.recordEvent(name, 'agent-result', { status: 'ok', stage: 'inspect', msg: 'inventory posted' });
        n.power = 'off';
      } else if (state === 'deploying') {
        st.recordEvent(name, 'agent-progress', { stage: 'deploy', pct: 50, msg: '' });
        st.recordEvent(name, 'agent-result', { status: 'ok', stage: 'deploy', msg: 'written to /dev/vda' });
        // the installed OS's first boot; the test may be over by then (no --wait-booted)
        setImmediate(() => {
          try {
            this.store().recordEvent(name, 'callback', { stage: 'booted', hostname: name });
          } catch {
            /* store closed */
          }
        });
      }
    });
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
    world = new World(() => store);
    progress = [];
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const engine = (nodes: NodeSpec[], extra: Partial<ConstructorParameters<typeof EmbeddedEngine>[0]> = {}) =>
    new EmbeddedEngine({
      site: { file: '/x/kseed.yaml', dir: '/x', nodes } as unknown as Site,
      store,
      profiles,
      connect: async (t) => new FakeBmc(t, world),
      clock,
      pollMs: 1000,
      onProgress: (e) => progress.push(e),
      ...extra,
    });

  it('provision: enroll -> inspect -> provide -> deploy, a transition event per step, timings per phase', async () => {
    world.add('n1', 1);
    const e = engine([node('n1', 1)]);
    const [o] = await e.provision(['n1'], { waitBooted: true });
    expect(o).toMatchObject({ node: 'n1', ok: true, state: 'active', verbs: ['enroll', 'inspect', 'provide', 'deploy'] });
    const transitions = store.listEvents('n1', { kind: 'transition' }).map((x) => `${x.from_state}->${x.to_state}`);
    expect(transitions).toEqual(['enroll->enroll', 'enroll->manageable', 'manageable->inspecting', 'inspecting->manageable', 'manageable->available', 'available->deploying', 'deploying->active']);
    expect(progress.filter((p) => p.kind === 'transition').map((p) => p.to)).toEqual(['enroll', 'manageable', 'inspecting', 'manageable', 'available', 'deploying', 'active']);
    // intent and result of every BMC step
    const steps = store.listEvents('n1', { kind: 'step' }).map((x) => `${x.detail.step}:${x.detail.status}`);
    expect(steps).toEqual(['identify:start', 'identify:done', 'netboot:start', 'netboot:done', 'power-off:start', 'power-off:done', 'netboot:start', 'netboot:done']);
    expect(world.log).toEqual(['n1 bootdev pxe', 'n1 power on', 'n1 bootdev pxe', 'n1 power on']);
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

  it('a ramdisk that never reports fails the phase with what it waited for', async () => {
    world.add('n1', 1, 'ok', 'silent');
    const e = engine([node('n1', 1)], { timeouts: { inspect: 600_000 } });
    const [o] = await e.provision(['n1']);
    expect(o).toMatchObject({ ok: false, state: 'inspect failed' });
    expect(o!.error).toBe("inspect timed out after 600 s waiting for the deploy ramdisk's inspect result");
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
    // only the inspection booted the node
    expect(world.log.filter((l) => l.endsWith('power on'))).toHaveLength(1);
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

    it('leaves a node alone that a live engine still holds', async () => {
      world.add('n1', 1);
      leftDeploying('n1', ownerName(hostname(), process.pid === 1 ? 2 : 1)); // pid 1 is always alive
      const [o] = await engine([node('n1', 1)], { owner: 'other' }).provision(['n1']);
      expect(o).toMatchObject({ ok: false, state: 'deploying', verbs: [] });
      expect(o!.error).toMatch(/claimed by kseed-engine@/);
      expect(world.log).toEqual([]);
    });
  });

  it('rebuild and undeploy of an active node', async () => {
    world.add('n1', 1);
    const e = engine([node('n1', 1)]);
    await e.provision(['n1']);
    expect(await e.rebuild('n1')).toMatchObject({ ok: true, state: 'active', verbs: ['rebuild'] });
    expect(store.listEvents('n1', { kind: 'agent-result' }).filter((x) => x.detail.stage === 'deploy')).toHaveLength(2);
    const u = await e.undeploy('n1');
    expect(u).toMatchObject({ ok: true, state: 'available', verbs: ['undeploy'] });
    expect(world.nodes.get(1)!.power).toBe('off');
    expect(await e.undeploy('n1')).toMatchObject({ ok: false, error: 'cannot undeploy n1: it is available' });
  });
});
