/**
 * `kseed mirror sync` into a real registry (Debian docker-registry, the
 * distribution server the seed stack runs) on 127.0.0.1 with htpasswd auth,
 * from an OCI layout the test builds itself; then pulled by skopeo and docker.
 * Port 21501 (loopback only).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState, type StateStore } from '../../../src/engine/state.js';
import { mirroredImage } from '../../../src/handoff/ceph.js';
import { MIRROR_KEY, ociRefs, readImageList, syncImages } from '../../../src/handoff/mirror.js';
import { InputError } from '../../../src/errors.js';
import { needDocker, needPeers } from '../../helpers/peers.js';

const PORT = 21501;
const REG = `127.0.0.1:${PORT}`;
const USER = 'kseed';
const PASS = 'mirror-Test-Pw-42';
const REF = 'quay.io/kseedtest/tiny:1';
const REF2 = 'quay.io/kseedtest/other:2';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A one-layer OCI image layout holding two tagged images, built from scratch. */
function buildLayout(dir: string): void {
  const blobs = path.join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => {
    const d = sha(b);
    writeFileSync(path.join(blobs, d), b);
    return { digest: `sha256:${d}`, size: b.length };
  };
  const src = path.join(dir, '..', 'layer-src');
  mkdirSync(src, { recursive: true });
  writeFileSync(path.join(src, 'hello.txt'), 'hello from the kseed mirror test\n');
  const tar = execFileSync('tar', ['-C', src, '--owner=0', '--group=0', '--mtime=@0', '-cf', '-', 'hello.txt']);
  const gz = execFileSync('gzip', ['-n', '-c'], { input: tar });
  const layer = put(gz);
  const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/hello.txt'] }, rootfs: { type: 'layers', diff_ids: [`sha256:${sha(tar)}`] } })));
  const manifest = put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
      }),
    ),
  );
  const entry = (name: string) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': name } });
  writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [entry(REF), entry(REF2)] }));
}

const ok = needPeers('docker-registry', 'skopeo', 'tar', 'gzip');

describe.skipIf(!ok)('kseed mirror sync into a real registry', () => {
  let dir: string;
  let layout: string;
  let registry: ChildProcess | undefined;
  let state: StateStore;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kseed-mirror-'));
    layout = path.join(dir, 'layout');
    buildLayout(layout);
    writeFileSync(path.join(dir, 'htpasswd'), `${USER}:${bcrypt.hashSync(PASS, 10)}\n`);
    writeFileSync(
      path.join(dir, 'config.yml'),
      `version: 0.1\nlog: { level: warn }\nstorage: { filesystem: { rootdirectory: ${path.join(dir, 'data')} } }\nhttp: { addr: "${REG}" }\nauth: { htpasswd: { realm: kseed, path: ${path.join(dir, 'htpasswd')} } }\n`,
    );
    registry = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const r = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${REG}/v2/`]);
      if (r.stdout?.toString() === '401') break;
      await new Promise((res) => setTimeout(res, 100));
    }
    state = openState(path.join(dir, '.kseed'));
  });

  afterAll(async () => {
    state?.close();
    if (registry && registry.exitCode === null) {
      const gone = new Promise((res) => registry!.once('exit', res));
      registry.kill('SIGTERM');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('copies the images under the seed with their upstream path, and resumes without copying again', async () => {
    expect(await ociRefs(layout)).toEqual([REF, REF2]);
    const progress: string[] = [];
    const first = await syncImages(state, [REF, REF2], { registry: REG, username: USER, password: PASS, source: { kind: 'oci', dir: layout }, insecure: true, onProgress: (_r, l) => progress.push(l) });
    expect(first.map((i) => [i.ref, i.dest, i.status])).toEqual([
      [REF, `${REG}/kseedtest/tiny:1`, 'copied'],
      [REF2, `${REG}/kseedtest/other:2`, 'copied'],
    ]);
    expect(progress.join('\n')).toMatch(/Copying blob|Writing manifest/);
    const manifestDigest = `sha256:${sha(readFileSync(path.join(layout, 'blobs', 'sha256', JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')).manifests[0].digest.slice(7))))}`;
    expect(first[0]!.digest).toBe(manifestDigest);
    // the registry serves it, to credentials only
    const inspect = spawnSync('skopeo', ['inspect', '--tls-verify=false', '--creds', `${USER}:${PASS}`, `docker://${REG}/kseedtest/tiny:1`], { encoding: 'utf8' });
    expect(inspect.status, inspect.stderr).toBe(0);
    expect(JSON.parse(inspect.stdout)).toMatchObject({ Digest: manifestDigest, Architecture: 'amd64' });
    const anon = spawnSync('skopeo', ['inspect', '--tls-verify=false', '--no-creds', `docker://${REG}/kseedtest/tiny:1`], { encoding: 'utf8' });
    expect(anon.status).not.toBe(0);
    expect(anon.stderr).toMatch(/unauthorized|authentication required/i);

    const again = await syncImages(state, [REF, REF2], { registry: REG, username: USER, password: PASS, source: { kind: 'oci', dir: layout }, insecure: true });
    expect(again.map((i) => i.status)).toEqual(['done before', 'done before']);
    expect(state.get<Record<string, { digest: string }>>(MIRROR_KEY)?.[REF]?.digest).toBe(manifestDigest);
  });

  it('reports an image the source lacks as failed and still copies the rest', async () => {
    const r = await syncImages(state, ['quay.io/kseedtest/missing:9', REF], { registry: REG, username: USER, password: PASS, source: { kind: 'oci', dir: layout }, insecure: true, force: true });
    expect(r.map((i) => i.status)).toEqual(['failed', 'copied']);
    expect(r[0]!.error).toBeTruthy();
  });

  it('fails cleanly with wrong credentials', async () => {
    const r = await syncImages(state, [REF2], { registry: REG, username: USER, password: 'wrong', source: { kind: 'oci', dir: layout }, insecure: true, force: true });
    expect(r[0]).toMatchObject({ status: 'failed' });
    expect(r[0]!.error).toMatch(/unauthorized|authentication required/i);
  });

  it.skipIf(!needDocker())('serves the mirrored image to an authenticated docker pull', () => {
    const cfg = mkdtempSync(path.join(tmpdir(), 'kseed-dockercfg-'));
    const env = { ...process.env, DOCKER_CONFIG: cfg };
    const image = `${REG}/kseedtest/tiny:1`;
    const login = spawnSync('docker', ['login', '--username', USER, '--password-stdin', REG], { input: PASS, encoding: 'utf8', env });
    expect(login.status, login.stderr).toBe(0);
    try {
      const pull = spawnSync('docker', ['pull', image], { encoding: 'utf8', env, timeout: 120_000 });
      expect(pull.status, pull.stderr).toBe(0);
      const id = spawnSync('docker', ['image', 'inspect', '--format', '{{.Architecture}} {{json .Config.Cmd}}', image], { encoding: 'utf8', env });
      expect(id.stdout.trim()).toBe('amd64 ["/hello.txt"]');
    } finally {
      spawnSync('docker', ['rmi', '-f', image], { env });
    }
  });
});

describe('image lists and names', () => {
  it('reads a list with comments and refuses bad lines with their line number', async () => {
    const d = mkdtempSync(path.join(tmpdir(), 'kseed-list-'));
    writeFileSync(path.join(d, 'ok.txt'), `# Kolla 2024.1\n${REF}  # tiny\n\nquay.io/ceph/ceph:v18\n`);
    expect(await readImageList(path.join(d, 'ok.txt'))).toEqual([REF, 'quay.io/ceph/ceph:v18']);
    writeFileSync(path.join(d, 'bad.txt'), `${REF}\nnot an image\n`);
    const err = await readImageList(path.join(d, 'bad.txt')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).problems).toEqual([{ file: path.join(d, 'bad.txt'), line: 2, col: 1, message: '"not an image" is not an image reference' }]);
  });

  it('keeps the upstream path under the seed registry', () => {
    expect(mirroredImage('quay.io/openstack.kolla/nova-api:2024.1-debian-bookworm', '10.0.0.1:5000')).toBe('10.0.0.1:5000/openstack.kolla/nova-api:2024.1-debian-bookworm');
    expect(mirroredImage('ceph/ceph:v18', '10.0.0.1:5000')).toBe('10.0.0.1:5000/ceph/ceph:v18');
    expect(mirroredImage('busybox', '10.0.0.1:5000')).toBe('10.0.0.1:5000/library/busybox');
    expect(mirroredImage('localhost:5000/a/b:1', 's:1')).toBe('s:1/a/b:1');
  });
});
