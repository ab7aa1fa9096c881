/**
 * examples/ci/: the GitHub Actions workflow and the GitLab CI job parse as
 * YAML, every kseed command line in them uses options the built command
 * really has (a renamed flag breaks this test, not a user's pipeline), they
 * provision with --events and --junit, and the wipe runs also when a step
 * failed: GitHub's `if: always()`, GitLab's after_script.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildProgram, commandWord } from '../../../src/cli/main.js';

const read = (f: string) => parse(readFileSync(new URL(`../../../examples/ci/${f}`, import.meta.url), 'utf8'));

/** Every `kseed ...` command in a shell script, continuation lines joined, as argv words. */
function kseedLines(script: string): string[][] {
  return script
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('kseed '))
    .map((l) => l.split(/\s+/).slice(1).filter((w) => !w.startsWith('>') && !w.startsWith('reports/')));
}

/** The options of `words` that neither the command nor the program defines. */
async function unknownOptions(words: string[]): Promise<string[]> {
  const program = await buildProgram(['node', 'kseed', ...words]);
  const cmd = program.commands.find((c) => c.name() === commandWord(words));
  expect(cmd, `kseed ${words.join(' ')}`).toBeDefined();
  const known = new Set([...program.options, ...cmd!.options].flatMap((o) => [o.long, o.short]).filter(Boolean));
  return words.filter((w) => w.startsWith('-')).filter((w) => !known.has(w));
}

describe('examples/ci', () => {
  const gh = read('github-actions.yml');
  const gl = read('gitlab-ci.yml');
  const steps = gh.jobs.hil.steps as { name?: string; if?: string; run?: string; uses?: string }[];
  const job = gl['hardware-in-the-loop'] as { script: string[]; after_script: string[]; artifacts: { when: string; reports: { junit: string } } };
  const all = [...steps.flatMap((s) => (s.run ? kseedLines(s.run) : [])), ...[...job.script, ...job.after_script].flatMap(kseedLines)];

  it('every kseed command line uses options the command has', async () => {
    expect(all.length).toBeGreaterThanOrEqual(8);
    for (const words of all) expect(await unknownOptions(words), `kseed ${words.join(' ')}`).toEqual([]);
  });

  it('provision and undeploy run with --events and --junit; the wipe runs also when a step failed', () => {
    for (const verb of ['provision', 'undeploy']) {
      const lines = all.filter((w) => commandWord(w) === verb);
      expect(lines).toHaveLength(2);
      for (const w of lines) expect(w).toEqual(expect.arrayContaining(['--events', '--junit']));
    }
    const wipe = steps.find((s) => s.run && kseedLines(s.run).some((w) => commandWord(w) === 'undeploy'))!;
    expect(wipe.if).toBe('always()');
    expect(steps.find((s) => s.uses?.startsWith('actions/upload-artifact'))).toMatchObject({ if: 'always()' });
    expect(job.after_script.flatMap(kseedLines).map((w) => commandWord(w))).toEqual(['undeploy']);
    expect(job.artifacts).toMatchObject({ when: 'always', reports: { junit: 'reports/*.xml' } });
  });
});
