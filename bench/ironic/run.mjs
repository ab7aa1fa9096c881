#!/usr/bin/env node
/**
 * Ironic engine vs embedded engine on the same virtual lab: per-phase times
 * of `kseed provision --all --wait --wait-booted --no-inspect` (enroll,
 * provide, deploy, boot) and the stack start (`kseed up`), each engine on a
 * fresh lab of the same shape (N nodes, the last one UEFI), one after the
 * other so they never share the 2 cores. Prints both and the ratio
 * ironic / embedded. Needs root, dockerd, the kseed/* images and `npm run build`.
 *
 *   node bench/ironic/run.mjs [--nodes 2]
 *
 * Names: lab "ib" (netns ksl-ib), BMC ports 17600+, Ironic API 127.0.0.1:21720,
 * Compose project kseed-kseedtest-ib.
 */
import { spawn } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const KSEED = path.join(REPO, 'bin/kseed.js');
const CACHE = process.env.KSEED_CACHE ?? path.join(REPO, 'cache');
const nodesArg = process.argv.indexOf('--nodes');
const NODES = nodesArg > 0 ? Number(process.argv[nodesArg + 1]) : 2;

const { buildRamdisk } = await import(path.join(REPO, 'dist/images/ramdisk.js'));
const { buildTestOs } = await import(path.join(REPO, 'dist/images/osimage.js'));
const { createLab, destroyLab } = await import(path.join(REPO, 'dist/lab/index.js'));

function kseed(args) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [KSEED, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('exit', (code) => {
      let json;
      try {
        json = JSON.parse(out);
      } catch {
        /* not JSON */
      }
      resolve({ code, out, err, json, ms: Date.now() - t0 });
    });
  });
}

const ramdisk = await buildRamdisk({ cacheDir: CACHE });
const testos = await buildTestOs({ cacheDir: CACHE });

async function run(engine) {
  const root = mkdtempSync(path.join(tmpdir(), `ksl-ib-${engine}-`));
  chmodSync(root, 0o755);
  const stateDir = path.join(root, '.kseed');
  const site = path.join(root, 'kseed.yaml');
  const artifacts = path.join(root, 'artifacts');
  mkdirSync(artifacts);
  for (const [from, to] of [[ramdisk.kernel, 'vmlinuz'], [ramdisk.initramfs, 'initramfs.gz'], [testos.zst, 'testos.raw.zst']]) {
    try {
      linkSync(from, path.join(artifacts, to));
    } catch {
      writeFileSync(path.join(artifacts, to), readFileSync(from));
    }
  }
  try {
    await createLab({
      stateDir,
      name: 'ib',
      nodes: NODES,
      uefiNodes: NODES > 1 ? 1 : 0,
      diskGb: 1,
      bmcPortBase: 17600,
      image: { url: 'http://10.77.0.1:8080/artifacts/testos.raw.zst', checksum: `sha256:${testos.sha256.zst}`, format: 'raw', compression: 'zstd' },
      siteFile: site,
    });
    if (engine === 'ironic') {
      writeFileSync(
        site,
        readFileSync(site, 'utf8')
          .replace(/^site: .*$/m, 'site: "kseedtest-ib"')
          .replace(/^engine: embedded$/m, 'engine: ironic')
          .replace(/^(\s+range: .*)$/m, '$1\n  ports: { ironic_api: 21720 }')
          .replace(/^defaults:$/m, 'ironic:\n  deploy_interface: ramdisk\n  min_command_interval: 1\ndefaults:'),
      );
    }
    const up = await kseed(['--config', site, '--json', 'up', '--artifacts', artifacts]);
    if (up.code !== 0) throw new Error(`${engine}: kseed up failed: ${up.err}`);
    const p = await kseed(['--config', site, '--json', 'provision', '--all', '--wait', '--wait-booted', '--no-inspect', '--timeout', '1200']);
    if (p.code !== 0) throw new Error(`${engine}: provision failed (${p.code}): ${p.err.slice(-2000)}`);
    const phases = {};
    for (const n of p.json.nodes) for (const t of n.status.timings) (phases[t.phase] ??= []).push(t.ms);
    return { engine, upMs: up.ms, provisionMs: p.ms, phases };
  } finally {
    await kseed(['--config', site, 'down', ...(engine === 'ironic' ? ['--volumes'] : [])]);
    await destroyLab({ stateDir, name: 'ib' });
    rmSync(root, { recursive: true, force: true });
  }
}

const results = [];
for (const engine of ['embedded', 'ironic']) {
  process.stderr.write(`running ${engine} on a ${NODES}-node lab...\n`);
  results.push(await run(engine));
}
const [emb, iro] = results;
const max = (a) => (a?.length ? Math.max(...a) : 0);
const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
const rows = [['kseed up', emb.upMs, iro.upMs]];
for (const ph of ['enroll', 'provide', 'deploy', 'boot']) rows.push([`${ph} (slowest node)`, max(emb.phases[ph]), max(iro.phases[ph])]);
rows.push(['provision --all (wall)', emb.provisionMs, iro.provisionMs]);
console.log(`${NODES}-node lab (${NODES > 1 ? `${NODES - 1} BIOS + 1 UEFI` : '1 BIOS'}), TCG, same ramdisk and test OS`);
console.log(['what'.padEnd(26), 'embedded'.padStart(10), 'ironic'.padStart(10), 'ironic/embedded'.padStart(16)].join(''));
for (const [what, a, b] of rows) console.log([what.padEnd(26), s(a).padStart(10), s(b).padStart(10), (a ? (b / a).toFixed(2) : '-').padStart(16)].join(''));
console.log(JSON.stringify({ nodes: NODES, embedded: emb, ironic: iro }));
