/**
 * Issue 21's goal: the main job from a bundle alone, with no network. On the
 * "connected" side the deploy ramdisk and the test OS are built (apt) and put
 * in a bundle; then every kseed command runs inside network namespace
 * ksb-air, which has only a loopback (no route, no DNS): bundle load into a
 * fresh state dir, images ramdisk/testos (answered from the bundle, PATH
 * without apt), lab up (1 BIOS node; its BMC on the namespace's loopback),
 * up, provision --all --wait --wait-booted, handoff (the Kolla-Ansible files).
 * Lab "air" (netns ksl-air), BMC ports 17900+.
 */
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRamdisk } from '../../src/images/ramdisk.js';
import { buildTestOs } from '../../src/images/osimage.js';
import { which } from '../../src/util/tools.js';
import { ensureBuilt, KSEED_BIN, REPO, type StartedRun } from '../helpers/cli.js';
import { needPeers, needRoot } from '../helpers/peers.js';

const NS = 'ksb-air';
const LAB = 'air';
const CACHE = process.env.KSEED_CACHE ?? path.join(REPO, 'cache');
const ok = needRoot() && needPeers('ip', 'nsenter', 'ipmi_sim', 'ipmitool', 'qemu-system-x86_64', 'qemu-img', 'busybox', 'apt-get', 'dpkg-deb', 'mkfs.fat', 'mcopy', 'syslinux', 'zstd', 'tar');

/**
 * kseed inside ksb-air; `env` is added to (PATH replaced by) the caller's.
 * nsenter, not `ip netns exec`: that one gives each command a private mount
 * namespace, so the lab netns `lab up` creates (a bind mount on
 * /run/netns/ksl-air) would be gone for the next command. Only the network
 * namespace is the point here. Its absolute path, since env.PATH may be empty.
 */
function air(args: string[], env: Record<string, string> = {}): Promise<StartedRun> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(which('nsenter')!, [`--net=/run/netns/${NS}`, process.execPath, KSEED_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (process.env.E2E_VERBOSE) process.stderr.write(d);
    });
    child.once('exit', (code) => {
      let json;
      try {
        json = args.includes('--json') ? JSON.parse(stdout) : undefined;
      } catch {
        // not JSON: the assertion on code shows stderr
      }
      resolve({ code: code ?? 1, stdout, stderr, json, ms: Date.now() - t0 });
    });
  });
}

describe.skipIf(!ok)('air-gapped: the main job from a bundle, in a namespace with only a loopback', () => {
  let root = '';
  let site = '';
  const cfg = () => ['--config', site];

  beforeAll(async () => {
    ensureBuilt();
    root = mkdtempSync(path.join(tmpdir(), 'ksb-air-'));
    chmodSync(root, 0o755);
    site = path.join(root, 'seed', 'kseed.yaml');
    mkdirSync(path.dirname(site));
    // the connected machine: build (or reuse) and bundle
    await buildRamdisk({ cacheDir: CACHE });
    await buildTestOs({ cacheDir: CACHE });
    execFileSync(process.execPath, [KSEED_BIN, 'bundle', 'create', '--only', 'ramdisk,testos', '--cache', CACHE, '--out', path.join(root, 'site.tar')], { stdio: 'pipe' });
    try {
      execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' }); // left by a killed run
    } catch {
      // none
    }
  }, 900_000);

  afterAll(async () => {
    if (site && existsSync(site)) await air([...cfg(), 'down']);
    await air([...cfg(), 'lab', 'down', '--name', LAB]);
    try {
      execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
    } catch {
      // not made
    }
    if (root && !process.env.E2E_KEEP) rmSync(root, { recursive: true, force: true });
  }, 180_000);

  it('loads the bundle and provisions a lab node to its OS, with no route and no DNS', async () => {
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    expect(execFileSync('ip', ['-n', NS, '-o', 'link'], { encoding: 'utf8' }).trim().split('\n').map((l) => l.split(/\s+/)[1])).toEqual(['lo:']);
    expect(execFileSync('ip', ['-n', NS, 'route'], { encoding: 'utf8' }).trim()).toBe('');

    const load = await air([...cfg(), '--json', 'bundle', 'load', path.join(root, 'site.tar')]);
    expect(load.code, load.stderr).toBe(0);

    // no apt on PATH: the image commands must answer from the loaded bundle
    const noApt = path.join(root, 'bin');
    mkdirSync(noApt);
    const ramdisk = await air([...cfg(), '--json', 'images', 'ramdisk'], { PATH: noApt });
    expect(ramdisk.code, ramdisk.stderr).toBe(0);
    expect(ramdisk.json.reused).toBe(true);
    const testos = await air([...cfg(), '--json', 'images', 'testos'], { PATH: noApt });
    expect(testos.code, testos.stderr).toBe(0);
    expect(testos.json.reused).toBe(true);
    const artifacts = path.join(root, 'artifacts');
    mkdirSync(artifacts);
    linkSync(ramdisk.json.kernel, path.join(artifacts, 'vmlinuz'));
    linkSync(ramdisk.json.initramfs, path.join(artifacts, 'initramfs.gz'));
    linkSync(testos.json.zst, path.join(artifacts, 'testos.raw.zst'));

    const lab = await air([
      ...cfg(), '--json', 'lab', 'up', '--name', LAB, '--nodes', '1', '--disk-gb', '1', '--bmc-port-base', '17900',
      '--image-url', 'http://10.77.0.1:8080/artifacts/testos.raw.zst', '--image-checksum', `sha256:${testos.json.sha256.zst}`, '--image-compression', 'zstd',
    ]);
    expect(lab.code, lab.stderr).toBe(0);
    // the lab's site file has no hand-off section; Kolla-Ansible needs its VIP
    appendFileSync(site, ['handoff:', '  kolla:', '    vip: 10.77.0.250', ''].join('\n'));
    const up = await air([...cfg(), '--json', 'up', '--no-api', '--artifacts', artifacts]);
    expect(up.code, up.stderr).toBe(0);

    const prov = await air([...cfg(), '--json', 'provision', '--all', '--wait', '--wait-booted', '--timeout', '900']);
    expect(prov.code, `${prov.stderr}\n${prov.stdout}`).toBe(0);
    expect(prov.json.nodes).toHaveLength(1);
    expect(prov.json.nodes[0]).toMatchObject({ ok: true, state: 'active' });
    expect(prov.json.nodes[0].status.booted_hostname).toBe(prov.json.nodes[0].node);

    const ho = await air([...cfg(), '--json', 'handoff', '--kolla']);
    expect(ho.code, ho.stderr).toBe(0);
    const files = readdirSync(path.join(path.dirname(site), '.kseed', 'handoff'), { recursive: true }).map(String);
    expect(files).toEqual(expect.arrayContaining(['kolla/multinode']));
    // the provisioned node, at the address it booted with
    const inventory = readFileSync(path.join(path.dirname(site), '.kseed', 'handoff', 'kolla', 'multinode'), 'utf8');
    expect(ho.json.nodes.map((n: any) => n.name)).toEqual([prov.json.nodes[0].node]);
    expect(ho.json.nodes[0].address).toMatch(/^10\.77\.0\.\d+$/);
    expect(inventory).toContain(`\n${ho.json.nodes[0].name} ansible_host=${ho.json.nodes[0].address} `);
    console.log(`airgap e2e: load ${load.ms} ms, lab up ${lab.ms} ms, provision ${prov.ms} ms`);
  }, 1_500_000);
});
