/** The --run step machine with real child processes (sh), no installers needed. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openState } from '../../../src/engine/state.js';
import type { Step } from '../../../src/handoff/index.js';
import { missingTools, pendingSteps, RUN_KEY, runSteps, type RunRecord } from '../../../src/handoff/run.js';

const sh = (name: string, script: string, stdinFile?: string): Step => ({ name, tool: 'sh', argv: ['sh', '-c', script], stdinFile });

describe('handoff --run steps', () => {
  it('stops at a failed step, records it, and resumes there on the next run', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kseed-run-'));
    const st = openState(path.join(dir, '.kseed'));
    const logDir = path.join(dir, '.kseed', 'logs');
    writeFileSync(path.join(dir, 'in.txt'), 'from stdin\n');
    const steps = [
      sh('one', 'echo one >> trace; cat'),
      sh('two', 'echo two >> trace; test -f fixed || { echo "two: not fixed" >&2; exit 3; }'),
      sh('three', 'echo three >> trace'),
    ];
    steps[0]!.stdinFile = 'in.txt';
    try {
      const lines: string[] = [];
      const a = await runSteps(st, steps, { logDir, cwd: dir, onLine: (s, l) => lines.push(`${s}: ${l}`) });
      expect(a.failed).toBe('two');
      expect(a.ran.map((s) => [s.name, s.status, s.exit_code])).toEqual([
        ['one', 'ok', 0],
        ['two', 'failed', 3],
      ]);
      expect(lines).toEqual(['one: from stdin', 'two: two: not fixed']);
      expect(readFileSync(path.join(logDir, 'handoff-two.log'), 'utf8')).toMatch(/^\$ sh -c .*\ntwo: not fixed\n$/);
      const rec = st.get<RunRecord>(RUN_KEY)!;
      expect(rec.one?.status).toBe('ok');
      expect(rec.two).toMatchObject({ status: 'failed', exit_code: 3 });
      expect(rec.three).toBeUndefined();

      writeFileSync(path.join(dir, 'fixed'), '');
      const b = await runSteps(st, steps, { logDir, cwd: dir });
      expect(b.failed).toBeUndefined();
      expect(b.skipped).toEqual(['one']);
      expect(b.ran.map((s) => s.name)).toEqual(['two', 'three']);
      expect(readFileSync(path.join(dir, 'trace'), 'utf8')).toBe('one\ntwo\ntwo\nthree\n');

      // everything done: nothing runs; --from reruns from the named step
      expect(pendingSteps(steps, st.get<RunRecord>(RUN_KEY))).toEqual([]);
      const c = await runSteps(st, steps, { logDir, cwd: dir, from: 'three' });
      expect(c.ran.map((s) => s.name)).toEqual(['three']);
      expect(() => pendingSteps(steps, undefined, 'nope')).toThrow(/unknown step nope/);
    } finally {
      st.close();
    }
  });

  it('names the tools that are not installed', async () => {
    expect(await missingTools([sh('a', 'true'), { name: 'k', tool: 'kseed-no-such-tool', argv: ['kseed-no-such-tool'] }])).toEqual(['kseed-no-such-tool']);
  });
});
