import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { elfNeeded, isElf } from '../../../src/images/elf.js';

/** readelf's answer for the same file, when binutils is there: the parser must agree with it. */
function readelfNeeded(file: string): string[] | undefined {
  try {
    const out = execFileSync('readelf', ['-d', file], { encoding: 'utf8' });
    return [...out.matchAll(/\(NEEDED\)\s+Shared library: \[(.+)\]/g)].map((m) => m[1]!);
  } catch {
    return undefined;
  }
}

describe('elfNeeded', () => {
  it('reads the DT_NEEDED sonames of real binaries (node, a libc-linked tool), in order', () => {
    for (const file of [process.execPath, '/usr/bin/dpkg-deb']) {
      const needed = elfNeeded(readFileSync(file));
      expect(needed).toContain('libc.so.6');
      const ref = readelfNeeded(file);
      if (ref) expect(needed).toEqual(ref);
    }
  });

  it('a static binary needs nothing; non-ELF and truncated files are not ELF64', () => {
    expect(elfNeeded(readFileSync('/bin/busybox'))).toEqual([]);
    expect(isElf(Buffer.from('#!/bin/sh\necho hi\n'))).toBe(false);
    expect(elfNeeded(Buffer.from('#!/bin/sh\necho hi\n'))).toBeUndefined();
    const real = readFileSync('/usr/bin/dpkg-deb');
    expect(elfNeeded(real.subarray(0, 200))).toBeUndefined();
  });
});
