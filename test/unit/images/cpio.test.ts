import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CpioArchive } from '../../../src/images/cpio.js';
import { needPeers } from '../../helpers/peers.js';

function sample(): CpioArchive {
  return new CpioArchive()
    .file('init', '#!/bin/sh\necho hi\n', 0o755)
    .file('lib/modules/a.ko', Buffer.from([1, 2, 3, 4, 5]))
    .symlink('bin/sh', 'busybox')
    .charDev('dev/console', 5, 1)
    .dir('proc');
}

describe('cpio newc writer', () => {
  it('is byte-identical for identical input and 4-byte aligned', () => {
    const a = sample().toBuffer();
    expect(a.equals(sample().toBuffer())).toBe(true);
    expect(a.length % 4).toBe(0);
    expect(a.subarray(0, 6).toString()).toBe('070701');
    expect(a.includes(Buffer.from('TRAILER!!!\0'))).toBe(true);
  });

  it('rejects paths that would escape the archive root', () => {
    expect(() => new CpioArchive().file('../etc/passwd', 'x')).toThrow(/bad cpio path/);
    expect(() => new CpioArchive().file('a/./b', 'x')).toThrow(/bad cpio path/);
    expect(() => new CpioArchive().file('a', 'x').file('a/b', 'y')).toThrow(/not a directory/);
  });

  describe.skipIf(!needPeers('cpio'))('read back by GNU cpio', () => {
    it('lists types, modes, device numbers and parent directories', () => {
      const listing = execFileSync('cpio', ['-itv', '--quiet'], { input: sample().toBuffer() }).toString();
      const line = (name: string) => listing.split('\n').find((l) => l.endsWith(` ${name}`) || l.includes(` ${name} -> `)) ?? '';
      expect(line('init')).toMatch(/^-rwxr-xr-x/);
      expect(line('dev/console')).toMatch(/^crw-------\s+1 root\s+root\s+5,\s+1 /);
      expect(line('bin/sh')).toMatch(/^lrwxrwxrwx .* bin\/sh -> busybox$/);
      for (const d of ['lib', 'lib/modules', 'bin', 'dev', 'proc']) expect(line(d)).toMatch(/^drwxr-xr-x/);
    });

    it('extracts file contents unchanged', () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'ksr-cpio-'));
      try {
        const big = Buffer.alloc(70_001, 7);
        const arc = new CpioArchive().file('x/big.bin', big).file('x/odd.txt', 'abc');
        writeFileSync(path.join(dir, 'a.cpio'), arc.toBuffer());
        execFileSync('sh', ['-c', 'cpio -id --quiet < a.cpio'], { cwd: dir });
        expect(readFileSync(path.join(dir, 'x/big.bin')).equals(big)).toBe(true);
        expect(readFileSync(path.join(dir, 'x/odd.txt'), 'utf8')).toBe('abc');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
