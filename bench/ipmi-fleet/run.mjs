#!/usr/bin/env node
// Benchmark: power status + device id of N ipmi_sim BMCs on loopback.
//   kseed fleet (dist/, one process, shared sockets)  vs
//   ipmitool one BMC after another                     vs
//   ipmitool 8 at a time (xargs -P 8)
// ipmitool gets its best case: one process and one session per BMC running
// both commands (`exec` of a two-line file), cipher suite 3 pinned (-C 3) as
// kseed is, so neither pays for cipher suite negotiation.
// The BMCs answer power state themselves (no chassis_control program): a
// popen'd script per query would make 100 simulators sharing this machine's
// cores the bottleneck, which real BMCs (own hardware each) are not. Set
// BENCH_CHASSIS_SCRIPT=1 to measure with the script anyway.
// Through the CLI as well: `kseed bmc power --all status` (a new process: start-up,
// site file, N sessions) against ipmitool `chassis power status` per BMC, sequential
// and 8-way, over the same BMCs: what a user runs, process start included.
// Run after `npm run build`:  node bench/ipmi-fleet/run.mjs [N=100] [BASEPORT=16100]
import { execFileSync, spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBmc, tempRoot, writeBmc } from './ipmisim.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, '../../dist');
const { runFleet } = await import(path.join(dist, 'bmc/fleet.js'));

const N = Number(process.argv[2] ?? 100);
const BASE = Number(process.argv[3] ?? 16100);
if (!(N > 0 && N <= 800 && BASE >= 16000 && BASE + N <= 17000)) throw new Error('N in 1..800, ports within 16000-16999');

const withScript = process.env.BENCH_CHASSIS_SCRIPT === '1';
const root = tempRoot('kseed-bench-ipmi-');
const bmcs = [];
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  await Promise.all(bmcs.map((b) => b.stop()));
  rmSync(root, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const b of bmcs) {
      try {
        process.kill(b.pid, 'SIGKILL');
      } catch {}
    }
    rmSync(root, { recursive: true, force: true });
    process.exit(130);
  });
}

function ms(t0) {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

try {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i += 10) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + 10); j++) {
      batch.push(startBmc(writeBmc(root, { name: `b${j}`, port: BASE + j, power: j % 2, chassisControl: withScript })));
    }
    bmcs.push(...(await Promise.all(batch)));
  }
  console.log(`${withScript ? 'with' : 'without'} chassis_control script`);
  console.log(`started ${bmcs.length} ipmi_sim BMCs on 127.0.0.1:${BASE}-${BASE + N - 1} in ${ms(t0).toFixed(0)} ms`);

  // --- kseed
  const targets = bmcs.map((b) => ({
    protocol: 'ipmi',
    address: '127.0.0.1',
    port: b.port,
    username: 'admin',
    password: 'password',
    cipherSuite: 3,
    timeoutMs: 10_000,
  }));
  const kseedRuns = [];
  let kseedOk = 0;
  for (let run = 0; run < 5; run++) {
    const k0 = process.hrtime.bigint();
    const res = await runFleet(
      targets,
      async (bmc) => {
        const power = await bmc.powerStatus();
        const dev = await bmc.deviceId();
        return { power, mfr: dev.manufacturerId };
      },
      { concurrency: 100 },
    );
    kseedRuns.push(ms(k0));
    kseedOk = res.filter((r) => r.ok && r.value.mfr === 4753).length;
    const wrong = res.filter((r) => r.ok && r.value.power !== (withScript && r.index % 2 ? 'on' : 'off')).length;
    if (kseedOk !== N || wrong) console.log(`  kseed run ${run}: ${kseedOk}/${N} ok, ${wrong} wrong power states`, res.find((r) => !r.ok)?.error?.message ?? '');
  }
  const kseed = [...kseedRuns].sort((a, b) => a - b)[2];

  // --- ipmitool, two ways: as scripts call it (one process per command) and
  // its best case (one process and session per BMC running both via `exec`)
  const cmds = path.join(root, 'cmds.txt');
  writeFileSync(cmds, 'chassis power status\nmc info\n');
  const base = '-I lanplus -C 3 -H 127.0.0.1 -U admin -P password';
  const perCommand = `ipmitool ${base} -p {} chassis power status && ipmitool ${base} -p {} mc info`;
  const perBmc = `ipmitool ${base} -p {} exec "${cmds}"`;
  const ports = bmcs.map((b) => String(b.port)).join('\n');
  const timed = (parallel, line) => {
    const t = process.hrtime.bigint();
    const r = spawnSync('sh', ['-c', `xargs -P ${parallel} -I{} sh -c '${line}'`], { input: ports, encoding: 'utf8', maxBuffer: 64 << 20 });
    const wall = ms(t);
    const ok = Math.min((r.stdout.match(/Chassis Power is/g) ?? []).length, (r.stdout.match(/Manufacturer ID\s*:\s*4753/g) ?? []).length);
    return { wall, ok };
  };
  const seq2 = timed(1, perCommand);
  const par2 = timed(8, perCommand);
  const seq1 = timed(1, perBmc);
  const par1 = timed(8, perBmc);

  // --- through the CLI: one `kseed bmc power --all status` process against one ipmitool process per BMC
  writeFileSync(
    path.join(root, 'kseed.yaml'),
    [
      'site: ipmibench',
      'engine: embedded',
      'seed:',
      '  interface: lo',
      '  address: 10.77.0.1/24',
      '  dhcp: { mode: off }',
      'defaults:',
      '  bmc: { type: ipmi, username: admin, password: { env: KSEED_BENCH_BMC_PASSWORD }, cipher_suite: 3 }',
      'nodes:',
      ...bmcs.map((b, i) => `  - name: n${String(i).padStart(3, '0')}\n    bmc: { address: 127.0.0.1, port: ${b.port} }\n    macs: ["52:54:00:10:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}"]\n    roles: [compute]`),
      'handoff:',
      '  ssh_user: root',
      '',
    ].join('\n'),
  );
  const cliRuns = [];
  let cliOk = 0;
  for (let run = 0; run < 3; run++) {
    const t = process.hrtime.bigint();
    let out;
    try {
      out = execFileSync(process.execPath, [path.join(here, '../../bin/kseed.js'), 'bmc', 'power', '--all', 'status', '--json'], {
        cwd: root,
        env: { ...process.env, KSEED_BENCH_BMC_PASSWORD: 'password' },
        encoding: 'utf8',
        maxBuffer: 64 << 20,
      });
    } catch (e) {
      out = e.stdout ?? '{"nodes":[]}';
    }
    cliRuns.push(ms(t));
    cliOk = JSON.parse(out).nodes.filter((n) => n.ok && n.power === (withScript && Number(n.node.slice(1)) % 2 ? 'on' : 'off')).length;
  }
  const cli = [...cliRuns].sort((a, b) => a - b)[1];
  const statusLine = `ipmitool ${base} -p {} chassis power status`;
  const statusTimed = (parallel) => {
    const t = process.hrtime.bigint();
    const r = spawnSync('sh', ['-c', `xargs -P ${parallel} -I{} sh -c '${statusLine}'`], { input: ports, encoding: 'utf8', maxBuffer: 64 << 20 });
    return { wall: ms(t), ok: (r.stdout.match(/Chassis Power is/g) ?? []).length };
  };
  const seqS = statusTimed(1);
  const parS = statusTimed(8);

  const row = (name, wall, ok) => console.log(`  ${name.padEnd(52)} ${wall.toFixed(0).padStart(7)} ms  ${ok}/${N} ok`);
  console.log('');
  console.log(`power status + device id of ${N} BMCs, wall time (load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores)`);
  row(`kseed fleet, median of 5 (${kseedRuns.map((x) => x.toFixed(0)).join(', ')})`, kseed, kseedOk);
  row('ipmitool sequential, one process per command', seq2.wall, seq2.ok);
  row('ipmitool xargs -P 8, one process per command', par2.wall, par2.ok);
  row('ipmitool sequential, one process per BMC (exec)', seq1.wall, seq1.ok);
  row('ipmitool xargs -P 8, one process per BMC (exec)', par1.wall, par1.ok);
  console.log('');
  console.log(`  vs ipmitool sequential: ${(seq2.wall / kseed).toFixed(1)}x per command, ${(seq1.wall / kseed).toFixed(1)}x exec  (target >= 20x)`);
  console.log(`  vs ipmitool 8-way:      ${(par2.wall / kseed).toFixed(1)}x per command, ${(par1.wall / kseed).toFixed(1)}x exec  (target >= 4x)`);
  console.log('');
  console.log(`power status of ${N} BMCs through the CLI, process start included (load average ${loadavg()[0].toFixed(1)})`);
  row(`kseed bmc power --all status, median of 3 (${cliRuns.map((x) => x.toFixed(0)).join(', ')})`, cli, cliOk);
  row('ipmitool chassis power status, sequential', seqS.wall, seqS.ok);
  row('ipmitool chassis power status, xargs -P 8', parS.wall, parS.ok);
  console.log('');
  console.log(`  CLI vs ipmitool sequential: ${(seqS.wall / cli).toFixed(1)}x   vs ipmitool 8-way: ${(parS.wall / cli).toFixed(1)}x`);
  console.log(JSON.stringify({ bench: 'ipmi-fleet', n: N, load: Number(loadavg()[0].toFixed(1)), kseedFleetMs: Math.round(kseed), cliMs: Math.round(cli), ipmitoolStatusSeqMs: Math.round(seqS.wall), ipmitoolStatus8Ms: Math.round(parS.wall), cliVsSeq: Number((seqS.wall / cli).toFixed(2)), cliVs8: Number((parS.wall / cli).toFixed(2)) }));
} finally {
  await cleanup();
}
