#!/usr/bin/env node
// Artifact download throughput: kseed's boot HTTP server vs nginx, same file, same clients, same run.
//   npm run build && node bench/http/run.mjs [--reps N] [--clients N] [--mib N]
// Loopback only (127.0.0.1:18401 nginx, 18402 kseed). Needs nginx and curl.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (n, d) => {
  const i = args.indexOf(n);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const REPS = opt('--reps', 3);
const CLIENTS = opt('--clients', 20);
const MIB = opt('--mib', 256);
const PORTS = { nginx: 18401, kseed: 18402 };

if (!existsSync(path.join(here, '../../dist/boot/http/index.js'))) {
  console.error('dist/ missing: run `npm run build` first');
  process.exit(2);
}

const dir = mkdtempSync(path.join(tmpdir(), 'kst-bench-http-'));
chmodSync(dir, 0o755);
const art = path.join(dir, 'www', 'artifacts');
mkdirSync(art, { recursive: true });
{
  const fd = openSync(path.join(art, 'image.raw'), 'w');
  const chunk = randomBytes(16 * 1024 * 1024);
  for (let i = 0; i < MIB / 16; i++) writeSync(fd, chunk);
  closeSync(fd);
}
writeFileSync(
  path.join(dir, 'nginx.conf'),
  `daemon off;
master_process on;
worker_processes auto;
user root root;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  client_body_temp_path ${dir}/tmp;
  server {
    listen 127.0.0.1:${PORTS.nginx};
    root ${dir}/www;
  }
}
`,
);
mkdirSync(path.join(dir, 'tmp'));

const children = [];
function cleanup() {
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGTERM');
    } catch {}
  }
  rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

const k = spawn('node', [path.join(here, 'kseed-httpd.mjs'), art, String(PORTS.kseed)], { stdio: ['ignore', 'pipe', 'inherit'] });
children.push(k);
await new Promise((res, rej) => {
  k.stdout.once('data', res);
  k.once('exit', (c) => rej(new Error(`kseed server exited ${c}`)));
});
const n = spawn('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'inherit'] });
children.push(n);
await new Promise((r) => setTimeout(r, 800));
if (n.exitCode !== null) throw new Error('nginx exited early');

function curl(port) {
  return new Promise((resolve, reject) => {
    const p = spawn('curl', ['-sS', '-o', '/dev/null', '-w', '%{size_download}', `http://127.0.0.1:${port}/artifacts/image.raw`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) => (code === 0 && Number(out) === MIB * 1024 * 1024 ? resolve() : reject(new Error(`curl ${port}: code ${code}, ${out} bytes`))));
  });
}

async function measure(server, clients) {
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: clients }, () => curl(PORTS[server])));
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(`HTTP artifact benchmark: ${MIB} MiB file on 127.0.0.1, curl -o /dev/null, ${REPS} rounds interleaved, median wall time`);
for (const clients of [1, CLIENTS]) {
  const t = { kseed: [], nginx: [] };
  for (let r = 0; r < REPS; r++) for (const s of ['nginx', 'kseed']) t[s].push(await measure(s, clients));
  const m = { kseed: median(t.kseed), nginx: median(t.nginx) };
  const rate = (s) => ((MIB * clients) / s).toFixed(0);
  console.log(
    `- ${clients} client(s) x ${MIB} MiB: kseed ${m.kseed.toFixed(2)}s (${rate(m.kseed)} MiB/s) | nginx ${m.nginx.toFixed(2)}s (${rate(m.nginx)} MiB/s) | kseed/nginx throughput ${(m.nginx / m.kseed).toFixed(2)}x`,
  );
}
process.exit(0);
