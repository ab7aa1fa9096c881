/**
 * The bundle's tar codec, its manifest checks and the archive index reader
 * (files in a temp directory, no sockets): round trips, and every way a
 * bundle is refused (bad header, truncation anywhere, newer format or kseed,
 * a path leaving the cache, members and manifest disagreeing) names what.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveWriter, copyHashed, readIndex } from '../../../src/bundle/archive.js';
import { BUNDLE_FORMAT, checkMemberPath, compareVersions, matchIndex, MANIFEST_NAME, parseManifest, type Manifest } from '../../../src/bundle/manifest.js';
import { BLOCK, decodeHeader, encodeHeader, padding } from '../../../src/bundle/tar.js';
import { InputError } from '../../../src/errors.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const F = 'site.tar';

function manifest(over: Partial<Manifest> = {}, member: Record<string, unknown> = {}): string {
  return JSON.stringify({
    format: BUNDLE_FORMAT,
    kseed: '0.1.0',
    created: '2026-12-06T00:00:00Z',
    members: [{ path: 'cache/ramdisk/vmlinuz', kind: 'ramdisk', size: 3, sha256: 'a'.repeat(64), source: '3:1', ...member }],
    ...over,
  });
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).exitCode).toBe(2);
    return (err as Error).message;
  }
  throw new Error('not refused');
}

describe('tar headers', () => {
  it('round-trips name, size and mtime, and pads data to whole blocks', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9._/-]{1,90}$/), fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 2 ** 32 }), (name, size, mtime) => {
        const h = encodeHeader({ name, size, mtime });
        expect(h.length).toBe(BLOCK);
        expect(decodeHeader(h)).toEqual({ name, size, mtime, type: '0' });
        expect((size + padding(size)) % BLOCK).toBe(0);
        expect(padding(size)).toBeLessThan(BLOCK);
      }),
    );
  });

  it('sizes above 8 GiB use base-256 and names above 100 bytes the prefix field', () => {
    const big = 9 * 2 ** 30;
    expect(decodeHeader(encodeHeader({ name: 'images/seed.docker.tar', size: big })).size).toBe(big);
    const long = `cache/${'d'.repeat(120)}/file.bin`;
    expect(decodeHeader(encodeHeader({ name: long, size: 1 })).name).toBe(long);
    expect(() => encodeHeader({ name: `cache/${'x'.repeat(120)}`, size: 1 })).toThrow(/too long/);
  });

  it('a changed byte fails the header checksum; a foreign block has no magic', () => {
    const h = encodeHeader({ name: 'cache/ramdisk/vmlinuz', size: 10 });
    h[3] ^= 0x01;
    expect(() => decodeHeader(h)).toThrow(/checksum mismatch/);
    expect(() => decodeHeader(Buffer.alloc(BLOCK, 0x41))).toThrow(/no ustar magic/);
  });
});

describe('manifest', () => {
  it('parses a good manifest', () => {
    const m = parseManifest(manifest(), F, '0.1.0');
    expect(m.members[0]).toMatchObject({ path: 'cache/ramdisk/vmlinuz', kind: 'ramdisk', size: 3 });
  });

  it('refuses a newer format or a newer kseed, naming the version to use', () => {
    expect(refusal(() => parseManifest(manifest({ format: BUNDLE_FORMAT + 1 }), F, '0.1.0'))).toMatch(/site\.tar: format: bundle format 2 is newer .*kseed 0\.1\.0 or newer/);
    expect(refusal(() => parseManifest(manifest({ kseed: '0.2.0' }), F, '0.1.0'))).toMatch(/site\.tar: kseed: made by kseed 0\.2\.0, newer than this kseed 0\.1\.0/);
    expect(parseManifest(manifest({ kseed: '0.0.9' }), F, '0.1.0').kseed).toBe('0.0.9');
  });

  it('compares versions numerically', () => {
    expect(compareVersions('0.10.0', '0.9.9')).toBe(1);
    expect(compareVersions('1.0.0', '1.0.0')).toBe(0);
    expect(compareVersions('0.1.0', '0.1.1')).toBe(-1);
  });

  it('keeps member paths inside the cache', () => {
    for (const p of ['/etc/passwd', 'cache/../../etc/passwd', 'cache/./x', 'etc/x', 'cache/', 'cache//x', 'images/a\\b']) expect(checkMemberPath(p), p).toBeDefined();
    for (const p of ['cache/ramdisk/vmlinuz', 'cache/debs/libc6_2.36-9+deb12u14_amd64.deb', 'cache/debs/busybox-static_1%3a1.35.0_amd64.deb', 'images/seed.docker.tar']) expect(checkMemberPath(p), p).toBeUndefined();
    expect(refusal(() => parseManifest(manifest({}, { path: 'cache/../../root/.ssh/authorized_keys' }), F, '0.1.0'))).toMatch(/members\[0\]\.path: .*contains \. or \.\./);
  });

  it('names the field of a broken member', () => {
    expect(refusal(() => parseManifest(manifest({}, { sha256: 'xyz' }), F, '0.1.0'))).toMatch(/members\[0\]\.sha256: not a sha256/);
    expect(refusal(() => parseManifest(manifest({}, { kind: 'rootkit' }), F, '0.1.0'))).toMatch(/members\[0\]\.kind: unknown kind rootkit/);
    expect(refusal(() => parseManifest(manifest({}, { size: -1 }), F, '0.1.0'))).toMatch(/members\[0\]\.size/);
    expect(refusal(() => parseManifest(manifest({}, { path: 'images/x.tar', kind: 'docker-images' }), F, '0.1.0'))).toMatch(/members\[0\]\.images: missing/);
    expect(refusal(() => parseManifest(manifest({}, { kind: 'docker-images', images: [{ ref: 'a', id: 'b' }] }), F, '0.1.0'))).toMatch(/docker images live under images\//);
    expect(refusal(() => parseManifest('{"format":1', F, '0.1.0'))).toMatch(/manifest\.json: not JSON/);
  });

  it('the archive must hold exactly the listed members, of their sizes', () => {
    const m = parseManifest(manifest(), F, '0.1.0');
    expect(() => matchIndex(m, [{ name: 'cache/ramdisk/vmlinuz', offset: 512, size: 3 }, { name: MANIFEST_NAME, offset: 1536, size: 10 }], F)).not.toThrow();
    expect(refusal(() => matchIndex(m, [{ name: MANIFEST_NAME, offset: 512, size: 10 }], F))).toMatch(/member cache\/ramdisk\/vmlinuz is listed in the manifest but not in the archive/);
    expect(refusal(() => matchIndex(m, [{ name: 'cache/ramdisk/vmlinuz', offset: 512, size: 4 }], F))).toMatch(/member cache\/ramdisk\/vmlinuz is 4 bytes in the archive, the manifest says 3/);
    expect(refusal(() => matchIndex(m, [{ name: 'cache/ramdisk/vmlinuz', offset: 512, size: 3 }, { name: 'cache/x', offset: 1536, size: 1 }], F))).toMatch(/member cache\/x is in the archive but not in the manifest/);
  });
});

describe('archive', () => {
  let dir: string;
  let file: string;
  const a = randomBytes(100_000);
  const b = Buffer.from('stamp\n');

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kst-bundle-'));
    writeFileSync(path.join(dir, 'a'), a);
    writeFileSync(path.join(dir, 'b'), b);
    file = path.join(dir, 'x.tar');
    const w = await ArchiveWriter.create(file);
    expect(await w.addFile('cache/ramdisk/initramfs.gz', path.join(dir, 'a'))).toEqual({ size: a.length, sha256: sha(a) });
    await w.addFile('cache/ramdisk/stamp', path.join(dir, 'b'));
    await w.addBuffer(MANIFEST_NAME, Buffer.from('{}'));
    await w.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('indexes members by offset and reads them back with their sha256', async () => {
    const idx = await readIndex(file);
    expect(idx.entries.map((e) => [e.name, e.size])).toEqual([
      ['cache/ramdisk/initramfs.gz', a.length],
      ['cache/ramdisk/stamp', b.length],
      [MANIFEST_NAME, 2],
    ]);
    expect(idx.manifest).toBe('{}');
    const fh = await open(file, 'r');
    const e = idx.entries[0]!;
    expect(await copyHashed(fh, e.offset, e.size, undefined)).toBe(sha(a));
    await fh.close();
  });

  it('refuses the archive cut at any point, naming where', async () => {
    const whole = readFileSync(file);
    const idx = await readIndex(file);
    const cut = path.join(dir, 'cut.tar');
    const cases: [number, RegExp][] = [
      [idx.entries[0]!.offset + 1000, /truncated in member cache\/ramdisk\/initramfs\.gz/],
      [idx.entries[1]!.offset - BLOCK, /truncated after member cache\/ramdisk\/initramfs\.gz/],
      [idx.entries[2]!.offset + BLOCK, /truncated after member manifest\.json/],
      [whole.length - BLOCK, /one end block of two/],
      [100, /truncated before the first member/],
    ];
    for (const [len, re] of cases) {
      writeFileSync(cut, whole);
      truncateSync(cut, len);
      await expect(readIndex(cut), String(len)).rejects.toThrow(re);
    }
  });

  it('refuses a corrupt header and a tar without a manifest', async () => {
    const bad = Buffer.from(readFileSync(file));
    const idx = await readIndex(file);
    bad[idx.entries[1]!.offset - BLOCK + 5] ^= 0xff;
    const f = path.join(dir, 'bad.tar');
    writeFileSync(f, bad);
    await expect(readIndex(f)).rejects.toThrow(/corrupt archive at byte \d+, after member cache\/ramdisk\/initramfs\.gz: tar header checksum mismatch/);
    const w = await ArchiveWriter.create(path.join(dir, 'nomf.tar'));
    await w.addFile('cache/ramdisk/stamp', path.join(dir, 'b'));
    await w.close();
    await expect(readIndex(path.join(dir, 'nomf.tar'))).rejects.toThrow(/no manifest\.json: not a kseed bundle, or truncated/);
    await expect(readIndex(path.join(dir, 'absent.tar'))).rejects.toThrow(/absent\.tar: cannot open the bundle \(ENOENT\)/);
  });
});
