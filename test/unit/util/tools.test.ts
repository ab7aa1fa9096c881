/** The one module for external tools, against real programs of the host (sh, a missing one). */
import { describe, expect, it } from 'vitest';
import { KseedError } from '../../../src/errors.js';
import { dockerEngine, missingTools, output, requireTool, run, runQuiet, toolPackage, which } from '../../../src/util/tools.js';

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
