/**
 * `kseed boot serve` smoke test, the real CLI (bin/kseed.js over dist/):
 * the site's seed lives in namespace kst-bc-s (seed.netns), so the command,
 * started in the root namespace, must re-run itself in there; it prints its
 * services, answers a udhcpc on the namespace's bridge, logs one line per
 * event, records the lease in .kseed/state.db, and stops on SIGTERM/SIGINT
 * with exit code 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, Lab, run } from '../../helpers/netns.js';
import { needPeers, needRoot } from '../../helpers/peers.js';
import { dist, repoRoot, tmpDir, udhcpcOnce, waitFor } from '../../helpers/boot-services.js';

const ok = needRoot() && needPeers('udhcpc', 'ip', dist('cli/boot.js'));
const MAC = '52:54:00:bc:00:01';
const STRANGER = '52:54:00:bc:00:66';
const bin = path.join(repoRoot, 'bin/kseed.js');

const SITE = `
site: kstcli
engine: embedded
seed:
  interface: br0
  netns: kst-bc-s
  address: 10.190.0.1/24
  dhcp: { mode: authoritative, range: 10.190.0.100-10.190.0.120 }
  ports: { http: 18590 }
defaults:
  bmc: { type: ipmi, username: admin, password: { env: KST_UNUSED_PASSWORD } }
nodes:
  - { name: n1, bmc: { address: 127.0.0.1, port: 18591 }, macs: ["${MAC}"] }
`;

interface Run {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
}

function kseed(dir: string, args: string[]): Run {
  const child = spawn(process.execPath, [bin, '-c', path.join(dir, 'kseed.yaml'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, out: () => out, err: () => err, exit };
}

describe.skipIf(!ok)('kseed boot serve (CLI)', () => {
  let lab: Lab;
  let dir: string;
  let client: Client;
  let stranger: Client;
  const running: ChildProcess[] = [];

  beforeAll(async () => {
    dir = tmpDir('cli');
    writeFileSync(path.join(dir, 'kseed.yaml'), SITE);
    lab = await Lab.create('kst-bc');
    await lab.bridge('br0', '10.190.0.1/24');
    client = await lab.client('c1', 'br0', MAC);
    stranger = await lab.client('c2', 'br0', STRANGER);
  });

  afterAll(async () => {
    try {
      for (const c of running) if (c.exitCode === null) c.kill('SIGKILL');
    } finally {
      await lab?.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--json: listening line, a udhcpc answered in the namespace, one JSON line per event, exit 0 on SIGTERM', async () => {
    const k = kseed(dir, ['boot', 'serve', '--json']);
    running.push(k.child);
    const lines = () => k.out().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const listening = await waitFor(() => lines().find((l) => l.type === 'listening'), 30_000, `listening line (stderr: ${k.err()})`);
    expect(listening).toMatchObject({
      service: 'serve',
      interface: 'br0',
      seedAddress: '10.190.0.1',
      dhcp: { mode: 'authoritative', ports: [67], range: { start: '10.190.0.100', end: '10.190.0.120' } },
      tftp: { address: '10.190.0.1', port: 69 },
      http: { url: 'http://10.190.0.1:18590' },
    });
    // the server runs inside the site's namespace, not here
    const pids = (await run('ip', ['netns', 'pids', 'kst-bc-s'])).stdout.split(/\s+/).filter(Boolean).map(Number);
    expect(pids).toHaveLength(1);
    expect(pids).not.toContain(k.child.pid);
    expect(readFileSync(`/proc/${pids[0]}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining([bin, 'boot', 'serve']));

    const lease = await udhcpcOnce(client, client.ifname, dir);
    expect(lease).toMatchObject({ ip: '10.190.0.100', boot_file: 'undionly.kpxe', hostname: 'n1' });
    expect(await udhcpcOnce(stranger, stranger.ifname, dir)).toBeNull();
    await waitFor(() => lines().some((l) => l.service === 'dhcp' && l.type === 'ack'), 10_000, 'dhcp ack line');
    const dhcp = lines().filter((l) => l.service === 'dhcp');
    expect(dhcp.find((l) => l.type === 'ack')).toMatchObject({ mac: MAC, ip: '10.190.0.100', name: 'n1', bootFile: 'undionly.kpxe' });
    expect(dhcp.filter((l) => l.mac === STRANGER).every((l) => l.type === 'ignored')).toBe(true);
    expect(lines().every((l) => typeof l.ts === 'string')).toBe(true);

    k.child.kill('SIGTERM');
    expect(await k.exit).toBe(0);
    const stopped = lines().at(-1)!;
    expect(stopped).toMatchObject({ type: 'stopped', signal: 'SIGTERM' });
    expect((stopped.dhcp as { replied: number }).replied).toBeGreaterThanOrEqual(2);
    // nothing was left running in the namespace
    expect((await run('ip', ['netns', 'pids', 'kst-bc-s'])).stdout.trim()).toBe('');

    // the lease went to the state store beside the site file
    const { openState } = (await import(dist('engine/state.js'))) as typeof import('../../../src/engine/state.js');
    const st = openState(path.join(dir, '.kseed'));
    try {
      expect(st.listLeases().find((l) => l.mac === MAC)).toMatchObject({ ip: '10.190.0.100', state: 'bound' });
    } finally {
      st.close();
    }
  }, 90_000);

  it('human output: prints its services, restarts with the same lease, stops on SIGINT with exit 0', async () => {
    const k = kseed(dir, ['boot', 'serve']);
    running.push(k.child);
    await waitFor(() => k.out().includes('press Ctrl-C to stop'), 30_000, `startup (stderr: ${k.err()})`);
    expect(k.out()).toContain('dhcp  authoritative on br0 udp/67 range 10.190.0.100-10.190.0.120 (1 nodes)');
    expect(k.out()).toContain('http  http://10.190.0.1:18590');
    const lease = await udhcpcOnce(client, client.ifname, dir);
    expect(lease?.ip).toBe('10.190.0.100');
    await waitFor(() => /dhcp {2}ack 52:54:00:bc:00:01 10\.190\.0\.100 n1 file=undionly\.kpxe/.test(k.out()), 10_000, 'human ack line');
    // a second seed on the same namespace cannot start, and says why
    const second = kseed(dir, ['boot', 'serve']);
    running.push(second.child);
    expect(await second.exit).toBe(1);
    expect(second.err()).toMatch(/kseed: boot services did not start: .*(in use|EADDRINUSE)/);
    expect(k.child.exitCode).toBeNull();
    k.child.kill('SIGINT');
    expect(await k.exit).toBe(0);
    expect(k.out()).toMatch(/stopped \(SIGINT\)/);
  }, 90_000);

  it('a launcher killed with SIGKILL does not leave its server running in the namespace', async () => {
    const k = kseed(dir, ['boot', 'serve', '--json']);
    running.push(k.child);
    await waitFor(() => k.out().includes('"listening"'), 30_000, `listening line (stderr: ${k.err()})`);
    const pids = async () => (await run('ip', ['netns', 'pids', 'kst-bc-s'])).stdout.trim();
    expect(await pids()).not.toBe('');
    k.child.kill('SIGKILL');
    await k.exit;
    let left = 'x';
    const t0 = Date.now();
    while (left !== '' && Date.now() - t0 < 15_000) {
      left = await pids();
      if (left) await new Promise((r) => setTimeout(r, 250));
    }
    expect(left).toBe('');
  }, 60_000);

  it('bad flags and a missing namespace fail clearly', async () => {
    const bad = kseed(dir, ['boot', 'serve', '--dhcp', 'bogus']);
    expect(await bad.exit).toBe(2);
    expect(bad.err()).toContain('--dhcp: expected authoritative, proxy, off, got "bogus"');

    const noIf = kseed(dir, ['boot', 'serve', '--interface', 'nosuch0']);
    expect(await noIf.exit).toBe(1);
    expect(noIf.err()).toContain('interface nosuch0 does not exist (in this network namespace; the site says seed.netns kst-bc-s)');
    const wrongIf = kseed(dir, ['boot', 'serve', '--interface', 'lo']);
    expect(await wrongIf.exit).toBe(1);
    expect(wrongIf.err()).toContain('interface lo does not carry the seed address 10.190.0.1 (it has 127.0.0.1/8)');
    // nothing was left listening after the refusals
    expect((await run('ip', ['netns', 'pids', 'kst-bc-s'])).stdout.trim()).toBe('');

    writeFileSync(path.join(dir, 'other.yaml'), SITE.replace('netns: kst-bc-s', 'netns: kst-bc-none'));
    const child = spawn(process.execPath, [bin, '-c', path.join(dir, 'other.yaml'), 'boot', 'serve'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(1);
    expect(err).toContain('network namespace kst-bc-none (seed.netns) does not exist');
  }, 60_000);
});
