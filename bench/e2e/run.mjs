#!/usr/bin/env node
/**
 * bench/e2e: N lab nodes from `kseed provision --all` to all active, per
 * phase, against the floor: the same deploy ramdisk and the same image write
 * booted directly with QEMU -kernel/-initrd (src/lab startDirectBoot: no BMC,
 * no PXE/iPXE, no inspection), talking to the same `kseed boot serve`.
 * kseed includes in-band inspection by default (it shares the deploy's
 * ramdisk boot: fast track); --no-inspect leaves it out.
 * Prints kseed's time / floor (target <= 1.3) and the 1-minute load average
 * sampled during each part: the machine may be shared, and TCG guests slow
 * down with it.
 *
 *   npm run build && node bench/e2e/run.mjs [--nodes 4] [--no-inspect] [--cache DIR]
 * Needs root, ipmi_sim, qemu-system-x86_64 and the image build tools.
 * Lab "bench", BMC ports 17200+.
 */
import { chmodSync, linkSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kseed } from '../lib/kseed.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const dist = (p) => import(path.join(root, 'dist', p));
const { buildRamdisk } = await dist('images/ramdisk.js');
const { buildTestOs } = await dist('images/osimage.js');
const { createLab, destroyLab, startDirectBoot, stopVm, readManifest } = await dist('lab/index.js');
const { openState } = await dist('engine/state.js');

const arg = (k, d) => {
  const i = process.argv.indexOf(k);
  return i > 0 ? process.argv[i + 1] : d;
};
const N = Number(arg('--nodes', '4'));
const inspect = !process.argv.includes('--no-inspect');
const cache = path.resolve(arg('--cache', path.join(root, 'cache')));
const LAB = 'bench';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

/** Samples the 1-minute load average every 5 s until stopped: { min, mean, max }. */
function loadSampler() {
  const xs = [os.loadavg()[0]];
  const t = setInterval(() => xs.push(os.loadavg()[0]), 5000);
  return () => {
    clearInterval(t);
    xs.push(os.loadavg()[0]);
    const r = (v) => +v.toFixed(2);
    return { min: r(Math.min(...xs)), mean: r(xs.reduce((a, b) => a + b, 0) / xs.length), max: r(Math.max(...xs)) };
  };
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ksl-bench-'));
chmodSync(tmp, 0o755);
const stateDir = path.join(tmp, '.kseed');
const site = path.join(tmp, 'kseed.yaml');
const result = { nodes: N, cores: os.cpus().length, load_before: os.loadavg()[0], inspect };

try {
  const rd = await buildRamdisk({ cacheDir: cache });
  const img = await buildTestOs({ cacheDir: cache });
  const artifacts = path.join(tmp, 'artifacts');
  mkdirSync(artifacts);
  linkSync(rd.kernel, path.join(artifacts, 'vmlinuz'));
  linkSync(rd.initramfs, path.join(artifacts, 'initramfs.gz'));
  linkSync(img.zst, path.join(artifacts, 'testos.raw.zst'));
  const lab = await createLab({
    stateDir,
    name: LAB,
    nodes: N,
    diskGb: 1,
    bmcPortBase: 17200,
    image: { url: 'http://10.77.0.1:8080/artifacts/testos.raw.zst', checksum: `sha256:${img.sha256.zst}`, format: 'raw', compression: 'zstd' },
    siteFile: site,
  });
  const manifest = readManifest(stateDir, LAB);
  const up = await kseed(['--config', site, 'up', '--artifacts', artifacts]);
  if (up.code !== 0) throw new Error('kseed up failed');

  // ---- floor: the ramdisk booted directly, deploy task from the same boot services
  const st = openState(stateDir);
  const floorLoad = loadSampler();
  const t0 = now();
  for (const n of lab.nodes) {
    st.ensureNode(n.name);
    st.transition(n.name, 'deploying', { phase: 'floor' });
    const token = st.issueNodeToken(n.name, 'agent', 3600_000);
    await startDirectBoot(manifest, n, {
      kernel: rd.kernel,
      initrd: rd.initramfs,
      append: `console=ttyS0 quiet kseed.url=http://10.77.0.1:8080 kseed.node=${n.name} kseed.token=${token} kseed.mac=${n.mac}`,
    });
  }
  const floorDone = new Map();
  while (floorDone.size < N) {
    for (const n of lab.nodes) {
      if (floorDone.has(n.name)) continue;
      const r = st.listEvents(n.name, { kind: 'agent-result' }).at(-1);
      if (r?.detail.status === 'ok' && r.detail.stage === 'deploy') {
        floorDone.set(n.name, (now() - t0) / 1000);
        // active: a reboot of the direct-booted ramdisk now gets no task
        st.transition(n.name, 'active', { phase: 'floor' });
        await stopVm(n);
      } else if (r?.detail.status === 'fail') throw new Error(`floor: ${n.name}: ${r.detail.msg}`);
    }
    if (now() - t0 > 1_800_000) throw new Error('floor: timed out');
    await sleep(100);
  }
  const floor = Math.max(...floorDone.values());
  result.load_floor = floorLoad();
  for (const n of lab.nodes) {
    st.revokeNodeTokens(n.name);
    st.removeNode(n.name, 'bench floor done');
  }
  st.close();
  result.floor_s = +floor.toFixed(1);
  result.floor_per_node_s = Object.fromEntries([...floorDone].map(([k, v]) => [k, +v.toFixed(1)]));

  // ---- kseed: enroll -> (inspect) -> deploy -> active, over IPMI + PXE
  const kseedLoad = loadSampler();
  const t1 = now();
  const prov = await kseed(['--config', site, '--json', 'provision', '--all', ...(inspect ? [] : ['--no-inspect'])]);
  const total = (now() - t1) / 1000;
  result.load_kseed = kseedLoad();
  if (prov.code !== 0) throw new Error(`kseed provision exit ${prov.code}: ${prov.out}`);
  const doc = JSON.parse(prov.out);
  const phases = {};
  result.kseed_per_node_s = {};
  for (const n of doc.nodes) {
    const mine = n.status.timings.filter((t) => t.phase !== 'floor');
    result.kseed_per_node_s[n.node] = Object.fromEntries(mine.map((t) => [t.phase, +(t.ms / 1000).toFixed(1)]));
    for (const t of mine) (phases[t.phase] ??= []).push(t.ms / 1000);
  }
  result.kseed_s = +total.toFixed(1);
  result.kseed_phase_max_s = Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, +Math.max(...v).toFixed(1)]));
  result.ratio = +(total / floor).toFixed(2);
  result.load_after = os.loadavg()[0];
  result.load_note = 'load averages of a 2-core machine shared with other jobs; TCG guests slow down with it';
  console.log(JSON.stringify(result, null, 2));
  console.log(`kseed provision --all (${N} nodes${inspect ? ', with inspection' : ''}): ${total.toFixed(1)} s; floor (direct -kernel/-initrd boot, same ramdisk + image write): ${floor.toFixed(1)} s; kseed/floor = ${result.ratio}`);
} finally {
  await kseed(['--config', site, 'down']).catch(() => undefined);
  await destroyLab({ stateDir, name: LAB }).catch((e) => console.error(`lab cleanup: ${e.message}`));
  rmSync(tmp, { recursive: true, force: true });
}
