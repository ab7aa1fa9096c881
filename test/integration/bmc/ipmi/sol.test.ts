/**
 * Serial-over-LAN end to end without a VM: a lab node's BMC as `kseed lab
 * up` writes and starts it (lab writeBmcFiles/startBmc): ipmi_sim's `sol`
 * directive (renderLanConf solPort) points at the node's SOL relay
 * (lab/sol-relay.ts), and this test plays QEMU on the relay's other side,
 * connected to serial.sock as vm.sh connects QEMU's serial port. ipmitool's
 * `sol activate` is the reference; then the built `kseed console` (pipes,
 * and a terminal through script(1)) attaches, shows what the "serial port"
 * prints, types into it, detaches with ~. and leaves the payload inactive;
 * a second console is refused while one is active and --force takes over;
 * SIGTERM deactivates. The payload state is always read with ipmitool
 * (Get Payload Activation Status, raw 0x06 0x4a). Port 18210 (TCP and UDP).
 *
 * Order matters because of an ipmi_sim quirk: it remembers the sequence
 * number of the last SOL packet it took across activations and drops the
 * next session's packet of that number as a retransmission. kseed opens
 * every session with an empty packet 1 (sol-link.ts resync); ipmitool starts
 * at 1 with characters, so its reference, which types one packet, runs last.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needPeers } from '../../../helpers/peers.js';
import { startBmc, stopBmc, writeBmcFiles } from '../../../../src/lab/bmc.js';
import { renderLanConf } from '../../../../src/lab/bmc-config.js';
import { solRelayFiles } from '../../../../src/lab/sol-relay.js';
import type { LabNodeManifest } from '../../../../src/lab/manifest.js';
import { tempRoot } from './helpers.js';

const repo = path.resolve(__dirname, '../../../..');
const built = existsSync(path.join(repo, 'dist/cli/console.js'));
if (!built) console.warn('SKIP: run `npm run build` first (the CLI tests use dist/)');
const ok = needPeers('ipmi_sim', 'ipmitool', 'script') && built;
const PORT = 18210;
const PASSWORD = 'SolTestPassw0rd';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Get Payload Activation Status (24.4) of SOL through ipmitool: the instance-1 bit. */
async function solActive(): Promise<boolean> {
  const { stdout } = await promisify(execFile)(
    'ipmitool',
    ['-I', 'lanplus', '-C', '3', '-H', '127.0.0.1', '-p', String(PORT), '-U', 'admin', '-E', 'raw', '0x06', '0x4a', '0x01'],
    { env: { ...process.env, IPMI_PASSWORD: PASSWORD }, timeout: 20_000 },
  );
  const bytes = stdout.trim().split(/\s+/).map((x) => Number.parseInt(x, 16));
  expect(bytes[0]).toBe(1); // ipmi_sim: one SOL instance
  return (bytes[1]! & 1) === 1;
}

interface Proc {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
}

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('latin1')));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString('latin1')));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exit };
}

describe.skipIf(!ok)('Serial-over-LAN against a lab ipmi_sim', () => {
  let root: string;
  let node: LabNodeManifest;
  let vm: net.Socket | undefined;
  let typed = '';
  const running: ChildProcess[] = [];

  const kseed = (...args: string[]) => {
    const p = start(process.execPath, [path.join(repo, 'bin/kseed.js'), '--config', path.join(root, 'kseed.yaml'), 'console', 'n1', ...args], {
      KSEED_BMC_PASSWORD: PASSWORD,
    });
    running.push(p.child);
    return p;
  };
  const jsonLines = (p: Proc) =>
    p
      .out()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { type: string; text?: string; took_over?: boolean; by?: string; signal?: string });
  const shown = (p: Proc) =>
    jsonLines(p)
      .filter((l) => l.type === 'output')
      .map((l) => l.text)
      .join('');

  beforeAll(async () => {
    root = tempRoot('kseed-sol-');
    const dir = path.join(root, 'n1');
    mkdirSync(dir, { recursive: true });
    node = {
      name: 'n1',
      index: 0,
      dir,
      firmware: 'bios',
      mac: '52:54:00:18:21:00',
      tap: 'none',
      memoryMb: 256,
      bmc: { address: '127.0.0.1', port: PORT, username: 'admin', mac: '52:54:00:18:21:ff' },
      disk: { path: path.join(dir, 'disk.qcow2'), sizeGb: 1, serial: 'SOL-1' },
      dataDisks: [],
      listed: true,
      serialLog: path.join(dir, 'serial.log'),
    };
    const files = writeBmcFiles('sol', node, PASSWORD);
    // the lab's lan.conf: ipmi_sim's SOL goes to the node's relay, TCP on the BMC's port number
    expect(readFileSync(files.lanConf, 'utf8')).toBe(
      renderLanConf({ name: 'ksl-sol-n1', port: PORT, username: 'admin', password: PASSWORD, chassisScript: files.chassis, lanctlScript: files.lanctl, solPort: PORT }),
    );
    await startBmc(node, { ipmiSim: 'ipmi_sim', ipmitool: 'ipmitool', password: PASSWORD });
    // ipmi_sim connects to the relay when it starts (the relay was first)
    const relayOut = path.join(dir, 'sol-relay.out');
    await until('ipmi_sim to connect to the relay', () => existsSync(relayOut) && /BMC connected from 127\.0\.0\.1:/.test(readFileSync(relayOut, 'utf8')));
    // the node's serial port, as QEMU connects it on power on
    vm = net.connect({ path: solRelayFiles(dir).sock });
    vm.on('data', (d: Buffer) => (typed += d.toString('latin1')));
    vm.on('error', () => undefined);
    await new Promise<void>((r) => vm!.once('connect', r));
    writeFileSync(
      path.join(root, 'kseed.yaml'),
      [
        'site: soltest',
        'engine: embedded',
        'seed:',
        '  interface: lo',
        '  address: 10.77.0.1/24',
        '  dhcp: { mode: off }',
        'defaults:',
        '  bmc: { type: ipmi, username: admin, password: { env: KSEED_BMC_PASSWORD }, cipher_suite: 3 }',
        'nodes:',
        `  - name: n1`,
        `    bmc: { address: 127.0.0.1, port: ${PORT} }`,
        '    macs: ["52:54:00:18:21:00"]',
        '    roles: [compute]',
        '',
      ].join('\n'),
    );
  }, 60_000);

  afterAll(async () => {
    for (const c of running) if (c.exitCode === null) c.kill('SIGKILL');
    vm?.destroy();
    if (node) await stopBmc(node);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('kseed console shows the serial output, types into it, records --log and detaches with ~.', async () => {
    const log = path.join(root, 'console.log');
    const c = kseed('--json', '--log', log);
    await until('kseed to attach', () => jsonLines(c).some((l) => l.type === 'attached'));
    expect(jsonLines(c)[0]).toMatchObject({ type: 'attached', bmc: `127.0.0.1:${PORT}`, cipher_suite: 3, took_over: false });
    expect(await solActive()).toBe(true);
    vm!.write('[    0.000000] Linux version 6.1.0-kslab\r\nDebian GNU/Linux 12 kslab ttyS0\r\n\r\nkslab login: ');
    await until('the login prompt through kseed', () => shown(c).includes('kslab login: '));
    expect(shown(c)).toBe('[    0.000000] Linux version 6.1.0-kslab\r\nDebian GNU/Linux 12 kslab ttyS0\r\n\r\nkslab login: ');
    typed = '';
    // more than one SOL packet (ipmi_sim takes 32 characters at a time): order and completeness
    const long = `root ${'0123456789'.repeat(8)}\r`;
    c.child.stdin!.write(long);
    await until('the node to get the whole line', () => typed.includes(long)).catch((e) => { throw new Error(`${(e as Error).message}: got ${JSON.stringify(typed)}`); });
    expect(typed).toBe(long);
    c.child.stdin!.write('~.');
    expect(await c.exit).toBe(0);
    expect(jsonLines(c).at(-1)).toMatchObject({ type: 'detached', by: 'detach' });
    expect(typed).toBe(long); // "~." never reached the node
    expect(readFileSync(log, 'latin1')).toContain('kslab login: ');
    expect(statSync(log).mode & 0o777).toBe(0o600);
    expect(await solActive()).toBe(false);
    expect(c.out() + c.err()).not.toContain(PASSWORD);
  }, 60_000);

  it('on a terminal: raw keys (Ctrl-C goes to the node), ~. detaches', async () => {
    const t = start('script', ['-qfc', `${process.execPath} ${path.join(repo, 'bin/kseed.js')} --config ${path.join(root, 'kseed.yaml')} console n1`, '/dev/null'], {
      KSEED_BMC_PASSWORD: PASSWORD,
    });
    running.push(t.child);
    await until('kseed to attach on a terminal', () => /attached to Serial-over-LAN/.test(t.out()));
    vm!.write('tty prompt# ');
    await until('the prompt on the terminal', () => t.out().includes('tty prompt# '));
    typed = '';
    t.child.stdin!.write('sleep 100\r\x03');
    await until('the node to get Ctrl-C', () => typed.includes('\x03'));
    expect(t.child.exitCode).toBeNull();
    t.child.stdin!.write('\r~.');
    expect(await t.exit).toBe(0);
    expect(t.out()).toMatch(/detached; Serial-over-LAN deactivated/);
    expect(await solActive()).toBe(false);
  }, 60_000);

  it('refuses a payload another session holds, and --force takes it over', async () => {
    const ref = start('script', ['-qfc', `ipmitool -I lanplus -C 3 -H 127.0.0.1 -p ${PORT} -U admin -E sol activate`, '/dev/null'], { IPMI_PASSWORD: PASSWORD });
    running.push(ref.child);
    await until('ipmitool to attach', () => /SOL Session operational/.test(ref.out()));
    const busy = kseed();
    busy.child.stdin!.end();
    expect(await busy.exit).toBe(1);
    expect(busy.err()).toContain(`n1: Serial-over-LAN is already active in another session on its BMC (127.0.0.1:${PORT}); --force takes it over`);
    expect(await solActive()).toBe(true);

    const f = kseed('--json', '--force');
    await until('kseed --force to attach', () => jsonLines(f).some((l) => l.type === 'attached'));
    expect(jsonLines(f)[0]).toMatchObject({ type: 'attached', took_over: true });
    vm!.write('after takeover\r\n');
    await until('output to the new console', () => shown(f).includes('after takeover'));
    expect(ref.out()).not.toContain('after takeover');
    f.child.stdin!.write('~.');
    expect(await f.exit).toBe(0);
    expect(await solActive()).toBe(false);
    ref.child.kill('SIGKILL');
  }, 60_000);

  it('SIGTERM never leaves the payload active', async () => {
    const c = kseed('--json');
    await until('kseed to attach', () => jsonLines(c).some((l) => l.type === 'attached'));
    expect(await solActive()).toBe(true);
    c.child.kill('SIGTERM');
    expect(await c.exit).toBe(0);
    expect(jsonLines(c).at(-1)).toMatchObject({ type: 'detached', by: 'detach', signal: 'SIGTERM' });
    expect(await solActive()).toBe(false);
  }, 60_000);
  it('ipmitool sol activate (the reference) sees the serial port and types into it', async () => {
    const ref = start('script', ['-qfc', `ipmitool -I lanplus -C 3 -H 127.0.0.1 -p ${PORT} -U admin -E sol activate`, '/dev/null'], { IPMI_PASSWORD: PASSWORD });
    running.push(ref.child);
    await until('ipmitool to attach', () => /SOL Session operational/.test(ref.out()));
    expect(await solActive()).toBe(true);
    vm!.write('Linux version 6.1.0-kslab (reference)\r\nkslab login: ');
    await until('the login prompt through ipmitool', () => ref.out().includes('kslab login: '));
    typed = '';
    ref.child.stdin!.write('root\r');
    await until('the node to get "root"', () => typed.includes('root\r'));
    ref.child.stdin!.write('~.');
    await ref.exit;
    expect(await solActive()).toBe(false);
  }, 60_000);
});
