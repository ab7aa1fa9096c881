#!/usr/bin/env node
// Runs the test files as the lanes of .ci/lanes.mjs, all lanes at the same time, each a vitest
// process of its own with its own JSON report and log; prints per-lane wall time, the slowest
// files and one closing line; exits non-zero when a lane failed or a file is in no lane or in two.
//
//   node .ci/run-lanes.mjs [--plan] [--out DIR] [--lanes FILE] [PATH...]
//
//   --plan    print which file runs in which lane, run nothing
//   --out     where <lane>.json and <lane>.log go (default /tmp/kseed-ci-lanes)
//   --lanes   another lane definition (default .ci/lanes.mjs)
//   PATH      only these test files / folders (default: every file vitest finds)
//
// dist/ is built once here when it is missing or older than src/; the lanes then run with
// KSEED_TEST_PREBUILT=1, so test/helpers/cli.ts ensureBuilt never rebuilds it under a lane
// that is running kseed from it.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const VITEST = path.join(REPO, 'node_modules/vitest/vitest.mjs');
const SLOWEST = 15;

/** A glob relative to the repo root as a RegExp: `**` any folders (or none), `*` and `?` within a name. */
export function globRe(glob) {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      // `**/` matches zero or more whole folders; a trailing `**` anything
      if (glob[i + 2] === '/') {
        re += '(?:[^/]+/)*';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

const matchesAny = (file, globs = []) => globs.some((g) => globRe(g).test(file));

/**
 * Each file to the lane whose include (minus exclude) matches it. `unassigned`: files no lane
 * takes; `doubled`: files two or more lanes take, with their names. Lanes keep their order.
 */
export function assignLanes(files, lanes) {
  const names = new Set();
  for (const l of lanes) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(l.name ?? '')) throw new Error(`lane name ${JSON.stringify(l.name)}: use a-z 0-9 -`);
    if (names.has(l.name)) throw new Error(`lane ${l.name} is defined twice`);
    names.add(l.name);
    if (!Array.isArray(l.include) || l.include.length === 0) throw new Error(`lane ${l.name} has no include globs`);
  }
  const byLane = new Map(lanes.map((l) => [l.name, []]));
  const unassigned = [];
  const doubled = [];
  for (const f of [...files].sort()) {
    const hit = lanes.filter((l) => matchesAny(f, l.include) && !matchesAny(f, l.exclude));
    if (hit.length === 0) unassigned.push(f);
    else if (hit.length > 1) doubled.push({ file: f, lanes: hit.map((l) => l.name) });
    else byLane.get(hit[0].name).push(f);
  }
  return { byLane, unassigned, doubled };
}

/** Only the files under one of `paths` (a test file itself, or a folder). */
export function onlyUnder(files, paths) {
  if (paths.length === 0) return files;
  const norm = paths.map((p) => path.relative(REPO, path.resolve(p)));
  return files.filter((f) => norm.some((p) => f === p || f.startsWith(`${p.replace(/\/+$/, '')}/`)));
}

/**
 * One lane's outcome from its vitest JSON report (undefined: the report is missing, the lane
 * died): test counts, each file's seconds, and the lane's files the report does not name.
 */
export function laneResult(report, files, cwd) {
  if (!report) return { passed: 0, failed: 1, skipped: 0, fileSeconds: [], missing: files, extra: [], noReport: true };
  const seen = new Map();
  for (const t of report.testResults ?? []) {
    const rel = path.relative(cwd, t.name);
    seen.set(rel, Math.max(0, ((t.endTime ?? 0) - (t.startTime ?? 0)) / 1000));
  }
  return {
    passed: report.numPassedTests ?? 0,
    failed: report.numFailedTests ?? 0,
    skipped: (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0),
    fileSeconds: [...seen].map(([file, seconds]) => ({ file, seconds })),
    missing: files.filter((f) => !seen.has(f)),
    extra: [...seen.keys()].filter((f) => !files.includes(f)),
  };
}

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function die(msg) {
  console.error(`run-lanes: ${msg}`);
  process.exit(1);
}

/** The test files vitest itself would run (vitest.config.ts's include and exclude), relative to the repo. */
function listFiles(out) {
  const json = path.join(out, 'files.json');
  const r = spawnSync(process.execPath, [VITEST, 'list', '--filesOnly', `--json=${json}`], { cwd: REPO, encoding: 'utf8', env: process.env });
  if (r.status !== 0 || !existsSync(json)) die(`vitest list failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  return JSON.parse(readFileSync(json, 'utf8')).map((e) => path.relative(REPO, e.file));
}

/** A copy of the checkout for a lane, with node_modules and cache linked back (as big as the sources). */
function copyCheckout(lane) {
  const dir = mkdtempSync(path.join(tmpdir(), `kseed-lane-${lane}-`));
  const tar = spawnSync('sh', ['-c', 'tar -C "$1" --exclude=./cache --exclude=./node_modules --exclude=./.git -cf - . | tar -C "$2" -xf -', 'sh', REPO, dir], { encoding: 'utf8' });
  if (tar.status !== 0) die(`copying the checkout for lane ${lane} failed: ${tar.stderr}`);
  symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
  if (existsSync(path.join(REPO, 'cache'))) symlinkSync(path.join(REPO, 'cache'), path.join(dir, 'cache'));
  return dir;
}

const children = new Set();

/** CI's timeout or Ctrl-C: passed on to each lane's process group (its vitest workers and what they started). */
function forwardSignals() {
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      for (const c of children) {
        try {
          process.kill(-c.pid, sig);
        } catch {
          // already gone
        }
      }
      process.exitCode = 130;
    });
  }
}

function runLane(lane, files, out) {
  const cwd = lane.copy ? copyCheckout(lane.name) : REPO;
  const json = path.join(out, `${lane.name}.json`);
  const logFile = path.join(out, `${lane.name}.log`);
  rmSync(json, { force: true });
  const log = createWriteStream(logFile);
  const t0 = Date.now();
  console.log(`[${lane.name}] ${files.length} file(s)${lane.copy ? ` from a copy of the checkout in ${cwd}` : ''}; log ${logFile}`);
  const child = spawn(process.execPath, [VITEST, 'run', '--no-cache', '--maxWorkers=1', '--reporter=default', '--reporter=json', `--outputFile.json=${json}`, ...files], {
    cwd,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KSEED_TEST_PREBUILT: '1', KSEED_CI_LANE: lane.name },
  });
  children.add(child);
  for (const s of [child.stdout, child.stderr]) {
    s.pipe(log, { end: false });
    createInterface({ input: s }).on('line', (l) => console.log(`[${lane.name}] ${l}`));
  }
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      children.delete(child);
      log.end();
      const seconds = (Date.now() - t0) / 1000;
      let report;
      try {
        report = JSON.parse(readFileSync(json, 'utf8'));
      } catch {
        // no report: laneResult counts the lane as failed
      }
      if (lane.copy && !process.env.KSEED_KEEP_LANE_COPY) rmSync(cwd, { recursive: true, force: true });
      resolve({ lane: lane.name, files, code: code ?? (signal ? 128 : 1), seconds, json, logFile, ...laneResult(report, files, cwd) });
    });
  });
}

const fmt = (s) => `${s.toFixed(1)} s`;

export function summary(results, wallSeconds) {
  const lines = ['', '=== lanes'];
  for (const r of results) {
    lines.push(`${r.lane.padEnd(8)} ${String(r.files.length).padStart(4)} files  ${fmt(r.seconds).padStart(10)} wall  exit ${r.code}  tests ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`);
    if (r.noReport) lines.push(`         no JSON report (${r.json}): the lane died; counted as 1 failed test; see ${r.logFile}`);
    else for (const f of r.missing) lines.push(`         ${f}: in lane ${r.lane} but not in its report (the lane died or vitest did not run it)`);
    for (const f of r.extra) lines.push(`         ${f}: in lane ${r.lane}'s report but not in the lane`);
  }
  const slow = results.flatMap((r) => r.fileSeconds.map((f) => ({ ...f, lane: r.lane }))).sort((a, b) => b.seconds - a.seconds).slice(0, SLOWEST);
  lines.push(`=== ${slow.length} slowest files`);
  for (const f of slow) lines.push(`${fmt(f.seconds).padStart(10)}  ${f.lane.padEnd(8)} ${f.file}`);
  const bad = results.filter((r) => r.code !== 0 || r.failed > 0 || r.missing.length > 0 || r.extra.length > 0);
  const sum = (k) => results.reduce((n, r) => n + r[k], 0);
  lines.push(
    `tests: ${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped; ` +
      `lanes: ${results.map((r) => `${r.lane} ${r.seconds.toFixed(0)} s ${bad.includes(r) ? 'FAILED' : 'ok'}`).join(', ')}; ` +
      `${wallSeconds.toFixed(0)} s wall`,
  );
  return { text: lines.join('\n'), ok: bad.length === 0 };
}

async function main(argv) {
  let out = '/tmp/kseed-ci-lanes';
  let lanesFile = path.join(REPO, '.ci/lanes.mjs');
  let plan = false;
  const paths = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--plan') plan = true;
    else if (a === '--out') out = path.resolve(argv[++i] ?? die('--out needs a directory'));
    else if (a === '--lanes') lanesFile = path.resolve(argv[++i] ?? die('--lanes needs a file'));
    else if (a.startsWith('-')) die(`unknown option ${a}`);
    else paths.push(a);
  }
  mkdirSync(out, { recursive: true });
  const { LANES } = await import(pathToFileURL(lanesFile).href);
  const files = onlyUnder(listFiles(out), paths);
  if (files.length === 0) die(`no test files${paths.length ? ` under ${paths.join(' ')}` : ''}`);
  const { byLane, unassigned, doubled } = assignLanes(files, LANES);
  const lanes = LANES.filter((l) => byLane.get(l.name).length > 0);
  console.log(`lanes (${path.relative(REPO, lanesFile)}): ${LANES.map((l) => `${l.name} ${byLane.get(l.name).length} file(s)`).join(', ')}`);
  for (const f of unassigned) console.log(`  ${f}: in no lane`);
  for (const d of doubled) console.log(`  ${d.file}: in ${d.lanes.length} lanes (${d.lanes.join(', ')})`);
  if (plan) for (const l of lanes) for (const f of byLane.get(l.name)) console.log(`${l.name.padEnd(8)} ${f}`);
  if (unassigned.length || doubled.length) die(`${unassigned.length} file(s) in no lane, ${doubled.length} in more than one: fix ${path.relative(REPO, lanesFile)}`);
  if (plan) return 0;

  const main = path.join(REPO, 'dist/cli/main.js');
  if (!existsSync(main) || statSync(main).mtimeMs < newest(path.join(REPO, 'src'))) {
    console.log('dist/ is missing or older than src/: building it once for every lane (npm run build)');
    const b = spawnSync('npm', ['run', 'build'], { cwd: REPO, stdio: 'inherit' });
    if (b.status !== 0) die(`npm run build failed (exit ${b.status})`);
  }
  forwardSignals();
  const t0 = Date.now();
  const results = await Promise.all(lanes.map((l) => runLane(l, byLane.get(l.name), out)));
  const s = summary(results, (Date.now() - t0) / 1000);
  console.log(s.text);
  return s.ok && !process.exitCode ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(process.exitCode || code),
    (err) => die(err.stack ?? String(err)),
  );
}
