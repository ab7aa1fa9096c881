import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mbr } from '../../../src/images/mbr.js';
import { needPeers } from '../../helpers/peers.js';

describe('MBR writer', () => {
  it('keeps the boot code, signature and 0x55AA', () => {
    const code = Buffer.alloc(500, 0x90);
    const s = mbr([{ start: 2048, sectors: 100, type: 0x0e, bootable: true }], { bootCode: code, diskSignature: 0x11223344 });
    expect(s.length).toBe(512);
    expect(s.subarray(0, 440).every((b) => b === 0x90)).toBe(true);
    expect(s.readUInt32LE(440)).toBe(0x11223344);
    expect([s[510], s[511]]).toEqual([0x55, 0xaa]);
  });

  it('refuses overlapping and too many partitions', () => {
    expect(() => mbr([{ start: 2048, sectors: 100, type: 0x83 }, { start: 2100, sectors: 10, type: 0x83 }])).toThrow(/overlaps/);
    expect(() => mbr(Array.from({ length: 5 }, (_, i) => ({ start: 2048 + i * 10, sectors: 10, type: 0x83 })))).toThrow(/at most 4/);
  });

  it.skipIf(!needPeers('sfdisk'))('is read back by sfdisk with the same layout', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ksr-mbr-'));
    try {
      const img = path.join(dir, 'd.img');
      const fd = openSync(img, 'w');
      ftruncateSync(fd, 8 * 1024 * 1024);
      writeSync(fd, mbr([{ start: 2048, sectors: 8192, type: 0x0e, bootable: true }, { start: 10240, sectors: 4096, type: 0x0c }], { diskSignature: 0x4b534545 }), 0, 512, 0);
      closeSync(fd);
      const t = JSON.parse(execFileSync('sfdisk', ['-J', img]).toString()).partitiontable;
      expect(t.label).toBe('dos');
      expect(t.id).toBe('0x4b534545');
      expect(t.partitions).toEqual([
        { node: `${img}1`, start: 2048, size: 8192, type: 'e', bootable: true },
        { node: `${img}2`, start: 10240, size: 4096, type: 'c' },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
