/**
 * The embedded engine end to end on the virtual lab: real ipmi_sim BMCs,
 * QEMU (TCG) nodes with iPXE/OVMF, kseed's own DHCP/TFTP/HTTP started by
 * `kseed up`, the deploy ramdisk writing the test OS, and the test OS
 * calling back from its own disk. Every kseed command runs as its own
 * process (node bin/kseed.js, the built dist/), as a user runs it, so a
 * seed can be SIGKILLed mid-deploy. Lab "e2e", BMC ports 17100+.
 *
 * E2E_NODES=1 runs the single BIOS node happy path only.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../src/engine/state.js';
import { buildRamdisk } from '../../src/images/ramdisk.js';
import { buildTestOs } from '../../src/images/osimage.js';
import { createLab, destroyLab, readLabPassword, readSerial, type CreateLabResult } from '../../src/lab/index.js';
import { needPeers, needRoot } from '../helpers/peers.js';

const LAB = 'e2e';
const BMC_BASE = 17100;
const REPO = path.resolve(__dirname, '../..');
const KSEED = path.join(REPO, 'bin/kseed.js');
const CACHE = process.env.KSEED_CACHE ?? path.join(REPO, 'cache');
const NODES = Number(process.env.E2E_NODES ?? 2);

const ok = needRoot() && needPeers('ip', 'ipmi_sim', 'ipmitool', 'qemu-system-x86_64', 'qemu-img', 'busybox', 'apt-get', 'dpkg-deb', 'mkfs.fat', 'mcopy', 'syslinux', 'zstd');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json?: any;
}

function start(args: string[]): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [KSEED, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => {
    stderr += d;
    if (process.env.E2E_VERBOSE) process.stderr.write(d);
  });
  const done = new Promise<Run>((resolve) =>
    child.once('exit', (code, sig) => {
      let json: any;
      if (args.includes('--json') && stdout.trim()) {
        try {
          json = JSON.parse(stdout);
        } catch {
          /* left undefined: the assertion shows stdout */
        }
      }
      resolve({ code: code ?? (sig ? 128 : 1), stdout, stderr, json });
    }),
  );
  return { child, done };
}

const kseed = (args: string[]) => start(args).done;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!ok)('embedded engine: bare metal to OS on disk', () => {
  let root = '';
  let stateDir = '';
  let site = '';
  let lab: CreateLabResult;
  const cfg = () => ['--config', site];

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'ksl-e2e-'));
    chmodSync(root, 0o755);
    stateDir = path.join(root, '.kseed');
    site = path.join(root, 'kseed.yaml');
    // the commands run as separate processes from dist/
    execFileSync(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', path.join(REPO, 'tsconfig.json')], { stdio: 'inherit' });
    const ramdisk = await buildRamdisk({ cacheDir: CACHE });
    const testos = await buildTestOs({ cacheDir: CACHE });
    const artifacts = path.join(root, 'artifacts');
    mkdirSync(artifacts);
    for (const [from, to] of [
      [ramdisk.kernel, 'vmlinuz'],
      [ramdisk.initramfs, 'initramfs.gz'],
      [testos.zst, 'testos.raw.zst'],
    ] as const) {
      try {
        linkSync(from, path.join(artifacts, to));
      } catch {
        writeFileSync(path.join(artifacts, to), readFileSync(from));
      }
    }
    lab = await createLab({
      stateDir,
      name: LAB,
      nodes: NODES,
      uefiNodes: NODES > 1 ? 1 : 0,
      unlistedNodes: NODES > 1 ? 1 : 0,
      diskGb: 1,
      bmcPortBase: BMC_BASE,
      image: { url: 'http://10.77.0.1:8080/artifacts/testos.raw.zst', checksum: `sha256:${testos.sha256.zst}`, format: 'raw', compression: 'zstd' },
      siteFile: site,
    });
    const up = await kseed([...cfg(), '--json', 'up', '--artifacts', artifacts]);
    expect(up.code, up.stderr).toBe(0);
    expect(up.json.boot_services.pid).toBeGreaterThan(0);
  }, 900_000);

  afterAll(async () => {
    try {
      if (site && existsSync(site)) await kseed([...cfg(), 'down']);
      if (stateDir) await destroyLab({ stateDir, name: LAB });
    } finally {
      if (root && !process.env.E2E_KEEP) rmSync(root, { recursive: true, force: true });
    }
  }, 120_000);

  it('provision --all: enroll -> inspect -> deploy -> active; each node boots from its own disk and calls back with its hostname', async () => {
    const r = await kseed([...cfg(), '--json', '--verbose', 'provision', '--all', '--wait', '--wait-booted', '--timeout', '900']);
    expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
    const listed = lab.nodes.filter((n) => n.listed);
    expect(r.json.nodes.map((n: any) => n.node)).toEqual(listed.map((n) => n.name));
    for (const n of r.json.nodes) {
      expect(n).toMatchObject({ ok: true, state: 'active', verbs: ['enroll', 'inspect', 'provide', 'deploy'] });
      expect(n.status.booted_hostname).toBe(n.node);
      expect(n.status.timings.map((t: any) => t.phase)).toEqual(expect.arrayContaining(['enroll', 'inspect', 'deploy', 'boot']));
    }
    // one progress line per transition, on stderr
    expect(r.stderr).toMatch(/node01 available -> deploying \(deploy\)/);
    expect(r.stderr).toMatch(/node01 deploying -> active \(deploy\)/);
    // the installed OS itself said so, from the disk the hint selected
    const st = openState(stateDir);
    try {
      for (const n of listed) {
        const cbs = st.listEvents(n.name, { kind: 'callback' });
        expect(cbs.some((e) => e.detail.hostname === n.name && e.detail.stage === 'booted')).toBe(true);
        const results = st.listEvents(n.name, { kind: 'agent-result' }).filter((e) => e.detail.status === 'ok' && e.detail.stage === 'deploy');
        expect(results).toHaveLength(1);
        expect(String(results[0]!.detail.msg)).toContain('/dev/vda');
      }
    } finally {
      st.close();
    }
    for (const n of listed) expect(readSerial(n)).toMatch(/kseed: .*booting from local disk/);

    const status = await kseed([...cfg(), '--json', 'status']);
    expect(status.code).toBe(0);
    expect(status.json.boot_services.running).toBe(true);
    for (const n of status.json.nodes) {
      expect(n).toMatchObject({ state: 'active', power: 'on', profile: 'qemu-lab', last_error: null });
      expect(n.ip).toMatch(/^10\.77\.0\.\d+$/);
    }
    // running it again converges: nothing to do
    const again = await kseed([...cfg(), '--json', 'provision', '--all']);
    expect(again.code).toBe(0);
    for (const n of again.json.nodes) expect(n).toMatchObject({ ok: true, state: 'active', skipped: true, verbs: [] });
  }, 1_800_000);
});

void readLabPassword;
void sleep;
