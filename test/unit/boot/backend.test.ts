/**
 * StateBootBackend over a real state store (SQLite in a temp dir, no
 * sockets): what each lifecycle state boots, per-node agent tokens, the
 * deploy task's disk choice, and the reports recorded as events.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StateBootBackend, tokenId } from '../../../src/boot/backend.js';
import { formatTask, ResultRefused, type Inventory } from '../../../src/boot/http/types.js';
import { dhcpNodes } from '../../../src/boot/serve.js';
import { chooseRootDevice } from '../../../src/engine/rootdevice.js';
import { openState, type StateStore } from '../../../src/engine/state.js';
import type { NodeSpec, Site } from '../../../src/site/types.js';

const bmc = { type: 'ipmi' as const, address: '127.0.0.1', port: 623, username: 'u', password: { env: 'X' } };
const IMAGE = { url: 'http://10.0.0.1:8080/artifacts/os.raw.gz', checksum: `sha256:${'AB'.repeat(32)}`, format: 'raw' as const, compression: 'gzip' as const };
const nodes: NodeSpec[] = [
  { name: 'n1', bmc, macs: ['52:54:00:00:00:01', '52:54:00:00:01:01'], roles: [], image: IMAGE, root_device: { size_gb: { min: 10 } }, ip: '10.0.0.11' },
  { name: 'n2', bmc, macs: ['52:54:00:00:00:02'], roles: [], image: { ...IMAGE, format: 'qcow2' } },
  { name: 'n3', bmc, macs: ['52:54:00:00:00:03'], roles: [] },
];
const GiB = 1024 ** 3;
const disk = (name: string, gb: number) => ({ name, size_bytes: gb * GiB, model: '', serial: `S-${name}`, wwn: '', rotational: false, hctl: '', by_path: '' });
const inventory = (disks: ReturnType<typeof disk>[]): Inventory => ({ cpus: 2, memory_mib: 512, disks, nics: [{ name: 'eth0', mac: '52:54:00:00:00:01', link: true }], boot_mode: 'bios' });

describe('StateBootBackend', () => {
  let dir: string;
  let store: StateStore;
  let b: StateBootBackend;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kst-backend-'));
    store = openState(dir);
    b = new StateBootBackend({ store, nodes, chooseRootDevice });
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const put = (name: string, state: Parameters<StateStore['transition']>[1]) => {
    store.ensureNode(name);
    store.transition(name, state);
  };

  it('boots by lifecycle state; unknown MACs and unenrolled nodes get nothing to do', () => {
    expect(b.nodeByMac('52:54:00:99:99:99')).toBeUndefined();
    expect(b.nodeByName('nope')).toBeUndefined();
    expect(b.nodeByMac('52:54:00:00:00:01')).toEqual({ name: 'n1', macs: ['52:54:00:00:00:01', '52:54:00:00:01:01'], action: 'none' });
    const seen: Record<string, string | undefined> = {};
    for (const s of ['manageable', 'inspecting', 'available', 'deploying', 'deploy failed', 'active', 'handed-off'] as const) {
      put('n1', s);
      // upper case and the second NIC find the same node
      seen[s] = b.nodeByMac('52:54:00:00:01:01'.toUpperCase())?.action;
    }
    expect(seen).toEqual({ manageable: 'none', inspecting: 'inspect', available: 'none', deploying: 'deploy', 'deploy failed': 'none', active: 'local', 'handed-off': 'local' });
  });

  it('tokens go only to the node itself: the address holding its lease, else the neighbour table (docs/AGENT-API.md)', () => {
    put('n1', 'inspecting');
    const neigh: Record<string, string> = { '10.0.0.77': '52:54:00:00:01:01', '10.0.0.66': '52:54:00:00:00:66' };
    const nb = new StateBootBackend({ store, nodes, chooseRootDevice, neighbourMac: (a) => neigh[a] });
    // authoritative: n1's second NIC holds 10.0.0.11; 10.0.0.12 is leased to a stranger
    store.allocateLease('52:54:00:00:01:01', { start: '10.0.0.11', end: '10.0.0.11', fixed: '10.0.0.11' }, { ttlSeconds: 600, state: 'bound' });
    store.allocateLease('52:54:00:00:00:66', { start: '10.0.0.12', end: '10.0.0.12', fixed: '10.0.0.12' }, { ttlSeconds: 600, state: 'bound' });
    const own = nb.agentToken('n1', { address: '10.0.0.11' });
    expect(own).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // a stranger, with or without a lease, gets nothing and revokes nothing
    expect(nb.agentToken('n1', { address: '10.0.0.12' })).toBeUndefined();
    expect(nb.agentToken('n1', { address: '10.0.0.66' })).toBeUndefined();
    expect(nb.agentToken('n1', { address: '::ffff:10.0.0.66' })).toBeUndefined();
    expect(nb.verifyToken('n1', own!)).toBe(true);
    expect(store.listEvents('n1', { kind: 'token-refused' }).map((e) => e.detail.client)).toEqual(['10.0.0.12', '10.0.0.66', '::ffff:10.0.0.66']);
    // no lease at the address (proxy DHCP): the neighbour table must show one of the node's MACs
    expect(nb.agentToken('n1', { address: '10.0.0.77' })).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(nb.agentToken('n1', { address: '10.0.0.78' })).toBeUndefined();
    // a stranger that took the node's leased address: its own MAC answers for it
    neigh['10.0.0.11'] = '52:54:00:00:00:66';
    expect(nb.agentToken('n1', { address: '10.0.0.11' })).toBeUndefined();
    // the node itself answering there (its first NIC also counts)
    neigh['10.0.0.11'] = '52:54:00:00:00:01';
    expect(nb.agentToken('n1', { address: '10.0.0.11' })).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('tokens: one live token per node, valid only for that node, replaced at each boot script', () => {
    put('n1', 'inspecting');
    put('n3', 'inspecting');
    const t1 = b.agentToken('n1');
    const t3 = b.agentToken('n3');
    expect(t1).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(b.verifyToken('n1', t1)).toBe(true);
    expect(b.verifyToken('n3', t1)).toBe(false);
    expect(b.verifyToken('n1', t3)).toBe(false);
    expect(b.verifyToken('n1', '')).toBe(false);
    expect(b.verifyToken('ghost', t1)).toBe(false);
    const again = b.agentToken('n1');
    expect(b.verifyToken('n1', t1)).toBe(false);
    expect(b.verifyToken('n1', again)).toBe(true);
    expect(() => b.agentToken('ghost')).toThrow(/unknown node ghost/);
    // the event names the token by id only
    const ev = store.listEvents('n1', { kind: 'boot-script' });
    expect(ev.map((e) => e.detail)).toEqual([
      { purpose: 'inspect', token_id: tokenId(t1) },
      { purpose: 'inspect', token_id: tokenId(again) },
    ]);
    expect(JSON.stringify(store.listEvents())).not.toContain(t1);
  });

  it('tasks: inspect, deploy (disk chosen by the hint after the inventory), refusals', () => {
    expect(b.taskFor('n1')).toEqual({ task: 'none', reboot: false });
    put('n1', 'inspecting');
    expect(formatTask(b.taskFor('n1'))).toBe('TASK=inspect\nREBOOT=0\n');
    put('n1', 'deploying');
    expect(b.taskFor('n1')).toEqual({ task: 'deploy', imageUrl: IMAGE.url, imageChecksum: IMAGE.checksum.toLowerCase(), imageFormat: 'raw', imageCompression: 'gzip', reboot: true });
    b.onInventory('n1', inventory([disk('vda', 20), disk('vdb', 5)]));
    expect(b.taskFor('n1')).toMatchObject({ task: 'deploy', targetDisk: '/dev/vda' });
    b.onInventory('n1', inventory([disk('vda', 20), disk('vdb', 50)]));
    const t = b.taskFor('n1');
    expect(t.task).toBe('fail');
    expect(formatTask(t)).toMatch(/^TASK=fail\nREASON=2 disks match root-device hint .*\nREBOOT=0\n$/);
    put('n2', 'deploying');
    expect(b.taskFor('n2')).toMatchObject({ task: 'fail', reason: expect.stringContaining('qcow2') });
    put('n3', 'deploying');
    expect(b.taskFor('n3')).toMatchObject({ task: 'fail', reason: 'node n3 has no image in the site file' });
  });

  it('qcow2: the node waits while the seed converts, then streams the raw.zst; too large or bad is its deploy failure', () => {
    type Status = ReturnType<NonNullable<ConstructorParameters<typeof StateBootBackend>[0]['images']>['status']>;
    let status: Status = { state: 'pending' };
    const asked: string[] = [];
    const withHint = nodes.map((n) => (n.name === 'n2' ? { ...n, root_device: { size_gb: { min: 1 } } } : n));
    const conv = new StateBootBackend({ store, nodes: withHint, chooseRootDevice, images: { status: (img) => (asked.push(img.url), status) } });
    put('n2', 'deploying');
    conv.onInventory('n2', inventory([disk('vda', 4)]));
    expect(conv.taskFor('n2')).toEqual({ task: 'none', reboot: false });
    expect(conv.taskFor('n2')).toEqual({ task: 'none', reboot: false });
    // one event for the engine's fast track ("a ramdisk took the op"), not one per poll
    expect(store.listEvents('n2', { kind: 'task' }).map((e) => e.detail)).toEqual([{ task: 'none', waiting: `seed converting ${IMAGE.url}` }]);
    expect(asked).toEqual([IMAGE.url, IMAGE.url]);
    const sha = 'c'.repeat(64);
    status = { state: 'ready', image: { name: 'sha256-ab.raw.zst', sha256: sha, bytes: 123, compression: 'zstd', virtualSize: 3 * GiB } };
    const t = conv.taskFor('n2');
    expect(t).toEqual({ task: 'deploy', imageUrl: '/v1/images/n2/sha256-ab.raw.zst', imageChecksum: `sha256:${sha}`, imageFormat: 'raw', imageCompression: 'zstd', imageSize: 123, targetDisk: '/dev/vda', reboot: true });
    expect(formatTask(t)).toContain('IMAGE_SIZE=123\n');
    status = { state: 'ready', image: { name: 'sha256-ab.raw.zst', sha256: sha, bytes: 123, compression: 'zstd', virtualSize: 5 * GiB } };
    expect(conv.taskFor('n2')).toMatchObject({ task: 'fail', reason: `image ${IMAGE.url}: too large: its virtual size 5.0 GiB (${5 * GiB} bytes) does not fit /dev/vda (4.0 GiB); nothing written` });
    status = { state: 'failed', reason: `image ${IMAGE.url}: corrupt qcow2: qemu-img check found 3 corruptions` };
    expect(conv.taskFor('n2')).toMatchObject({ task: 'fail', reason: `image ${IMAGE.url}: corrupt qcow2: qemu-img check found 3 corruptions` });
  });

  it('a deploy is done only with the digest of the image served: a bare or wrong `ok` is refused and changes nothing', () => {
    put('n1', 'deploying');
    b.onInventory('n1', inventory([disk('vda', 20)]));
    const served = b.taskFor('n1');
    expect(served).toMatchObject({ task: 'deploy', imageChecksum: IMAGE.checksum.toLowerCase() });
    expect(() => b.onResult('n1', { status: 'ok', stage: 'deploy', msg: 'forged' })).toThrow(ResultRefused);
    expect(() => b.onResult('n1', { status: 'ok', stage: 'deploy', msg: 'forged', digest: `sha256:${'cd'.repeat(32)}` })).toThrow(/not the served image's/);
    expect(store.listEvents('n1', { kind: 'agent-result' })).toEqual([]);
    expect(store.listEvents('n1', { kind: 'result-refused' }).map((e) => e.detail.reason)).toEqual(['no digest', `digest sha256:${'cd'.repeat(32)} is not the served image's ${IMAGE.checksum.toLowerCase()}`]);
    expect(b.nodeByName('n1')?.action).toBe('deploy');
    // a failure needs no digest; then the real report, with the sha256 the agent computed while streaming
    b.onResult('n1', { status: 'fail', stage: 'deploy', msg: 'checksum mismatch' });
    b.onResult('n1', { status: 'ok', stage: 'deploy', msg: 'written', digest: (served as { imageChecksum: string }).imageChecksum });
    expect(store.listEvents('n1', { kind: 'agent-result' }).map((e) => [e.detail.status, e.detail.digest])).toEqual([['fail', undefined], ['ok', IMAGE.checksum.toLowerCase()]]);
    expect(b.nodeByName('n1')?.action).toBe('local');
    // a qcow2 node: the digest of the seed's conversion, and none while it is not ready
    const sha = 'ef'.repeat(32);
    let ready = false;
    const conv = new StateBootBackend({ store, nodes, chooseRootDevice, images: { status: () => (ready ? { state: 'ready', image: { name: 'x.raw.zst', sha256: sha, bytes: 1, compression: 'zstd', virtualSize: 1 } } : { state: 'pending' }) } });
    put('n2', 'deploying');
    expect(() => conv.onResult('n2', { status: 'ok', stage: 'deploy', msg: '', digest: `sha256:${sha}` })).toThrow(/no image is served/);
    ready = true;
    expect(() => conv.onResult('n2', { status: 'ok', stage: 'deploy', msg: '', digest: IMAGE.checksum.toLowerCase() })).toThrow(ResultRefused);
    conv.onResult('n2', { status: 'ok', stage: 'deploy', msg: '', digest: `sha256:${sha}` });
    expect(store.listEvents('n2', { kind: 'agent-result' }).length).toBe(1);
  });

  it('reports become state-store events, with the id of the token they came with', () => {
    put('n1', 'inspecting');
    const tok = b.agentToken('n1');
    expect(b.verifyToken('n1', tok)).toBe(true);
    b.onInventory('n1', inventory([disk('vda', 20)]));
    expect(b.taskFor('n1').task).toBe('inspect');
    b.onProgress('n1', { stage: 'deploy', pct: 40, msg: 'x'.repeat(5000) });
    b.onResult('n1', { status: 'ok', stage: 'inspect', msg: 'inventory posted' });
    expect(b.taskFor('n1').task).toBe('none');
    b.onCallback('n1', { stage: 'booted', hostname: 'n1', fields: { stage: 'booted', hostname: 'n1' } });
    const ev = store.listEvents('n1').filter((e) => e.kind !== 'created' && e.kind !== 'transition' && e.kind !== 'boot-script');
    const id = tokenId(tok);
    expect(ev.map((e) => [e.kind, e.detail.token_id])).toEqual([
      ['inventory', id],
      // a handed-out task is an event (the engine's sign of a live ramdisk); TASK=none polls are not
      ['task', id],
      ['agent-progress', id],
      ['agent-result', id],
      ['callback', id],
    ]);
    expect(ev[0]!.detail).toMatchObject({ cpus: 2, boot_mode: 'bios', macs: ['52:54:00:00:00:01'], disks: [{ name: 'vda', size_bytes: 20 * GiB }] });
    expect(ev[1]!.detail.task).toBe('inspect');
    expect((ev[2]!.detail.msg as string).length).toBeLessThan(1100);
    expect(ev[4]!.detail).toMatchObject({ stage: 'booted', hostname: 'n1', fields: { stage: 'booted', hostname: 'n1' } });
    expect(store.getNode('n1')!.data.inventory).toMatchObject({ cpus: 2 });
    // "booted" was the token's last use: the installed OS keeps a copy of it
    expect(b.verifyToken('n1', tok)).toBe(false);
  });

  it('NoCloud data names the node; none for strangers', () => {
    expect(b.nocloud('n1')).toEqual({ metaData: 'instance-id: kseed-n1\nlocal-hostname: n1\n', userData: '#cloud-config\nhostname: n1\npreserve_hostname: false\n' });
    expect(b.nocloud('ghost')).toBeUndefined();
  });
});

describe('dhcpNodes', () => {
  it('every MAC of every node, the fixed address on the PXE (first) MAC only', () => {
    expect(dhcpNodes({ nodes } as Site)).toEqual([
      { mac: '52:54:00:00:00:01', name: 'n1', ip: '10.0.0.11' },
      { mac: '52:54:00:00:01:01', name: 'n1' },
      { mac: '52:54:00:00:00:02', name: 'n2' },
      { mac: '52:54:00:00:00:03', name: 'n3' },
    ]);
  });
});
