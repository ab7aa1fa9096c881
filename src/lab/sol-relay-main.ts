/**
 * The serial port of one lab node, as a process that lives as long as the
 * lab: `node dist/lab/sol-relay-main.js <node>/serial.sock <node>/serial.log PORT`.
 * Started detached by sol-relay.ts; stopped by SIGTERM.
 *
 * Why a process of its own: QEMU (>= 5.1) drops serial output while its
 * socket chardev has no peer, and ipmi_sim's `sol "tcp:..."` reconnects only
 * every ~10 s after it lost its peer. So neither may be the other's peer
 * across a power cycle. Here both are clients of something that never goes
 * away:
 * - QEMU connects to serial.sock as a client on every power on (vm.sh); every
 *   byte it sends is appended to serial.log first (tests and timings read it),
 *   then passed to ipmi_sim when connected;
 * - ipmi_sim connects to TCP 127.0.0.1:PORT once at start and stays connected
 *   across power cycles; what it sends (the SOL console's keys) goes to the VM
 *   that is on, and is dropped while none is, as on a serial line.
 * A newer connection on either side replaces the older (a new QEMU after a
 * power cycle, a restarted ipmi_sim).
 */
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import net from 'node:net';

/**
 * Bytes queued for ipmi_sim beyond this are dropped instead of buffered: a
 * BMC that stops reading must not grow this process, and serial.log has them.
 */
const BMC_BACKLOG = 256 * 1024;

const [sock, log, portText] = process.argv.slice(2);
const port = Number(portText);
if (!sock || !log || !Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write('usage: sol-relay-main.js <serial.sock> <serial.log> <tcp port>\n');
  process.exit(2);
}

let vm: net.Socket | undefined;
let bmc: net.Socket | undefined;
const stamp = () => new Date().toISOString();
const say = (msg: string) => process.stderr.write(`${stamp()} ${msg}\n`);

const vmServer = net.createServer((s) => {
  vm?.destroy();
  vm = s;
  // opened per power on: a log removed or rotated between boots is created again
  let fd: number | undefined = openSync(log, 'a');
  say('VM serial port connected');
  s.on('data', (d: Buffer) => {
    if (fd !== undefined) {
      try {
        writeSync(fd, d);
      } catch (err) {
        say(`serial.log: ${(err as Error).message}`);
      }
    }
    if (bmc && bmc.writableLength < BMC_BACKLOG) bmc.write(d);
  });
  s.on('error', () => undefined);
  s.on('close', () => {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
    if (vm === s) vm = undefined;
    say('VM serial port closed');
  });
});

const bmcServer = net.createServer((s) => {
  bmc?.destroy();
  bmc = s;
  s.setNoDelay(true);
  say(`BMC connected from ${s.remoteAddress}:${s.remotePort}`);
  s.on('data', (d: Buffer) => vm?.write(d));
  s.on('error', () => undefined);
  s.on('close', () => {
    if (bmc === s) bmc = undefined;
  });
});

function stop(): void {
  vm?.destroy();
  bmc?.destroy();
  bmcServer.close();
  vmServer.close();
  rmSync(sock!, { force: true });
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('SIGHUP', () => undefined);

const fail = (what: string) => (err: Error) => {
  say(`${what}: ${err.message}`);
  rmSync(sock, { force: true });
  process.exit(1);
};
bmcServer.on('error', fail(`TCP 127.0.0.1:${port}`));
vmServer.on('error', fail(sock));
// TCP first: the UNIX socket appearing is what the lab waits for, so it must mean both listen
bmcServer.listen(port, '127.0.0.1', () => {
  rmSync(sock, { force: true });
  vmServer.listen(sock, () => say(`listening: ${sock} (VM), 127.0.0.1:${port} (BMC)`));
});
