/**
 * The real seed stack against the real engine, before its images exist:
 * Compose accepts the project, and `up` stops at the image check with the
 * build hint instead of letting Compose try a registry pull.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComposeDriver, projectOf, upStack } from '../../../src/compose/index.js';
import { KseedError } from '../../../src/errors.js';
import { renderStack, type RenderResult } from '../../../src/render/index.js';
import { needDocker } from '../../helpers/peers.js';
import { labSite } from '../../fixtures/compose/sites.js';
import { projectLeftovers } from './fixture.js';

const ok = needDocker();

describe.skipIf(!ok)('seed stack without its images', () => {
  let dir: string;
  let r: RenderResult;
  let driver: ComposeDriver;
  // A tag no `kseed images build` ever produces, so the test holds even where images were built.
  const tag = `kseedtest-${process.pid}`;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kseedtest-seed-'));
    r = await renderStack(labSite(dir, { site: `kseedtest-seed${process.pid}` }), { imageTag: tag });
    driver = await ComposeDriver.detect();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is accepted by compose config', async () => {
    expect(r.project).toBe(`kseed-kseedtest-seed${process.pid}`);
    await expect(driver.validate(projectOf(r))).resolves.toBeUndefined();
  });

  it('up fails with image not found and the build command, starting nothing', async () => {
    const err = await upStack(driver, r).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KseedError);
    const e = err as KseedError;
    expect(e.code).toBe('image-not-found');
    expect(e.message).toBe(
      `image not found: kseed/dnsmasq:${tag}, kseed/http:${tag}, kseed/ironic:${tag}, kseed/registry:${tag} — build them with: kseed images build`,
    );
    expect(projectLeftovers(r.project)).toEqual({ containers: [], volumes: [] });
  });
});
