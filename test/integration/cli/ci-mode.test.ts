/**
 * CI mode on a real command path: the built CLI runs `kseed enroll --all
 * --events --junit FILE` against three ipmi_sim BMCs, one listed with a
 * wrong password. Stdout must be NDJSON only (every line an event valid
 * against docs/events-v1.schema.json, numbered, run-start first, run-end
 * last with exit 3 and the --json document), the JUnit file must be read
 * by a real JUnit reader (Debian's python3-junitparser) with one case per
 * node and phase and the wrong password's failure, no secret anywhere, no
 * temp file left. `undeploy` (the node verbs' path) reports a node it
 * leaves alone as skipped. A run that fails before any node (an unknown
 * node, no boot services) and one stopped by SIGTERM while a BMC does not
 * answer still end the stream and write the report.
 * Ports 16400-16403.
 */
import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, KSEED_BIN, runKseed } from '../../helpers/cli.js';
import { needPeers } from '../../helpers/peers.js';
import { openState } from '../../../src/engine/state.js';
import { schemaErrors } from '../../unit/cli/events-schema.js';
import { startBmc, tempRoot, writeBmc, type SimBmc, blackHole } from '../bmc/ipmi/helpers.js';

const ok = needPeers('ipmi_sim', '/usr/bin/python3');
const BASE = 16400;
const GOOD = 'Ci-Good-Pass1';
const WRONG = 'N0tTheRightOne';
const PY = '/usr/bin/python3';

// junitparser reads the file; what it read is printed as JSON for the assertions
const READ_JUNIT = `
import json, sys
from junitparser import JUnitXml, Failure, Error, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
out = {"tests": xml.tests, "failures": xml.failures, "errors": xml.errors, "skipped": xml.skipped, "suites": []}
for s in xml:
    cases = []
    for c in s:
        r = c.result[0] if c.result else None
        kind = "failure" if isinstance(r, Failure) else "error" if isinstance(r, Error) else "skipped" if isinstance(r, Skipped) else "passed"
        cases.append({"name": c.name, "classname": c.classname, "time": c.time, "result": kind, "message": r.message if r is not None else None})
    out["suites"].append({"name": s.name, "tests": s.tests, "failures": s.failures, "errors": s.errors, "cases": cases})
print(json.dumps(out))
`;

interface Ev {
  v: number;
  seq: number;
  ts: string;
  type: string;
  [k: string]: any;
}

/** Every stdout line as an event; a line that is not JSON fails here, naming it. */
function events(stdout: string): Ev[] {
  expect(stdout.endsWith('\n')).toBe(true);
  return stdout
    .slice(0, -1)
    .split('\n')
    .map((l) => {
      try {
        return JSON.parse(l) as Ev;
      } catch {
        throw new Error(`stdout line is not JSON: ${l}`);
      }
    });
}

function expectStream(evs: Ev[], command: string): void {
  expect(evs.map((e) => e.seq)).toEqual(evs.map((_, i) => i + 1));
  for (const e of evs) {
    expect(schemaErrors(e), JSON.stringify(e)).toEqual([]);
    expect(e.v).toBe(1);
    expect(new Date(e.ts).toISOString()).toBe(e.ts);
  }
  expect(evs[0]).toMatchObject({ type: 'run-start', command });
  expect(evs.filter((e) => e.type === 'run-end')).toHaveLength(1);
  expect(evs.at(-1)!.type).toBe('run-end');
}

async function readJunit(file: string): Promise<any> {
  const { stdout } = await promisify(execFile)(PY, ['-c', READ_JUNIT, file], { timeout: 20_000 });
  return JSON.parse(stdout);
}

describe.skipIf(!ok)('CI mode: kseed enroll --events --junit against ipmi_sim', () => {
  let root: string;
  const bmcs: SimBmc[] = [];
  const env = { KSEED_BMC_PASSWORD: GOOD, CI: 'true' };

  beforeAll(async () => {
    ensureBuilt();
    root = tempRoot('kseed-ci-mode-');
    for (let i = 0; i < 3; i++) bmcs.push((await startBmc(writeBmc(root, { name: `b${i}`, port: BASE + i, serial: `SN-CI${i}`, password: GOOD }))) as SimBmc);
    writeFileSync(path.join(root, 'wrong.pw'), `${WRONG}\n`, { mode: 0o600 });
    const node = (i: number, extra = '') =>
      `  - name: n${i}\n    bmc: { address: 127.0.0.1, port: ${BASE + i}${extra} }\n    macs: ["52:54:00:00:04:0${i}"]\n    roles: [compute]`;
    const site = (nodes: string[]) =>
      [
        'site: citest',
        'engine: embedded',
        'seed:',
        '  interface: lo',
        '  address: 10.77.0.1/24',
        '  dhcp: { mode: off }',
        'defaults:',
        '  bmc: { type: ipmi, username: admin, password: { env: KSEED_BMC_PASSWORD }, cipher_suite: 3, retries: 2 }',
        'nodes:',
        ...nodes,
        '',
      ].join('\n');
    writeFileSync(path.join(root, 'kseed.yaml'), site([node(0), node(1, ', password: { file: wrong.pw }'), node(2)]));
    // a BMC that never answers (port BASE+3, a black hole the test holds): the run is stopped while it waits
    writeFileSync(path.join(root, 'slow.yaml'), site([node(0), node(3, ', timeout_ms: 20000')]));
  });
  afterAll(async () => {
    await Promise.all(bmcs.map((b) => b.stop()));
    rmSync(root, { recursive: true, force: true });
  });

  it('exit 3: stdout is the event stream, the JUnit file lists every node and phase with the failure', async () => {
    const r = await runKseed(['enroll', '--all', '--events', '--junit', 'reports/enroll.xml'], { cwd: root, env });
    expect(r.code).toBe(3);
    const evs = events(r.stdout);
    expectStream(evs, 'enroll');
    // the engine's own transitions, one enroll phase per node
    for (const n of ['n0', 'n1', 'n2']) {
      const tr = evs.filter((e) => e.type === 'transition' && e.node === n);
      expect(tr.map((e) => [e.from, e.to, e.phase])).toEqual([
        ['enroll', 'enroll', 'enroll'],
        ['enroll', n === 'n1' ? 'enroll failed' : 'manageable', 'enroll'],
      ]);
    }
    const auth = `auth: 127.0.0.1:${BASE + 1}: wrong password (RAKP 2 HMAC is invalid)`;
    expect(evs.find((e) => e.type === 'transition' && e.node === 'n1' && e.to === 'enroll failed')!.error).toBe(auth);
    const results = evs.filter((e) => e.type === 'node-result');
    expect(results.map((e) => [e.node, e.result, e.state])).toEqual([
      ['n0', 'ok', 'manageable'],
      ['n1', 'failed', 'enroll failed'],
      ['n2', 'ok', 'manageable'],
    ]);
    expect(results[1]!.error).toBe(auth);
    const end = evs.at(-1)!;
    expect(end).toMatchObject({ command: 'enroll', exit_code: 3, nodes: { total: 3, ok: 2, failed: 1, skipped: 0 } });
    // the document --json prints, as the last event's result
    expect(end.result.nodes.map((n: any) => [n.node, n.result])).toEqual([
      ['n0', 'manageable'],
      ['n1', 'enroll failed'],
      ['n2', 'manageable'],
    ]);
    // the human table went to stderr, so a CI log still shows it
    expect(r.stderr).toMatch(/^n1\s+enroll failed\s+.*wrong password/m);

    const j = await readJunit(path.join(root, 'reports/enroll.xml'));
    expect(j).toMatchObject({ tests: 3, failures: 1, errors: 0, skipped: 0 });
    expect(j.suites.map((s: any) => s.name)).toEqual(['n0', 'n1', 'n2']);
    for (const s of j.suites) {
      expect(s.cases).toHaveLength(1);
      expect(s.cases[0]).toMatchObject({ name: 'enroll', classname: s.name, result: s.name === 'n1' ? 'failure' : 'passed' });
      expect(s.cases[0].time).toBeGreaterThan(0);
    }
    expect(j.suites[1].cases[0].message).toBe(auth);
    expect(readdirSync(path.join(root, 'reports'))).toEqual(['enroll.xml']);

    const all = r.stdout + r.stderr + readFileSync(path.join(root, 'reports/enroll.xml'), 'utf8');
    expect(all).not.toContain(WRONG);
    expect(all).not.toContain(GOOD);
  });

  it('--events --json is the same stream; a run that fails before any node still ends it and writes the report', async () => {
    const r = await runKseed(['enroll', 'n0', 'nosuch', '--events', '--json', '--junit', 'reports/bad.xml'], { cwd: root, env });
    expect(r.code).toBe(2);
    const evs = events(r.stdout);
    expectStream(evs, 'enroll');
    const message = `unknown node nosuch (not in ${path.join(root, 'kseed.yaml')})`;
    expect(evs.at(-1)).toMatchObject({ exit_code: 2, nodes: { total: 0 }, error: { error: 'unknown-node', message } });
    expect(evs.at(-1)!.result).toBeUndefined();
    const j = await readJunit(path.join(root, 'reports/bad.xml'));
    expect(j).toMatchObject({ tests: 1, errors: 1 });
    expect(j.suites[0]).toMatchObject({ name: 'kseed enroll', cases: [{ name: 'enroll', result: 'error', message }] });
  });

  it('undeploy (the node verbs): a node already available is a skipped case with its note; a wipe without boot services fails the run before any BMC', async () => {
    const st = openState(path.join(root, '.kseed'));
    try {
      st.transition('n2', 'available', { from: 'manageable' });
    } finally {
      st.close();
    }
    const done = await runKseed(['undeploy', 'n2', '--events', '--junit', 'reports/undeploy.xml'], { cwd: root, env });
    expect(done.code, done.stderr).toBe(0);
    const evs = events(done.stdout);
    expectStream(evs, 'undeploy');
    const note = 'already available: nothing to undeploy';
    expect(evs.filter((e) => e.type === 'progress').map((e) => e.message)).toContain(`n2: ${note}`);
    const result = evs.find((e) => e.type === 'node-result')!;
    expect(result).toMatchObject({ node: 'n2', result: 'skipped', state: 'available', verbs: [], note });
    expect(evs.at(-1)).toMatchObject({ exit_code: 0, nodes: { total: 1, skipped: 1 }, result: { engine: 'embedded', nodes: [{ node: 'n2', ok: true, skipped: true }] } });
    const j = await readJunit(path.join(root, 'reports/undeploy.xml'));
    expect(j).toMatchObject({ tests: 1, skipped: 1, failures: 0, errors: 0 });
    // the time the engine took to find it had nothing to do (its state read, its claim taken and released)
    expect(j.suites[0].cases).toEqual([{ name: 'undeploy', classname: 'n2', time: Number((result.ms / 1000).toFixed(3)), result: 'skipped', message: note }]);

    // n0 deployed (a manageable node has nothing to wipe): it needs the boot services
    const n0State = (to: 'active' | 'manageable', from: 'active' | 'manageable') => {
      const s = openState(path.join(root, '.kseed'));
      try {
        s.transition('n0', to, { from });
      } finally {
        s.close();
      }
    };
    n0State('active', 'manageable');
    const notUp = await runKseed(['undeploy', 'n0', 'n2', '--events', '--junit', 'reports/undeploy.xml'], { cwd: root, env });
    n0State('manageable', 'active');
    expect(notUp.code).toBe(1);
    const end = events(notUp.stdout).at(-1)!;
    expect(end).toMatchObject({ type: 'run-end', exit_code: 1, nodes: { total: 0 }, error: { error: 'not-up' } });
    expect(end.error.message).toMatch(/^kseed's boot services are not running, and n0 must boot from them/);
    const k = await readJunit(path.join(root, 'reports/undeploy.xml'));
    expect(k.suites.map((s: any) => [s.name, s.cases.map((c: any) => [c.name, c.result, c.message])])).toEqual([['kseed undeploy', [['undeploy', 'error', end.error.message]]]]);
  });

  it('SIGTERM while a BMC does not answer: exit 143, the report lists the finished node and the unfinished one', async () => {
    const hole = await blackHole('127.0.0.1', BASE + 3);
    try {
      const child = spawn(process.execPath, [KSEED_BIN, '--config', 'slow.yaml', 'enroll', '--all', '--events', '--junit', 'reports/slow.xml'], {
        cwd: root,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      // stopped once n0 is enrolled and n3's BMC has had packets it never answers (node results come after all nodes)
      await new Promise<void>((resolve) => {
        child.stdout!.on('data', (d) => {
          out += d;
          if (/"type":"transition","node":"n0","from":"enroll","to":"manageable"/.test(out) && hole.received() > 0) resolve();
        });
      });
      child.kill('SIGTERM');
      expect(await exited).toBe(143);
      const evs = events(out);
      expectStream(evs, 'enroll');
      expect(evs.at(-1)).toMatchObject({ exit_code: 143, nodes: { total: 0 }, error: { error: 'interrupted', message: 'interrupted by SIGTERM' } });
      const j = await readJunit(path.join(root, 'reports/slow.xml'));
      expect(j.suites.map((s: any) => [s.name, s.cases.map((c: any) => [c.name, c.result])])).toEqual([
        ['n0', [['enroll', 'passed']]],
        ['n3', [['enroll', 'error']]],
        ['kseed enroll', [['enroll', 'error']]],
      ]);
      expect(j.suites[1].cases[0].message).toBe('the run ended before this node finished');
      expect(j.suites[2].cases[0].message).toBe('interrupted by SIGTERM');
    } finally {
      hole.close();
    }
  });
});
