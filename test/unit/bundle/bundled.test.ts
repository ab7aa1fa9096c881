/**
 * The marker `kseed bundle load` leaves (src/images/bundled.ts): a builder
 * takes a directory's stamp as built only when a bundle installed every file
 * it names and the files are there; a build forgets the marker.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BUNDLED, bundledImageId, bundledStamp, forgetBundled, markBundled, markBundledImages } from '../../../src/images/bundled.js';

describe('bundled artifacts', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kst-bundled-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const stamp = { inputs: 'abc', kernelVersion: '6.1.0-57-amd64' };

  it('uses the stamp only when a bundle installed every file, and they are present', () => {
    writeFileSync(path.join(dir, 'vmlinuz'), 'k');
    writeFileSync(path.join(dir, 'stamp'), JSON.stringify(stamp));
    expect(bundledStamp(dir, ['vmlinuz'], 'stamp')).toBeUndefined(); // built here, not bundled
    markBundled(dir, ['vmlinuz', 'stamp'], 'site.tar');
    expect(bundledStamp(dir, ['vmlinuz', 'initramfs.gz'], 'stamp')).toBeUndefined(); // initramfs.gz not from the bundle
    markBundled(dir, ['initramfs.gz'], 'site.tar');
    expect(bundledStamp(dir, ['vmlinuz', 'initramfs.gz'], 'stamp')).toBeUndefined(); // listed but absent
    writeFileSync(path.join(dir, 'initramfs.gz'), 'i');
    expect(bundledStamp(dir, ['vmlinuz', 'initramfs.gz'], 'stamp')).toEqual(stamp);
  });

  it('an unreadable marker or stamp is no bundle; a build forgets the marker', () => {
    writeFileSync(path.join(dir, 'stamp'), '{');
    expect(bundledStamp(dir, ['vmlinuz'], 'stamp')).toBeUndefined();
    writeFileSync(path.join(dir, 'stamp'), JSON.stringify(stamp));
    writeFileSync(path.join(dir, BUNDLED), 'not json');
    expect(bundledStamp(dir, ['vmlinuz'], 'stamp')).toBeUndefined();
    markBundled(dir, ['vmlinuz', 'stamp'], 'site.tar');
    expect(bundledStamp(dir, ['vmlinuz'], 'stamp')).toEqual(stamp);
    forgetBundled(dir);
    expect(bundledStamp(dir, ['vmlinuz'], 'stamp')).toBeUndefined();
  });

  it('records the image ID each tag had when a bundle loaded it; a later load adds to it and wins for its own tags', () => {
    const cache = path.join(dir, 'cache');
    expect(bundledImageId(cache, 'kseed/ironic:0.1.0')).toBeUndefined();
    markBundledImages(cache, [{ ref: 'kseed/ironic:0.1.0', id: 'sha256:aa' }, { ref: 'kseed/http:0.1.0', id: 'sha256:bb' }], 'one.tar');
    markBundledImages(cache, [{ ref: 'kseed/ironic:0.1.0', id: 'sha256:cc' }], 'two.tar');
    expect(bundledImageId(cache, 'kseed/ironic:0.1.0')).toBe('sha256:cc');
    expect(bundledImageId(cache, 'kseed/http:0.1.0')).toBe('sha256:bb');
    writeFileSync(path.join(cache, 'seed', 'bundled-images.json'), 'not json');
    expect(bundledImageId(cache, 'kseed/http:0.1.0')).toBeUndefined();
  });
});
