/**
 * What `kseed images build` says when it cannot work: no Docker engine, no
 * debootstrap, a package apt cannot install. Each is a KseedError with a
 * short message and the detail the user needs (the build log's tail).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSeedImages } from '../../../../src/images/seed/build.js';
import { IMAGE_TEMPLATES_DIR } from '../../../../src/images/seed/dockerfile.js';
import { KseedError } from '../../../../src/errors.js';
import { needDocker, needPeers } from '../../../helpers/peers.js';

const repo = fileURLToPath(new URL('../../../../', import.meta.url));
const tmp = mkdtempSync(path.join(tmpdir(), 'kseed-seederr-'));
const tag = `kseedtest-fail-${process.pid}`;
const ok = needDocker() && needPeers('debootstrap');

async function failure(p: Promise<unknown>): Promise<KseedError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KseedError);
    return err as KseedError;
  }
  throw new Error('expected a failure');
}

describe.skipIf(!ok)('images build failures', () => {
  afterAll(() => {
    try {
      execFileSync('docker', ['image', 'rm', '-f', `kseed/registry:${tag}`], { stdio: 'ignore' });
    } catch {
      // never built: good
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  it('no Docker engine: says so, before any work', async () => {
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = `unix://${tmp}/no-such-docker.sock`;
    try {
      const e = await failure(buildSeedImages({ cacheDir: path.join(tmp, 'c1') }));
      expect(e.message).toBe('no Docker engine reachable (`docker info` failed): start dockerd or check DOCKER_HOST');
      expect(e.code).toBe('no-docker');
      expect(e.detail).toMatch(/no-such-docker\.sock/);
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
  });

  it('debootstrap missing: names the tool (empty cache, so the base must be made)', async () => {
    const saved = process.env.PATH;
    // docker stays reachable (/usr/bin), debootstrap (/usr/sbin) does not.
    process.env.PATH = '/usr/bin:/bin';
    try {
      const e = await failure(buildSeedImages({ cacheDir: path.join(tmp, 'c2'), services: ['registry'], tag }));
      expect(e.message).toMatch(/^debootstrap not found/);
      expect(e.code).toBe('missing-tool');
    } finally {
      process.env.PATH = saved;
    }
  });

  it('apt failure inside the build: the E: line as message, the log tail as detail', async () => {
    // A template asking for a package apt cannot find; the base has no lists, so apt fails at once, offline.
    const dir = path.join(tmp, 'templates');
    cpSync(IMAGE_TEMPLATES_DIR, dir, { recursive: true });
    const f = path.join(dir, 'registry.Dockerfile.hbs');
    writeFileSync(f, readFileSync(f, 'utf8').replace('{{> install}}', 'RUN apt-get install -y kseed-no-such-package'));
    const e = await failure(buildSeedImages({ cacheDir: path.join(repo, 'cache'), services: ['registry'], tag, templatesDir: dir }));
    expect(e.message).toBe(`building kseed/registry:${tag} failed: E: Unable to locate package kseed-no-such-package`);
    expect(e.code).toBe('build-failed');
    expect(e.detail).toMatch(/full log: .*registry-kseedtest-fail-\d+\.log/);
    expect(e.detail).toMatch(/returned a non-zero code: 100/);
    expect(() => execFileSync('docker', ['image', 'inspect', `kseed/registry:${tag}`], { stdio: 'ignore' })).toThrow();
  }, 600_000);
});
