/**
 * scripts/setup.sh's long steps (apt-get for minutes on a fresh machine) say
 * what they do, where the log is, and show life: scripts/step.sh run by real
 * bash, off a terminal (a line every KSEED_PROGRESS_EVERY s) and on one
 * (script(1) gives it a pty: one updating line).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO } from '../../helpers/cli.js';
import { needPeers } from '../../helpers/peers.js';

const ok = needPeers('bash', 'script');
const dir = mkdtempSync(path.join(os.tmpdir(), 'ksi-step-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function bash(script: string, tty = false): Promise<{ code: number; stdout: string }> {
  const cmd = `source ${path.join(REPO, 'scripts/step.sh')}; ${script}`;
  const [bin, args] = tty ? ['script', ['-qec', `bash -c '${cmd.replace(/'/g, `'\\''`)}'`, '/dev/null']] : ['bash', ['-c', cmd]];
  return new Promise((resolve) =>
    execFile(bin as string, args as string[], { env: { ...process.env, KSEED_PROGRESS_EVERY: '1' }, timeout: 30_000 }, (err, stdout) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout }),
    ),
  );
}

const COUNT = 'sh -c "for i in 1 2 3 4; do echo line \\$i; sleep 1; done"';

describe.skipIf(!ok)('scripts/step.sh', () => {
  it('off a terminal: names the step and its log, a progress line with the elapsed time and the latest log line, then done', async () => {
    const log = path.join(dir, 'count.log');
    const r = await bash(`step "counting" ${log} ${COUNT}; echo after`);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`== counting (log: ${log})`);
    const progress = lines.filter((l) => /^ +\d+s {2}line [1-4]$/.test(l));
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(r.stdout).toMatch(/\n {3}done in [3-9] s\nafter\n$/);
    expect(r.stdout).not.toContain('\r');
    expect(readFileSync(log, 'utf8')).toBe('line 1\nline 2\nline 3\nline 4\n');
  });

  it("a failure prints the end of the log and exits with the command's status", async () => {
    const log = path.join(dir, 'fail.log');
    const r = await bash(`step "breaking" ${log} sh -c "echo E: Unable to locate package nosuch; exit 7"; echo never`);
    expect(r.code).toBe(7);
    // a progress line may come first when a second ticks over; then the failure and the log's end
    const lines = r.stdout.split('\n').filter((l) => !/^ +\d+s {2}/.test(l));
    expect(lines).toEqual([`== breaking (log: ${log})`, `   failed after ${lines[1]!.match(/after (\d) s/)?.[1]} s (exit 7); the end of ${log}:`, 'E: Unable to locate package nosuch', '']);
    expect(lines[1]).toMatch(/^ {3}failed after [01] s/);
    expect(r.stdout).not.toContain('never');
  });

  it('on a terminal: one line rewritten in place, cleared before done', async () => {
    const log = path.join(dir, 'tty.log');
    const r = await bash(`step "counting" ${log} ${COUNT}`, true);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\r\x1b\[K +\d+s {2}line [1-4]/);
    expect(r.stdout).toMatch(/\r\x1b\[K {3}done in [3-9] s\r?\n$/);
  });
});
