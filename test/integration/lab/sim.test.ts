/**
 * Simulated nodes (`kseed lab up --sim`) provisioned end to end by the
 * embedded engine, every command its own process as a user runs it: real
 * ipmi_sim BMCs (power and bootdev from kseed, and from ipmitool), kseed's
 * own DHCP/TFTP/HTTP in the lab netns, and the simulator speaking DHCP with
 * PXE options (arch 0 and 7), TFTP, iPXE scripts and the agent API from each
 * node's own namespace and MAC. Lab "fs", BMC ports 15600+; ~30 s.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../../src/engine/state.js';
import type { SimNodeStatus } from '../../../src/lab/sim/daemon.js';
import { ensureBuilt, runKseed } from '../../helpers/cli.js';
import { needPeers, needRoot } from '../../helpers/peers.js';
import { ipmitool, netnsList, until } from './helpers.js';

const LAB = 'fs';
const BASE = 15600;
const NODES = 5;
const UEFI = 2;
const MiB = 1024 * 1024;

const ok = needRoot() && needPeers('ip', 'ipmi_sim', 'ipmitool', '/usr/lib/ipxe/undionly.kpxe', '/usr/lib/ipxe/snponly.efi');

describe.skipIf(!ok)('lab up --sim: simulated nodes provisioned by the embedded engine', () => {
  let root = '';
  let site = '';
  let image: Buffer;
  let password = '';
  let lab: any;
  const k = (args: string[], timeoutMs = 60_000) => runKseed(['--config', site, ...args], { cwd: root, timeoutMs });
  const nodeDir = (n: string) => path.join(root, '.kseed', 'lab', LAB, 'nodes', n);
  const sim = (n: string): SimNodeStatus => JSON.parse(readFileSync(path.join(nodeDir(n), 'sim.json'), 'utf8'));

  beforeAll(async () => {
    ensureBuilt();
    root = mkdtempSync(path.join(tmpdir(), 'ksl-sim-'));
    chmodSync(root, 0o755);
    site = path.join(root, 'kseed.yaml');
    const art = path.join(root, 'artifacts');
    mkdirSync(art);
    // the simulator never runs the ramdisk's kernel: any bytes stand for it (it checks their length)
    writeFileSync(path.join(art, 'vmlinuz'), randomBytes(2 * MiB));
    writeFileSync(path.join(art, 'initramfs.gz'), randomBytes(3 * MiB));
    // a raw image with data at both ends of holes: the disk must hold it byte for byte and stay sparse
    image = Buffer.alloc(8 * MiB);
    randomBytes(MiB).copy(image, 0);
    randomBytes(MiB).copy(image, 6 * MiB);
    writeFileSync(path.join(art, 'sim.raw'), image);
    const sum = createHash('sha256').update(image).digest('hex');
    const up = await k(['--json', 'lab', 'up', '--sim', String(NODES), '--uefi-nodes', String(UEFI), '--unlisted-nodes', '1', '--name', LAB, '--bmc-port-base', String(BASE), '--image-url', 'http://10.77.0.1:8080/artifacts/sim.raw', '--image-checksum', `sha256:${sum}`]);
    expect(up.code, up.stderr).toBe(0);
    lab = JSON.parse(up.stdout);
    password = readFileSync(lab.bmc_login_file, 'utf8').trim();
    const seed = await k(['--json', 'up', '--artifacts', art]);
    expect(seed.code, seed.stderr).toBe(0);
  }, 120_000);

  // a failure's evidence goes before the state directory does: the simulator's and the seed's own words
  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail' || !root) return;
    const tail = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').slice(-40).join('\n') : `(no ${f})`);
    const labDir = path.join(root, '.kseed', 'lab', LAB);
    const nodes = (lab?.nodes ?? []).map((n: any) => {
      const f = path.join(nodeDir(n.name), 'sim.json');
      if (!existsSync(f)) return `${n.name}: no sim.json`;
      const st = JSON.parse(readFileSync(f, 'utf8')) as SimNodeStatus;
      return `${n.name}: ${st.power} ${st.phase} errors=${JSON.stringify(st.errors)} phases=${st.phases.map((p) => p.phase + (p.detail ? `(${p.detail})` : '')).join(',')}`;
    });
    process.stderr.write(`--- sim.out\n${tail(path.join(labDir, 'sim.out'))}\n--- nodes\n${nodes.join('\n')}\n--- boot-serve.log\n${tail(path.join(root, '.kseed', 'logs', 'boot-serve.log'))}\n`);
  });

  afterAll(async () => {
    if (!root) return;
    try {
      if (existsSync(site)) await k(['down']);
      const down = await k(['--json', 'lab', 'down', '--name', LAB]);
      expect(down.code, down.stderr).toBe(0);
      // the node namespaces go with the lab
      expect(netnsList().filter((n) => n.startsWith(`ksl-${LAB}`))).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);

  it('creates N nodes without QEMU: a real BMC each, a namespace each with the node MAC on eth0, one simulator', () => {
    expect(lab.nodes).toHaveLength(NODES + 1);
    for (const n of lab.nodes) {
      expect(ipmitool(Number(n.bmc.split(':')[1]), password, 'chassis', 'power', 'status')).toMatch(/Chassis Power is off/);
      const link = JSON.parse(execFileSync('ip', ['-n', `ksl-${LAB}-n${lab.nodes.indexOf(n)}`, '-j', 'link', 'show', 'dev', 'eth0'], { encoding: 'utf8' }))[0];
      expect(link.address).toBe(n.mac);
    }
    const pid = Number(readFileSync(path.join(root, '.kseed', 'lab', LAB, 'sim.pid'), 'utf8'));
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('daemon.js');
    for (const n of lab.nodes) expect(existsSync(path.join(nodeDir(n.name), 'vm.sh'))).toBe(false);
  });

  it('provision --all --wait --wait-booted: every node active, booted from the disk its agent wrote; an unknown MAC gets no deploy boot', async () => {
    const unlisted = lab.nodes.find((n: any) => !n.listed);
    const uport = Number(unlisted.bmc.split(':')[1]);
    // the stranger PXE-boots alongside, through its own BMC and the reference client
    ipmitool(uport, password, 'chassis', 'bootdev', 'pxe');
    ipmitool(uport, password, 'chassis', 'power', 'on');

    const r = await k(['--json', 'provision', '--all', '--wait', '--wait-booted'], 120_000);
    expect(r.code, r.stderr).toBe(0);
    const st = await k(['--json', 'status']);
    const nodes = JSON.parse(st.stdout).nodes as any[];
    expect(nodes.map((n) => [n.node, n.state, n.booted_hostname])).toEqual(lab.nodes.filter((n: any) => n.listed).map((n: any) => [n.name, 'active', n.name]));

    const sum = `sha256:${createHash('sha256').update(image).digest('hex')}`;
    const store = openState(path.join(root, '.kseed'));
    try {
      for (const n of lab.nodes.filter((x: any) => x.listed)) {
        const s = sim(n.name);
        const phases = s.phases.map((p) => p.phase);
        expect(s.errors).toEqual([]);
        // the firmware's PXE: the first stage its architecture (option 93) asks for, bytes checked by the simulator
        expect(s.phases.find((p) => p.phase === 'tftp')?.detail).toBe(n.firmware === 'uefi' ? 'snponly.efi' : 'undionly.kpxe');
        for (const p of ['pxe-dhcp', 'tftp', 'ipxe-dhcp', 'ipxe-script', 'ramdisk', 'inventory', 'deploy', 'deployed', 'disk-boot', 'booted']) expect(phases, n.name).toContain(p);
        expect(s.phase).toBe('idle');
        // the seed counted the digest of the image it serves, and the OS's callback
        const results = store.listEvents(n.name, { kind: 'agent-result' }).filter((e) => e.detail.stage === 'deploy' && e.detail.status === 'ok');
        expect(results).toHaveLength(1);
        expect(store.listEvents(n.name, { kind: 'callback' }).filter((e) => e.detail.stage === 'booted')).toHaveLength(1);
        const inv = store.listEvents(n.name, { kind: 'inventory' });
        expect(inv.length).toBeGreaterThan(0);
        // the disk: the image byte for byte, holes left as holes
        const disk = path.join(nodeDir(n.name), 'disk.img');
        const fd = openSync(disk, 'r');
        const back = Buffer.alloc(image.length);
        readSync(fd, back, 0, back.length, 0);
        closeSync(fd);
        expect(`sha256:${createHash('sha256').update(back).digest('hex')}`).toBe(sum);
        expect(statSync(disk).size).toBe(n.disk_gb * 2 ** 30);
        expect(statSync(disk).blocks * 512).toBeLessThan(4 * MiB);
      }
    } finally {
      store.close();
    }

    // the unknown MAC: offered nothing it could boot; never a script, a ramdisk or a token
    const u = await until('the unlisted node to give up its PXE boot', () => {
      const s = sim(unlisted.name);
      return s.phase === 'idle' ? s : undefined;
    }, 30_000);
    const up = u.phases.map((p) => p.phase);
    expect(up).not.toContain('tftp');
    expect(up).not.toContain('ipxe-script');
    expect(up).not.toContain('ramdisk');
    // PXE-E51 (no offer), then BIOS tries the disk, which holds nothing
    expect(up).toEqual(['power-on', 'pxe-dhcp', 'firmware-next', 'disk-boot', 'no-bootable-disk', 'idle']);
    expect(u.phases[2]!.detail).toMatch(/^PXE-E51: no DHCP offer for /);
    expect(u.counts.http).toBe(0);
    const log = readFileSync(path.join(root, '.kseed', 'logs', 'boot-serve.log'), 'utf8');
    expect(log).not.toMatch(new RegExp(`"mac":"${unlisted.mac}"[^\\n]*"bootFile"`));
  }, 180_000);

  it('a BMC power off stops the simulated node; a power on boots its disk again, whose spent token the seed refuses', async () => {
    const n = lab.nodes[0];
    const port = Number(n.bmc.split(':')[1]);
    ipmitool(port, password, 'chassis', 'power', 'off');
    expect(ipmitool(port, password, 'chassis', 'power', 'status')).toMatch(/is off/);
    await until('the node to stop', () => sim(n.name).power === 'off', 5000);
    const from = sim(n.name).phases.length;
    ipmitool(port, password, 'chassis', 'power', 'on');
    // an active node's script is the local boot; its OS calls back with the token of its deploy,
    // which the first callback revoked (docs/AGENT-API.md "Agent token" 5)
    const s = await until('the second boot', () => (sim(n.name).phase === 'idle' && sim(n.name).phases.length > from ? sim(n.name) : undefined), 20_000);
    const again = s.phases.slice(from - 1).map((p) => p.phase);
    expect(again).toEqual(['off', 'power-on', 'pxe-dhcp', 'tftp', 'ipxe-dhcp', 'ipxe-script', 'disk-boot', 'os', 'os-dhcp', 'callback-refused', 'idle']);
    expect(s.phases.find((p, i) => i >= from && p.phase === 'callback-refused')?.detail).toBe('HTTP 403');
  }, 60_000);
});
