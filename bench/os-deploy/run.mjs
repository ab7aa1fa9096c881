#!/usr/bin/env node
/**
 * bench/os-deploy: one lab node deploys the Debian cloud image (`kseed
 * images os`) as qcow2, then, on a fresh lab of the same shape, the same
 * image as raw (`qemu-img convert -O raw` of it, served as it is). The two
 * runs go one after the other, so they never share the 2 cores. The seed
 * handles a qcow2 by converting it once into a zstd-compressed raw
 * (images/convert.ts); a raw image streams to the disk as it is. Per format
 * it prints the deploy phase (power-on for the deploy to the agent's
 * verified result), the agent's own write time (download, decompress,
 * write, sync: its result message), the seed's conversion time, the bytes
 * on the wire and the lowest MemAvailable on the node while writing, then
 * the ratio qcow2 / raw.
 *
 * The node's CPU seconds (its QEMU processes' utime+stime, summed over the
 * power cycles) are printed too: under TCG they hardly depend on what else
 * runs on the host, unlike the wall times, so they compare two formats run
 * at different loads. A deploy that times out still prints its figures.
 *
 *   npm run build && node bench/os-deploy/run.mjs [--formats qcow2,raw] [--memory-mb 1024] [--timeout 2400] [--cache DIR]
 * Needs root, ipmi_sim, qemu-system-x86_64 and the image build tools.
 * Lab "osb" (netns ksl-osb), BMC ports 17800+; 1 BIOS node, 3 GiB disk.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, createReadStream, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kseed } from '../lib/kseed.mjs';
import { pipeline } from 'node:stream/promises';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const dist = (p) => import(path.join(root, 'dist', p));
const { buildRamdisk } = await dist('images/ramdisk.js');
const { buildOsImage } = await dist('images/nodeos.js');
const { createLab, destroyLab, readSerial } = await dist('lab/index.js');
const { openState } = await dist('engine/state.js');

const arg = (k, d) => {
  const i = process.argv.indexOf(k);
  return i > 0 ? process.argv[i + 1] : d;
};
const FORMATS = arg('--formats', 'qcow2,raw').split(',');
const MEMORY_MB = Number(arg('--memory-mb', '1024'));
const TIMEOUT_S = Number(arg('--timeout', '2400'));
const cache = path.resolve(arg('--cache', process.env.KSEED_CACHE ?? path.join(root, 'cache')));
const LAB = 'osb';
const SEED = 'http://10.77.0.1:8080/artifacts';
for (const f of FORMATS) if (!['qcow2', 'raw', 'raw.zst'].includes(f)) throw new Error(`--formats: ${f} is not qcow2, raw or raw.zst`);

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.status}`);
  return r.stdout;
}

async function sha256(file) {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), h);
  return h.digest('hex');
}

const CLK_TCK = Number(run('getconf', ['CLK_TCK']).trim());
/** CPU seconds (utime+stime, proc(5)) of the process in PIDFILE, or undefined when it is gone. */
function cpuSeconds(pidFile) {
  try {
    const pid = readFileSync(pidFile, 'utf8').trim();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, s: (Number(f[11]) + Number(f[12])) / CLK_TCK };
  } catch {
    return undefined;
  }
}

/** Samples the 1-minute load average and the node's QEMU CPU time every 5 s until stopped. */
function sampler(qemuPidFile) {
  const xs = [os.loadavg()[0]];
  const cpu = new Map(); // pid -> last CPU seconds seen: a power cycle starts a new QEMU
  const take = () => {
    xs.push(os.loadavg()[0]);
    const c = cpuSeconds(qemuPidFile);
    if (c) cpu.set(c.pid, c.s);
  };
  const t = setInterval(take, 5000);
  return () => {
    clearInterval(t);
    take();
    const node_cpu_s = +[...cpu.values()].reduce((a, b) => a + b, 0).toFixed(1);
    return { load: { min: +Math.min(...xs).toFixed(2), max: +Math.max(...xs).toFixed(2) }, node_cpu_s };
  };
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ksl-osb-'));
chmodSync(tmp, 0o755);
const artifacts = path.join(tmp, 'artifacts');
mkdirSync(artifacts);
const rd = await buildRamdisk({ cacheDir: cache });
const img = await buildOsImage({ cacheDir: cache });
linkSync(rd.kernel, path.join(artifacts, 'vmlinuz'));
linkSync(rd.initramfs, path.join(artifacts, 'initramfs.gz'));
linkSync(img.path, path.join(artifacts, 'debian.qcow2'));

/** The site file's image for a format; the raw forms are made from the same qcow2 here. */
async function imageFor(format) {
  if (format === 'qcow2') return { spec: { url: `${SEED}/debian.qcow2`, checksum: img.checksum, format: 'qcow2' }, bytes: img.size };
  const raw = path.join(artifacts, 'debian.raw');
  if (!existsSync(raw)) run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', img.path, raw]);
  if (format === 'raw') return { spec: { url: `${SEED}/debian.raw`, checksum: `sha256:${await sha256(raw)}`, format: 'raw' }, bytes: statSync(raw).size };
  const zst = `${raw}.zst`;
  if (!existsSync(zst)) run('zstd', ['-q', '-T0', raw, '-o', zst]);
  return { spec: { url: `${SEED}/debian.raw.zst`, checksum: `sha256:${await sha256(zst)}`, format: 'raw', compression: 'zstd' }, bytes: statSync(zst).size };
}

async function deploy(format) {
  const dir = path.join(tmp, format);
  mkdirSync(dir);
  const stateDir = path.join(dir, '.kseed');
  const site = path.join(dir, 'kseed.yaml');
  const { spec, bytes } = await imageFor(format);
  try {
    const lab = await createLab({ stateDir, name: LAB, nodes: 1, diskGb: 3, memoryMb: MEMORY_MB, bmcPortBase: 17800, image: spec, siteFile: site });
    const up = await kseed(['--config', site, 'up', '--artifacts', artifacts]);
    if (up.code !== 0) throw new Error(`${format}: kseed up failed`);
    const stop = sampler(path.join(lab.nodes[0].dir, 'qemu.pid'));
    const p = await kseed(['--config', site, '--json', 'provision', '--all', '--wait', '--no-inspect', '--timeout', String(TIMEOUT_S)]);
    const { load: loadDuring, node_cpu_s } = stop();
    let n;
    try {
      n = JSON.parse(p.out).nodes?.[0];
    } catch {
      // not JSON (provision itself failed): reported below as that format's failure
    }
    if (p.code !== 0 || !n) {
      // what a cut-short deploy still tells: how long it ran, and how much CPU the node had in that time
      const ran = n?.status?.timings?.find((t) => t.phase === 'deploy')?.ms / 1000;
      return { format, source_bytes: bytes, failed: n?.status?.last_error ?? `provision exit ${p.code}`, deploy_s: ran, node_cpu_s, load: loadDuring };
    }
    const phase = (name) => n.status.timings.find((t) => t.phase === name)?.ms / 1000;
    const st = openState(stateDir);
    let msg;
    try {
      msg = String(st.listEvents(n.node, { kind: 'agent-result' }).find((e) => e.detail.status === 'ok' && e.detail.stage === 'deploy')?.detail.msg ?? '');
    } finally {
      st.close();
    }
    const m = /written to \S+ in (\d+)s, MemAvailable min (\d+) of (\d+) MiB/.exec(msg);
    if (!m) throw new Error(`${format}: no deploy result with a write time in: ${msg}`);
    // the ramdisk logs when the download ended and when the disk was synced
    const serial = readSerial(lab.nodes[0]);
    const dl = /download ended \(rc=0, (\d+) bytes read\) after ([\d.]+)s/.exec(serial);
    const synced = /written and synced after ([\d.]+)s/.exec(serial);
    // the seed's conversion of a qcow2 (its cache entry's record)
    const conv = path.join(stateDir, 'cache', 'images');
    const meta = existsSync(conv) ? readdirSync(conv).find((f) => f.endsWith('.raw.zst.json')) : undefined;
    const prepared = meta ? JSON.parse(readFileSync(path.join(conv, meta), 'utf8')) : undefined;
    return {
      format,
      source_bytes: bytes,
      wire_bytes: dl ? Number(dl[1]) : undefined,
      deploy_s: phase('deploy'),
      write_s: Number(m[1]),
      download_end_s: dl ? Number(dl[2]) : undefined,
      synced_s: synced ? Number(synced[1]) : undefined,
      seed_convert_s: prepared ? +Number(prepared.seconds).toFixed(1) : undefined,
      mem_available_min_mib: Number(m[2]),
      memory_mib: Number(m[3]),
      peak_used_mib: Number(m[3]) - Number(m[2]),
      provision_s: +(n.status.timings.reduce((a, t) => a + t.ms, 0) / 1000).toFixed(1),
      node_cpu_s,
      load: loadDuring,
    };
  } finally {
    await kseed(['--config', site, 'down']).catch(() => undefined);
    await destroyLab({ stateDir, name: LAB }).catch((e) => console.error(`lab cleanup: ${e.message}`));
  }
}

const results = [];
try {
  for (const f of FORMATS) {
    process.stderr.write(`deploying the Debian image as ${f} on a 1-node lab...\n`);
    results.push(await deploy(f));
    // each format's figures as soon as they exist: a run cut short still tells something
    process.stderr.write(`${JSON.stringify(results.at(-1))}\n`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
const MiB = (b) => (b === undefined ? '-' : `${(b / 1024 ** 2).toFixed(0)} MiB`);
const s = (x) => (x === undefined ? '-' : `${x.toFixed(1)} s`);
console.log(JSON.stringify({ image: { virtual_size: img.virtualSize, qcow2_bytes: img.size }, cores: os.cpus().length, results }, null, 2));
console.log(`Debian ${(img.virtualSize / 1024 ** 3).toFixed(0)} GiB image, 1 node (TCG, ${MEMORY_MB} MiB RAM, 3 GiB disk), one format after the other`);
console.log(['format'.padEnd(8), 'source'.padStart(9), 'on wire'.padStart(9), 'convert'.padStart(9), 'deploy'.padStart(9), 'write'.padStart(9), 'download'.padStart(9), 'synced'.padStart(9), 'mem used'.padStart(9), 'node CPU'.padStart(10), 'load'.padStart(10)].join(''));
for (const r of results)
  console.log(
    [r.format.padEnd(8), MiB(r.source_bytes).padStart(9), MiB(r.wire_bytes).padStart(9), s(r.seed_convert_s).padStart(9), s(r.deploy_s).padStart(9), s(r.write_s).padStart(9), s(r.download_end_s).padStart(9), s(r.synced_s).padStart(9), (r.failed ? 'FAILED' : `${r.peak_used_mib} MiB`).padStart(9), s(r.node_cpu_s).padStart(10), `${r.load.min}-${r.load.max}`.padStart(10)].join(''),
  );
for (const r of results.filter((x) => x.failed)) console.log(`${r.format}: ${r.failed}`);
const q = results.find((r) => r.format === 'qcow2');
for (const r of results.filter((x) => x.format !== 'qcow2'))
  if (q && !q.failed && !r.failed)
    console.log(`qcow2 / ${r.format}: deploy ${(q.deploy_s / r.deploy_s).toFixed(2)}, agent write ${(q.write_s / r.write_s).toFixed(2)}, node CPU ${(q.node_cpu_s / r.node_cpu_s).toFixed(2)}`);
  else if (q && !q.failed && r.failed) console.log(`qcow2 / ${r.format}: below ${(q.deploy_s / r.deploy_s).toFixed(2)} (deploy), ${(q.node_cpu_s / r.node_cpu_s).toFixed(2)} (node CPU): ${r.format} did not finish`);
if (results.some((r) => r.failed)) process.exitCode = 3;
