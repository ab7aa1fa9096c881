/**
 * `kseed enroll` as the user runs it (the built CLI, `npm run build` first)
 * over a lossy BMC link: each run has its own site file whose node's BMC
 * address is a UDP relay (test/helpers/lossy-relay.ts: 30% of datagrams
 * dropped each way, the rest delayed 200 ms; seeded, the drops are real)
 * in front of its own ipmi_sim. Ten runs at once, at the default budget (no
 * timeout_ms: IPMI's 60 s): at least 9 must record the node manageable, and
 * a failure must be a precise error naming the node and its BMC. timeout_ms
 * is a deadline: no run's node takes longer than its budget plus a small
 * scheduling slack, at the default and at a budget too short for the link.
 * Beside them, a site with a dead BMC (it receives, never answers) and a live
 * one at the default budget: the dead node fails precisely when its 60 s are
 * spent, not at the engine's phase timer, and the live one is not held up.
 * Ports 16320-16336.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needPeers } from '../../../helpers/peers.js';
import { BAD_LINK, lossyRelay, type LossyRelay } from '../../../helpers/lossy-relay.js';
import { DEFAULT_BUDGET_MS } from '../../../../src/bmc/index.js';
import { blackHole, startBmc, tempRoot, writeBmc, type SimBmc } from './helpers.js';

const repo = path.resolve(__dirname, '../../../..');
const built = existsSync(path.join(repo, 'dist/cli/enroll.js'));
if (!built) console.warn('SKIP: run `npm run build` first (the CLI tests use dist/)');
const ok = needPeers('ipmi_sim') && built;
const BASE = 16320;
const RUNS = 10;
const SHORT_RUNS = 5;
const LIVE_PORT = BASE + RUNS + SHORT_RUNS;
const DEAD_PORT = LIVE_PORT + 1;
const { loss: LOSS, delayMs: DELAY_MS, seed: SEED } = BAD_LINK;
/** Over a deadline: closing the session (at most 100 ms), the state store, scheduling 10 processes on 2 cores. A correctness bound, not a speed claim. */
const SLACK_MS = 1500;

interface Row {
  node: string;
  result: string;
  error?: string;
  ms: number;
  identity?: { serial?: string };
}

interface Run {
  code: number;
  row?: Row;
  stdout: string;
  stderr: string;
  wall: number;
}

describe.skipIf(!ok)(`kseed enroll over a lossy BMC link (${LOSS * 100}% loss each way, ${DELAY_MS} ms delay)`, () => {
  let root: string;
  const bmcs: SimBmc[] = [];
  let live: SimBmc;
  let dead: Awaited<ReturnType<typeof blackHole>>;
  const relays: LossyRelay[] = [];

  beforeAll(async () => {
    root = tempRoot('kseed-enroll-lossy-');
    for (let i = 0; i < RUNS + SHORT_RUNS; i += 5) {
      const batch = [];
      for (let j = i; j < Math.min(RUNS + SHORT_RUNS, i + 5); j++) batch.push(startBmc(writeBmc(root, { name: `l${j}`, port: BASE + j, serial: `SN-L${j}` })));
      bmcs.push(...((await Promise.all(batch)) as SimBmc[]));
    }
    live = (await startBmc(writeBmc(root, { name: 'live', port: LIVE_PORT, serial: 'SN-LIVE' }))) as SimBmc;
    dead = await blackHole('127.0.0.1', DEAD_PORT);
  });
  afterAll(async () => {
    for (const r of relays) await r.close();
    await Promise.all(bmcs.map((b) => b.stop()));
    await live?.stop();
    dead?.close();
    rmSync(root, { recursive: true, force: true });
  });

  /** One site file, one node, its BMC behind its own relay; `kseed enroll NODE --json` in that directory. */
  async function enrollOnce(i: number, timeoutMs?: number): Promise<Run> {
    const relay = await lossyRelay({ target: bmcs[i]!, loss: LOSS, delayMs: DELAY_MS, seed: SEED + i });
    relays.push(relay);
    const budget = timeoutMs === undefined ? '' : `, timeout_ms: ${timeoutMs}`;
    const runs = await enroll(`run${i}`, [{ name: `lossy${i}`, bmc: `address: ${relay.address}, port: ${relay.port}${budget}`, mac: i }]);
    return { ...runs, row: runs.rows[0] };
  }

  /** A site file of these nodes (cipher suite 3, as the lab's site file pins it for ipmi_sim); `kseed enroll --all --json` in its directory. */
  async function enroll(name: string, nodes: { name: string; bmc: string; mac: number }[]): Promise<Omit<Run, 'row'> & { rows: Row[] }> {
    const dir = path.join(root, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, 'kseed.yaml'),
      [
        'site: lossy',
        'engine: embedded',
        'seed:',
        '  interface: lo',
        '  address: 10.77.0.1/24',
        '  dhcp: { mode: off }',
        'nodes:',
        ...nodes.flatMap((n) => [
          `  - name: ${n.name}`,
          `    bmc: { type: ipmi, ${n.bmc}, username: admin, password: { env: KSEED_BMC_PASSWORD }, cipher_suite: 3 }`,
          `    macs: ["52:54:00:00:03:${n.mac.toString(16).padStart(2, '0')}"]`,
          '    roles: [compute]',
        ]),
        'handoff:',
        '  ssh_user: root',
        '',
      ].join('\n'),
    );
    const t0 = Date.now();
    let code = 0;
    let stdout = '';
    let stderr = '';
    try {
      ({ stdout, stderr } = await promisify(execFile)(process.execPath, [path.join(repo, 'bin/kseed.js'), 'enroll', '--all', '--json'], {
        cwd: dir,
        env: { ...process.env, KSEED_BMC_PASSWORD: 'password' },
        timeout: DEFAULT_BUDGET_MS.ipmi + 30_000,
      }));
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      ({ code, stdout, stderr } = x);
    }
    const wall = Date.now() - t0;
    let rows: Row[] = [];
    try {
      rows = (JSON.parse(stdout) as { nodes: Row[] }).nodes;
    } catch {
      rows = [];
    }
    return { code, rows, stdout, stderr, wall };
  }

  function report(runs: Run[], first: number): string {
    const dropped = relays.reduce((n, r) => n + r.stats().upDropped + r.stats().downDropped, 0);
    const sent = relays.reduce((n, r) => n + r.stats().up + r.stats().down, 0);
    const lines = runs.map((r, k) => `lossy${first + k}: exit ${r.code}, ${r.row ? `${r.row.result} in ${r.row.ms} ms${r.row.error ? ` (${r.row.error})` : ''}` : `no JSON: ${r.stderr.slice(0, 300)}`}, process ${r.wall} ms`);
    return `${runs.filter((r) => r.row?.result === 'manageable').length}/${runs.length} manageable; ${dropped} of ${sent} datagrams dropped so far\n${lines.join('\n')}`;
  }

  /** A failure names the node (its row) and the BMC, and says which step got no answer: loss is silence, never "malformed". */
  function expectPrecise(r: Run, i: number, port: number, rep: string): void {
    expect(r.code, rep).toBe(1);
    expect(r.row, rep).toMatchObject({ node: `lossy${i}`, result: 'enroll failed' });
    expect(r.row!.error, rep).toMatch(
      new RegExp(
        `^timeout: 127\\.0\\.0\\.1:${port}: (no answer to [A-Za-z +]+ after \\d+ tr(y|ies)( \\(\\d+ stale answers? ignored\\))?|RMCP\\+ session not established in \\d+ ms: \\d+ handshakes each lost a step \\(.*\\))$`,
      ),
    );
  }

  it(`at the default budget, at least 9 of ${RUNS} runs enroll the node; each within the deadline`, async () => {
    const beside = enroll('dead-and-live', [
      { name: 'dead', bmc: `address: 127.0.0.1, port: ${DEAD_PORT}`, mac: 0x40 },
      { name: 'live', bmc: `address: 127.0.0.1, port: ${LIVE_PORT}`, mac: 0x41 },
    ]);
    const runs = await Promise.all(Array.from({ length: RUNS }, (_, i) => enrollOnce(i)));
    const rep = report(runs, 0);
    console.log(`timeout_ms unset (${DEFAULT_BUDGET_MS.ipmi} ms): ${rep}`);
    const dropped = relays.reduce((n, r) => n + r.stats().upDropped + r.stats().downDropped, 0);
    const sent = relays.reduce((n, r) => n + r.stats().up + r.stats().down, 0);
    expect(dropped / sent, rep).toBeGreaterThan(LOSS / 2);
    runs.forEach((r, i) => {
      expect(r.row, rep).toBeDefined();
      expect(r.row!.ms, rep).toBeLessThanOrEqual(DEFAULT_BUDGET_MS.ipmi + SLACK_MS);
      if (r.row!.result === 'manageable') {
        expect(r.code, rep).toBe(0);
        expect(r.row!.identity?.serial, rep).toBe(`SN-L${i}`);
      } else expectPrecise(r, i, relays[i]!.port, rep);
    });
    expect(runs.filter((r) => r.row?.result === 'manageable').length, rep).toBeGreaterThanOrEqual(9);

    // the dead BMC spent its whole default budget, and its error is the BMC's, not a phase timer's
    const b = await beside;
    const brep = `dead and live: exit ${b.code}, ${JSON.stringify(b.rows.map((r) => [r.node, r.result, r.ms, r.error]))} ${b.stderr.slice(0, 300)}`;
    console.log(brep);
    expect(b.code, brep).toBe(3);
    const [d, l] = b.rows;
    expect(d, brep).toMatchObject({ node: 'dead', result: 'enroll failed' });
    expect(d!.error, brep).toMatch(new RegExp(`^timeout: 127\\.0\\.0\\.1:${DEAD_PORT}: no answer to RMCP\\+ Open Session Request after \\d+ tries$`));
    expect(d!.ms, brep).toBeGreaterThanOrEqual(DEFAULT_BUDGET_MS.ipmi);
    expect(d!.ms, brep).toBeLessThanOrEqual(DEFAULT_BUDGET_MS.ipmi + SLACK_MS);
    expect(dead.received(), brep).toBeGreaterThan(10);
    // the live node beside it was not held up by it
    expect(l, brep).toMatchObject({ node: 'live', result: 'manageable', identity: { serial: 'SN-LIVE' } });
    expect(l!.ms, brep).toBeLessThan(DEFAULT_BUDGET_MS.ipmi);
  }, DEFAULT_BUDGET_MS.ipmi + 60_000);

  it('with timeout_ms too short for the link, every run ends within it and fails precisely', async () => {
    const TIMEOUT_MS = 4000;
    const runs = await Promise.all(Array.from({ length: SHORT_RUNS }, (_, k) => enrollOnce(RUNS + k, TIMEOUT_MS)));
    const rep = report(runs, RUNS);
    console.log(`timeout_ms ${TIMEOUT_MS}: ${rep}`);
    runs.forEach((r, k) => {
      expect(r.row, rep).toBeDefined();
      expect(r.row!.ms, rep).toBeLessThanOrEqual(TIMEOUT_MS + SLACK_MS);
      if (r.row!.result !== 'manageable') expectPrecise(r, RUNS + k, relays[RUNS + k]!.port, rep);
    });
    expect(runs.filter((r) => r.row?.result !== 'manageable').length, rep).toBeGreaterThan(0);
  }, 60_000);
});
