/**
 * .ci/run's test lanes (.ci/lanes.mjs, run by .ci/run-lanes.mjs): every test file in exactly
 * one lane, the assignment's errors, and what a lane's vitest JSON report says. No processes.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM of the CI scripts, no types
import { LANES } from '../../../.ci/lanes.mjs';
// @ts-expect-error plain ESM of the CI scripts, no types
import { assignLanes, globRe, laneResult, onlyUnder, summary } from '../../../.ci/run-lanes.mjs';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

function testFiles(dir: string): string[] {
  return readdirSync(path.join(REPO, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    return e.isDirectory() ? testFiles(rel) : e.name.endsWith('.test.ts') ? [rel] : [];
  });
}

describe('lane globs', () => {
  it('** spans any folders or none, * stays within a name', () => {
    const re = globRe('test/e2e/**/*.test.ts');
    expect(['test/e2e/a.test.ts', 'test/e2e/x/y/b.test.ts'].map((f) => re.test(f))).toEqual([true, true]);
    expect(['test/e2e2/a.test.ts', 'test/e2e/a.test.tsx', 'xtest/e2e/a.test.ts', 'test/e2e/a.spec.ts'].map((f) => re.test(f))).toEqual([false, false, false, false]);
    expect(globRe('test/*.test.ts').test('test/unit/a.test.ts')).toBe(false);
    expect(globRe('test/e2e/ceph.test.ts').test('test/e2e/cephXtest.ts')).toBe(false);
  });
});

describe('assignLanes', () => {
  const lanes = [
    { name: 'vm', include: ['test/e2e/**/*.test.ts'], exclude: ['test/e2e/ceph.test.ts'] },
    { name: 'ceph', include: ['test/e2e/ceph.test.ts'] },
    { name: 'rest', include: ['test/unit/**/*.test.ts'] },
  ];

  it('puts each file in the one lane that takes it; exclude hands a file to another lane', () => {
    const r = assignLanes(['test/unit/b.test.ts', 'test/e2e/ceph.test.ts', 'test/e2e/a.test.ts', 'test/unit/x/a.test.ts'], lanes);
    expect(Object.fromEntries(r.byLane)).toEqual({ vm: ['test/e2e/a.test.ts'], ceph: ['test/e2e/ceph.test.ts'], rest: ['test/unit/b.test.ts', 'test/unit/x/a.test.ts'] });
    expect(r.unassigned).toEqual([]);
    expect(r.doubled).toEqual([]);
  });

  it('names a file no lane takes and a file two lanes take', () => {
    const r = assignLanes(['test/bench/x.test.ts', 'test/e2e/ceph.test.ts'], [lanes[1]!, { name: 'all-e2e', include: ['test/e2e/*.test.ts'] }]);
    expect(r.unassigned).toEqual(['test/bench/x.test.ts']);
    expect(r.doubled).toEqual([{ file: 'test/e2e/ceph.test.ts', lanes: ['ceph', 'all-e2e'] }]);
  });

  it('refuses a lane without include globs, a bad name, a name twice', () => {
    expect(() => assignLanes([], [{ name: 'vm', include: [] }])).toThrow('lane vm has no include globs');
    expect(() => assignLanes([], [{ name: 'V M', include: ['x'] }])).toThrow('lane name "V M": use a-z 0-9 -');
    expect(() => assignLanes([], [lanes[0]!, lanes[0]!])).toThrow('lane vm is defined twice');
  });

  it(".ci/lanes.mjs takes every test file of this checkout exactly once; the e2e files do not run in the checkout's own lane", () => {
    const files = testFiles('test');
    const r = assignLanes(files, LANES);
    expect(r.unassigned).toEqual([]);
    expect(r.doubled).toEqual([]);
    expect([...r.byLane.values()].flat().sort()).toEqual([...files].sort());
    const own = LANES.filter((l: { copy?: boolean }) => !l.copy).map((l: { name: string }) => l.name);
    for (const f of files.filter((f) => f.startsWith('test/e2e/'))) expect(own, f).not.toContain([...r.byLane].find(([, fs]) => fs.includes(f))![0]);
  });

  it('a subset by folder or file', () => {
    const files = ['test/unit/a.test.ts', 'test/unit/ab/c.test.ts', 'test/unitx/d.test.ts', 'test/e2e/e.test.ts'];
    expect(onlyUnder(files, [path.join(REPO, 'test/unit')])).toEqual(['test/unit/a.test.ts', 'test/unit/ab/c.test.ts']);
    expect(onlyUnder(files, ['test/e2e/e.test.ts', 'test/unit/ab/'].map((p) => path.join(REPO, p)))).toEqual(['test/unit/ab/c.test.ts', 'test/e2e/e.test.ts']);
  });
});

describe("a lane's report", () => {
  const cwd = '/tmp/lane';
  const report = {
    numPassedTests: 7,
    numFailedTests: 1,
    numPendingTests: 2,
    numTodoTests: 1,
    testResults: [
      { name: '/tmp/lane/test/unit/a.test.ts', startTime: 1_000, endTime: 3_500 },
      { name: '/tmp/lane/test/unit/stray.test.ts', startTime: 0, endTime: 100 },
    ],
  };

  it('counts tests, times each file, names files the report lacks or adds', () => {
    expect(laneResult(report, ['test/unit/a.test.ts', 'test/unit/b.test.ts'], cwd)).toEqual({
      passed: 7,
      failed: 1,
      skipped: 3,
      fileSeconds: [
        { file: 'test/unit/a.test.ts', seconds: 2.5 },
        { file: 'test/unit/stray.test.ts', seconds: 0.1 },
      ],
      missing: ['test/unit/b.test.ts'],
      extra: ['test/unit/stray.test.ts'],
    });
  });

  it('a lane without a report died: one failed test, every file missing', () => {
    expect(laneResult(undefined, ['test/unit/a.test.ts'], cwd)).toMatchObject({ failed: 1, missing: ['test/unit/a.test.ts'], noReport: true });
  });

  it('the summary: per-lane lines, the slowest files, one closing line; not ok when a lane failed', () => {
    const lane = (name: string, code: number, failed: number, secs: number[]) => ({
      lane: name,
      files: secs.map((_, i) => `test/${name}/${i}.test.ts`),
      code,
      seconds: secs.reduce((a, b) => a + b, 0),
      json: `/out/${name}.json`,
      logFile: `/out/${name}.log`,
      passed: 3,
      failed,
      skipped: 1,
      fileSeconds: secs.map((s, i) => ({ file: `test/${name}/${i}.test.ts`, seconds: s })),
      missing: [],
      extra: [],
    });
    const good = summary([lane('vm', 0, 0, [900, 50]), lane('rest', 0, 0, [10, 20, 30])], 951);
    expect(good.ok).toBe(true);
    const lines = good.text.split('\n');
    expect(lines.at(-1)).toBe('tests: 6 passed, 0 failed, 2 skipped; lanes: vm 950 s ok, rest 60 s ok; 951 s wall');
    expect(lines.slice(lines.indexOf('=== 5 slowest files') + 1, -1).map((l) => l.trim().split(/\s+/).slice(2))).toEqual([
      ['vm', 'test/vm/0.test.ts'],
      ['vm', 'test/vm/1.test.ts'],
      ['rest', 'test/rest/2.test.ts'],
      ['rest', 'test/rest/1.test.ts'],
      ['rest', 'test/rest/0.test.ts'],
    ]);
    const bad = summary([lane('vm', 0, 0, [5]), lane('rest', 1, 2, [5])], 6);
    expect(bad.ok).toBe(false);
    expect(bad.text.split('\n').at(-1)).toBe('tests: 6 passed, 2 failed, 2 skipped; lanes: vm 5 s ok, rest 5 s FAILED; 6 s wall');
  });
});
