#!/usr/bin/env node
// The seed service's node list under load (issue 18's goal: >= 1000 requests/s, p99 <= 50 ms,
// 100 nodes, provisioning under way), against a reference serving the same bytes.
//   npm run build && node bench/api/run.mjs [--nodes 100] [--seconds 10] [--connections 10] [--writes 50] [--phases]
// What runs, all on 127.0.0.1:
//  - `kseed serve` (its own process, port 18481) on a seed of N nodes whose store holds a
//    provisioning history (enroll, inspect, deploy with agent progress events);
//  - a writer process on the same store moving nodes through deploy and recording agent
//    progress events, --writes per second, for the whole run (the CLI and the boot services
//    write to the store like this while a fleet provisions);
//  - autocannon (npm, pinned) with --connections keep-alive connections asking
//    GET /api/v1/nodes (--phases: ?phases=true, what the status page asks) with a bearer token;
//  - the reference: a minimal node:http server (port 18482, its own process) answering every
//    request with the same JSON body kseed gave, same headers: what node:http itself costs.
// Prints requests/s and latency p50/p99 of both, the ratio kseed/reference, the goal's verdict,
// the page's first-load bytes (GET / and what it references, headers included) and the load.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const bin = path.join(repo, 'bin/kseed.js');
const args = process.argv.slice(2);
const opt = (n, d) => {
  const i = args.indexOf(n);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const NODES = opt('--nodes', 100);
const SECONDS = opt('--seconds', 10);
const CONNECTIONS = opt('--connections', 10);
const WRITES = opt('--writes', 50);
const ROUTE = args.includes('--phases') ? '/api/v1/nodes?phases=true' : '/api/v1/nodes';
const PORTS = { kseed: 18481, reference: 18482 };
const GOAL = { rps: 1000, p99: 50 };

const { openState } = await import(path.join(repo, 'dist/engine/state.js'));

const root = mkdtempSync(path.join(tmpdir(), 'kst-bench-api-'));
const stateDir = path.join(root, '.kseed');
const children = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  rmSync(root, { recursive: true, force: true });
});
process.on('SIGINT', () => process.exit(130));

const names = Array.from({ length: NODES }, (_, i) => `n${String(i + 1).padStart(3, '0')}`);
writeFileSync(
  path.join(root, 'kseed.yaml'),
  [
    'site: apibench',
    'engine: embedded',
    'seed:',
    '  interface: lo',
    '  address: 10.77.0.1/24',
    '  dhcp: { mode: off }',
    'defaults:',
    '  bmc: { type: ipmi, username: admin, password: { value: unused } }',
    'nodes:',
    ...names.map((n, i) => `  - { name: ${n}, bmc: { address: 127.0.0.1, port: ${20000 + i} }, macs: ["52:54:00:ab:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}"] }`),
    '',
  ].join('\n'),
);

// a history like a fleet's: every node enrolled and inspected, a third deployed, a third deploying
{
  const s = openState(stateDir);
  names.forEach((n, i) => {
    s.ensureNode(n, { phase: 'enroll' });
    s.updateNode(n, { power: 'on', ip: `10.77.0.${(i % 200) + 20}` });
    s.transition(n, 'manageable', { phase: 'enroll' });
    s.transition(n, 'inspecting', { phase: 'inspect' });
    s.recordEvent(n, 'inventory', { cpus: 4, memory_mb: 8192, disks: 2 });
    s.transition(n, 'available', { phase: 'inspect' });
    if (i % 3 === 2) return;
    s.transition(n, 'deploying', { phase: 'deploy' });
    for (let p = 0; p <= 100; p += 20) s.recordEvent(n, 'agent-progress', { stage: 'write', pct: p });
    if (i % 3 === 0) s.transition(n, 'active', { phase: 'deploy' });
  });
  s.close();
}

const tok = spawnSync(process.execPath, [bin, '--json', 'token', 'create', 'bench'], { cwd: root, encoding: 'utf8' });
if (tok.status !== 0) throw new Error(`token create: ${tok.stderr}`);
const token = JSON.parse(tok.stdout).secret;

function startChild(argv, ready) {
  const c = spawn(process.execPath, argv, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(c);
  return new Promise((resolve, reject) => {
    let out = '';
    c.stdout.on('data', (d) => {
      out += d;
      if (ready.test(out)) resolve(c);
    });
    c.once('exit', (code) => reject(new Error(`${argv.join(' ')} exited ${code}: ${out}`)));
  });
}

await startChild([bin, 'serve', '--port', String(PORTS.kseed)], /"type":"listening"/);

// the writer: provisioning under way, in another process like the CLI and the boot services
const writer = `
  const { openState } = await import(${JSON.stringify(path.join(repo, 'dist/engine/state.js'))});
  const s = openState(${JSON.stringify(stateDir)}, { busyTimeoutMs: 3000 });
  const names = ${JSON.stringify(names)};
  let i = 0, writes = 0;
  console.log('writing');
  setInterval(() => {
    const n = names[i++ % names.length];
    const st = s.getNode(n).state;
    if (st === 'available') s.transition(n, 'deploying', { phase: 'deploy' });
    else if (st === 'deploying' && i % 5 === 0) s.transition(n, 'active', { phase: 'deploy' });
    else s.recordEvent(n, 'agent-progress', { stage: 'write', pct: i % 100 });
    writes++;
  }, ${Math.max(1, Math.round(1000 / WRITES))});
  process.on('SIGTERM', () => { console.log(JSON.stringify({ writes })); process.exit(0); });
`;
const w = await startChild(['--input-type=module', '-e', writer], /writing/);
let writerOut = '';
w.stdout.on('data', (d) => (writerOut += d));

const auth = { authorization: `Bearer ${token}` };
const first = await fetch(`http://127.0.0.1:${PORTS.kseed}${ROUTE}`, { headers: auth });
const body = await first.text();
if (first.status !== 200 || JSON.parse(body).nodes.length !== NODES) throw new Error(`GET ${ROUTE}: ${first.status} ${body.slice(0, 200)}`);

// the reference answers with kseed's body and headers, whatever is asked
const refSrc = `
  const http = require('node:http');
  const body = Buffer.from(${JSON.stringify(body)});
  http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store' });
    res.end(body);
  }).listen(${PORTS.reference}, '127.0.0.1', () => console.log('listening'));
`;
await startChild(['-e', refSrc], /listening/);

function load(port) {
  return new Promise((resolve, reject) => {
    autocannon({ url: `http://127.0.0.1:${port}${ROUTE}`, headers: auth, connections: CONNECTIONS, duration: SECONDS }, (err, r) => (err ? reject(err) : resolve(r)));
  });
}

const loads = [loadavg()[0]];
// a short warm-up each (JIT, SQLite's page cache), then the measured runs, reference first
for (const p of [PORTS.reference, PORTS.kseed]) await new Promise((r) => autocannon({ url: `http://127.0.0.1:${p}${ROUTE}`, headers: auth, connections: CONNECTIONS, duration: 2 }, r));
const ref = await load(PORTS.reference);
loads.push(loadavg()[0]);
const ks = await load(PORTS.kseed);
loads.push(loadavg()[0]);
w.kill('SIGTERM');
await new Promise((r) => w.once('exit', r));
const writes = JSON.parse(writerOut.trim().split('\n').at(-1) || '{}').writes;

// the page's first load: / and the files it names, as bytes on the wire (status line, headers, body)
function rawGet(p) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: PORTS.kseed, path: p }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const head = `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n${res.rawHeaders.map((v, i) => (i % 2 ? `${v}\r\n` : `${v}: `)).join('')}\r\n`;
        resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8'), bytes: Buffer.byteLength(head) + Buffer.concat(chunks).length });
      });
    }).on('error', reject);
  });
}
const index = await rawGet('/');
const assets = [...index.text.matchAll(/(?:href|src)="(\/[^"]+)"/g)].map((m) => m[1]);
const files = await Promise.all(assets.map(rawGet));
const pageBytes = index.bytes + files.reduce((n, f) => n + f.bytes, 0);

const row = (name, r) => `${name.padEnd(9)} ${String(Math.round(r.requests.average)).padStart(6)} req/s  p50 ${String(r.latency.p50).padStart(4)} ms  p99 ${String(r.latency.p99).padStart(4)} ms  errors ${r.errors + r.non2xx}`;
console.log(`API node list: GET ${ROUTE}, ${NODES} nodes (${body.length} bytes), ${CONNECTIONS} keep-alive connections, ${SECONDS} s each, autocannon ${autocannon.version ?? ''}`.trim());
console.log(`provisioning under way: ${writes} store writes by another process during the runs (${WRITES}/s asked)`);
console.log(row('kseed', ks));
console.log(row('reference', ref));
console.log(`kseed/reference: ${(ks.requests.average / ref.requests.average).toFixed(2)}x requests/s, p99 ${(ks.latency.p99 / Math.max(ref.latency.p99, 1)).toFixed(1)}x`);
const met = ks.requests.average >= GOAL.rps && ks.latency.p99 <= GOAL.p99 && ks.errors + ks.non2xx === 0;
console.log(`goal >= ${GOAL.rps} req/s with p99 <= ${GOAL.p99} ms: ${met ? 'met' : 'MISSED'}`);
console.log(`page first load: ${pageBytes} bytes in ${1 + files.length} requests (${['/', ...assets].join(' ')}; goal <= 250 KB)`);
console.log(`load (1-min average) before/between/after: ${loads.map((l) => l.toFixed(1)).join(' / ')} on ${(await import('node:os')).cpus().length} cores`);
process.exit(0);
