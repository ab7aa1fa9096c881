#!/usr/bin/env node
/**
 * bench/startup: how long kseed takes to start, against `node -e 0` (the
 * floor: Node itself) in the same run. The commands run interleaved, round
 * after round, so machine load hits all of them alike; the difference of
 * the medians is what kseed adds. Target (issue 16): `kseed --help` and
 * `kseed validate` within 250 ms of `node -e 0` (wall clock). The CPU time
 * (user + sys) columns say what the process itself spent, which a busy
 * machine inflates far less than the wall clock.
 *
 *   npm run build && node bench/startup/run.mjs [--runs N] [--json]
 * Exit 1 when --help's or validate's median is more than 250 ms above the floor.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const arg = (k, d) => {
  const i = process.argv.indexOf(k);
  return i > 0 ? process.argv[i + 1] : d;
};
const runs = Number(arg('--runs', '20'));
const json = process.argv.includes('--json');
const LIMIT_MS = 250;

// validate reads a real site file: the lab example with its password variable set
const dir = mkdtempSync(path.join(os.tmpdir(), 'ksb-startup-'));
copyFileSync(path.join(root, 'examples/lab.yaml'), path.join(dir, 'kseed.yaml'));
const kseed = path.join(root, 'bin/kseed.js');
const cases = [
  { name: 'node -e 0', args: ['-e', '0'] },
  { name: 'kseed --help', args: [kseed, '--help'], target: true },
  { name: 'kseed validate', args: [kseed, 'validate'], target: true },
  // for information: a command whose file loads the engines
  { name: 'kseed status --help', args: [kseed, 'status', '--help'] },
];
const env = { ...process.env, KSEED_BMC_PASSWORD: 'password' };
const times = cases.map(() => []);
// CPU time (user + sys) of each run too: on a busy machine the wall clock
// waits for a core, while CPU time is what the process itself spent. bash's
// `time` keyword measures the child alone (its own start-up is not counted).
const cpu = cases.map(() => []);
const timed = (args) => {
  const r = spawnSync('bash', ['-c', 'TIMEFORMAT="%3R %3U %3S"; time "$@" >/dev/null 2>&1 </dev/null', 'bench', process.execPath, ...args], { cwd: dir, env, encoding: 'utf8' });
  const m = /(\d+\.\d+) (\d+\.\d+) (\d+\.\d+)\s*$/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`bench run of ${args.join(' ')} failed: ${r.stderr}`);
  return { wall: Number(m[1]) * 1000, cpu: (Number(m[2]) + Number(m[3])) * 1000 };
};
try {
  for (const c of cases) {
    // one warm-up each (page cache), checked: a failing command is no benchmark
    const r = spawnSync(process.execPath, c.args, { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`${c.name} exited ${r.status}: ${r.stderr}`);
  }
  for (let n = 0; n < runs; n++) {
    for (const [i, c] of cases.entries()) {
      const t = timed(c.args);
      times[i].push(t.wall);
      cpu[i].push(t.cpu);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const floor = median(times[0]);
const cpuFloor = median(cpu[0]);
const rows = cases.map((c, i) => {
  const m = median(times[i]);
  const cm = median(cpu[i]);
  return {
    command: c.name,
    target: Boolean(c.target),
    median_ms: +m.toFixed(1),
    min_ms: +Math.min(...times[i]).toFixed(1),
    max_ms: +Math.max(...times[i]).toFixed(1),
    over_node_ms: +(m - floor).toFixed(1),
    ratio: +(m / floor).toFixed(2),
    cpu_median_ms: +cm.toFixed(1),
    cpu_over_node_ms: +(cm - cpuFloor).toFixed(1),
  };
});
const ok = rows.every((r) => !r.target || r.over_node_ms <= LIMIT_MS);
if (json) {
  console.log(JSON.stringify({ runs, load: os.loadavg()[0], cores: os.cpus().length, limit_over_node_ms: LIMIT_MS, ok, rows }, null, 2));
} else {
  console.log(`start-up, ${runs} interleaved runs each, load ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores (medians)`);
  console.log('command               median    min      max      over node -e 0   ratio   cpu (user+sys)  cpu over node');
  for (const r of rows) {
    console.log(
      `${r.command.padEnd(20)}  ${`${r.median_ms} ms`.padEnd(8)}  ${`${r.min_ms}`.padEnd(7)}  ${`${r.max_ms}`.padEnd(7)}  ${`+${r.over_node_ms} ms`.padEnd(15)}  ${`${r.ratio}x`.padEnd(6)}  ${`${r.cpu_median_ms} ms`.padEnd(14)}  +${r.cpu_over_node_ms} ms${r.target ? '' : '  (not a target)'}`,
    );
  }
  console.log(ok ? `ok: --help and validate within ${LIMIT_MS} ms of node -e 0` : `FAIL: --help or validate is more than ${LIMIT_MS} ms above node -e 0`);
}
process.exitCode = ok ? 0 : 1;
