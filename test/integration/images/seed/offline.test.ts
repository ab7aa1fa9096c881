/**
 * The air-gapped path on the smallest image: `fetch` puts the .debs (and
 * the debootstrap tarball) in a bundle, then the build runs with
 * `docker build --network none` and the FROM scratch flatten. A private tag
 * keeps the stack's kseed/registry:<version> untouched; it is removed after.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSeedImages } from '../../../../src/images/seed/build.js';
import { fetchSeedDebs } from '../../../../src/images/seed/fetch.js';
import { needDocker, needPeers, needRoot } from '../../../helpers/peers.js';

const repo = fileURLToPath(new URL('../../../../', import.meta.url));
const cache = path.join(repo, 'cache');
const tag = `kseedtest-offline-${process.pid}`;
const bundle = mkdtempSync(path.join(tmpdir(), 'kseed-bundle-'));

function docker(args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

const ok = needDocker() && needPeers('debootstrap', 'tar') && needRoot();

describe.skipIf(!ok)('offline seed image build (fetch, then --network none)', () => {
  afterAll(() => {
    try {
      execFileSync('docker', ['rm', '-f', 'kseedtest-seedimg-offline'], { stdio: 'ignore' });
      execFileSync('docker', ['image', 'rm', '-f', `kseed/registry:${tag}`], { stdio: 'ignore' });
    } catch {
      // not there
    }
    rmSync(bundle, { recursive: true, force: true });
  });

  it('fetches the registry .debs, builds without network into one flattened layer, and the binary runs', async () => {
    const f = await fetchSeedDebs({ cacheDir: cache, out: bundle, services: ['registry'], containerPrefix: 'kseedtest-fetch' });
    expect(f.tarball && existsSync(f.tarball)).toBe(true);
    const debs = readdirSync(path.join(bundle, 'registry'));
    expect(debs.some((d) => /^docker-registry_.*\.deb$/.test(d))).toBe(true);
    expect(debs.every((d) => d.endsWith('.deb'))).toBe(true);

    const lines: string[] = [];
    const r = await buildSeedImages({ cacheDir: cache, services: ['registry'], offline: bundle, tag, onProgress: (l) => lines.push(l) });
    expect(r.images).toHaveLength(1);
    expect(r.images[0]).toMatchObject({ name: 'registry', tag: `kseed/registry:${tag}`, status: 'built' });
    expect(lines.some((l) => l.includes('offline, --network none'))).toBe(true);
    expect(lines.some((l) => /Step \d+\/\d+ : FROM scratch/.test(l))).toBe(true);
    // One layer: the .debs' COPY layer is gone.
    const layers = JSON.parse(docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', `kseed/registry:${tag}`])) as string[];
    expect(layers).toHaveLength(1);
    const out = docker(['run', '--rm', '--name', 'kseedtest-seedimg-offline', '--network', 'none', `kseed/registry:${tag}`, 'sh', '-c', 'docker-registry --version; ls /tmp']);
    expect(out).toMatch(/2\.8/);
    expect(out).not.toMatch(/debs/);

    // Same bundle, same base: nothing to do.
    const again = await buildSeedImages({ cacheDir: cache, services: ['registry'], offline: bundle, tag });
    expect(again.images[0]!.status).toBe('reused');
  }, 1_800_000);
});
