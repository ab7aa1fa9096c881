/**
 * The Compose driver against the real dockerd and Compose (v1 here, v2 where
 * installed): up, health wait, ps, logs, failing services, down.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComposeDriver, ensureImages, upStack, type ComposeProject } from '../../../src/compose/index.js';
import { KseedError } from '../../../src/errors.js';
import { needDocker, needPeers } from '../../helpers/peers.js';
import { buildBusyboxImage, forceRemoveProject, projectLeftovers, removeImage } from './fixture.js';

const ok = needDocker() && needPeers('/bin/busybox', 'tar');
const id = `${process.pid}${Date.now().toString(36)}`;
const IMAGE = `kseedtest/busybox:${id}`;
const PROJECT = `kseedtest-drv${id}`;

function composeFile(image: string, webHash = 'aaaa'): string {
  return `services:
  web:
    image: "${image}"
    labels:
      io.kseed.config-hash: "${webHash}"
    command: ["/bin/sh", "-c", "echo web starting; echo hello-kseed > /www/index.html; exec httpd -f -p 127.0.0.1:8080 -h /www"]
    volumes:
      - data:/data
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 1s
      timeout: 2s
      retries: 20
  plain:
    image: "${image}"
    command: ["/bin/sh", "-c", "echo plain up; exec sleep 3600"]
  bad:
    image: "${image}"
    command: ["/bin/sh", "-c", "echo 'bad: cannot open /etc/kseed/missing.conf' >&2; exit 3"]
  sick:
    image: "${image}"
    command: ["/bin/sh", "-c", "exec sleep 3600"]
    healthcheck:
      test: ["CMD", "sh", "-c", "echo probe-says-no; exit 1"]
      interval: 1s
      timeout: 2s
      retries: 2
volumes:
  data: {}
`;
}

describe.skipIf(!ok)('ComposeDriver against dockerd', () => {
  let dir: string;
  let driver: ComposeDriver;
  let project: ComposeProject;

  beforeAll(async () => {
    buildBusyboxImage(IMAGE);
    dir = mkdtempSync(path.join(os.tmpdir(), 'kseedtest-compose-'));
    writeFileSync(path.join(dir, 'docker-compose.yml'), composeFile(IMAGE));
    project = { name: PROJECT, file: path.join(dir, 'docker-compose.yml'), dir };
    driver = await ComposeDriver.detect();
  });

  afterAll(async () => {
    try {
      await driver?.down(project, { volumes: true });
    } catch {
      forceRemoveProject(PROJECT);
    }
    removeImage(IMAGE);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('detects a Compose flavour and its version', () => {
    expect(['v1', 'v2']).toContain(driver.flavor);
    expect(driver.version).toMatch(/^v?\d+\.\d+/);
  });

  it('validates the project with compose config', async () => {
    await expect(driver.validate(project)).resolves.toBeUndefined();
  });

  it('brings services up and waits until healthy', async () => {
    await driver.up(project, ['web', 'plain']);
    const statuses = await driver.waitHealthy(project, ['web', 'plain'], { timeoutMs: 60_000, pollMs: 500 });
    const web = statuses.find((s) => s.service === 'web');
    const plain = statuses.find((s) => s.service === 'plain');
    expect(web).toMatchObject({ state: 'running', health: 'healthy', image: IMAGE });
    // No healthcheck: running is as ready as it gets.
    expect(plain).toMatchObject({ state: 'running', health: 'none' });
  });

  it('lists the project containers with ps', async () => {
    const ps = await driver.ps(project);
    expect(ps.map((s) => s.service).sort()).toEqual(['plain', 'web']);
    for (const s of ps) expect(s.container).toContain(PROJECT);
  });

  it('returns the logs of one service', async () => {
    const logs = await driver.logs(project, { services: ['web'], tail: 50 });
    expect(logs).toContain('web starting');
    expect(logs).not.toContain('plain up');
  });

  it('reports a service that exits, with its exit code and its stderr', async () => {
    await driver.up(project, ['bad']);
    const err = await driver.waitHealthy(project, ['bad'], { timeoutMs: 60_000, pollMs: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KseedError);
    const e = err as KseedError;
    expect(e.message).toMatch(/^service bad exited with code 3/);
    expect(e.detail).toContain('cannot open /etc/kseed/missing.conf');
  });

  it('reports a service whose healthcheck fails, with the probe output', async () => {
    await driver.up(project, ['sick']);
    const err = await driver.waitHealthy(project, ['sick'], { timeoutMs: 60_000, pollMs: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KseedError);
    expect((err as KseedError).message).toMatch(/^service sick is unhealthy/);
    expect((err as KseedError).detail).toContain('probe-says-no');
  });

  it('times out naming the services still starting', async () => {
    const err = await driver.waitHealthy(project, ['web', 'ghost'], { timeoutMs: 1_500, pollMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KseedError);
    expect((err as KseedError).message).toMatch(/not healthy after 2 s: ghost \(no container\)/);
  });

  it('turns a failing compose command into a short error with stderr in detail', async () => {
    const broken = path.join(dir, 'broken.yml');
    // Rejected while loading the file, before any container or pull is attempted.
    writeFileSync(broken, `services:\n  x:\n    image: "${IMAGE}"\n    not_a_compose_key: 1\n`);
    const err = await driver.up({ ...project, file: broken }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KseedError);
    const e = err as KseedError;
    expect(e.message).toMatch(new RegExp(`^compose up failed for project ${PROJECT}: `));
    expect(e.message.split('\n')).toHaveLength(1);
    expect(e.detail).toContain(broken);
    expect(e.detail).toContain('not_a_compose_key');
  });

  it('refuses to start a stack whose image is missing, naming the build command', async () => {
    const ref = {
      project: PROJECT,
      composeFile: project.file,
      images: { web: IMAGE, ironic: `kseedtest/absent:${id}` },
      services: ['web'],
    };
    await expect(driver.missingImages([IMAGE, `kseedtest/absent:${id}`])).resolves.toEqual([`kseedtest/absent:${id}`]);
    await expect(ensureImages(driver, ref)).rejects.toThrow(`image not found: kseedtest/absent:${id} — build it with: kseed images build`);
    await expect(upStack(driver, ref)).rejects.toThrow(/^image not found/);
  });

  it('recreates a service whose config-hash label changed, and only that one', async () => {
    const ids = async () => Object.fromEntries((await driver.ps(project)).map((s) => [s.service, s.container + (s.state === 'running' ? '' : '!')]));
    const id = (svc: string) =>
      execFileSync('docker', ['ps', '-q', '--no-trunc', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', `label=com.docker.compose.service=${svc}`], { encoding: 'utf8' }).trim();
    expect(Object.keys(await ids())).toContain('web');
    const webBefore = id('web');
    const plainBefore = id('plain');
    writeFileSync(project.file, composeFile(IMAGE, 'bbbb'));
    await driver.up(project, ['web', 'plain']);
    await driver.waitHealthy(project, ['web', 'plain'], { timeoutMs: 60_000, pollMs: 500 });
    expect(id('web')).not.toBe(webBefore);
    expect(id('plain')).toBe(plainBefore);
  });

  it('takes the project down and removes its volumes with --volumes', async () => {
    expect(projectLeftovers(PROJECT).volumes.length).toBe(1);
    await driver.down(project, { volumes: true });
    expect(projectLeftovers(PROJECT)).toEqual({ containers: [], volumes: [] });
    await expect(driver.ps(project)).resolves.toEqual([]);
  });
});

describe.skipIf(!ok)('ComposeDriver.detect failures', () => {
  it('says when the docker CLI is missing', async () => {
    await expect(ComposeDriver.detect({ docker: '/nonexistent/docker' })).rejects.toThrow(/^docker CLI not found/);
  });

  it('says when no engine answers', async () => {
    const err = await ComposeDriver.detect({ env: { DOCKER_HOST: 'unix:///nonexistent/kseedtest.sock' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KseedError);
    expect((err as KseedError).message).toMatch(/^no Docker engine reachable/);
    expect((err as KseedError).detail).toContain('kseedtest.sock');
  });

  it('says when neither docker compose nor docker-compose exists', async () => {
    const err = await ComposeDriver.detect({ prefer: 'v1', composeV1: '/nonexistent/docker-compose' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KseedError);
    expect((err as KseedError).message).toMatch(/^Docker Compose not found/);
    expect((err as KseedError).detail).toContain('/nonexistent/docker-compose: not found');
  });
});

/*
 * Compose v2 is not packaged in Debian 12. The v2 code path (`docker compose
 * -p P -f F <command>`, flags after the plugin name) is exercised through a
 * `docker` shim that hands `compose ...` to docker-compose and everything
 * else to the real docker CLI: it proves the argv kseed builds, not v2 itself.
 */
describe.skipIf(!ok)('ComposeDriver v2 invocation (docker compose via a shim)', () => {
  const V2_PROJECT = `kseedtest-v2${id}`;
  const V2_IMAGE = `kseedtest/busybox:v2${id}`;
  let dir: string;
  let driver: ComposeDriver;
  let project: ComposeProject;

  beforeAll(async () => {
    buildBusyboxImage(V2_IMAGE);
    dir = mkdtempSync(path.join(os.tmpdir(), 'kseedtest-v2-'));
    const realDocker = execFileSync('sh', ['-c', 'command -v docker'], { encoding: 'utf8' }).trim();
    const shim = path.join(dir, 'docker');
    writeFileSync(shim, `#!/bin/sh\nif [ "$1" = compose ]; then shift; echo "$*" >> "${dir}/argv.log"; exec docker-compose "$@"; fi\nexec "${realDocker}" "$@"\n`, { mode: 0o755 });
    writeFileSync(path.join(dir, 'docker-compose.yml'), composeFile(V2_IMAGE));
    project = { name: V2_PROJECT, file: path.join(dir, 'docker-compose.yml'), dir };
    driver = await ComposeDriver.detect({ docker: shim });
  });

  afterAll(async () => {
    try {
      await driver?.down(project, { volumes: true });
    } catch {
      forceRemoveProject(V2_PROJECT);
    }
    removeImage(V2_IMAGE);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('prefers `docker compose` when it answers', () => {
    expect(driver.flavor).toBe('v2');
  });

  it('runs up, health wait, logs and down with the v2 argv layout', async () => {
    await driver.up(project, ['web']);
    const [web] = await driver.waitHealthy(project, ['web'], { timeoutMs: 60_000, pollMs: 500 });
    expect(web).toMatchObject({ service: 'web', health: 'healthy' });
    expect(await driver.logs(project, { services: ['web'], tail: 10 })).toContain('web starting');
    await driver.down(project, { volumes: true });
    expect(projectLeftovers(V2_PROJECT)).toEqual({ containers: [], volumes: [] });
    const argv = readFileSync(path.join(dir, 'argv.log'), 'utf8').split('\n');
    expect(argv).toContain(`-p ${V2_PROJECT} -f ${project.file} up -d --remove-orphans web`);
    expect(argv).toContain(`-p ${V2_PROJECT} -f ${project.file} down --remove-orphans --volumes`);
  });
});
