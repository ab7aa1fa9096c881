/**
 * kseed's authoritative DHCP against real clients (busybox udhcpc, ISC
 * dhclient), all inside namespaces ksd-auth-*: a server namespace with bridge
 * br0 (10.91.0.1/24) and one namespace per client, plugged in by veth.
 */
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../../../src/engine/state.js';
import { Lab, waitForLine } from '../../../helpers/netns.js';
import { needPeers, needRoot } from '../../../helpers/peers.js';
import { dhclient, KseedProcess, killPidFile, repoRoot, tmpDir, udhcpc, waitFor } from '../../../helpers/dhcp-services.js';

const ok = needRoot() && needPeers('udhcpc', 'dhclient', 'ip', path.join(repoRoot, 'dist/boot/dhcp/index.js'));
const PXE = ['-V', 'PXEClient:Arch:00000:UNDI:002001'];
const NODE1 = '52:54:00:91:00:01';
const FIXED = '52:54:00:91:00:02';
const DHC = '52:54:00:91:00:03';
const STRANGER = '52:54:00:91:99:99';
const REL = '52:54:00:91:00:05';
const DECL = '52:54:00:91:00:06';

describe.skipIf(!ok)('authoritative DHCP with udhcpc and dhclient', () => {
  let lab: Lab;
  let kseed: KseedProcess;
  let dir: string;
  let cfg: Record<string, unknown>;

  beforeAll(async () => {
    dir = tmpDir('auth');
    lab = await Lab.create('ksd-auth');
    await lab.bridge('br0', '10.91.0.1/24');
    cfg = {
      interface: 'br0',
      seedAddress: '10.91.0.1',
      prefix: 24,
      mode: 'authoritative',
      range: { start: '10.91.0.100', end: '10.91.0.110' },
      leaseSeconds: 600,
      router: '10.91.0.1',
      nodes: [
        { mac: NODE1, name: 'ctl01' },
        { mac: FIXED, name: 'cmp01', ip: '10.91.0.50' },
        { mac: DHC, name: 'cmp02' },
        { mac: REL, name: 'cmp03' },
        { mac: DECL, name: 'cmp04' },
      ],
      httpBase: 'http://10.91.0.1:8080',
      stateDir: path.join(dir, 'state'),
    };
    kseed = await KseedProcess.start(lab.server, dir, cfg);
  });

  afterAll(async () => {
    await kseed?.stop();
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('udhcpc gets a lease with boot file and next-server', async () => {
    const c = await lab.client('n1', 'br0', NODE1);
    const r = await udhcpc(c, dir, PXE);
    expect(r, 'no lease').not.toBeNull();
    expect(r!.env.ip).toBe('10.91.0.100');
    expect(r!.env.serverid).toBe('10.91.0.1');
    expect(r!.env.siaddr).toBe('10.91.0.1');
    expect(r!.env.boot_file).toBe('undionly.kpxe');
    expect(r!.env.hostname).toBe('ctl01');
    expect(r!.env.router).toBe('10.91.0.1');
  });

  it('an inventory MAC with a fixed address gets it; iPXE gets its script URL', async () => {
    const c = await lab.client('fx', 'br0', FIXED);
    const r = await udhcpc(c, dir, [...PXE, '-x', '77:69505845', '-O', '175']);
    expect(r!.env.ip).toBe('10.91.0.50');
    expect(r!.env.boot_file).toBe('http://10.91.0.1:8080/boot/52-54-00-91-00-02.ipxe');
    // busybox prints unknown options as opt<N>=<hex>: 175.176 = 1 (no-pxedhcp)
    expect(r!.env.opt175).toBe('b00101ff');
  });

  it('dhclient gets a lease; the lease file has the boot file for its architecture', async () => {
    const c = await lab.client('dh', 'br0', DHC);
    const r = await dhclient(c, dir, 'send vendor-class-identifier "PXEClient:Arch:00007:UNDI:003016";\nsend pxe-system-type 7;\noption pxe-system-type code 93 = unsigned integer 16;\n');
    await killPidFile(r.pidFile);
    expect(r.leases, r.log).toMatch(/fixed-address 10\.91\.0\.10\d;/);
    expect(r.leases).toContain('filename "snponly.efi";');
    // ISC dhclient does not record siaddr (next-server); udhcpc's test above checks it
    expect(r.leases).toContain('option vendor-class-identifier "PXEClient";');
    expect(r.leases).toContain('option dhcp-server-identifier 10.91.0.1;');
  });

  it('a MAC outside the inventory gets neither a lease nor a boot file', async () => {
    const c = await lab.client('st', 'br0', STRANGER);
    const r = await udhcpc(c, dir, PXE);
    expect(r).toBeNull();
    expect(kseed.events).toContainEqual(expect.objectContaining({ type: 'ignored', mac: STRANGER, reason: 'MAC not in inventory' }));
    expect(kseed.events.filter((e) => e.mac === STRANGER && e.type !== 'ignored')).toEqual([]);
  });

  it('RELEASE (udhcpc -R, then SIGTERM) frees the lease', async () => {
    const c = await lab.client('rl', 'br0', REL);
    const script = path.join(dir, 'release.sh');
    writeFileSync(script, `#!/bin/sh\ncase "$1" in bound) ip addr add "$ip/$mask" dev "$interface"; echo "BOUND $ip" ;; esac\nexit 0\n`);
    chmodSync(script, 0o755);
    // no -q: busybox releases on quit only when it is killed (SIGTERM), not after -q
    const child = c.spawn('udhcpc', ['-i', 'eth0', '-f', '-R', '-t', '4', '-T', '1', '-s', script]);
    const line = await waitForLine(child, /^BOUND /);
    const ip = line.split(' ')[1];
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    await waitFor(() => kseed.events.find((e) => e.type === 'released' && e.mac === REL));
    const leases = stateLeases();
    expect(leases.find((l) => l.mac === REL)).toMatchObject({ state: 'released', ip });
  });

  it('DECLINE (udhcpc -a finds the address taken) keeps it out of the pool', async () => {
    // a squatter holds the next free address without asking DHCP
    const next = await nextFree();
    await lab.client('sq', 'br0', '52:54:00:91:77:77', { cidr: `${next}/24` });
    const c = await lab.client('dc', 'br0', DECL);
    const r = await udhcpc(c, dir, ['-a1000'], 40_000);
    await waitFor(() => kseed.events.find((e) => e.type === 'declined' && e.mac === DECL && e.ip === next));
    expect(r, 'client gets another address after declining').not.toBeNull();
    expect(r!.env.ip).not.toBe(next);
    expect(stateLeases().find((l) => l.ip === next)?.state).toBe('declined');
  });

  it('leases survive a restart (state store): the same client gets the same address back', async () => {
    const before = stateLeases();
    const mine = before.find((l) => l.mac === NODE1 && l.state === 'bound')!;
    expect(mine).toBeDefined();
    await kseed.stop();
    kseed = await KseedProcess.start(lab.server, dir, cfg);
    // a client that remembers its address asks for it (INIT-REBOOT): ACK, not NAK
    const c = lab.clients.find((x) => x.mac === NODE1)!;
    const r = await udhcpc(c, dir, [...PXE, '-r', mine.ip]);
    expect(r!.env.ip).toBe(mine.ip);
    // and a new client does not get it
    const other = await lab.client('n9', 'br0', '52:54:00:91:00:09');
    const none = await udhcpc(other, dir, [], 8_000);
    expect(none).toBeNull(); // not in inventory, and not pooled
    expect(kseed.events.some((e) => e.type === 'nak')).toBe(false);
  });

  /** The leases table of the state store the server writes (.kseed/state.db). */
  function stateLeases() {
    const st = openState(cfg.stateDir as string);
    try {
      return st.listLeases();
    } finally {
      st.close();
    }
  }

  async function nextFree(): Promise<string> {
    const leases = stateLeases();
    const used = new Set(leases.map((l) => l.ip));
    for (const e of kseed.events) if (e.ip) used.add(e.ip);
    for (let i = 100; i <= 110; i++) if (!used.has(`10.91.0.${i}`)) return `10.91.0.${i}`;
    throw new Error('pool full');
  }
});
