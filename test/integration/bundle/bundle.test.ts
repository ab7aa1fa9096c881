/**
 * `kseed bundle create|show|load` with the real dockerd and GNU tar: a small
 * bundle (a deploy-ramdisk cache and a tiny imported image) is written, read
 * by GNU tar, kept when nothing changed, and loaded, in a network namespace
 * with only a loopback, into a fresh state dir twice (the second changes
 * nothing), after which `images ramdisk` answers from it with no apt. A corrupt member, a truncated archive
 * and a bundle from a newer kseed (repacked by GNU tar) are refused with exit
 * code 2, naming the member or version, and install nothing: no cache files,
 * no staging left, no image in Docker. `--with kseed` carries kseed and
 * Node: unpacked by GNU tar, it runs with no network and nothing on PATH.
 * A seed image a bundle loaded is taken as built by the seed image builder
 * (no debootstrap, no apt), until its tag names another image.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, KSEED_BIN, REPO, runKseed, type CliRun } from '../../helpers/cli.js';
import { needDocker, needPeers, needRoot } from '../../helpers/peers.js';

const ok = needRoot() && needPeers('tar', 'docker', 'unshare', 'ip') && needDocker();

/**
 * kseed in a new network namespace of its own (unshare --net): only a
 * loopback, down; no route, no DNS. The docker CLI still reaches dockerd
 * through its unix socket, as on an air-gapped seed.
 */
function offline(args: string[], cwd: string, env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    // by its path: the test runs kseed with a PATH that has no tools at all
    const unshare = execFileSync('sh', ['-c', 'command -v unshare'], { encoding: 'utf8' }).trim();
    execFile(unshare, ['--net', process.execPath, KSEED_BIN, '--json', ...args], { cwd, env: { ...process.env, ...env }, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}
const TINY = `kseed-bundle-test/tiny:${process.pid}`;
const docker = (...a: string[]) => execFileSync('docker', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const imageId = (ref: string) => {
  try {
    return docker('image', 'inspect', '--format', '{{.Id}}', ref);
  } catch {
    return undefined;
  }
};

describe.skipIf(!ok)('kseed bundle (dockerd, GNU tar)', () => {
  let dir: string;
  let cache: string;
  let bundle: string;
  let tinyId: string;
  const files: Record<string, Buffer> = {
    vmlinuz: randomBytes(300_000),
    'initramfs.gz': randomBytes(700_000),
    stamp: Buffer.from(`${JSON.stringify({ inputs: 'test', kernelVersion: '6.1.0-test-amd64', modules: ['virtio_net'], absent: [], firmware: { files: [], missing: [], unavailable: [] }, packages: ['linux-image-6.1.0-test-amd64=1'] })}\n`),
  };
  const kseed = (args: string[], cwd = dir) => runKseed(['--json', ...args], { cwd, timeoutMs: 120_000 });
  const fresh = (name: string) => path.join(dir, name, 'kseed.yaml');
  /** Nothing of the bundle in a state dir or in Docker. */
  const nothingInstalled = (site: string) => {
    const c = path.join(path.dirname(site), '.kseed', 'cache');
    expect(existsSync(path.join(c, 'ramdisk'))).toBe(false);
    expect(existsSync(c) ? readdirSync(c) : []).toEqual([]);
    expect(imageId(TINY)).toBeUndefined();
  };

  beforeAll(() => {
    ensureBuilt();
    dir = mkdtempSync(path.join(os.tmpdir(), 'kst-bundle-'));
    cache = path.join(dir, 'cache');
    mkdirSync(path.join(cache, 'ramdisk'), { recursive: true });
    for (const [n, b] of Object.entries(files)) writeFileSync(path.join(cache, 'ramdisk', n), b);
    // a one-file image: docker import of a tar GNU tar made
    mkdirSync(path.join(dir, 'root'));
    writeFileSync(path.join(dir, 'root', 'hello'), 'air-gapped\n');
    execFileSync('sh', ['-c', `tar -C "${dir}/root" -c . | docker import - ${TINY}`], { stdio: 'pipe' });
    tinyId = imageId(TINY)!;
    bundle = path.join(dir, 'site.tar');
  });

  afterAll(() => {
    try {
      docker('rmi', '-f', TINY);
    } catch {
      // already gone
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('create writes a tar GNU tar reads, with a manifest of every member', async () => {
    const r = await kseed(['bundle', 'create', '--only', 'ramdisk', '--image', TINY, '--cache', cache, '--out', bundle]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.reused).toBe(false);
    expect(j.bytes).toBe(statSync(bundle).size);
    expect(j.members.map((m: { path: string; kind: string }) => [m.path, m.kind])).toEqual([
      ['cache/ramdisk/vmlinuz', 'ramdisk'],
      ['cache/ramdisk/initramfs.gz', 'ramdisk'],
      ['cache/ramdisk/stamp', 'ramdisk'],
      ['images/extra.docker.tar', 'docker-images'],
    ]);
    expect(j.members[3].images).toEqual([{ ref: TINY, id: tinyId }]);
    const listed = execFileSync('tar', ['-tf', bundle], { encoding: 'utf8' }).trim().split('\n');
    expect(listed).toEqual([...j.members.map((m: { path: string }) => m.path), 'manifest.json']);
    const out = path.join(dir, 'gnu-x');
    mkdirSync(out);
    execFileSync('tar', ['-xf', bundle, '-C', out]);
    for (const [n, b] of Object.entries(files)) expect(readFileSync(path.join(out, 'cache/ramdisk', n)).equals(b)).toBe(true);
    const manifest = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ format: 1, kseed: JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')).version });
    expect(execFileSync('sha256sum', [path.join(out, 'images/extra.docker.tar')], { encoding: 'utf8' }).split(' ')[0]).toBe(manifest.members[3].sha256);

    const again = await kseed(['bundle', 'create', '--only', 'ramdisk', '--image', TINY, '--cache', cache, '--out', bundle]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ reused: true, bytes: j.bytes });

    const show = await kseed(['bundle', 'show', bundle]);
    expect(show.code, show.stderr).toBe(0);
    expect(JSON.parse(show.stdout).members).toEqual(manifest.members);
  });

  it('refuses a corrupt member, a truncated archive and a newer kseed; nothing is installed', async () => {
    docker('rmi', '-f', TINY);
    const idx = JSON.parse((await kseed(['bundle', 'show', bundle])).stdout);
    const whole = readFileSync(bundle);
    // the image member comes last: the ramdisk files before it were checked and staged, and must not land
    const at = whole.indexOf(Buffer.from('air-gapped\n'));
    expect(at).toBeGreaterThan(0);
    const corrupt = Buffer.from(whole);
    corrupt[at] ^= 0x20;
    writeFileSync(path.join(dir, 'corrupt.tar'), corrupt);
    const c = await kseed(['--config', fresh('a'), 'bundle', 'load', path.join(dir, 'corrupt.tar')]);
    expect(c.code, c.stderr).toBe(2);
    expect(JSON.parse(c.stdout).message).toMatch(/corrupt\.tar: member images\/extra\.docker\.tar is corrupt \(sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}\); nothing was installed/);
    nothingInstalled(fresh('a'));

    copyFileSync(bundle, path.join(dir, 'cut.tar'));
    truncateSync(path.join(dir, 'cut.tar'), Math.floor(whole.length / 2));
    const t = await kseed(['--config', fresh('b'), 'bundle', 'load', path.join(dir, 'cut.tar')]);
    expect(t.code, t.stderr).toBe(2);
    expect(JSON.parse(t.stdout).message).toMatch(/cut\.tar: truncated in member /);
    nothingInstalled(fresh('b'));

    // a newer kseed's bundle, repacked by GNU tar with the manifest changed and every checksum still right
    const x = path.join(dir, 'newer-x');
    mkdirSync(x);
    execFileSync('tar', ['-xf', bundle, '-C', x]);
    writeFileSync(path.join(x, 'manifest.json'), JSON.stringify({ ...JSON.parse(readFileSync(path.join(x, 'manifest.json'), 'utf8')), kseed: '9.0.0' }));
    const names = [...idx.members.map((m: { path: string }) => m.path), 'manifest.json'];
    execFileSync('tar', ['-cf', path.join(dir, 'newer.tar'), '-C', x, '--no-recursion', ...names]);
    const n = await kseed(['--config', fresh('c'), 'bundle', 'load', path.join(dir, 'newer.tar')]);
    expect(n.code, n.stderr).toBe(2);
    expect(JSON.parse(n.stdout).message).toMatch(/newer\.tar: kseed: made by kseed 9\.0\.0, newer than this kseed .*load it with kseed 9\.0\.0 or newer/);
    nothingInstalled(fresh('c'));
  });

  it('load, with no network, installs the images and files into a fresh state dir; a second load changes nothing', async () => {
    expect(execFileSync('unshare', ['--net', 'ip', '-o', 'link'], { encoding: 'utf8' }).trim().split('\n').map((l) => l.split(/\s+/)[1])).toEqual(['lo:']);
    expect(execFileSync('unshare', ['--net', 'ip', 'route'], { encoding: 'utf8' }).trim()).toBe('');
    const site = fresh('good');
    const r = await offline(['--config', site, 'bundle', 'load', bundle], dir);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    const c = path.join(path.dirname(site), '.kseed', 'cache');
    expect(j.cacheDir).toBe(c);
    expect(j.images).toEqual([{ ref: TINY, id: tinyId, status: 'loaded' }]);
    expect(imageId(TINY)).toBe(tinyId);
    for (const [n, b] of Object.entries(files)) expect(readFileSync(path.join(c, 'ramdisk', n)).equals(b), n).toBe(true);
    expect(j.files.map((f: { status: string }) => f.status)).toEqual(['installed', 'installed', 'installed']);
    // beside the files, the record of the loaded image for the seed image builder
    expect(readdirSync(c).sort()).toEqual(['ramdisk', 'seed']);
    expect(JSON.parse(readFileSync(path.join(c, 'seed', 'bundled-images.json'), 'utf8'))).toEqual({ bundle: 'site.tar', images: { [TINY]: tinyId } });

    // the ramdisk builder takes the loaded files as built: no apt (nothing on PATH), no rebuild
    const empty = path.join(dir, 'empty-path');
    mkdirSync(empty, { recursive: true });
    const rd = await offline(['--config', site, 'images', 'ramdisk'], dir, { PATH: empty });
    expect(rd.code, rd.stderr).toBe(0);
    expect(JSON.parse(rd.stdout)).toMatchObject({ kernel: path.join(c, 'ramdisk/vmlinuz'), initramfs: path.join(c, 'ramdisk/initramfs.gz'), kernelVersion: '6.1.0-test-amd64', reused: true, initramfsBytes: files['initramfs.gz']!.length });

    const again = await offline(['--config', site, 'bundle', 'load', bundle], dir);
    expect(again.code, again.stderr).toBe(0);
    const k = JSON.parse(again.stdout);
    expect(k.images).toEqual([{ ref: TINY, id: tinyId, status: 'present' }]);
    expect(k.files.map((f: { status: string }) => f.status)).toEqual(['same', 'same', 'same']);
    expect(readdirSync(c).sort()).toEqual(['ramdisk', 'seed']);
    expect(readdirSync(path.join(c, 'seed'))).toEqual(['bundled-images.json']);
  });


  it('the seed image builder takes an image a bundle loaded as it is, with no network, debootstrap or apt; not once its tag names another image', async () => {
    const tag = `bt${process.pid}`;
    const ref = `kseed/registry:${tag}`;
    execFileSync('sh', ['-c', `tar -C "${dir}/root" -c . | docker import --change 'LABEL org.kseed.test=bundled' - ${ref}`], { stdio: 'pipe' });
    const id = imageId(ref)!;
    try {
      const sb = path.join(dir, 'seed.tar');
      const c = await kseed(['bundle', 'create', '--only', 'ramdisk', '--image', ref, '--cache', cache, '--out', sb]);
      expect(c.code, c.stderr).toBe(0);
      const site = fresh('ironic');
      const l = await offline(['--config', site, 'bundle', 'load', sb], dir);
      expect(l.code, l.stderr).toBe(0);
      const seedCache = path.join(path.dirname(site), '.kseed', 'cache');
      // PATH with docker alone: a build would need debootstrap and apt-get
      const bin = path.join(dir, 'docker-only');
      mkdirSync(bin);
      symlinkSync(execFileSync('sh', ['-c', 'command -v docker'], { encoding: 'utf8' }).trim(), path.join(bin, 'docker'));
      const build = () => {
        const js = `import { buildSeedImages } from ${JSON.stringify(path.join(REPO, 'dist/images/seed/build.js'))};
          const r = await buildSeedImages({ cacheDir: ${JSON.stringify(seedCache)}, services: ['registry'], tag: ${JSON.stringify(tag)} });
          console.log(JSON.stringify(r));`;
        return spawnSync('unshare', ['--net', 'env', '-i', `PATH=${bin}`, process.execPath, '--input-type=module', '-e', js], { encoding: 'utf8', timeout: 60_000 });
      };
      const r = build();
      expect(r.status, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.base.status).toBe('bundled');
      expect(j.images).toEqual([expect.objectContaining({ name: 'registry', tag: ref, id, status: 'reused' })]);

      // the tag now names an image the bundle did not load: it must be built, which needs debootstrap
      execFileSync('sh', ['-c', `tar -C "${dir}/root" -c . | docker import --change 'LABEL org.kseed.test=other' - ${ref}`], { stdio: 'pipe' });
      expect(imageId(ref)).not.toBe(id);
      const again = build();
      expect(again.status).not.toBe(0);
      expect(again.stderr).toMatch(/debootstrap not found/);
    } finally {
      docker('rmi', '-f', ref);
    }
  });
  it('--only kseed: kseed, its production dependencies and Node, which GNU tar unpacks and which run with no network and nothing on PATH', async () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
    const kb = path.join(dir, 'kseed.tar');
    const member = `cache/kseed/kseed-${pkg.version}.tar.gz`;
    const r = await kseed(['bundle', 'create', '--only', 'kseed', '--out', kb]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.members.map((m: { path: string; kind: string }) => [m.path, m.kind])).toEqual([[member, 'kseed']]);
    const again = await kseed(['bundle', 'create', '--only', 'kseed', '--out', kb]);
    expect(JSON.parse(again.stdout)).toMatchObject({ reused: true, bytes: j.bytes });

    // the air-gapped side: tar alone gets kseed out of the bundle
    const air = path.join(dir, 'air');
    mkdirSync(path.join(air, 'opt'), { recursive: true });
    execFileSync('tar', ['-xf', kb, '-C', air, member]);
    execFileSync('tar', ['-xzf', path.join(air, member), '-C', path.join(air, 'opt')]);
    const home = path.join(air, 'opt', `kseed-${pkg.version}`);
    expect(readdirSync(path.join(air, 'opt'))).toEqual([`kseed-${pkg.version}`]);
    for (const d of Object.keys(pkg.dependencies)) expect(existsSync(path.join(home, 'node_modules', d, 'package.json')), d).toBe(true);
    for (const d of Object.keys(pkg.devDependencies)) expect(existsSync(path.join(home, 'node_modules', d)), d).toBe(false);
    expect(existsSync(path.join(home, 'src'))).toBe(false);

    const bare = (args: string[]) => execFileSync('unshare', ['--net', 'env', '-i', path.join(home, 'bin', 'node'), ...args], { cwd: air, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(bare([path.join(home, 'bin', 'kseed.js'), '--version']).trim()).toBe(pkg.version);
    // `kseed` on PATH, its shebang's `env node` finding the carried Node
    expect(execFileSync('unshare', ['--net', 'env', '-i', `PATH=${path.join(home, 'bin')}`, 'kseed', '--version'], { cwd: air, encoding: 'utf8' }).trim()).toBe(pkg.version);
    // the native addons were carried built for this Node
    const native = `const D = require(${JSON.stringify(path.join(home, 'node_modules/better-sqlite3'))}); console.log(new D(':memory:').prepare('select 6*7 as x').get().x, typeof require(${JSON.stringify(path.join(home, 'node_modules/koffi'))}).load)`;
    expect(bare(['-e', native]).trim()).toBe('42 function');
    const site = fresh('unpacked');
    const load = JSON.parse(bare([path.join(home, 'bin', 'kseed.js'), '--json', '--config', site, 'bundle', 'load', kb]));
    expect(load.files).toEqual([{ path: path.join(path.dirname(site), '.kseed', 'cache', member.slice('cache/'.length)), status: 'installed' }]);
  }, 180_000);
});
