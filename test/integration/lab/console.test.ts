/**
 * `kseed console` on a real lab node over real SOL (issue 20 item 4): a
 * one-node lab as `kseed lab up` makes it (ipmi_sim's `sol` line to the
 * node's SOL relay, QEMU's serial port to the same relay, src/lab/sol-relay*.ts)
 * whose disk is an overlay of the Debian image `kseed images os` built
 * (.ci/run builds it before the lanes; nothing is deployed), with dnsmasq
 * giving it an address on the lab bridge. kseed's own SOL
 * client attaches before IPMI powers the node on from disk and shows the
 * kernel's lines and the login prompt; Enter brings a new prompt (keys reach
 * the node); `~.` detaches with exit 0, the node still on and the payload
 * inactive, so a second console attaches without --force; a third is refused
 * while it holds SOL, `--force` takes over (the second notices and ends
 * without deactivating it), and SIGINT ends that one with the payload
 * inactive again. ipmitool is the reference peer for the payload
 * state (`sol info`, Get Payload Activation Status) and `sol deactivate`.
 * serial.log, which the other lab tests read, still has the whole boot.
 * Lab "con", BMC port 18230 (UDP for ipmi_sim, TCP for its SOL relay).
 * About 2-4 min (one Debian boot under TCG); CI's rest lane.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOsImage } from '../../../src/images/nodeos.js';
import { createLab, destroyLab, readLabPassword, readManifest, readSerial, vmPid, type CreateLabResult } from '../../../src/lab/index.js';
import { liveCmdline } from '../../../src/lab/proc.js';
import { solRelayFiles, solRelayPid } from '../../../src/lab/sol-relay.js';
import { ensureBuilt, KSEED_BIN, REPO } from '../../helpers/cli.js';
import { needPeers, needRoot } from '../../helpers/peers.js';

const LAB = 'con';
const PORT = 18230;
const CACHE = process.env.KSEED_CACHE ?? path.join(REPO, 'cache');
const ok = needRoot() && needPeers('ip', 'ipmi_sim', 'ipmitool', 'qemu-system-x86_64', 'qemu-img', 'debootstrap', 'dnsmasq');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Console {
  child: ChildProcess;
  exit: Promise<number | null>;
  err: () => string;
  lines: () => { type: string; text?: string; by?: string; took_over?: boolean; signal?: string; reason?: string }[];
  text: () => string;
}

describe.skipIf(!ok)('kseed console on a lab node over real SOL (ipmi_sim, the lab relay, QEMU)', () => {
  let root = '';
  let stateDir = '';
  let site = '';
  let lab: CreateLabResult;
  let password = '';
  let dhcp: ChildProcess | undefined;
  const running: ChildProcess[] = [];

  const ipmitool = (...args: string[]) =>
    execFileSync('ipmitool', ['-I', 'lanplus', '-C', '3', '-H', '127.0.0.1', '-p', String(PORT), '-U', 'admin', '-E', ...args], {
      env: { ...process.env, IPMI_PASSWORD: password },
      encoding: 'utf8',
      timeout: 30_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  /** Get Payload Activation Status (IPMI v2.0 24.4) of SOL: instance 1 active? */
  const solActive = () => {
    const b = ipmitool('raw', '0x06', '0x4a', '0x01').trim().split(/\s+/);
    expect(b[0]).toBe('01'); // one SOL instance
    return (Number.parseInt(b[1]!, 16) & 1) === 1;
  };

  const kseedConsole = (args: string[] = [], o: { json?: boolean } = {}): Console => {
    const child = spawn(process.execPath, [KSEED_BIN, '--config', site, ...(o.json === false ? [] : ['--json']), 'console', lab.nodes[0]!.name, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    running.push(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exit = new Promise<number | null>((r) => child.on('exit', r));
    const lines = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    return { child, exit, err: () => err, lines, text: () => lines().filter((l) => l.type === 'output').map((l) => l.text).join('') };
  };
  const until = async (c: Console, what: string, check: () => boolean, ms: number) => {
    const end = Date.now() + ms;
    while (!check()) {
      if (Date.now() > end || c.child.exitCode !== null) {
        const tail = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').slice(-1500) : '(none)');
        const dir = lab.nodes[0]!.dir;
        throw new Error(
          `${what}: not seen in ${ms} ms (exit ${c.child.exitCode}, last: ${JSON.stringify(c.lines().at(-1))}); stderr ${c.err()}; console tail:\n${c.text().slice(-1500)}\n` +
            `serial.log tail:\n${readSerial(lab.nodes[0]!).slice(-1500)}\nsol-relay.out:\n${tail(path.join(dir, 'sol-relay.out'))}\nbmc.out:\n${tail(path.join(dir, 'bmc.out'))}`,
        );
      }
      await sleep(200);
    }
  };
  const attached = (c: Console) => until(c, 'attached', () => c.lines().some((l) => l.type === 'attached'), 60_000);

  beforeAll(async () => {
    ensureBuilt();
    const os = await buildOsImage({ cacheDir: CACHE });
    root = mkdtempSync(path.join(tmpdir(), 'ksl-con-'));
    chmodSync(root, 0o755);
    stateDir = path.join(root, '.kseed');
    site = path.join(root, 'kseed.yaml');
    lab = await createLab({ stateDir, name: LAB, nodes: 1, uefiNodes: 0, memoryMb: 1024, diskGb: 4, bmcPortBase: PORT, siteFile: site });
    password = readLabPassword(lab.passwordFile)!;
    // the node's disk: a copy-on-write overlay of the built Debian image (nothing deployed)
    const disk = lab.nodes[0]!.disk.path;
    rmSync(disk);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', os.path, '-F', 'qcow2', disk, '4G']);
    // a DHCP server on the lab bridge (inside the lab's own netns), or Debian waits 2 min for
    // systemd-networkd-wait-online before its login prompt
    const net = readManifest(stateDir, LAB)!.network;
    dhcp = spawn('ip', ['netns', 'exec', lab.netns, 'dnsmasq', '-k', '--conf-file=/dev/null', '--user=root', '--group=root', '--no-resolv', '--no-hosts', '--port=0', `--interface=${lab.bridge}`, '--bind-interfaces',
      `--dhcp-range=${net.dhcpRange.start},${net.dhcpRange.end},1h`, `--dhcp-leasefile=${path.join(root, 'leases')}`, `--pid-file=${path.join(root, 'dnsmasq.pid')}`], { stdio: 'ignore' });
    running.push(dhcp);
  }, 600_000);

  afterAll(async () => {
    for (const c of running) if (c.exitCode === null) c.kill('SIGKILL');
    try {
      if (stateDir) await destroyLab({ stateDir, name: LAB });
    } finally {
      if (root) rmSync(root, { recursive: true, force: true });
    }
  }, 120_000);

  it('lab up wires ipmi_sim\'s SOL to the node\'s relay, which runs detached', () => {
    const node = lab.nodes[0]!;
    expect(readFileSync(path.join(node.dir, 'lan.conf'), 'utf8')).toContain(`  sol "tcp:127.0.0.1:${PORT}" 115200\n`);
    const relay = solRelayPid(node);
    expect(relay).toBeDefined();
    expect(liveCmdline(relay!)).toContain(`${solRelayFiles(node.dir).sock} ${node.serialLog} ${PORT}`);
    // ipmitool's view: SOL enabled on the channel, not active
    const info = ipmitool('sol', 'info', '1');
    expect(info).toMatch(/^Enabled\s*:\s*true$/m);
    expect(solActive()).toBe(false);
  });

  it('shows the kernel lines and the login prompt of a booting node, takes keys, and ~. detaches leaving the node on', async () => {
    const node = lab.nodes[0]!;
    ipmitool('chassis', 'bootdev', 'disk');
    const log = path.join(root, 'console.log');
    const c = kseedConsole(['--log', log]);
    await attached(c);
    expect(c.lines()[0]).toMatchObject({ type: 'attached', node: node.name, bmc: `127.0.0.1:${PORT}`, took_over: false });
    expect(solActive()).toBe(true);
    ipmitool('chassis', 'power', 'on');
    const t0 = Date.now();
    await until(c, 'a kernel line', () => /Linux version \d+\.\d+/.test(c.text()), 300_000);
    await until(c, 'the login prompt', () => /login: $/m.test(c.text()), 600_000);
    console.log(`SOL console: kernel line and login prompt ${((Date.now() - t0) / 1000).toFixed(0)} s after power on (TCG)`);
    // QEMU's serial port is the relay's client (vm.sh found it running)
    expect(liveCmdline(vmPid(node)!)).toContain(`socket,id=ser0,path=${solRelayFiles(node.dir).sock}`);
    const prompts = () => (c.text().match(/login: /g) ?? []).length;
    const before = prompts();
    c.child.stdin!.write('\r');
    await until(c, 'a new login prompt after Enter', () => prompts() > before, 60_000);
    c.child.stdin!.write('~.');
    expect(await c.exit).toBe(0);
    expect(c.lines().at(-1)).toMatchObject({ type: 'detached', by: 'detach' });
    expect(solActive()).toBe(false);
    // detaching leaves the node as it was
    expect(ipmitool('chassis', 'power', 'status')).toContain('Chassis Power is on');
    expect(vmPid(node)).toBeDefined();

    const logged = readFileSync(log, 'latin1');
    expect(statSync(log).mode & 0o777).toBe(0o600);
    expect(logged).toMatch(/Linux version \d+\.\d+/);
    expect(logged).toMatch(/login: /);
    // serial.log, written by the relay, has the same boot from its power-on stamp on
    const serial = readSerial(node);
    expect(serial).toMatch(/=== kseed-lab power-on #1 .* bootdev=default\n/);
    const boot = serial.slice(serial.indexOf('=== kseed-lab power-on #1'));
    const kernel = /Linux version \d+\.\d+[^\r\n]*/.exec(logged)![0];
    expect(boot).toContain(kernel);
    expect(boot.indexOf(kernel)).toBeLessThan(boot.search(/login: /));
    // every line the console showed is in serial.log, in order
    let at = 0;
    for (const line of logged.split(/\r?\n/).filter((l) => l.trim().length > 8)) {
      const i = boot.indexOf(line, at);
      expect(i, `serial.log lacks console line ${JSON.stringify(line)}`).toBeGreaterThanOrEqual(0);
      at = i + line.length;
    }
  }, 900_000);

  it('a second console attaches without --force; a third is refused while it holds SOL; --force takes over', async () => {
    const node = lab.nodes[0]!;
    const second = kseedConsole();
    await attached(second);
    expect(second.lines()[0]).toMatchObject({ type: 'attached', took_over: false });
    // keys reach the node from a new session too (ipmi_sim keeps SOL sequence numbers across sessions)
    const prompts = () => (second.text().match(/login: /g) ?? []).length;
    second.child.stdin!.write('\r');
    await until(second, 'a login prompt in the second console', () => prompts() > 0, 60_000);

    const third = kseedConsole([], { json: false });
    third.child.stdin!.end();
    expect(await third.exit).toBe(1);
    expect(third.err()).toContain(`${node.name}: Serial-over-LAN is already active in another session on its BMC (127.0.0.1:${PORT}); --force takes it over`);
    expect(solActive()).toBe(true);

    const forced = kseedConsole(['--force']);
    await attached(forced);
    expect(forced.lines()[0]).toMatchObject({ type: 'attached', took_over: true });
    const seenBySecond = second.text().length;
    forced.child.stdin!.write('\r');
    await until(forced, 'a login prompt in the console that took over', () => /login: /.test(forced.text()), 60_000);
    // the node's output goes to the new owner only
    expect(second.text().length).toBe(seenBySecond);
    // the console that lost SOL notices at its next keepalive (24.5 names another session) and
    // ends without deactivating what is now the other's
    const lost = await Promise.race([second.exit, sleep(60_000).then(() => 'still running')]);
    expect(lost).toBe(1);
    expect(second.lines().at(-1)).toMatchObject({ type: 'detached', by: 'deactivated', reason: 'another session took SOL over (--force)' });
    expect(solActive()).toBe(true);
    const before = (forced.text().match(/login: /g) ?? []).length;
    forced.child.stdin!.write('\r');
    await until(forced, 'the console that took over still works', () => (forced.text().match(/login: /g) ?? []).length > before, 60_000);

    // SIGINT (Ctrl-C of a console whose stdin is not a terminal) deactivates before it exits
    forced.child.kill('SIGINT');
    expect(await forced.exit).toBe(0);
    expect(forced.lines().at(-1)).toMatchObject({ type: 'detached', by: 'detach', signal: 'SIGINT' });
    expect(solActive()).toBe(false);
    // ipmitool agrees, and finds nothing to deactivate
    expect(() => ipmitool('sol', 'deactivate')).toThrow(/already de-activated|not active|Info: SOL payload already de-activated/i);
    expect(vmPid(node)).toBeDefined();
  }, 300_000);

  it('lab down stops the relay with the BMC and the VM', async () => {
    const node = lab.nodes[0]!;
    const relay = solRelayPid(node)!;
    const r = await destroyLab({ stateDir, name: LAB });
    expect(r.killed.map((k) => k.pid)).toContain(relay);
    expect(liveCmdline(relay)).toBeUndefined();
    stateDir = '';
  }, 120_000);
});
