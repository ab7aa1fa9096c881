#!/usr/bin/env node
// TFTP throughput: kseed vs tftpd-hpa vs dnsmasq, same files, same clients, same run.
//   npm run build && node bench/tftp/run.mjs [--reps N] [--clients N] [--only TEXT] [--json]
// Everything runs inside a private network namespace (kst-bench) on its loopback:
// dnsmasq's TFTP port cannot be moved off 69, and the namespace keeps it away from
// anything else on the machine. Needs root, tftpd-hpa, dnsmasq, curl, atftp.
// Lockstep rows (RFC 1350, one block per ACK) are the like-for-like comparison.
// Windowsize rows measure RFC 7440, which Debian's tftpd-hpa 5.2 and dnsmasq do not
// implement: they ignore the option and answer lockstep, so those rows show what the
// feature buys, not a speed ratio of equals.
// All clients come from 127.0.0.1: kseed's per-address cap (default 16) is raised to
// --clients in the bench's server, so a 50-client row measures 50 transfers, not 16.
// (tftpd-hpa forks per request and dnsmasq gets --tftp-max=1000: neither caps per address.)
// KSEED_BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=DIR' profiles kseed's server (each thread).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync, mkdirSync, chmodSync, existsSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (n, d) => {
  const i = args.indexOf(n);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const REPS = opt('--reps', 3);
const CLIENTS = opt('--clients', 50);
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const NS = 'kst-bench';
const MiB = 1024 * 1024;

if (!existsSync(path.join(here, '../../dist/boot/tftp/index.js'))) {
  console.error('dist/ missing: run `npm run build` first');
  process.exit(2);
}

const dir = mkdtempSync(path.join(tmpdir(), 'kst-bench-tftp-'));
chmodSync(dir, 0o755);
const root = path.join(dir, 'root');
const outDir = path.join(dir, 'out');
mkdirSync(root);
mkdirSync(outDir);
chmodSync(root, 0o755);
writeFileSync(path.join(root, 'big.bin'), randomBytes(64 * MiB));
writeFileSync(path.join(root, 'kernel.bin'), randomBytes(8 * MiB));

const children = [];
const nsexec = (cmd, a, o = {}) => spawn('ip', ['netns', 'exec', NS, cmd, ...a], { stdio: ['ignore', 'pipe', 'pipe'], ...o });

function cleanup() {
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGTERM');
    } catch {}
  }
  try {
    execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
  } catch {}
  rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

try {
  execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
} catch {}
execFileSync('ip', ['netns', 'add', NS]);
execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
// tftpd-hpa resolves its -a address with AI_ADDRCONFIG, which finds no IPv4 in a
// namespace that has only loopback; a veth pair with an address (inside the namespace) fixes that.
execFileSync('ip', ['-n', NS, 'link', 'add', 'kst-bv0', 'type', 'veth', 'peer', 'name', 'kst-bv1']);
execFileSync('ip', ['-n', NS, 'addr', 'add', '10.255.0.1/30', 'dev', 'kst-bv0']);
execFileSync('ip', ['-n', NS, 'link', 'set', 'kst-bv0', 'up']);
execFileSync('ip', ['-n', NS, 'link', 'set', 'kst-bv1', 'up']);

const servers = {
  kseed: { port: 18302 },
  'tftpd-hpa': { port: 18301 },
  dnsmasq: { port: 69 },
};

async function startAll() {
  // exec so that the PID we kill is the server itself, not a wrapper.
  const k = nsexec('node', [...(process.env.KSEED_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), path.join(here, 'kseed-tftpd.mjs'), root, '127.0.0.1', String(servers.kseed.port), String(CLIENTS)]);
  children.push(k);
  await new Promise((res, rej) => {
    k.stdout.once('data', res);
    k.once('exit', (c) => rej(new Error(`kseed server exited ${c}`)));
  });
  const h = nsexec('in.tftpd', ['-L', '-s', root, '-a', `127.0.0.1:${servers['tftpd-hpa'].port}`]);
  children.push(h);
  const d = nsexec('dnsmasq', [
    '-d', '--conf-file=/dev/null', '--port=0', '--no-resolv', '--no-hosts', '--user=root', '--group=root',
    '--listen-address=127.0.0.1', '--bind-interfaces', '--enable-tftp', `--tftp-root=${root}`, '--tftp-max=1000',
    `--pid-file=${path.join(dir, 'dnsmasq.pid')}`, '--log-facility=-',
  ]);
  d.stderr.resume();
  children.push(d);
  await new Promise((r) => setTimeout(r, 800));
  for (const c of children) if (c.exitCode !== null) throw new Error(`a server exited early: ${c.spawnargs.join(' ')}`);
}

function runClient(cmd, a) {
  return new Promise((resolve, reject) => {
    const p = nsexec(cmd, a);
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.stdout.resume();
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${a.join(' ')} -> ${code}: ${err.slice(0, 300)}`))));
  });
}

const clients = {
  'curl blksize 1468 (lockstep)': (port, file, out) => ['curl', ['-sS', '--tftp-blksize', '1468', '-o', out, `tftp://127.0.0.1:${port}/${file}`]],
  'atftp blksize 1468 (lockstep)': (port, file, out) => ['atftp', ['-g', '-r', file, '-l', out, '--option', 'blksize 1468', '127.0.0.1', String(port)]],
  'atftp blksize 1468, RFC 7440 windowsize 16': (port, file, out) => ['atftp', ['-g', '-r', file, '-l', out, '--option', 'blksize 1468', '--option', 'windowsize 16', '127.0.0.1', String(port)]],
};

async function measure(server, clientName, file, n) {
  const port = servers[server].port;
  const mk = clients[clientName];
  const outs = Array.from({ length: n }, (_, i) => path.join(outDir, `${server}-${i}`));
  const t0 = process.hrtime.bigint();
  await Promise.all(outs.map((o) => runClient(...mk(port, file, o))));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const want = statSync(path.join(root, file)).size;
  for (const o of outs) {
    const got = statSync(o).size;
    if (got !== want) throw new Error(`${server}: ${o} has ${got} bytes, want ${want}`);
    rmSync(o);
  }
  return s;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

await startAll();
const FEATURE = ' [feature row: tftpd-hpa 5.2 and dnsmasq do not implement RFC 7440 and answer lockstep]';
const scenarios = [
  ...Object.keys(clients).map((c) => ({ name: `64 MiB, 1 client, ${c}${c.includes('windowsize') ? FEATURE : ''}`, client: c, file: 'big.bin', n: 1, mib: 64 })),
  { name: `8 MiB x ${CLIENTS} clients at once, curl blksize 1468 (lockstep)`, client: 'curl blksize 1468 (lockstep)', file: 'kernel.bin', n: CLIENTS, mib: 8 * CLIENTS },
  { name: `8 MiB x ${CLIENTS} clients at once, atftp blksize 1468 (lockstep)`, client: 'atftp blksize 1468 (lockstep)', file: 'kernel.bin', n: CLIENTS, mib: 8 * CLIENTS },
  { name: `8 MiB x ${CLIENTS} clients at once, atftp blksize 1468, RFC 7440 windowsize 16${FEATURE}`, client: 'atftp blksize 1468, RFC 7440 windowsize 16', file: 'kernel.bin', n: CLIENTS, mib: 8 * CLIENTS },
].filter((sc) => !ONLY || sc.name.includes(ONLY));
console.log(`TFTP benchmark: loopback in netns ${NS}, ${REPS} rounds interleaved, median wall time (MiB/s); ${CLIENTS}-client rows: kseed's per-address cap raised to ${CLIENTS}`);
const results = [];
for (const sc of scenarios) {
  const times = { kseed: [], 'tftpd-hpa': [], dnsmasq: [] };
  const load0 = loadavg()[0];
  for (let r = 0; r < REPS; r++) {
    // each round starts with another server, so none always runs first (cold) or last
    const names = Object.keys(servers);
    for (const srv of [...names.slice(r % names.length), ...names.slice(0, r % names.length)]) times[srv].push(await measure(srv, sc.client, sc.file, sc.n));
  }
  const med = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  const row = { scenario: sc.name, ...Object.fromEntries(Object.entries(med).map(([k, v]) => [k, `${v.toFixed(2)}s (${(sc.mib / v).toFixed(0)} MiB/s)`])) };
  row['kseed/tftpd-hpa'] = `${(med['tftpd-hpa'] / med.kseed).toFixed(2)}x`;
  row['kseed/dnsmasq'] = `${(med.dnsmasq / med.kseed).toFixed(2)}x`;
  row.load = `${load0.toFixed(1)}-${loadavg()[0].toFixed(1)}`;
  row.rounds = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v.map((x) => Number(x.toFixed(2)))]));
  results.push(row);
  console.log(`- ${sc.name}: kseed ${row.kseed} | tftpd-hpa ${row['tftpd-hpa']} | dnsmasq ${row.dnsmasq} | speed-up vs tftpd-hpa ${row['kseed/tftpd-hpa']}, vs dnsmasq ${row['kseed/dnsmasq']} | load ${row.load}`);
}
if (args.includes('--json')) console.log(JSON.stringify(results, null, 2));
process.exit(0);
