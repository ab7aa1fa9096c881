/**
 * `kseed lab up --no-image` that wrote a site file without an image ends
 * with the command that gives it one, so the newcomer's next `provision`
 * does not stop at "no image"; every `lab up` that wrote the site file ends
 * with what to run next, the deploy ramdisk first while `kseed up` would
 * not find it where it serves /artifacts/.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nextSteps, noImageNote } from '../../../src/cli/lab.js';
import { servedDir } from '../../../src/cli/lab-image.js';
import { Output } from '../../../src/cli/output.js';
import { servedArtifactsDir } from '../../../src/engine/service.js';

const ctx = (configPath: string) => ({
  configPath,
  stateDir: path.join(path.dirname(configPath), '.kseed'),
  out: new Output({ json: false, verbose: false }),
  interactive: false,
});

describe('lab up --no-image', () => {
  it('names the lab up that builds the test OS and puts it in the site file', () => {
    const here = path.join(process.cwd(), 'kseed.yaml');
    expect(noImageNote(ctx(here), 'lab', false)).toBe(
      [
        "no OS image in ./kseed.yaml (--no-image): nodes can be enrolled, not deployed. To give it kseed's test OS:",
        '  kseed lab up   # builds it (or reuses it) and puts it in the site file',
        '  (or --image-url/--image-checksum for an image of yours; scripts/try-it.sh uses the Debian cloud image)',
      ].join('\n'),
    );
  });

  it('with another site file and --name, the command carries both', () => {
    const note = noImageNote(ctx('/srv/labs/a.yaml'), 'a1', true);
    expect(note.split('\n')[0]).toBe("no OS image in /srv/labs/a.yaml (--no-image): nodes can be enrolled, not deployed. To give it kseed's test OS:");
    expect(note.split('\n')[1]).toBe('  kseed --config /srv/labs/a.yaml lab up --name a1   # builds it (or reuses it) and puts it in the site file');
  });
});

describe('lab up: next steps', () => {
  it('the deploy ramdisk first while it is not where kseed up serves /artifacts/, then up and provision', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ksu-next-'));
    try {
      const c = ctx(path.join(dir, 'lab.yaml'));
      // the directory `kseed up` serves when no boot services run and no --artifacts was given
      expect(servedDir(c.stateDir)).toBe(servedArtifactsDir(c.stateDir, c.configPath));
      const k = `kseed --config ${c.configPath}`;
      expect(nextSteps(c)).toBe(`next: ${k} images ramdisk (the deploy ramdisk, once), ${k} up, ${k} provision --all --wait`);
      mkdirSync(servedDir(c.stateDir), { recursive: true });
      writeFileSync(path.join(servedDir(c.stateDir), 'vmlinuz'), 'k');
      expect(nextSteps(c)).toContain('images ramdisk');
      writeFileSync(path.join(servedDir(c.stateDir), 'initramfs.gz'), 'i');
      expect(nextSteps(c)).toBe(`next: ${k} up, ${k} provision --all --wait`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
