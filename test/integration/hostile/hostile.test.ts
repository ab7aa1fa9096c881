/**
 * Issue 14, a hostile provisioning network: what another host on the seed's
 * network can send must neither stop the seed nor deny a node service. The
 * seed is the real CLI (`kseed up` on the embedded engine, its boot services
 * in namespace kst-hz-s, as in the lab); the stranger is a second namespace on
 * the same bridge.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runKseed } from '../../helpers/cli.js';
import { type Client, Lab } from '../../helpers/netns.js';
import { needPeers, needRoot } from '../../helpers/peers.js';
import { encode, MessageType } from '../../../src/boot/dhcp/codec.js';
import { request } from '../../unit/boot/dhcp/build.js';
import { tmpDir, udhcpcOnce } from '../../helpers/boot-services.js';

const ok = needRoot() && needPeers('udhcpc', 'ip');
const MAC = '52:54:00:4a:00:01';
const STRANGER = '52:54:00:4a:00:66';
const SEED = '10.194.0.1';

const SITE = `
site: ksthostile
engine: embedded
seed:
  interface: br0
  netns: kst-hz-s
  address: ${SEED}/24
  dhcp: { mode: authoritative, range: 10.194.0.100-10.194.0.120 }
  ports: { http: 18596 }
defaults:
  bmc: { type: ipmi, username: admin, password: { env: KST_UNUSED_PASSWORD } }
nodes:
  - { name: n1, bmc: { address: 127.0.0.1, port: 18597 }, macs: ["${MAC}"], ip: 10.194.0.50 }
`;

/** One UDP datagram from inside a client namespace (node:dgram, no extra tool). */
async function sendUdp(c: Client, host: string, port: number, payloadHex: string, srcPort = 0): Promise<void> {
  const js = `const s=require('dgram').createSocket('udp4');s.bind(${srcPort},()=>{s.setBroadcast(true);s.send(Buffer.from(process.argv[1],'hex'),${port},'${host}',()=>s.close())})`;
  const r = await c.exec(process.execPath, ['-e', js, payloadHex]);
  if (r.code !== 0) throw new Error(`sending a datagram failed: ${r.stderr}`);
}

describe.skipIf(!ok)('a hostile host on the provisioning network (kseed up, embedded engine)', () => {
  let lab: Lab;
  let dir: string;
  let node: Client;
  let stranger: Client;
  const kseed = (...args: string[]) => runKseed(['-c', path.join(dir, 'kseed.yaml'), ...args], { cwd: dir, timeoutMs: 60_000 });

  beforeAll(async () => {
    ensureBuilt();
    dir = tmpDir('hostile');
    writeFileSync(path.join(dir, 'kseed.yaml'), SITE);
    lab = await Lab.create('kst-hz');
    await lab.bridge('br0', `${SEED}/24`);
    node = await lab.client('c1', 'br0', MAC);
    stranger = await lab.client('c2', 'br0', STRANGER, { cidr: '10.194.0.66/24' });
  }, 60_000);

  afterAll(async () => {
    try {
      if (dir) await kseed('down', '--json');
    } finally {
      await lab?.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a TFTP read request with a 1,000-byte non-ASCII file name does not stop the next `kseed up`', async () => {
    const up = await kseed('up', '--json', '--timeout', '20');
    expect(up.code, up.stdout + up.stderr).toBe(0);
    // RRQ (opcode 1), a file name of 1,000 bytes 0xC3 0xA9 ("é") / 0xFF, mode octet
    const name = Buffer.concat([Buffer.alloc(500, 0xff), Buffer.from('é'.repeat(250))]);
    const rrq = Buffer.concat([Buffer.from([0, 1]), name, Buffer.from([0]), Buffer.from('octet\0')]);
    await sendUdp(stranger, SEED, 69, rrq.toString('hex'));
    const log = JSON.parse(up.stdout).boot_services.log as string;
    for (let i = 0; i < 50 && !/refused|not found/.test(readFileSync(log, 'utf8')); i++) await new Promise((r) => setTimeout(r, 100));
    expect(readFileSync(log, 'utf8')).toMatch(/"service":"tftp"/);
    const down = await kseed('down', '--json');
    expect(down.code, down.stderr).toBe(0);
    const t0 = Date.now();
    const again = await kseed('up', '--json', '--timeout', '20');
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).boot_services.already_running).toBe(false);
    // it listens in about 2 s; the old reader scanned a byte offset as a string index and never saw it
    expect(Date.now() - t0).toBeLessThan(20_000);
  }, 90_000);

  it('a DECLINE forged by another host in the node\'s name does not stop the node getting its address, before or after a restart', async () => {
    const up = await kseed('up', '--json', '--timeout', '20');
    expect(up.code, up.stdout + up.stderr).toBe(0);
    const log = JSON.parse(up.stdout).boot_services.log as string;
    const first = await udhcpcOnce(node, 'eth0', dir);
    expect(first?.ip).toBe('10.194.0.50');
    // the node's MAC in chaddr, its address in option 50, our server identifier: all a DECLINE carries
    const decline = encode(request({ type: MessageType.DECLINE, mac: MAC, requested: '10.194.0.50', serverId: SEED }));
    await sendUdp(stranger, SEED, 67, decline.toString('hex'), 68);
    await sendUdp(stranger, '10.194.0.255', 67, decline.toString('hex'), 68);
    for (let i = 0; i < 50 && !readFileSync(log, 'utf8').includes('"decline'); i++) await new Promise((r) => setTimeout(r, 100));
    const again = await udhcpcOnce(node, 'eth0', dir);
    expect(again?.ip).toBe('10.194.0.50');
    expect(readFileSync(log, 'utf8')).toMatch(/"type":"decline-ignored"[^\n]*sent from 10\.194\.0\.66/);
    // the old code kept the block in the state store for an hour: a restart must not bring one back
    expect((await kseed('down', '--json')).code).toBe(0);
    expect((await kseed('up', '--json', '--timeout', '20')).code).toBe(0);
    const afterRestart = await udhcpcOnce(node, 'eth0', dir);
    expect(afterRestart?.ip).toBe('10.194.0.50');
  }, 120_000);
});
