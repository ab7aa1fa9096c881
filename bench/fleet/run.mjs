#!/usr/bin/env node
// Benchmark: provisioning a fleet of simulated nodes (`kseed lab up --sim N`,
// src/lab/sim/) end to end, as a user runs it: `kseed up`, then
// `kseed provision --all --wait --wait-booted`, every command its own process.
// Each node: a real ipmi_sim BMC, its own netns and MAC, DHCP with PXE options,
// TFTP first stage, iPXE script, the agent API, an 8 MiB image streamed and
// checked into a sparse disk, a disk boot and the booted callback.
//
// Prints per size: wall time of provision, per-phase p50/p95 (the engine's
// phases from `kseed status`, the nodes' own from the simulator), seed CPU
// seconds and peak RSS, each process apart (the provision CLI; the seed
// service, which runs provision's job when it runs, so the engine's work is
// its; the boot services), the
// simulator's RSS per node, state-store size, DHCP/TFTP/HTTP request counts
// (sent by the nodes; served as the seed logged them); with several sizes the
// wall-time ratio of the largest to the smallest. Last line: one JSON summary.
//
// Run after `npm run build`, as root:
//   node bench/fleet/run.mjs --nodes 10,100 [--engine embedded|ironic] [--base 23000] [--keep]
//     [--conductors 1,2]   (with --engine ironic: each size once per count of Ironic conductors)
//     [--concurrency N] [--max-deploying N] [--max-bmc N] [--timeout S]   (passed to provision)
//     [--faults [--kills K] [--kill-seed S]]
// --faults (issue 19 item 5, src/lab/sim/faults.ts): 10% of the BMCs behind a
// relay that drops 30% of datagrams and delays the rest 200 ms (no netem in
// this kernel), in the namespace ksl-flb-lossy reached over a veth with
// 10.79.23.0/30 (relay-netns.ts), 5% with a wrong password in the site file, 5%
// whose client freezes once mid-deploy, 2% that never send DHCP; the seed
// (provision, boot services, seed service) SIGKILLed K times (10) at seeded
// random moments, 3-15 s after each (re)start of provision, and restarted
// with `kseed up` (src/lab/sim/kills.ts); then provision runs twice (--timeout 60
// unless given) and the invariants are checked on both: every node active or
// failed with a reason, no image written twice, no claim held, exit 3, and
// the second run converges. Violations are printed
// and make the exit code 1.
// Its figures mean little when the machine is busy: each size prints the load
// average at its start and end.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { applySiteFaults, planFaults, writeNodeFaults } from '../../dist/lab/sim/faults.js';
import { fleetViolations, lastEventId, readFleetRun } from '../../dist/lab/sim/fleet-check.js';
import { BAD_LINK } from '../../dist/lab/sim/relay.js';
import { deleteLossyNetns, ensureLossyNetns, lossyRelayIn } from '../../dist/lab/sim/relay-netns.js';
import { KILL_WINDOW_MS, killAndRestart } from '../../dist/lab/sim/kills.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const bin = path.join(repo, 'bin/kseed.js');
const LAB = 'flb';
const MiB = 1024 * 1024;

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const sizes = String(arg('nodes', '10'))
  .split(',')
  .map(Number);
const engine = arg('engine', 'embedded');
// --engine ironic --conductors 1,2: each size once per conductor count (site `ironic.conductors`: ironic-api,
// N conductors over JSON-RPC and MariaDB from 2 on); without it, the site's default (1, the all-in-one `ironic`)
const conductorCounts = arg('conductors') === undefined ? [undefined] : String(arg('conductors')).split(',').map(Number);
if (conductorCounts[0] !== undefined && (engine !== 'ironic' || conductorCounts.some((c) => !(Number.isInteger(c) && c >= 1 && c <= 8)))) {
  console.error('--conductors: counts 1..8, comma-separated, with --engine ironic');
  process.exit(2);
}
// 23000+: no test or benchmark of the repository binds there (ipmi tests sit at 15600-21799), and below the ephemeral ports
const base = Number(arg('base', 23000));
const keep = process.argv.includes('--keep');
// the relays of --faults: past the largest lab's BMC range, in their namespace behind a /30 of their own
const relayBase = base + 1000;
const RELAY_NET = '10.79.23.0';
// provision's own limits, passed through when given (its defaults otherwise)
const faults = process.argv.includes('--faults');
// a fault run needs a phase limit it can wait out: a frozen client or a silent NIC costs the run one
// --faults: the seed SIGKILLed this many times (0: never) at delays of 3-15 s from each (re)start of provision
const kills = faults ? Number(arg('kills', 10)) : 0;
const killSeed = Number(arg('kill-seed', 20261207));
const limitArgs = [
  ...['concurrency', 'max-deploying', 'max-bmc', 'timeout'].flatMap((k) => (arg(k) !== undefined ? [`--${k}`, String(arg(k))] : [])),
  ...(faults && arg('timeout') === undefined ? ['--timeout', '60'] : []),
];
if (sizes.some((n) => !(Number.isInteger(n) && n >= 1 && n <= 500))) {
  console.error('--nodes: sizes 1..500, comma-separated (lab up --sim takes at most 500)');
  process.exit(2);
}
if (engine !== 'embedded' && engine !== 'ironic') {
  console.error(`--engine ${engine}: embedded or ironic`);
  process.exit(2);
}
// --engine ironic: the seed is the Compose stack (images kseed/*:0.1.0, `kseed images build`), its own site name and API port
const IRONIC_SITE = 'kseedbench-fleet';
const IRONIC_PORT = base + 1900;
const SERVICE_PORT = base + 1901;
if (process.getuid?.() !== 0) {
  console.error('needs root (network namespaces)');
  process.exit(2);
}
if (!existsSync(path.join(repo, 'dist/lab/sim/daemon.js'))) {
  console.error('dist/ is missing or old: run `npm run build` first');
  process.exit(2);
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

function kseed(root, args, timeoutMs = 600_000) {
  const r = spawnSync(process.execPath, [bin, '--config', path.join(root, 'kseed.yaml'), ...args], { cwd: root, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 256 * MiB });
  if (r.status !== 0) throw new Error(`kseed ${args.join(' ')} exited ${r.status ?? r.signal}:\n${r.stderr}`);
  return args.includes('--json') ? JSON.parse(r.stdout) : r.stdout;
}

/** CPU seconds (user+system) and peak RSS (kB) of a live process. */
function procUsage(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpu = (Number(f[11]) + Number(f[12])) / CLK_TCK;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { cpu, hwmKb: kb('VmHWM'), rssKb: kb('VmRSS') };
  } catch {
    return undefined;
  }
}

/**
 * --engine ironic: CPU seconds and peak memory of the Compose stack's containers (Ironic, dnsmasq,
 * nginx...), summed, from their cgroups (v1 cpuacct/memory, as this machine has; null elsewhere).
 */
function stackUsage() {
  const ids = spawnSync('docker', ['ps', '-q', '--no-trunc', '--filter', `label=com.docker.compose.project=kseed-${IRONIC_SITE}`], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  if (!ids.length) return null;
  let cpu = 0;
  let peak = 0;
  for (const id of ids) {
    try {
      cpu += Number(readFileSync(`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, 'utf8')) / 1e9;
      peak += Number(readFileSync(`/sys/fs/cgroup/memory/docker/${id}/memory.max_usage_in_bytes`, 'utf8'));
    } catch {
      return null;
    }
  }
  return { cpu, peakMb: Math.round(peak / MiB) };
}

function pct(list, p) {
  if (!list.length) return null;
  const s = [...list].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

function artifacts(dir) {
  mkdirSync(dir, { recursive: true });
  const cache = path.join(repo, 'cache', 'ramdisk');
  for (const [f, size] of [
    ['vmlinuz', 8 * MiB],
    ['initramfs.gz', 7 * MiB],
  ]) {
    // the real deploy ramdisk when it is built (its sizes are what iPXE fetches), else as many bytes
    if (existsSync(path.join(cache, f))) linkSync(path.join(cache, f), path.join(dir, f));
    else writeFileSync(path.join(dir, f), randomBytes(size));
  }
  const image = Buffer.alloc(8 * MiB);
  randomBytes(MiB).copy(image, 0);
  randomBytes(MiB).copy(image, 6 * MiB);
  writeFileSync(path.join(dir, 'sim.raw'), image);
  return `sha256:${createHash('sha256').update(image).digest('hex')}`;
}

/**
 * Starts provision, sampling its RSS; CPU comes from the shell's `times` (children's user and system).
 * `pid()`: the provision process itself (the shell's child), for the seed kills of --faults.
 */
function startProvision(root) {
  const t0 = Date.now();
  const cmd = `"${process.execPath}" "${bin}" --config "${path.join(root, 'kseed.yaml')}" --json provision --all --wait --wait-booted ${limitArgs.join(' ')} > "${path.join(root, 'provision.json')}"; rc=$?; times >&2; exit $rc`;
  const sh = spawn('sh', ['-c', cmd], { cwd: root, stdio: ['ignore', 'inherit', 'pipe'] });
  let err = '';
  sh.stderr.on('data', (d) => (err += d));
  let hwmKb = 0;
  let kids = [];
  const poll = setInterval(() => {
    try {
      kids = readFileSync(`/proc/${sh.pid}/task/${sh.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      /* gone */
    }
    for (const k of kids) hwmKb = Math.max(hwmKb, procUsage(k)?.hwmKb ?? 0);
  }, 100);
  const done = new Promise((resolve) => {
    sh.on('exit', (code) => {
      clearInterval(poll);
      const ms = Date.now() - t0;
      // POSIX `times`: second line = children's user and system time, e.g. "0m1.23s 0m0.45s"
      const line = err.trim().split('\n').at(-1) ?? '';
      const secs = [...line.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
      let json;
      try {
        json = JSON.parse(readFileSync(path.join(root, 'provision.json'), 'utf8'));
      } catch {
        json = undefined;
      }
      resolve({ code, t0, ms, cpu: secs.length >= 2 ? secs[0] + secs[1] : null, hwmKb, json, err });
    });
  });
  const pid = () => {
    try {
      return Number(readFileSync(`/proc/${sh.pid}/task/${sh.pid}/children`, 'utf8').trim().split(/\s+/)[0]) || undefined;
    } catch {
      return undefined;
    }
  };
  return { pid, done };
}

/** The seed service's PID from its run file (.kseed/run/api.json), when it names a live process. */
function servicePid(root) {
  try {
    const pid = Number(JSON.parse(readFileSync(path.join(root, '.kseed', 'run', 'api.json'), 'utf8')).pid);
    return Number.isInteger(pid) && procUsage(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** One provision run to its end: exit 0 or 3 (some node failed), anything else is the run's failure. */
async function provision(root) {
  const r = await startProvision(root).done;
  if (r.code !== 0 && r.code !== 3) throw new Error(`provision exited ${r.code}: ${r.err.slice(-2000)}`);
  return r;
}

function seedLogCounts(logFile) {
  const c = { dhcp: 0, tftp: 0, http: 0 };
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    const m = /"service":"(dhcp|tftp|http)","type":"(offer|ack|end|request)"/.exec(line);
    if (m) c[m[1]]++;
  }
  return c;
}

async function runSize(n, conductors) {
  const root = mkdtempSync(path.join(tmpdir(), 'kseed-bench-fleet-'));
  const labDir = path.join(root, '.kseed', 'lab', LAB);
  const out = { nodes: n, engine, ...(conductors !== undefined ? { conductors } : {}) };
  try {
    const sum = artifacts(path.join(root, 'art'));
    out.load_start = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
    let t = Date.now();
    kseed(root, ['--json', 'lab', 'up', '--sim', String(n), '--name', LAB, '--bmc-port-base', String(base), '--image-url', 'http://10.77.0.1:8080/artifacts/sim.raw', '--image-checksum', sum, '--engine', engine]);
    {
      // the seed service on a port of its own: on the default one another seed's service may sit, and
      // then `kseed up` runs without one and provision runs in its own process, which is not what is measured
      const site = path.join(root, 'kseed.yaml');
      let text = readFileSync(site, 'utf8').replace(/^(\s+range: .*)$/m, `$1\n  ports: { api: ${SERVICE_PORT}${engine === 'ironic' ? `, ironic_api: ${IRONIC_PORT}` : ''} }`);
      if (engine === 'ironic') {
        text = text.replace(/^site: .*$/m, `site: "${IRONIC_SITE}"`).replace(/^ironic:\n/m, conductors !== undefined ? `ironic:\n  conductors: ${conductors}\n` : 'ironic:\n');
      }
      writeFileSync(site, text);
    }
    out.lab_up_s = (Date.now() - t) / 1000;
    t = Date.now();
    const seedUp = () => kseed(root, ['--json', 'up', '--artifacts', path.join(root, 'art')]);
    let up = seedUp();
    out.seed_up_s = (Date.now() - t) / 1000;
    const fault = faults ? await injectFaults(root, labDir) : undefined;
    const since = fault ? lastEventId(path.join(root, '.kseed')) : 0;
    if (fault && kills > 0) {
      t = Date.now();
      out.kills = await killAndRestart({
        kills,
        seed: killSeed,
        minMs: KILL_WINDOW_MS.min,
        maxMs: KILL_WINDOW_MS.max,
        start: () => startProvision(root),
        seedPids: () => [up.boot_services?.pid, up.api?.pid].filter((x) => Number.isInteger(x)),
        restart: async () => {
          up = seedUp();
        },
        snapshot: async () => {
          const c = {};
          for (const x of kseed(root, ['--json', 'status']).nodes) c[x.state] = (c[x.state] ?? 0) + 1;
          return c;
        },
      });
      out.kills_wall_s = (Date.now() - t) / 1000;
    }
    // after --faults' kills, the boot services are the last restart's: their CPU and RSS are of the final run
    const bootPid = up.boot_services.pid;
    // with a seed service running, provision's CLI only follows the job the service runs: the engine's
    // work (BMC conversations, the state store, the waits) is the service's process, measured apart
    const apiPid = servicePid(root);
    const api0 = apiPid ? procUsage(apiPid) : undefined;
    const simPid = Number(readFileSync(path.join(labDir, 'sim.pid'), 'utf8'));
    const boot0 = procUsage(bootPid);
    const sim0 = procUsage(simPid);
    const stack0 = engine === 'ironic' ? stackUsage() : null;
    const p = await provision(root);
    const stack1 = engine === 'ironic' ? stackUsage() : null;
    // Ironic's own work (API, conductor, dnsmasq, nginx) is the seed's too: its containers' CPU during provision
    if (stack0 && stack1) {
      out.stack_cpu_s = Math.round((stack1.cpu - stack0.cpu) * 100) / 100;
      out.stack_peak_mb = stack1.peakMb;
    }
    const boot1 = procUsage(bootPid);
    const api1 = apiPid ? procUsage(apiPid) : undefined;
    const sim1 = procUsage(simPid);
    // the simulated nodes' own CPU shares the seed's two cores: what the machine, not the seed, spent
    out.simulator_cpu_s = sim0 && sim1 ? Math.round((sim1.cpu - sim0.cpu) * 100) / 100 : null;
    out.load_end = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
    // the real BMCs (one ipmi_sim each) are not the simulator's memory, but they are the fleet's: summed apart
    let bmcKb = 0;
    for (const d of readdirSync(path.join(labDir, 'nodes'))) {
      try {
        bmcKb += procUsage(Number(readFileSync(path.join(labDir, 'nodes', d, 'bmc.pid'), 'utf8')))?.rssKb ?? 0;
      } catch {
        /* no BMC */
      }
    }
    out.bmc_rss_total_mb = Math.round(bmcKb / 102.4) / 10;
    out.exit_code = p.code;
    out.wall_s = p.ms / 1000;
    out.provision_cpu_s = p.cpu === null ? null : Math.round(p.cpu * 100) / 100;
    out.provision_peak_rss_mb = Math.round(p.hwmKb / 102.4) / 10;
    out.boot_services_cpu_s = boot0 && boot1 ? Math.round((boot1.cpu - boot0.cpu) * 100) / 100 : null;
    out.boot_services_peak_rss_mb = boot1 ? Math.round(boot1.hwmKb / 102.4) / 10 : null;
    out.service_pid = apiPid ?? null;
    out.service_cpu_s = api0 && api1 ? Math.round((api1.cpu - api0.cpu) * 100) / 100 : null;
    // VmHWM: since the service started, which was the `kseed up` right before this run (or the last kill's restart)
    out.service_peak_rss_mb = api1 ? Math.round(api1.hwmKb / 102.4) / 10 : null;
    out.seed_cpu_s = Math.round(((out.provision_cpu_s ?? 0) + (out.boot_services_cpu_s ?? 0) + (out.service_cpu_s ?? 0) + (out.stack_cpu_s ?? 0)) * 100) / 100;
    out.simulator_peak_rss_mb = sim1 ? Math.round(sim1.hwmKb / 102.4) / 10 : null;
    out.simulator_rss_per_node_mb = sim1 ? Math.round((sim1.hwmKb / 1024 / n) * 100) / 100 : null;

    const status = kseed(root, ['--json', 'status']);
    const nodes = status.nodes;
    if (fault) {
      try {
        out.faults = await checkFaults(root, labDir, fault, p, nodes, since);
      } finally {
        for (const r of fault.relays) await r.close();
        await deleteLossyNetns('ip', fault.netns);
      }
    }
    out.active = nodes.filter((x) => x.state === 'active' && x.booted_hostname === x.node).length;
    out.failed = nodes.filter((x) => /failed$/.test(x.state)).length;
    // lost: neither active nor failed with a state that says so
    out.lost = n - out.active - out.failed;
    // why a node did not end active, kseed's view and Ironic's (without --faults, where failures are planned
    // and reported per fault): the first 20
    if (!fault) {
      out.not_active = nodes
        .filter((x) => !(x.state === 'active' && x.booted_hostname === x.node))
        .slice(0, 20)
        .map((x) => ({ node: x.node, state: x.state, last_error: x.last_error, ...(x.ironic ? { ironic: `${x.ironic.provision_state}${x.ironic.target_provision_state ? ` -> ${x.ironic.target_provision_state}` : ''}${x.ironic.last_error ? `: ${x.ironic.last_error}` : ''}` } : {}), phases: (x.timings ?? []).map((tm) => `${tm.phase} ${tm.ms} ms`).join(', ') }));
    }
    const phases = {};
    for (const x of nodes) for (const tm of x.timings ?? []) (phases[`engine.${tm.phase}`] ??= []).push(tm.ms);
    // where the wall time goes besides the phases: a node's queue before its enroll began (the
    // engine's concurrency) and between enroll and the network boot (the ramdisk limit); without
    // --faults, whose kills leave several runs' phases
    if (!fault) {
      for (const x of nodes) {
        const t = Object.fromEntries((x.timings ?? []).map((tm) => [tm.phase, tm]));
        if (t.enroll) (phases['wait.before_enroll'] ??= []).push(t.enroll.start - p.t0);
        if (t.enroll && t.inspect) (phases['wait.for_ramdisk'] ??= []).push(t.inspect.start - t.enroll.end);
        if (t.boot) (phases['since_start.booted'] ??= []).push(t.boot.end - p.t0);
      }
    }
    // the nodes' own view, from the simulator: power-on to ramdisk, image write, disk boot to callback
    const counts = { dhcp: 0, tftp: 0, http: 0 };
    for (const d of readdirSync(path.join(labDir, 'nodes'))) {
      const f = path.join(labDir, 'nodes', d, 'sim.json');
      // a node never powered on (its BMC refused the seed: a wrong password) has no record
      if (!existsSync(f)) continue;
      const s = JSON.parse(readFileSync(f, 'utf8'));
      for (const k of Object.keys(counts)) counts[k] += s.counts[k];
      const at = (ph, from = 0) => s.phases.slice(from).find((q) => q.phase === ph)?.at;
      const span = (a, b) => {
        const i = s.phases.findIndex((q) => q.phase === a);
        const tb = i >= 0 ? at(b, i) : undefined;
        return i >= 0 && tb !== undefined ? tb - s.phases[i].at : undefined;
      };
      for (const [name, v] of [
        ['node.pxe_to_ramdisk', span('pxe-dhcp', 'ramdisk')],
        ['node.image_write', span('deploy', 'deployed')],
        ['node.disk_boot_to_callback', span('disk-boot', 'booted')],
      ]) if (v !== undefined) (phases[name] ??= []).push(v);
    }
    out.phases_ms = Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, { p50: pct(v, 50), p95: pct(v, 95), n: v.length }]));
    out.requests_sent_by_nodes = counts;
    out.requests_served_logged = seedLogCounts(path.join(root, '.kseed', 'logs', 'boot-serve.log'));
    const db = path.join(root, '.kseed', 'state.db');
    out.state_store_kb = Math.round(['', '-wal', '-shm'].reduce((a, s) => a + (existsSync(db + s) ? statSync(db + s).size : 0), 0) / 1024);
    return out;
  } catch (e) {
    // what was measured before the failure is not lost with the lab
    console.error(`bench/fleet: ${n} nodes failed after ${JSON.stringify(out)}`);
    throw e;
  } finally {
    try {
      if (existsSync(path.join(root, 'kseed.yaml'))) kseed(root, ['down', ...(engine === 'ironic' ? ['--volumes'] : [])]);
    } catch (e) {
      console.error(`kseed down: ${e.message}`);
    }
    if (!keep) {
      try {
        kseed(root, ['lab', 'down', '--name', LAB]);
      } catch (e) {
        console.error(`kseed lab down: ${e.message}`);
      }
      rmSync(root, { recursive: true, force: true });
    } else console.error(`kept ${root} (kseed --config ${root}/kseed.yaml lab down --name ${LAB} removes the lab)`);
  }
}

/** --faults: the plan of faults.ts applied to this lab (node fault files, relays, the site file). */
async function injectFaults(root, labDir) {
  const manifest = JSON.parse(readFileSync(path.join(labDir, 'manifest.json'), 'utf8'));
  const listed = manifest.nodes.filter((x) => x.listed !== false);
  const names = listed.map((x) => x.name);
  const plan = planFaults(names);
  for (const n of plan.clientDies) writeNodeFaults(path.join(labDir, 'nodes', n), ['die-mid-deploy']);
  for (const n of plan.noDhcp) writeNodeFaults(path.join(labDir, 'nodes', n), ['no-dhcp']);
  const wrong = path.join(root, 'wrong-password');
  writeFileSync(wrong, 'not-the-bmc-password\n', { mode: 0o600 });
  const relays = [];
  const net = await ensureLossyNetns('ip', manifest.netns, RELAY_NET);
  for (const [i, n] of plan.lossyBmc.entries()) {
    relays.push(await lossyRelayIn(net, relayBase + i, { target: { address: '127.0.0.1', port: listed.find((x) => x.name === n).bmc.port }, loss: BAD_LINK.loss, delayMs: BAD_LINK.delayMs, seed: BAD_LINK.seed + i }));
  }
  const site = path.join(root, 'kseed.yaml');
  writeFileSync(site, applySiteFaults(readFileSync(site, 'utf8'), plan, { wrongPasswordFile: wrong, relay: (n) => ({ address: net.relayIp, port: relayBase + plan.lossyBmc.indexOf(n) }) }));
  return { plan, names, relays, netns: manifest.netns };
}

/** --faults: the first run's record and invariants, a second run, its convergence; counts of final states per fault. */
async function checkFaults(root, labDir, fault, p, rows, since) {
  const stateDir = path.join(root, '.kseed');
  const first = readFleetRun({ stateDir, labDir, nodes: fault.names, exitCode: p.code, rows, sinceEventId: since });
  const since2 = lastEventId(stateDir);
  const p2 = await provision(root);
  const second = readFleetRun({ stateDir, labDir, nodes: fault.names, exitCode: p2.code, rows: kseed(root, ['--json', 'status']).nodes, sinceEventId: since2 });
  const byFault = (run) => {
    const kinds = { ...fault.plan, none: fault.names.filter((n) => !Object.values(fault.plan).some((l) => l.includes(n))) };
    return Object.fromEntries(Object.entries(kinds).map(([k, list]) => {
      const c = {};
      for (const n of list) {
        const st = run.rows.find((x) => x.node === n)?.state ?? 'lost';
        c[st] = (c[st] ?? 0) + 1;
      }
      return [k, c];
    }));
  };
  const reasons = {};
  for (const r of first.rows) if (r.state !== 'active') reasons[r.node] = `${r.state}: ${r.last_error}`;
  return {
    plan: Object.fromEntries(Object.entries(fault.plan).map(([k, v]) => [k, v.length])),
    relay: fault.relays.map((x) => x.stats()).reduce((a, x) => ({ datagrams: a.datagrams + x.up + x.down, dropped: a.dropped + x.upDropped + x.downDropped }), { datagrams: 0, dropped: 0 }),
    first: { exit_code: first.exitCode, wall_s: p.ms / 1000, states: byFault(first), violations: fleetViolations(fault.names, first) },
    second: { exit_code: second.exitCode, wall_s: p2.ms / 1000, states: byFault(second), violations: fleetViolations(fault.names, second, first) },
    first_run_reasons: reasons,
  };
}

function show(r) {
  const f = (x) => (x === null || x === undefined ? '-' : String(x));
  console.log(`\n${r.nodes} simulated nodes, ${r.engine} engine${r.conductors !== undefined ? ` (${r.conductors} Ironic conductor${r.conductors > 1 ? 's' : ''})` : ''}: ${r.active} active, ${r.failed} failed, ${r.lost} lost, provision exit ${r.exit_code}`);
  for (const x of r.not_active ?? []) console.log(`  not active: ${x.node} ${x.state}${x.last_error ? ` (${x.last_error})` : ''}${x.ironic ? `; Ironic ${x.ironic}` : ''}; phases: ${x.phases || 'none'}`);
  console.log(`  wall ${r.wall_s.toFixed(1)} s (lab up ${r.lab_up_s.toFixed(1)} s, kseed up ${r.seed_up_s.toFixed(1)} s before it)`);
  const where = r.service_pid ? `provision ran in the seed service (pid ${r.service_pid}); its CLI followed the job` : 'no seed service: provision ran in its CLI process';
  console.log(`  seed CPU ${f(r.seed_cpu_s)} s (provision CLI ${f(r.provision_cpu_s)} s + seed service ${f(r.service_cpu_s)} s + boot services ${f(r.boot_services_cpu_s)} s${r.stack_cpu_s !== undefined ? ` + Compose stack ${r.stack_cpu_s} s` : ''}); ${where}`);
  console.log(`  peak RSS provision CLI ${f(r.provision_peak_rss_mb)} MB, seed service ${f(r.service_peak_rss_mb)} MB, boot services ${f(r.boot_services_peak_rss_mb)} MB${r.stack_peak_mb !== undefined ? `, Compose stack ${r.stack_peak_mb} MB` : ''}`);
  console.log(`  simulator CPU ${f(r.simulator_cpu_s)} s (on the same cores as the seed)`);
  console.log(`  simulator peak RSS ${f(r.simulator_peak_rss_mb)} MB (${f(r.simulator_rss_per_node_mb)} MB per node); ipmi_sim BMCs ${f(r.bmc_rss_total_mb)} MB together; state store ${r.state_store_kb} KiB`);
  console.log(`  load average ${r.load_start.join(' ')} at the start, ${r.load_end.join(' ')} at the end`);
  console.log(`  requests sent by the nodes: DHCP ${r.requests_sent_by_nodes.dhcp}, TFTP ${r.requests_sent_by_nodes.tftp}, HTTP ${r.requests_sent_by_nodes.http}; seed log: DHCP offer/ack ${r.requests_served_logged.dhcp}, TFTP transfers ${r.requests_served_logged.tftp}, HTTP ${r.requests_served_logged.http}`);
  const w = Math.max(...Object.keys(r.phases_ms).map((k) => k.length));
  console.log(`  ${'phase'.padEnd(w)}  ${'p50 ms'.padStart(8)}  ${'p95 ms'.padStart(8)}  n`);
  for (const [k, v] of Object.entries(r.phases_ms)) console.log(`  ${k.padEnd(w)}  ${f(v.p50).padStart(8)}  ${f(v.p95).padStart(8)}  ${v.n}`);
  if (r.kills) {
    console.log(`  seed SIGKILLed ${r.kills.length} times (--kill-seed ${killSeed}) over ${r.kills_wall_s.toFixed(1)} s before the measured run; each kill:`);
    for (const k of r.kills) console.log(`    #${k.kill} after ${(k.after_ms / 1000).toFixed(1)} s${k.provision_had_ended ? ' (provision had ended)' : ''}, ${k.killed} processes; states then ${JSON.stringify(k.states_at_kill)}; restart ${(k.restart_ms / 1000).toFixed(1)} s`);
  }
  if (r.faults) {
    const x = r.faults;
    console.log(`  faults: ${JSON.stringify(x.plan)}; relays dropped ${x.relay.dropped} of ${x.relay.datagrams} datagrams`);
    for (const [name, run] of [['first run', x.first], ['second run', x.second]]) {
      console.log(`  ${name}: exit ${run.exit_code} in ${run.wall_s.toFixed(1)} s; final states per fault ${JSON.stringify(run.states)}`);
      console.log(`    invariants: ${run.violations.length ? `VIOLATED\n      ${run.violations.join('\n      ')}` : 'all hold'}`);
    }
    for (const [n, why] of Object.entries(x.first_run_reasons)) console.log(`    ${n}: ${why}`);
  }
}

const results = [];
for (const n of sizes) {
  for (const c of conductorCounts) {
    console.error(`bench/fleet: ${n} simulated nodes${c !== undefined ? `, ${c} Ironic conductor(s)` : ''}...`);
    const r = await runSize(n, c);
    show(r);
    results.push(r);
  }
}
const summary = { bench: 'fleet', engine, provision_args: limitArgs, sizes: results };
if (conductorCounts.length > 1) {
  // the same fleet over more conductors: wall time relative to the first count
  summary.conductor_wall_ratio = {};
  for (const n of sizes) {
    const rows = results.filter((r) => r.nodes === n);
    const first = rows[0];
    for (const r of rows.slice(1)) {
      const ratio = Math.round((r.wall_s / first.wall_s) * 100) / 100;
      summary.conductor_wall_ratio[`${n}:${r.conductors}/${first.conductors}`] = ratio;
      console.log(`\n${n} nodes: ${r.conductors} conductors ${r.wall_s.toFixed(1)} s vs ${first.conductors}: ${first.wall_s.toFixed(1)} s (${ratio}x)`);
    }
  }
} else if (results.length > 1) {
  const small = results[0];
  const big = results.at(-1);
  summary.wall_ratio = Math.round((big.wall_s / small.wall_s) * 100) / 100;
  console.log(`\nwall time ${big.nodes} vs ${small.nodes} nodes: ${summary.wall_ratio}x for ${big.nodes / small.nodes}x the nodes (goal: at most 3x for 10x)`);
  // Node's own ~100 MB is in every size: what each further node costs is the slope
  if (small.simulator_peak_rss_mb !== null && big.simulator_peak_rss_mb !== null) {
    summary.simulator_mb_per_added_node = Math.round(((big.simulator_peak_rss_mb - small.simulator_peak_rss_mb) / (big.nodes - small.nodes)) * 100) / 100;
    console.log(`simulator memory per added node: ${summary.simulator_mb_per_added_node} MB (budget 4 MB)`);
  }
}
console.log(JSON.stringify(summary));
// with --faults, nodes are meant to fail: what decides is the invariants
if (faults) process.exit(results.every((r) => r.faults && !r.faults.first.violations.length && !r.faults.second.violations.length) ? 0 : 1);
process.exit(results.every((r) => r.lost === 0 && r.failed === 0) ? 0 : 3);
