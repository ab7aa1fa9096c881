/** The one module for external tools, against real programs of the host (sh, a missing one). */
import { describe, expect, it } from 'vitest';
import { KseedError } from '../../../src/errors.js';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dockerEngine, missingTools, output, outputBytes, outputSync, requireTool, run, runPipe, runQuiet, runSyncQuiet, toolPackage, which } from '../../../src/util/tools.js';

async function failure(p: Promise<unknown>): Promise<KseedError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(KseedError);
  return e as KseedError;
}

describe('external tools', () => {
  it('finds a tool on PATH or in the sbin directories, and a path as given', () => {
    expect(which('sh')).toMatch(/\/sh$/);
    expect(which('/bin/sh')).toBe('/bin/sh');
    expect(which('kseed-no-such-tool')).toBeUndefined();
    expect(missingTools(['sh', 'kseed-no-such-tool', 'kseed-no-such-tool'])).toEqual(['kseed-no-such-tool']);
  });

  it('a missing tool names its Debian package, with one code', async () => {
    expect(toolPackage('qemu-img')).toBe('qemu-utils');
    expect(toolPackage('/usr/sbin/ip')).toBe('iproute2');
    expect(toolPackage('debootstrap')).toBe('debootstrap');
    expect(() => requireTool('qemu-kseed-none', 'for the lab')).toThrow('qemu-kseed-none not found: install the Debian package qemu-kseed-none (for the lab)');
    const e = await failure(run('kseed-no-such-tool', []));
    expect(e.code).toBe('missing-tool');
    const d = await failure(dockerEngine('/nonexistent/docker'));
    expect(d.code).toBe('missing-tool');
    expect(d.message).toMatch(/^docker CLI not found \(\/nonexistent\/docker\): install the Debian package docker\.io/);
  });

  it('a failing tool: the short message names the command, the detail carries stderr', async () => {
    const e = await failure(run('sh', ['-c', 'echo broken disk >&2; exit 3']));
    expect(e.code).toBe('tool-failed');
    expect(e.message).toBe('sh -c echo broken disk >&2; exit 3 failed (exit 3)');
    expect(e.detail).toBe('broken disk');
    const q = await runQuiet('sh', ['-c', 'echo out; echo err >&2; exit 4']);
    expect(q).toEqual({ stdout: 'out\n', stderr: 'err\n', exitCode: 4 });
  });

  it('output: stdout without its final newline; input reaches stdin', async () => {
    expect(await output('sh', ['-c', 'printf "a\\nb\\n"'])).toBe('a\nb');
    expect(await output('cat', [], { input: 'fed\n' })).toBe('fed');
    const t = await failure(run('sleep', ['5'], { timeoutMs: 200 }));
    expect(t.code).toBe('tool-failed');
    expect(t.detail).toContain('(timed out)');
  });
});

describe('external tools: streams, pipes, bytes, blocking', () => {
  it('onLine gets each line of both streams as it comes, the last unterminated one too; onChunk every byte', async () => {
    const lines: string[] = [];
    const chunks: Buffer[] = [];
    const r = await runQuiet('sh', ['-c', 'echo one; echo two >&2; printf three'], { onLine: (l, from) => lines.push(`${from}:${l}`), onChunk: (c) => chunks.push(c) });
    expect(lines.sort()).toEqual(['stderr:two', 'stdout:one', 'stdout:three']);
    // the two streams interleave by arrival: every byte once, each stream's own in order
    const all = Buffer.concat(chunks).toString();
    expect(all).toHaveLength('one\ntwo\nthree'.length);
    expect(all.replace('two\n', '')).toBe('one\nthree');
    expect(r).toEqual({ stdout: 'one\nthree', stderr: 'two\n', exitCode: 0 });
  });

  it('buffer: false keeps nothing, still streams lines and the exit code; timeoutMs 0 waits', async () => {
    const lines: string[] = [];
    const r = await runQuiet('sh', ['-c', 'seq 1 20000; exit 5'], { buffer: false, timeoutMs: 0, onLine: (l) => lines.push(l) });
    expect(r).toEqual({ stdout: '', stderr: '', exitCode: 5 });
    expect(lines).toHaveLength(20000);
    expect(lines.at(-1)).toBe('20000');
    // nobody reading: the tool still runs to its end (more than a pipe's 64 KiB)
    expect((await runQuiet('sh', ['-c', 'seq 1 100000; exit 0'], { buffer: false })).exitCode).toBe(0);
  });

  it('stdin from a file or a stream', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kseed-tools-'));
    try {
      const f = path.join(dir, 'in');
      writeFileSync(f, 'from a file\n');
      expect(await output('cat', [], { inputFile: f })).toBe('from a file');
      expect(await output('wc', ['-c'], { inputStream: createReadStream(f, { start: 5, end: 8 }) })).toBe('4');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('outputBytes returns bytes as they are; a failure is tool-failed with stderr', async () => {
    const b = await outputBytes('printf', ['\\000\\377\\n']);
    expect([...b]).toEqual([0, 255, 10]);
    const e = await failure(outputBytes('sh', ['-c', 'echo no such file >&2; exit 1']));
    expect(e.code).toBe('tool-failed');
    expect(e.detail).toBe('no such file');
  });

  it('runPipe: a | b; the failing side is named, a missing one is missing-tool', async () => {
    expect((await runPipe(['printf', ['b\\na\\n']], ['sort', []])).stdout).toBe('a\nb\n');
    const e = await failure(runPipe(['sh', ['-c', 'echo tar broke >&2; exit 2']], ['cat', []]));
    expect(e.code).toBe('tool-failed');
    expect(e.message).toBe('sh -c echo tar broke >&2; exit 2 failed (exit 2)');
    expect(e.detail).toBe('tar broke');
    const s = await failure(runPipe(['printf', ['x']], ['sh', ['-c', 'cat >/dev/null; echo import broke >&2; exit 3']]));
    expect(s.message).toMatch(/^sh .* failed \(exit 3\)$/);
    expect(s.detail).toBe('import broke');
    expect((await failure(runPipe(['printf', ['x']], ['kseed-no-such-tool', []]))).code).toBe('missing-tool');
  });

  it('runSyncQuiet / outputSync: the same results and codes, blocking', () => {
    expect(outputSync('sh', ['-c', 'echo sync'])).toBe('sync');
    expect(runSyncQuiet('sh', ['-c', 'echo e >&2; exit 2'])).toEqual({ stdout: '', stderr: 'e\n', exitCode: 2 });
    expect(() => outputSync('kseed-no-such-tool', [])).toThrow(expect.objectContaining({ code: 'missing-tool' }));
    expect(() => outputSync('sh', ['-c', 'echo bad >&2; exit 1'])).toThrow(expect.objectContaining({ code: 'tool-failed', detail: 'bad' }));
    expect(runSyncQuiet('sleep', ['5'], { timeoutMs: 200 }).exitCode).toBe(124);
  });
});
