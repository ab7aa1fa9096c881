/**
 * The serial console of a real lab node over real SOL (issue 20 item 4): a
 * one-node lab (ipmi_sim's `sol` to the VM's serial port through the lab's
 * relay) whose disk is the Debian image `kseed images os` built (an overlay,
 * nothing deployed). `kseed console` attaches first, IPMI powers the node on
 * from disk, and the console shows the kernel's lines and the login prompt;
 * Enter brings the prompt again (typing reaches the node), `~.` detaches
 * with exit 0 and the payload inactive (ipmitool's Get Payload Activation
 * Status), and the lab's serial log, which other tests read, still holds
 * the same boot. Lab "sol", BMC port 18200. About 2-4 min (TCG boot).
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOsImage } from '../../src/images/nodeos.js';
import { createLab, destroyLab, readLabPassword, readSerial, type CreateLabResult } from '../../src/lab/index.js';
import { ensureBuilt, REPO } from '../helpers/cli.js';
import { needPeers, needRoot } from '../helpers/peers.js';

const LAB = 'sol';
const PORT = 18200;
const ok = needRoot() && needPeers('ip', 'ipmi_sim', 'ipmitool', 'qemu-system-x86_64', 'qemu-img', 'socat', 'debootstrap');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!ok)('kseed console: a lab node boots Debian over real SOL', () => {
  let root = '';
  let stateDir = '';
  let site = '';
  let lab: CreateLabResult;
  let password = '';

  const ipmitool = (...args: string[]) =>
    execFileSync('ipmitool', ['-I', 'lanplus', '-C', '3', '-H', '127.0.0.1', '-p', String(PORT), '-U', 'admin', '-E', ...args], {
      env: { ...process.env, IPMI_PASSWORD: password },
      encoding: 'utf8',
      timeout: 30_000,
    });

  beforeAll(async () => {
    ensureBuilt();
    const os = await buildOsImage({ cacheDir: process.env.KSEED_CACHE ?? path.join(REPO, 'cache') });
    root = mkdtempSync(path.join(tmpdir(), 'ksl-sol-'));
    chmodSync(root, 0o755);
    stateDir = path.join(root, '.kseed');
    site = path.join(root, 'kseed.yaml');
    lab = await createLab({ stateDir, name: LAB, nodes: 1, uefiNodes: 0, memoryMb: 1024, diskGb: 4, bmcPortBase: PORT, siteFile: site });
    password = readLabPassword(lab.passwordFile)!;
    const disk = lab.nodes[0]!.disk.path;
    rmSync(disk);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', os.path, '-F', 'qcow2', disk, '4G']);
  }, 600_000);

  afterAll(async () => {
    try {
      if (stateDir) await destroyLab({ stateDir, name: LAB });
    } finally {
      if (root) rmSync(root, { recursive: true, force: true });
    }
  }, 120_000);

  it('shows the kernel lines and the login prompt, takes keys, detaches with ~. and leaves SOL inactive', async () => {
    const node = lab.nodes[0]!;
    expect(readFileSync(path.join(node.dir, 'lan.conf'), 'utf8')).toContain(`sol "tcp:127.0.0.1:${PORT}" 115200`);
    ipmitool('chassis', 'bootdev', 'disk');
    const log = path.join(root, 'console.log');
    const c = spawn(process.execPath, [path.join(REPO, 'bin/kseed.js'), '--config', site, '--json', 'console', node.name, '--log', log], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exit = new Promise<number | null>((r) => c.on('exit', r));
    const lines = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string; text?: string; by?: string });
    const text = () => lines().filter((l) => l.type === 'output').map((l) => l.text).join('');
    const until = async (what: string, check: () => boolean, ms: number) => {
      const end = Date.now() + ms;
      while (!check()) {
        if (Date.now() > end || c.exitCode !== null) throw new Error(`${what}: not seen in ${ms} ms (exit ${c.exitCode}); stderr ${err}; console tail:\n${text().slice(-1500)}`);
        await sleep(200);
      }
    };
    try {
      await until('attached', () => lines().some((l) => l.type === 'attached'), 60_000);
      ipmitool('chassis', 'power', 'on');
      const t0 = Date.now();
      await until('a kernel line', () => /Linux version \d+\.\d+/.test(text()), 300_000);
      await until('the login prompt', () => /login: $/m.test(text()), 600_000);
      console.log(`SOL console: kernel line and login prompt ${((Date.now() - t0) / 1000).toFixed(0)} s after power on (TCG)`);
      const prompts = () => (text().match(/login: /g) ?? []).length;
      const before = prompts();
      c.stdin.write('\r');
      await until('a new login prompt after Enter', () => prompts() > before, 60_000);
      c.stdin.write('~.');
      expect(await exit).toBe(0);
      expect(lines().at(-1)).toMatchObject({ type: 'detached', by: 'detach' });
    } finally {
      if (c.exitCode === null) c.kill('SIGTERM');
    }
    const status = ipmitool('raw', '0x06', '0x4a', '0x01').trim().split(/\s+/);
    expect(status.slice(0, 2)).toEqual(['01', '00']);
    expect(readFileSync(log, 'utf8')).toMatch(/login: /);
    // the serial log the lab's readers use saw the same boot
    const serial = readSerial(node);
    expect(serial).toMatch(/=== kseed-lab power-on #1 /);
    expect(serial).toMatch(/Linux version \d+\.\d+/);
    expect(serial).toMatch(/login: /);
    ipmitool('chassis', 'power', 'off');
  }, 900_000);
});
