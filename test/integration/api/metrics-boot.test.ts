/**
 * The boot services' counters in the seed service's /metrics, end to end
 * with real peers: `kseed boot serve` runs inside the site's namespace
 * kst-mb-s (seed.netns, as in a lab) with its log in .kseed/logs, the API
 * (`kseed serve`, port 18348) runs in the root namespace, so the counters
 * cross a process and a namespace the way they do on a seed. busybox
 * udhcpc (a node and a stranger), tftp-hpa and curl make the traffic from
 * client namespaces on the seed's bridge; the counters must equal what the
 * peers saw and what the log says, and `promtool check metrics` must
 * accept the exposition. The status page's stream (/api/v1/stream) carries
 * the node's boot lines (DHCP offer, TFTP and HTTP fetches) as they are
 * logged, while the node has no store event yet.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dist, repoRoot, tmpDir, udhcpcOnce, waitFor } from '../../helpers/boot-services.js';
import { ensureBuilt } from '../../helpers/cli.js';
import { type Client, Lab } from '../../helpers/netns.js';
import { needPeers, needRoot } from '../../helpers/peers.js';
import { api, createToken, samples, type Service, startService } from './helpers.js';

const ok = needRoot() && needPeers('udhcpc', 'ip', 'tftp', 'curl', 'promtool', '/usr/lib/ipxe/undionly.kpxe');
const PORT = 18348;
const HTTP_PORT = 18602;
const MAC = '52:54:00:4d:00:01';
const STRANGER = '52:54:00:4d:00:66';
const SEED = '10.192.0.1';
const bin = path.join(repoRoot, 'bin/kseed.js');

const SITE = `
site: kstmb
engine: embedded
seed:
  interface: br0
  netns: kst-mb-s
  address: ${SEED}/24
  dhcp: { mode: authoritative, range: 10.192.0.100-10.192.0.120 }
  ports: { http: ${HTTP_PORT} }
defaults:
  bmc: { type: ipmi, username: admin, password: { value: unused } }
nodes:
  - { name: n1, bmc: { address: 127.0.0.1, port: 18603 }, macs: ["${MAC}"] }
`;

interface SseMessage {
  event: string;
  data: any;
}

/** A text/event-stream reader (HTML Living Standard 9.2.6): each message's event name and JSON data, as they arrive. */
async function openStream(url: string, token: string): Promise<{ messages: SseMessage[]; close(): void }> {
  const ac = new AbortController();
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
  expect(res.status).toBe(200);
  const messages: SseMessage[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += value;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const field = (f: string) => block.split('\n').filter((l) => l.startsWith(`${f}: `)).map((l) => l.slice(f.length + 2)).join('\n');
          if (field('event')) messages.push({ event: field('event'), data: JSON.parse(field('data')) });
        }
      }
    } catch {
      /* aborted */
    }
  })();
  return { messages, close: () => ac.abort() };
}

describe.skipIf(!ok)('boot services counters in /metrics (kseed boot serve in a namespace, kseed serve outside)', () => {
  let lab: Lab;
  let dir: string;
  let client: Client;
  let stranger: Client;
  let boot: ChildProcess | undefined;
  let bootExit: Promise<number | null>;
  let svc: Service;
  let token: string;
  const logFile = () => path.join(dir, '.kseed', 'logs', 'boot-serve.log');
  const logLines = () =>
    readFileSync(logFile(), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, any>);
  const scrape = async () => {
    const res = await fetch(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    return res.text();
  };

  beforeAll(async () => {
    ensureBuilt();
    dir = tmpDir('metrics-boot');
    writeFileSync(path.join(dir, 'kseed.yaml'), SITE);
    lab = await Lab.create('kst-mb');
    await lab.bridge('br0', `${SEED}/24`);
    client = await lab.client('c1', 'br0', MAC);
    stranger = await lab.client('c2', 'br0', STRANGER);
    mkdirSync(path.dirname(logFile()), { recursive: true });
    // the log where `kseed up` puts it: the page's boot trace and stream read it there
    const fd = openSync(logFile(), 'a');
    boot = spawn(process.execPath, [bin, '-c', path.join(dir, 'kseed.yaml'), '--json', 'boot', 'serve'], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    bootExit = new Promise((r) => boot!.once('exit', (c) => r(c)));
    await waitFor(() => logLines().some((l) => l.type === 'listening'), 30_000, 'boot serve listening');
    token = await createToken(dir, 'prometheus');
    svc = await startService(dir, PORT);
  }, 60_000);

  afterAll(async () => {
    try {
      if (boot && boot.exitCode === null) boot.kill('SIGKILL');
      await svc?.stop();
    } finally {
      await lab?.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts DHCP by message type and reason, TFTP transfers and bytes, HTTP by status class, as the peers saw them; promtool accepts it; the page stream gets the boot lines live', async () => {
    const before = samples(await scrape());
    expect(before.get('kseed_boot_services_up')).toBe(1);
    expect(before.get('kseed_tftp_transfers_started_total')).toBe(0);
    expect(before.get('kseed_dhcp_packets_sent_total{type="offer"}')).toBe(0);

    // the status page's stream, opened before any traffic: boot lines reach it as they are logged
    const stream = await openStream(`${svc.url}/api/v1/stream`, token);
    const bootLines = () => stream.messages.filter((m) => m.event === 'boot').flatMap((m) => m.data.lines as Record<string, any>[]);

    const lease = await udhcpcOnce(client, client.ifname, dir);
    expect(lease).toMatchObject({ ip: '10.192.0.100', boot_file: 'undionly.kpxe' });
    expect(await udhcpcOnce(stranger, stranger.ifname, dir)).toBeNull();
    const offer = await waitFor(() => bootLines().find((l) => l.source === 'dhcp' && /^offer ip 10\.192\.0\.100 boot file undionly\.kpxe/.test(l.what)), 10_000, 'the offer on the stream');
    expect(offer.node).toBe('n1');
    // n1 has no store event yet: the offer came from the boot log, not the store
    expect((await api(svc.url, 'GET', '/events?node=n1', { token })).body.events).toEqual([]);
    expect(stream.messages.filter((m) => m.event === 'events')).toEqual([]);
    await client.ns.ip('addr', 'add', '10.192.0.100/24', 'dev', 'eth0');

    // tftp-hpa: the first stage a PXE ROM fetches, and a file that is not there
    const got = path.join(dir, 'undionly.kpxe');
    const t = await client.exec('tftp', ['-m', 'binary', SEED, '-c', 'get', 'undionly.kpxe', got], { timeoutMs: 20_000 });
    const size = statSync('/usr/lib/ipxe/undionly.kpxe').size;
    expect({ code: t.code, size: statSync(got).size }).toEqual({ code: 0, size });
    await client.exec('tftp', ['-m', 'binary', SEED, '-c', 'get', 'nosuch.efi', path.join(dir, 'nosuch.efi')], { timeoutMs: 20_000 });

    // curl: the node's iPXE script, and a path that does not exist
    const fetched: { code: number; body: number; headers: number }[] = [];
    for (const p of [`/boot/${MAC.replaceAll(':', '-')}.ipxe`, '/nope']) {
      const c = await client.exec('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{size_header}', `http://${SEED}:${HTTP_PORT}${p}`], { timeoutMs: 20_000 });
      const [code, body, headers] = c.stdout.trim().split(' ').map(Number);
      fetched.push({ code: code!, body: body!, headers: headers! });
    }
    expect(fetched.map((f) => f.code)).toEqual([200, 404]);
    // the first stage and the script fetched from the node's leased address are its steps too; the stranger's are nobody's
    await waitFor(() => bootLines().some((l) => l.source === 'http'), 10_000, 'the iPXE script fetch on the stream');
    const mine = bootLines();
    expect(mine.every((l) => l.node === 'n1')).toBe(true);
    expect(mine.map((l) => `${l.source} ${l.what}`)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^tftp fetching undionly\.kpxe \(\d+ bytes\)$/), expect.stringMatching(/^tftp sent undionly\.kpxe$/), expect.stringMatching(/^http GET \/boot\/52-54-00-4d-00-01\.ipxe 200$/)]),
    );
    stream.close();

    // the snapshot is written every 2 s while the counters change
    let m = samples(await scrape());
    for (const t0 = Date.now(); (m.get('kseed_http_boot_requests_total{class="4xx"}') ?? 0) < 1 && Date.now() - t0 < 10_000; await new Promise((r) => setTimeout(r, 250))) m = samples(await scrape());

    const text = await scrape();
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect({ code: check.status, out: `${check.stdout}${check.stderr}` }).toEqual({ code: 0, out: '' });
    m = samples(text);

    // DHCP: what the log says was sent and ignored, by type and reason (the log is below its noise limit here)
    const dhcp = logLines().filter((l) => l.service === 'dhcp');
    const nOf = (type: string, mac?: string) => dhcp.filter((l) => l.type === type && (!mac || l.mac === mac)).length;
    expect(nOf('offer', MAC)).toBeGreaterThanOrEqual(1);
    expect(nOf('ack', MAC)).toBeGreaterThanOrEqual(1);
    expect(m.get('kseed_dhcp_packets_sent_total{type="offer"}')).toBe(nOf('offer'));
    expect(m.get('kseed_dhcp_packets_sent_total{type="ack"}')).toBe(nOf('ack'));
    expect(m.get('kseed_dhcp_packets_sent_total{type="nak"}')).toBe(0);
    // every DISCOVER of the node got an OFFER; the stranger's were each ignored (udhcpc -t 3: at least one)
    const ignored = nOf('ignored', STRANGER);
    expect(ignored).toBeGreaterThanOrEqual(1);
    expect(m.get('kseed_dhcp_packets_ignored_total{reason="unknown-mac"}')).toBe(ignored);
    expect(m.get('kseed_dhcp_packets_received_total{type="discover"}')).toBe(nOf('offer') + ignored);
    expect(m.get('kseed_dhcp_packets_received_total{type="request"}')).toBe(nOf('ack'));
    expect(m.get('kseed_dhcp_packets_received_total{type="malformed"}')).toBe(0);

    // TFTP: one transfer of the whole file, one refusal
    expect(m.get('kseed_tftp_transfers_started_total')).toBe(1);
    expect(m.get('kseed_tftp_transfers_completed_total')).toBe(1);
    expect(m.get('kseed_tftp_transfers_failed_total{reason="timeout"}')).toBe(0);
    expect(m.get('kseed_tftp_requests_refused_total')).toBe(1);
    expect(m.get('kseed_tftp_sent_bytes_total')).toBe(size);

    // HTTP: by status class; the bytes lie between the bodies curl read and bodies plus headers
    expect(m.get('kseed_http_boot_requests_total{class="2xx"}')).toBe(1);
    expect(m.get('kseed_http_boot_requests_total{class="4xx"}')).toBe(1);
    expect(m.get('kseed_http_boot_requests_total{class="5xx"}')).toBe(0);
    const bytes = m.get('kseed_http_boot_sent_bytes_total')!;
    expect(bytes).toBeGreaterThanOrEqual(fetched.reduce((n, f) => n + f.body, 0));
    expect(bytes).toBeLessThanOrEqual(fetched.reduce((n, f) => n + f.body + f.headers, 0));
    expect(m.get('kseed_boot_services_start_time_seconds')! * 1000).toBeLessThanOrEqual(Date.now());

    // stopped: down, and the last counters stay readable (Prometheus sees no reset until the next run)
    boot!.kill('SIGTERM');
    expect(await bootExit).toBe(0);
    const after = samples(await scrape());
    expect(after.get('kseed_boot_services_up')).toBe(0);
    expect(after.get('kseed_tftp_sent_bytes_total')).toBe(size);
  }, 90_000);
});
