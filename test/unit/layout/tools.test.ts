/**
 * One module for external tools (issue 15): every program kseed runs goes
 * through src/util/tools.ts (found on PATH and sbin, a missing one is
 * `missing-tool` naming its Debian package, a failure `tool-failed` with
 * stderr as detail), or, for the processes kseed starts and does not wait
 * for, src/util/spawn.ts. No other file of src/ may import a process API.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src');

/** The files that may start processes, and why. */
const ALLOWED: Record<string, string> = {
  'util/tools.ts': 'the one module that runs external tools to their end',
  'util/spawn.ts':
    'starts the processes kseed does not wait for (its own boot services, the lab\'s ipmi_sim and QEMU, kseed re-run in seed.netns), each supervised by its caller through PID files',
};

/**
 * Files that still run a tool by hand, each with who converts it. Empty: every
 * file is converted. A file being converted in steps may be listed here for
 * a while; its entry must go as soon as it is converted (the test below
 * fails while a listed file no longer needs it), so the list only shrinks.
 */
const NOT_YET: Record<string, string> = {};

/**
 * A static, side-effect or dynamic import of execa, Node's child_process, or
 * a package that starts the tool itself (the `docker-compose` npm package
 * did: its processes were out of this check's sight).
 */
const PROCESS_IMPORT = /(?:from\s*|import\s*\(\s*|^\s*import\s+)['"](?:execa|(?:node:)?child_process|docker-compose)['"]/m;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const importing = files(SRC)
  .filter((f) => PROCESS_IMPORT.test(readFileSync(f, 'utf8')))
  .map((f) => path.relative(SRC, f))
  .sort();

describe('one module for external tools', () => {
  it('finds the imports it looks for (the check is not vacuous)', () => {
    expect(importing).toEqual(expect.arrayContaining(Object.keys(ALLOWED)));
    expect(PROCESS_IMPORT.test(`import { spawn } from 'node:child_process';`)).toBe(true);
    expect(PROCESS_IMPORT.test(`const { execa } = await import('execa');`)).toBe(true);
    expect(PROCESS_IMPORT.test(`import { execFileSync } from "child_process";`)).toBe(true);
    expect(PROCESS_IMPORT.test(`// runs docker through execa, see util/tools.ts`)).toBe(false);
    expect(PROCESS_IMPORT.test(`import * as compose from 'docker-compose';`)).toBe(true);
    expect(PROCESS_IMPORT.test(`runQuiet('docker-compose', ['version'])`)).toBe(false);
  });

  it('no other file of src/ imports execa or node:child_process', () => {
    const strays = importing.filter((f) => !(f in ALLOWED) && !(f in NOT_YET));
    expect(strays, `run tools through src/util/tools.ts (or start long-lived processes through src/util/spawn.ts): ${strays.join(', ')}`).toEqual([]);
  });

  it('a file listed as not yet converted still needs the entry', () => {
    const done = Object.keys(NOT_YET).filter((f) => !importing.includes(f));
    expect(done, `converted: remove from NOT_YET in ${path.basename(fileURLToPath(import.meta.url))}`).toEqual([]);
  });
});
