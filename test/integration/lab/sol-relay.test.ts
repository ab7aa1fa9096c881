/**
 * The lab's SOL relay (src/lab/sol-relay*.ts) as the lab runs it, without a
 * VM: startSolRelay starts the built process detached; this test plays QEMU
 * (a client of serial.sock, connecting again after each "power cycle") and
 * ipmi_sim (a TCP client that stays). Every byte the "VM" prints lands in
 * serial.log, in order, whether or not the BMC is connected; the BMC gets
 * them live and its bytes reach the VM that is on; a power cycle keeps the
 * BMC's connection; stopSolRelay ends it and removes the socket. The QEMU
 * side of the same wiring is test/integration/lab/console.test.ts.
 * TCP port 18221.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabNodeManifest } from '../../../src/lab/manifest.js';
import { liveCmdline } from '../../../src/lab/proc.js';
import { SOL_RELAY_MAIN, solRelayFiles, solRelayPid, startSolRelay, stopSolRelay } from '../../../src/lab/sol-relay.js';
import { until } from './helpers.js';

const PORT = 18221;
const built = existsSync(SOL_RELAY_MAIN);
if (!built) console.warn('SKIP: run `npm run build` first (the relay runs from dist/)');

/** A client socket that records what it receives. */
async function connect(opts: net.NetConnectOpts): Promise<{ s: net.Socket; got: () => string; closed: () => boolean }> {
  const s = net.connect(opts);
  let got = '';
  let closed = false;
  s.on('data', (d: Buffer) => (got += d.toString('latin1')));
  s.on('close', () => (closed = true));
  s.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  return { s, got: () => got, closed: () => closed };
}

describe.skipIf(!built)('the lab SOL relay between QEMU and ipmi_sim', () => {
  let root = '';
  let node: LabNodeManifest;
  const log = () => (existsSync(node.serialLog) ? readFileSync(node.serialLog, 'latin1') : '');

  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'ksl-solr-'));
    const dir = path.join(root, 'node01');
    mkdirSync(dir, { recursive: true });
    node = {
      name: 'node01',
      index: 0,
      dir,
      firmware: 'bios',
      mac: '52:54:00:18:22:01',
      tap: 'none',
      memoryMb: 256,
      bmc: { address: '127.0.0.1', port: PORT, username: 'admin', mac: '52:54:00:18:22:ff' },
      disk: { path: path.join(dir, 'disk.qcow2'), sizeGb: 1, serial: 'SOLR-1' },
      dataDisks: [],
      listed: true,
      serialLog: path.join(dir, 'serial.log'),
    };
  });

  afterAll(async () => {
    if (node) await stopSolRelay(node);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('starts detached, listening on both sides, and a second start keeps it', async () => {
    const pid = await startSolRelay(node);
    expect(pid).toBeDefined();
    expect(liveCmdline(pid!)).toContain(`sol-relay-main.js ${solRelayFiles(node.dir).sock} ${node.serialLog} ${PORT}`);
    expect(existsSync(solRelayFiles(node.dir).sock)).toBe(true);
    expect(await startSolRelay(node)).toBe(pid);
    expect(solRelayPid(node)).toBe(pid);
  });

  it('logs every byte of the VM, passes them to the BMC and the BMC\'s to the VM, across power cycles', async () => {
    const sock = solRelayFiles(node.dir).sock;
    // power on #1 before the BMC connected: logged all the same
    const vm1 = await connect({ path: sock });
    vm1.s.write('SeaBIOS (version test)\r\n');
    await until('the first line in serial.log', () => log().includes('SeaBIOS (version test)\r\n'));
    const bmc = await connect({ host: '127.0.0.1', port: PORT });
    // a burst far bigger than one socket read, each byte value, to the log and the BMC alike
    const burst = Buffer.alloc(300_000, 0).map((_, i) => i % 256);
    vm1.s.write(burst);
    const expectBurst = burst.toString('latin1');
    await until('the burst at the BMC', () => bmc.got().length >= burst.length, 20_000);
    expect(bmc.got()).toBe(expectBurst);
    expect(log()).toBe(`SeaBIOS (version test)\r\n${expectBurst}`);
    bmc.s.write('root\r');
    await until('the BMC\'s keys at the VM', () => vm1.got() === 'root\r');

    // power off, then on: the BMC stays connected and sees the new VM
    vm1.s.destroy();
    await until('the old VM gone', () => vm1.closed());
    bmc.s.write('typed while off\r');
    const vm2 = await connect({ path: sock });
    vm2.s.write('Linux version 6.1.0 (power on #2)\r\nlogin: ');
    await until('the new boot at the BMC', () => bmc.got().endsWith('login: '));
    expect(bmc.closed()).toBe(false);
    expect(log().endsWith(`${expectBurst}Linux version 6.1.0 (power on #2)\r\nlogin: `)).toBe(true);
    bmc.s.write('x');
    await until('keys at the new VM', () => vm2.got() === 'x');
    // nothing typed while no VM was on reached the next one, as on a serial line with nothing attached
    expect(vm2.got()).toBe('x');

    // a BMC that connects again (ipmi_sim restarted) replaces the old connection
    const bmc2 = await connect({ host: '127.0.0.1', port: PORT });
    await until('the old BMC connection replaced', () => bmc.closed());
    vm2.s.write('after bmc restart\r\n');
    await until('output at the new BMC connection', () => bmc2.got() === 'after bmc restart\r\n');
    vm2.s.destroy();
    bmc2.s.destroy();
  }, 60_000);

  it('a serial.log removed between boots is written again from the next power on', async () => {
    rmSync(node.serialLog);
    const vm = await connect({ path: solRelayFiles(node.dir).sock });
    vm.s.write('power on #3\r\n');
    await until('the new serial.log', () => existsSync(node.serialLog) && log() === 'power on #3\r\n');
    vm.s.destroy();
  });

  it('stops by PID and removes its socket', async () => {
    const pid = solRelayPid(node)!;
    expect(await stopSolRelay(node)).toBe(true);
    expect(liveCmdline(pid)).toBeUndefined();
    expect(existsSync(solRelayFiles(node.dir).sock)).toBe(false);
    expect(solRelayPid(node)).toBeUndefined();
    expect(await stopSolRelay(node)).toBe(false);
  });
});
