/**
 * `kseed lab up` that wrote a site file without an image ends with the
 * commands that give it one, so the newcomer's next `provision` does not
 * stop at "no image". The directory it names is the one `kseed up` serves.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { noImageNote } from '../../../src/cli/lab.js';
import { Output } from '../../../src/cli/output.js';
import { servedArtifactsDir } from '../../../src/engine/service.js';

const ctx = (configPath: string) => ({
  configPath,
  stateDir: path.join(path.dirname(configPath), '.kseed'),
  out: new Output({ json: false, verbose: false }),
  interactive: false,
});

describe('lab up without an image', () => {
  it('names the build, where kseed up serves it, and the lab up that puts it in the site file', () => {
    const here = path.join(process.cwd(), 'kseed.yaml');
    expect(noImageNote(ctx(here), '10.77.0.1/24')).toBe(
      [
        "no OS image in ./kseed.yaml yet: nodes can be enrolled, not deployed. To give it kseed's test OS:",
        '  kseed images testos --json   # builds it; prints its gz path and sha256.gz',
        '  mkdir -p .kseed/cache/ramdisk && cp <gz path> .kseed/cache/ramdisk/testos.raw.gz   # what `kseed up` serves under /artifacts/',
        '  kseed lab up --image-url http://10.77.0.1:8080/artifacts/testos.raw.gz --image-checksum sha256:<sha256.gz> --image-compression gzip',
        '(scripts/try-it.sh does all of this, with the Debian cloud image)',
      ].join('\n'),
    );
  });

  it('with another site file, every command carries its --config', () => {
    const note = noImageNote(ctx('/srv/labs/a.yaml'), '10.80.0.1/24');
    expect(note.split('\n')[0]).toBe("no OS image in /srv/labs/a.yaml yet: nodes can be enrolled, not deployed. To give it kseed's test OS:");
    expect(note).toContain('  kseed --config /srv/labs/a.yaml images testos --json');
    expect(note).toContain('mkdir -p /srv/labs/.kseed/cache/ramdisk && cp <gz path> /srv/labs/.kseed/cache/ramdisk/testos.raw.gz');
    // the directory `kseed up` serves when no boot services run and no --artifacts was given
    expect(servedArtifactsDir('/srv/labs/.kseed', '/srv/labs/a.yaml')).toBe('/srv/labs/.kseed/cache/ramdisk');
    expect(note).toContain('  kseed --config /srv/labs/a.yaml lab up --image-url http://10.80.0.1:8080/artifacts/testos.raw.gz');
  });
});
