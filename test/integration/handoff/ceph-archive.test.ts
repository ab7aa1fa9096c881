/**
 * The Ceph image's default way to the nodes, against real peers: kseed's own
 * boot HTTP server serves the `docker save` archive `ensureCephArchive`
 * wrote, and the hand-off's load script runs under sh with python3 and this
 * machine's dockerd standing in for a node's (the same script the node gets
 * over SSH). A tiny image made with `docker import` stands in for the 587 MB
 * Ceph image: what is checked is the transport, the checksum and the
 * idempotence, none of which depends on the size. HTTP on 127.0.0.1 (free port).
 */
import { createHash, randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, closeSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpBootServer, MemoryBootBackend, type HttpEvent } from '../../../src/boot/http/index.js';
import { preflight, runCeph, type CephPlan } from '../../../src/handoff/ceph-run.js';
import { loadImageScript } from '../../../src/handoff/ceph-scripts.js';
import { ensureCephArchive, findCephArchive, type CephArchive } from '../../../src/images/ceph/archive.js';
import { needDocker, needPeers, needRoot } from '../../helpers/peers.js';

const IMAGE = 'kseed-test/ceph-archive:1';
/** the name cephadm runs on the node: the seed registry's (never contacted here) */
const REF = '127.0.0.1:5999/kseed-test/ceph-archive:1';

const ok = needRoot() && needDocker() && needPeers('python3', 'tar');

describe.skipIf(!ok)("the Ceph image as the seed's uncompressed archive, loaded by the node", () => {
  let dir = '';
  let art = '';
  let id = '';
  let archive: CephArchive;
  let server: HttpBootServer;
  let url = '';
  const log: HttpEvent[] = [];
  const docker = (...args: string[]) => spawnSync('docker', args, { encoding: 'utf8' });
  const idOf = (ref: string) => {
    const r = docker('image', 'inspect', '--format', '{{.Id}}', ref);
    return r.status === 0 ? r.stdout.trim() : undefined;
  };
  const removeImage = () => {
    for (const ref of [REF, IMAGE]) docker('rmi', ref);
    if (id) docker('rmi', id);
  };
  /** The script as the node runs it; asynchronous, as the seed's HTTP server answers from this process. */
  const node = (script: string) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('sh', ['-s'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
      child.stdin.end(script);
    });
  const leftovers = () => readdirSync('/var/tmp').filter((f) => f.startsWith('kseed-ceph-image.'));

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kseed-ceph-archive-'));
    art = path.join(dir, 'artifacts');
    mkdirSync(art);
    removeImage();
    // a root with random content: an image id no other run has
    const root = path.join(dir, 'root');
    mkdirSync(path.join(root, 'etc'), { recursive: true });
    writeFileSync(path.join(root, 'etc', 'payload'), randomBytes(3 << 20));
    const tar = spawnSync('tar', ['-C', root, '-cf', '-', '.'], { maxBuffer: 64 << 20 });
    const imp = spawnSync('docker', ['import', '-c', 'LABEL ceph=True', '-', IMAGE], { input: tar.stdout, encoding: 'utf8' });
    expect(imp.status, imp.stderr).toBe(0);
    id = idOf(IMAGE)!;
    server = new HttpBootServer({ backend: new MemoryBootBackend([]), artifactsDir: art, publicUrl: 'http://127.0.0.1', ramdisk: { kernel: 'vmlinuz', initrd: 'initramfs.gz' }, address: '127.0.0.1', port: 0, log: (e) => log.push(e) });
    url = (await server.listen()).url;
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    removeImage();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('kseed writes the docker save archive with its sha256 and image id, keeps it while the image is the same, and drops older Ceph archives', async () => {
    // what an older Ceph build and a killed write left
    for (const f of ['kseed-ceph_16.2.14.tar', 'kseed-ceph_16.2.14.tar.json', 'kseed-ceph_16.2.15.tar.4242.tmp']) writeFileSync(path.join(art, f), 'old');
    const a = await ensureCephArchive({ image: IMAGE, id, artifactsDir: art });
    expect(a.status).toBe('written');
    archive = a;
    expect(a).toMatchObject({ name: 'kseed-test-ceph-archive_1.tar', image: IMAGE, id, size: statSync(a.file).size });
    expect(a.sha256).toBe(createHash('sha256').update(readFileSync(a.file)).digest('hex'));
    // a docker save archive: its manifest names the image
    const manifest = spawnSync('tar', ['-xOf', a.file, 'manifest.json'], { encoding: 'utf8' });
    expect(JSON.parse(manifest.stdout)).toEqual([expect.objectContaining({ RepoTags: [IMAGE] })]);
    expect(findCephArchive(art, IMAGE)).toEqual({ name: a.name, file: a.file, image: IMAGE, id, sha256: a.sha256, size: a.size });
    expect(readdirSync(art).sort()).toEqual([a.name, `${a.name}.json`]);

    const mtime = statSync(a.file).mtimeMs;
    const again = await ensureCephArchive({ image: IMAGE, id, artifactsDir: art });
    expect(again).toMatchObject({ status: 'reused', sha256: a.sha256, size: a.size });
    expect(statSync(a.file).mtimeMs).toBe(mtime);
    // another image id (a rebuild) is written again
    const other = await ensureCephArchive({ image: IMAGE, id: `sha256:${'0'.repeat(64)}`, artifactsDir: art });
    expect(other.status).toBe('written');
    await ensureCephArchive({ image: IMAGE, id, artifactsDir: art });
  });

  it('the hand-off preflight names `kseed images ceph` when neither the archive nor the image is on the seed, and makes the archive from the image otherwise', async () => {
    const arts = path.join(dir, 'preflight');
    mkdirSync(arts);
    writeFileSync(path.join(arts, 'cephadm_16.2.15+ds-0+deb12u2_amd64.deb'), 'x');
    const plan = (localImage: string): CephPlan => ({
      site: 't',
      image: `127.0.0.1:5999/${localImage}`,
      localImage,
      delivery: 'archive',
      hosts: [],
      osds: [],
      bootstrapHost: 'n1',
      bootstrapArgv: [],
      remoteDir: '/root/kseed-ceph',
      // no registry password: the archive delivery needs none
      registry: { address: '127.0.0.1:5999', username: 'kseed' },
      httpUrl: url,
      artifactsDir: arts,
      login: { user: 'root', keyFile: '/nonexistent', knownHosts: '/nonexistent' },
    });
    await expect(preflight(plan('kseed-test/no-such-image:16.2.15'))).rejects.toThrow(/serves no archive of kseed-test\/no-such-image:16\.2\.15 .*no such image: build it with `kseed images ceph`.*nothing was started on the nodes/);
    const r = await preflight(plan(IMAGE));
    expect(r.archive).toMatchObject({ image: IMAGE, id, sha256: archive.sha256, file: path.join(arts, archive.name) });

    // past the preflight, each host's first step is loading the image; an unreachable one
    // (nothing listens on 127.0.0.77/78:22) fails alone with its reason, and the run stops
    // before bootstrap because the first monitor is one of them
    const data = new Map<string, unknown>();
    const kv = { get: <T,>(k: string) => data.get(k) as T | undefined, update: <T,>(k: string, fn: (o: T | undefined) => T) => { const v = fn(data.get(k) as T | undefined); data.set(k, v); return v; } };
    const p = { ...plan(IMAGE), hosts: [{ name: 'n1', addr: '127.0.0.77', labels: ['mon', 'mgr', '_admin'] }, { name: 'n2', addr: '127.0.0.78', labels: ['osd'] }], login: { user: 'root', keyFile: '/nonexistent', knownHosts: path.join(dir, 'kh') } };
    const rep = await runCeph(kv, p);
    expect(rep.ok).toBe(false);
    expect(rep.failed_hosts).toEqual([
      { host: 'n1', step: 'load-image', reason: expect.stringMatching(/^unreachable over SSH: .*127\.0\.0\.77.*Connection refused/) },
      { host: 'n2', step: 'load-image', reason: expect.stringMatching(/^unreachable over SSH: .*127\.0\.0\.78.*Connection refused/) },
    ]);
    expect(rep.steps.map((x) => `${x.name}@${x.host}:${x.status}`)).toEqual(['load-image@n1:failed', 'load-image@n2:failed']);
  }, 120_000);

  it('a node without the image fetches it from the seed, checks the sha256, loads it and tags it with the name cephadm runs; a second run loads nothing', async () => {
    removeImage();
    expect(idOf(id)).toBeUndefined();
    const script = loadImageScript({ url: `${url}/artifacts/${archive.name}`, sha256: archive.sha256, id, ref: REF });
    const before = leftovers().length;
    const r = await node(script);
    expect(r.status, `${r.stderr}\n${r.stdout}`).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^fetched ${archive.size} bytes in [\\d.]+ s, sha256 as recorded$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^${REF.replace(/[./]/g, '\\$&')} loaded in \\d+ s \\(${id}\\)$`, 'm'));
    expect(idOf(REF)).toBe(id);
    expect(log.filter((e) => e.path === `/artifacts/${archive.name}` && e.status === 200)).toHaveLength(1);
    expect(leftovers().length).toBe(before);

    // loaded under another name only (the tag removed): found by its id, tagged, nothing fetched
    docker('rmi', REF);
    const again = await node(script);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe(`${REF} already loaded (${id})`);
    expect(idOf(REF)).toBe(id);
    expect(log.filter((e) => e.path === `/artifacts/${archive.name}`)).toHaveLength(1);
  });

  it('refuses a corrupt archive before loading anything, and leaves nothing behind', async () => {
    removeImage();
    const bad = 'corrupt.tar';
    copyFileSync(archive.file, path.join(art, bad));
    // one byte in the middle: inside the layer, where docker load alone would not look before unpacking
    const fd = openSync(path.join(art, bad), 'r+');
    const at = Math.floor(archive.size / 2);
    const byte = readFileSync(path.join(art, bad)).subarray(at, at + 1)[0]!;
    writeSync(fd, Buffer.from([byte ^ 0xff]), 0, 1, at);
    closeSync(fd);
    const before = leftovers().length;
    const r = await node(loadImageScript({ url: `${url}/artifacts/${bad}`, sha256: archive.sha256, id, ref: REF }));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`/artifacts/corrupt\\.tar: sha256 [0-9a-f]{64} over ${archive.size} bytes, the seed recorded ${archive.sha256}: corrupt or not the archive the seed made; nothing loaded`));
    expect(r.stdout).not.toMatch(/loaded/);
    expect(idOf(id)).toBeUndefined();
    expect(idOf(REF)).toBeUndefined();
    expect(leftovers().length).toBe(before);
    // and a truncated one (a seed that died mid-write, a cut connection) the same way
    writeFileSync(path.join(art, 'short.tar'), readFileSync(archive.file).subarray(0, 4096));
    const short = await node(loadImageScript({ url: `${url}/artifacts/short.tar`, sha256: archive.sha256, id, ref: REF }));
    expect(short.status).toBe(1);
    expect(short.stderr).toMatch(/sha256 [0-9a-f]{64} over 4096 bytes, the seed recorded/);
    expect(idOf(id)).toBeUndefined();
    expect(existsSync(path.join(art, archive.name))).toBe(true);
  });
});
