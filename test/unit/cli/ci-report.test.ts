/**
 * From a run's events to its JUnit suites (ci-report.ts), and the CI run
 * that writes both (ci.ts) with its stream captured: no sockets, no engine.
 * The event sequences are the ones the node runner emits
 * (engine/node-runner.ts): a start and an end transition per phase,
 * provide's single one, boot's end-only info.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runSuites, type RunRecord } from '../../../src/cli/ci-report.js';
import { CiRun } from '../../../src/cli/ci.js';
import type { ProgressEvent } from '../../../src/engine/types.js';
import { KseedError } from '../../../src/errors.js';

const T = Date.UTC(2026, 11, 6, 23, 0, 0);
const s = (sec: number) => T + sec * 1000;
const tr = (node: string, sec: number, from: string, to: string, phase: string, error?: string): ProgressEvent =>
  ({ node, ts: s(sec), kind: 'transition', from, to, phase, ...(error ? { error } : {}) }) as ProgressEvent;

const provision = (node: string, fail?: string): ProgressEvent[] => [
  tr(node, 0, 'enroll', 'enroll', 'enroll'),
  tr(node, 1, 'enroll', 'manageable', 'enroll'),
  tr(node, 1, 'manageable', 'inspecting', 'inspect'),
  tr(node, 61, 'inspecting', 'manageable', 'inspect'),
  tr(node, 61, 'manageable', 'available', 'provide'),
  tr(node, 61, 'available', 'deploying', 'deploy'),
  tr(node, 300, 'deploying', fail ? 'deploy failed' : 'active', 'deploy', fail),
  ...(fail ? [] : [{ node, ts: s(400), kind: 'info', phase: 'boot', message: `booted from disk as ${node}` } as ProgressEvent]),
];

const record = (r: Partial<RunRecord>): RunRecord => ({ command: 'provision', start: T, end: s(400), exitCode: 0, events: [], outcomes: [], progress: [], ...r });

describe('runSuites', () => {
  it('a suite per node, a case per phase with its time; a failed deploy carries the node error and its events', () => {
    const err = 'deploy: sha256 of the image does not match';
    const suites = runSuites(
      record({
        exitCode: 3,
        events: [...provision('n1'), ...provision('n2', err)],
        outcomes: [
          { node: 'n1', result: 'ok', state: 'active', verbs: ['enroll', 'inspect', 'provide', 'deploy'], ms: 400_000 },
          { node: 'n2', result: 'failed', state: 'deploy failed', verbs: ['enroll', 'inspect', 'provide', 'deploy'], ms: 300_000, error: err },
        ],
      }),
    );
    expect(suites.map((x) => x.name)).toEqual(['n1', 'n2']);
    expect(suites[0]!.cases.map((c) => [c.name, c.time, Boolean(c.failure)])).toEqual([
      ['enroll', 1, false],
      ['inspect', 60, false],
      ['provide', 0, false],
      ['deploy', 239, false],
      // boot announces only its end: it began when deploy ended
      ['boot', 100, false],
    ]);
    const deploy = suites[1]!.cases.find((c) => c.name === 'deploy')!;
    expect(deploy.failure).toEqual({
      message: err,
      type: 'deploy failed',
      text: `2026-12-06T23:01:01.000Z available -> deploying (deploy)\n2026-12-06T23:05:00.000Z deploying -> deploy failed (deploy): ${err}`,
    });
    expect(suites[1]!.cases.map((c) => c.name)).toEqual(['enroll', 'inspect', 'provide', 'deploy']);
    expect(suites[1]!.properties).toEqual({ state: 'deploy failed', verbs: 'enroll,inspect,provide,deploy' });
    expect(suites[0]!.systemOut!.split('\n')).toHaveLength(8);
  });

  it('a node without phases still has a case: skipped when it had nothing to do, failing when it could not start', () => {
    const suites = runSuites(
      record({
        command: 'undeploy',
        exitCode: 3,
        outcomes: [
          { node: 'n1', result: 'skipped', state: 'available', verbs: [], ms: 0, note: 'already available: nothing to undeploy' },
          { node: 'n2', result: 'failed', state: 'active', verbs: [], ms: 3, error: 'node n2 is claimed by kseed-engine@ci-7:4242 until 2026-12-07T11:00:00.000Z' },
          { node: 'n3', result: 'ok', state: 'active', verbs: [], ms: 0 },
        ],
      }),
    );
    expect(suites.map((x) => [x.name, x.cases])).toEqual([
      ['n1', [{ name: 'undeploy', classname: 'n1', time: 0, skipped: 'already available: nothing to undeploy' }]],
      ['n2', [{ name: 'undeploy', classname: 'n2', time: 0.003, failure: { message: 'node n2 is claimed by kseed-engine@ci-7:4242 until 2026-12-07T11:00:00.000Z', type: 'undeploy failed' } }]],
      ['n3', [{ name: 'undeploy', classname: 'n3', time: 0, skipped: 'already active: nothing to do' }]],
    ]);
  });

  it('a run that broke: its own suite with the error; unfinished phases of unreported nodes are errors', () => {
    const suites = runSuites(
      record({
        exitCode: 143,
        events: [...provision('n1').slice(0, 6), ...provision('n2').slice(0, 4)],
        error: { error: 'interrupted', message: 'interrupted by SIGTERM' },
      }),
    );
    expect(suites.map((x) => [x.name, x.cases.map((c) => [c.name, c.error?.type ?? (c.failure ? 'failure' : 'passed')])])).toEqual([
      ['n1', [['enroll', 'passed'], ['inspect', 'passed'], ['provide', 'passed'], ['deploy', 'unfinished']]],
      ['n2', [['enroll', 'passed'], ['inspect', 'passed']]],
      ['kseed provision', [['provision', 'interrupted']]],
    ]);
    expect(suites[2]!.properties).toEqual({ exit_code: '143' });
  });

  it('a command without nodes (up) is one case, failing with a non-zero exit, its progress lines as output', () => {
    const progress = [{ ts: s(1), message: 'compose: docker-compose 1.29.2; starting kseed-lab1' }];
    const ok = runSuites(record({ command: 'up', progress, end: s(30) }));
    expect(ok).toEqual([
      {
        name: 'kseed up',
        start: T,
        time: 30,
        cases: [{ name: 'up', classname: 'kseed', time: 30 }],
        properties: { exit_code: '0' },
        systemOut: '2026-12-06T23:00:01.000Z compose: docker-compose 1.29.2; starting kseed-lab1',
      },
    ]);
    const bad = runSuites(record({ command: 'up', progress, exitCode: 1, error: { error: 'not-healthy', message: 'ironic-api is unhealthy', detail: 'last log line' } }));
    expect(bad[0]!.cases[0]!.error).toEqual({ message: 'ironic-api is unhealthy', type: 'not-healthy', text: 'ironic-api is unhealthy\nlast log line' });
  });
});

describe('CiRun', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ksu-ci-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('streams start, progress, node events, results and an end with the document; writes the report by rename', async () => {
    const lines: string[] = [];
    const file = path.join(dir, 'r1.xml');
    const run = new CiRun('provision', true, file, (l) => lines.push(l));
    run.progress('provisioning 1 node');
    for (const e of provision('n1').slice(0, 2)) run.node(e);
    run.outcome({ node: 'n1', result: 'ok', state: 'manageable', verbs: ['enroll'], ms: 1000 });
    run.result({ engine: 'embedded', nodes: [{ node: 'n1' }] });
    await run.end(0);
    await run.end(1); // a second end (main's catch after a hook) changes nothing
    const evs = lines.map((l) => JSON.parse(l));
    expect(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
    expect(evs.map((e) => e.type)).toEqual(['run-start', 'progress', 'transition', 'transition', 'node-result', 'run-end']);
    expect(evs.at(-1)).toMatchObject({ exit_code: 0, nodes: { total: 1, ok: 1, failed: 0, skipped: 0 }, result: { engine: 'embedded' } });
    expect(evs[2].ts).toBe('2026-12-06T23:00:00.000Z');
    expect(readdirSync(dir)).toEqual(['r1.xml']);
    expect(readFileSync(file, 'utf8')).toContain('<testcase name="enroll" classname="n1" time="1.000"/>');
  });

  it('without --events writes nothing to the stream; the error that ended the run is in the report', async () => {
    const lines: string[] = [];
    const file = path.join(dir, 'r2.xml');
    const run = new CiRun('enroll', false, file, (l) => lines.push(l));
    await run.end(2, new KseedError('unknown node x', { exitCode: 2, code: 'unknown-node' }));
    expect(lines).toEqual([]);
    expect(readFileSync(file, 'utf8')).toContain('<error message="unknown node x" type="unknown-node">unknown node x</error>');
  });

  it('a report that cannot be written fails a run that had not failed, and says so in the last event', async () => {
    const ro = path.join(dir, 'ro');
    mkdirSync(ro);
    writeFileSync(path.join(ro, 'r3.xml'), 'old');
    chmodSync(ro, 0o500);
    const lines: string[] = [];
    const run = new CiRun('enroll', true, path.join(ro, 'r3.xml'), (l) => lines.push(l));
    try {
      if (process.getuid?.() === 0) {
        // root writes anywhere: make the target a directory instead
        chmodSync(ro, 0o700);
        rmSync(path.join(ro, 'r3.xml'));
        mkdirSync(path.join(ro, 'r3.xml'));
        writeFileSync(path.join(ro, 'r3.xml', 'keep'), '');
      }
      await expect(run.end(0)).rejects.toThrow(/^cannot write the JUnit report .*r3\.xml: /);
      expect(JSON.parse(lines.at(-1)!)).toMatchObject({ type: 'run-end', exit_code: 1, error: { error: 'junit-write' } });
    } finally {
      chmodSync(ro, 0o700);
    }
  });
});
