/**
 * What the boot services serve a node during the engine's operations, on a
 * real state store (SQLite in a temp dir, no sockets, no VMs): the engine's
 * intent (`data.op`) decides; a second PXE boot after an ok deploy result
 * never writes the disk again; inspect + deploy share one ramdisk boot
 * (WAIT=1); undeploy serves a wipe of the disk the hint selects.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StateBootBackend } from '../../../src/boot/backend.js';
import { formatTask, type Inventory } from '../../../src/boot/http/types.js';
import type { NodeState } from '../../../src/engine/lifecycle.js';
import { chooseRootDevice } from '../../../src/engine/rootdevice.js';
import { openState, type StateStore } from '../../../src/engine/state.js';
import type { NodeSpec } from '../../../src/site/types.js';

const GiB = 1024 ** 3;
const MAC = '52:54:00:00:00:01';
const spec = (hint: NodeSpec['root_device']): NodeSpec => ({
  name: 'n1',
  bmc: { type: 'ipmi', address: '127.0.0.1', port: 623, username: 'u', password: { env: 'X' } },
  macs: [MAC],
  roles: [],
  image: { url: 'http://10.0.0.1:8080/artifacts/os.raw', checksum: `sha256:${'ab'.repeat(32)}`, format: 'raw' },
  root_device: hint,
});
/** What the agent reports having streamed: the image's own sha256 (docs/AGENT-API.md). */
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const disk = (name: string, serial: string) => ({ name, size_bytes: 10 * GiB, model: '', serial, wwn: '', rotational: false, hctl: '', by_path: '' });
const inventory = (...disks: ReturnType<typeof disk>[]): Inventory => ({ cpus: 1, memory_mib: 512, disks, nics: [{ name: 'eth0', mac: MAC, link: true }], boot_mode: 'bios' });

describe('StateBootBackend during engine operations', () => {
  let dir: string;
  let store: StateStore;
  let b: StateBootBackend;
  const backend = (hint: NodeSpec['root_device'] = { serial: 'S-A' }) => (b = new StateBootBackend({ store, nodes: [spec(hint)], chooseRootDevice }));

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kse-backend-'));
    store = openState(dir);
    store.ensureNode('n1');
    backend();
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** What EmbeddedEngine.runVerb does: transition, then the intent with the event id it starts at. */
  const begin = (to: NodeState, verb: string, next?: string) => {
    store.transition('n1', to, { phase: verb });
    const since = store.listEvents('n1').at(-1)!.id;
    store.updateNode('n1', { data: { op: { verb, since, started_at: 0, owner: 'test', attempt: 1, ...(next ? { next } : {}) } } });
  };
  const end = (to: NodeState) => {
    store.updateNode('n1', { data: { op: null } });
    store.transition('n1', to);
  };
  const action = () => b.nodeByMac(MAC)?.action;
  const task = () => formatTask(b.taskFor('n1'));

  it('a second PXE boot after an ok deploy result boots the disk, never a second write; a rebuild writes again', () => {
    store.transition('n1', 'available');
    begin('deploying', 'deploy');
    b.onInventory('n1', inventory(disk('vda', 'S-A')));
    expect(action()).toBe('deploy');
    expect(task()).toMatch(/^TASK=deploy\n[^]*TARGET_DISK=\/dev\/vda\n/);
    b.onProgress('n1', { stage: 'deploy', pct: 50, msg: '' });
    expect(action()).toBe('deploy');
    // an ok report of another stage is not "done"
    b.onResult('n1', { status: 'ok', stage: 'inspect', msg: '' });
    expect(action()).toBe('deploy');
    b.onResult('n1', { status: 'ok', stage: 'deploy', msg: 'written', digest: DIGEST });
    // the ramdisk reboots before the engine moved the node to active
    expect(store.getNode('n1')!.state).toBe('deploying');
    expect(action()).toBe('local');
    expect(task()).toBe('TASK=none\nREBOOT=0\n');
    end('active');
    expect(action()).toBe('local');
    // rebuild: a new operation, the old result does not count
    begin('deploying', 'rebuild');
    expect(action()).toBe('deploy');
    expect(task()).toMatch(/^TASK=deploy\n/);
    b.onResult('n1', { status: 'ok', stage: 'deploy', msg: 'written again', digest: DIGEST });
    expect(action()).toBe('local');
  });

  it('before the engine wrote its intent, the operation starts at the transition into the state', () => {
    store.transition('n1', 'available');
    store.transition('n1', 'deploying');
    b.onResult('n1', { status: 'ok', stage: 'deploy', msg: 'written', digest: DIGEST });
    store.transition('n1', 'active');
    // e.g. a bench or an older seed: deploying again with no data.op
    store.transition('n1', 'deploying');
    expect(store.getNode('n1')!.data.op).toBeUndefined();
    expect(action()).toBe('deploy');
    b.onResult('n1', { status: 'ok', stage: 'deploy', msg: 'written', digest: DIGEST });
    expect(action()).toBe('local');
  });

  it('inspect followed by deploy: WAIT=1, then nothing while the engine moves the node, then the deploy task to the same boot', () => {
    store.transition('n1', 'manageable');
    begin('inspecting', 'inspect', 'deploy');
    const token = b.agentToken('n1');
    b.onInventory('n1', inventory(disk('vda', 'S-A')));
    expect(task()).toBe('TASK=inspect\nWAIT=1\nREBOOT=0\n');
    b.onResult('n1', { status: 'ok', stage: 'inspect', msg: 'inventory posted' });
    // the engine has not moved yet: no second inspection, the ramdisk keeps asking
    expect(task()).toBe('TASK=none\nREBOOT=0\n');
    expect(action()).toBe('none');
    end('manageable');
    expect(task()).toBe('TASK=none\nREBOOT=0\n');
    store.transition('n1', 'available');
    begin('deploying', 'deploy');
    expect(task()).toMatch(/^TASK=deploy\n[^]*TARGET_DISK=\/dev\/vda\nREBOOT=1\n$/);
    // the same boot's token still works: no new boot script was served
    expect(b.verifyToken('n1', token)).toBe(true);
    expect(store.listEvents('n1', { kind: 'boot-script' })).toHaveLength(1);
  });

  it('inspect alone: no WAIT, the ramdisk powers off', () => {
    store.transition('n1', 'manageable');
    begin('inspecting', 'inspect');
    expect(task()).toBe('TASK=inspect\nREBOOT=0\n');
  });

  it('undeploy boots the ramdisk with a wipe of the disk the hint selects; refuses none or several; nothing after the wipe', () => {
    store.transition('n1', 'active');
    begin('deleting', 'undeploy');
    expect(action()).toBe('deploy');
    b.onInventory('n1', inventory(disk('vda', 'S-A'), disk('vdb', 'S-B')));
    expect(task()).toBe('TASK=wipe\nTARGET_DISK=/dev/vda\nREBOOT=0\n');
    backend({ serial: 'NOPE' });
    expect(task()).toMatch(/^TASK=fail\nREASON=no disk matches root-device hint \{"serial":"NOPE"\}/);
    backend({ size_gb: 10 });
    expect(task()).toMatch(/^TASK=fail\nREASON=2 disks match root-device hint \{"size_gb":10\} \(vda, vdb\)/);
    backend();
    b.onResult('n1', { status: 'ok', stage: 'wipe', msg: 'erased' });
    expect(task()).toBe('TASK=none\nREBOOT=0\n');
    expect(action()).toBe('none');
    end('available');
    expect(action()).toBe('none');
  });
});

describe('boot services pick the disk with the hint the engine checks', () => {
  it("the hardware profile's root-device hint applies where the site file gives none (bootBackendOptions)", async () => {
    const { bootBackendOptions } = await import('../../../src/service/boot-nodes.js');
    const { writeFileSync, mkdirSync } = await import('node:fs');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kse-bootnodes-'));
    mkdirSync(path.join(dir, '.kseed'));
    const store = openState(path.join(dir, '.kseed'));
    try {
      // qemu-lab's profile hint (shipped in hardware-profiles/) and no hint on the node
      const node = { ...spec(undefined), profile: 'qemu-lab' };
      delete (node as Partial<NodeSpec>).root_device;
      const site = { dir, file: path.join(dir, 'kseed.yaml'), site: 't', nodes: [node], handoff: { ssh_user: 'root' } } as unknown as import('../../../src/site/types.js').Site;
      writeFileSync(site.file, '');
      const { options } = await bootBackendOptions(site, path.join(dir, '.kseed'), store);
      const { loadSiteProfiles } = await import('../../../src/profiles/load.js');
      const profile = (await loadSiteProfiles(dir)).find((p) => p.name === 'qemu-lab')!;
      expect(profile.root_device).toBeDefined();
      expect(options.rootDevice!(node)).toEqual(profile.root_device);
      // and the site file's own hint still wins
      expect(options.rootDevice!(spec({ serial: 'S-B' }))).toEqual({ serial: 'S-B' });
      const b = new StateBootBackend({ store, ...options, nodes: [{ ...node, root_device: undefined }] });
      store.ensureNode('n1');
      store.transition('n1', 'deploying', { phase: 'deploy' });
      b.onInventory('n1', inventory(disk('vda', 'S-A')));
      // qemu-lab's hint is name /dev/vda: the profile selects the disk
      expect(formatTask(b.taskFor('n1'))).toMatch(/^TASK=deploy\n[^]*TARGET_DISK=\/dev\/vda\n/);
      // without the engine's view the same node has no hint, and the seed refuses to pick a disk
      const bare = new StateBootBackend({ store, nodes: [{ ...node, root_device: undefined }], chooseRootDevice });
      expect(formatTask(bare.taskFor('n1'))).toMatch(/^TASK=fail\n/);
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
