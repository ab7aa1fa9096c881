/**
 * The Ceph image `kseed images ceph` builds from Debian's packages, against
 * real peers: Debian's cephadm (the release check it does), the mgr module's
 * own remotes.py driven through kseed's remoto stand-in over real execnet and
 * OpenSSH (sshd on 127.0.0.1:21503), and a real registry (Debian
 * docker-registry on 127.0.0.1:21502, htpasswd auth) that the hand-off's
 * preflight asks and `syncImages` loads from the local Docker engine.
 * Builds the image when it is missing (about 2 min; reused otherwise).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../../src/engine/state.js';
import { CEPH_RUN_KEY, preflight, runCeph, type CephPlan, type CephRunRecord } from '../../../src/handoff/ceph-run.js';
import { syncImages } from '../../../src/handoff/mirror.js';
import { buildCephImage, type CephImageResult } from '../../../src/images/ceph/build.js';
import { needDocker, needPeers, needRoot } from '../../helpers/peers.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');
const REG_PORT = 21502;
const SSH_PORT = 21503;
const REG = `127.0.0.1:${REG_PORT}`;
const USER = 'kseed';
const PASS = 'ceph-Image-Test-Pw-7';

const ok = needRoot() && needDocker() && needPeers('docker-registry', 'skopeo', 'cephadm', '/usr/sbin/sshd', 'ssh-keygen');

describe.skipIf(!ok)('the Ceph image from Debian packages', () => {
  let dir: string;
  let img: CephImageResult;
  let registry: ChildProcess | undefined;
  let sshd: ChildProcess | undefined;
  const dockerRun = (args: string[]) => execFileSync('docker', ['run', '--rm', '--network', 'none', ...args], { encoding: 'utf8' }).trim();

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kseed-cephimg-'));
    img = await buildCephImage({ cacheDir: path.join(ROOT, 'cache'), artifactsDir: path.join(dir, 'artifacts'), onProgress: (l) => console.log(l) });
    console.log(`ceph image: ${img.image} (${img.version}) ${(img.size / 1e6).toFixed(0)} MB, ${img.status} in ${img.seconds.toFixed(1)} s`);
    writeFileSync(path.join(dir, 'htpasswd'), `${USER}:${bcrypt.hashSync(PASS, 10)}\n`);
    writeFileSync(path.join(dir, 'config.yml'), `version: 0.1\nlog: { level: warn }\nstorage: { filesystem: { rootdirectory: ${path.join(dir, 'data')} } }\nhttp: { addr: "${REG}" }\nauth: { htpasswd: { realm: kseed, path: ${path.join(dir, 'htpasswd')} } }\n`);
    registry = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: 'ignore' });
    // sshd for the remoto test: its own host key, one authorized key, loopback only
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'hostkey')]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'id')]);
    writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(path.join(dir, 'id.pub')), { mode: 0o600 });
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', '/dev/null', '-p', String(SSH_PORT), '-o', 'ListenAddress=127.0.0.1', '-h', path.join(dir, 'hostkey'), '-o', `AuthorizedKeysFile=${path.join(dir, 'authorized_keys')}`, '-o', 'StrictModes=no', '-o', 'PermitRootLogin=prohibit-password', '-o', `PidFile=${path.join(dir, 'sshd.pid')}`], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const r = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${REG}/v2/`]);
      if (r.stdout?.toString() === '401') break;
      await new Promise((res) => setTimeout(res, 100));
    }
  }, 900_000);

  afterAll(() => {
    registry?.kill('SIGTERM');
    sshd?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("is tagged with the Ceph version it holds, and the seed gets that very version's cephadm", () => {
    expect(img.image).toBe(`kseed/ceph:${img.version.split('+')[0]}`);
    expect(dockerRun(['--entrypoint', 'ceph', img.image, '--version'])).toMatch(new RegExp(`^ceph version ${img.version.split('+')[0]} \\(\\w+\\) pacific \\(stable\\)$`));
    expect(path.basename(img.cephadm_deb)).toBe(`cephadm_${img.version}_amd64.deb`);
    expect(execFileSync('dpkg-deb', ['-f', img.cephadm_deb, 'Package', 'Version'], { encoding: 'utf8' })).toBe(`Package: cephadm\nVersion: ${img.version}\n`);
  });

  it('holds what cephadm expects: the ceph=True label, /var/lib/ceph owned by the ceph user, ceph-volume with lvm, mon/mgr/osd', () => {
    const labels = JSON.parse(execFileSync('docker', ['inspect', '-f', '{{json .Config.Labels}}', img.image], { encoding: 'utf8' })) as Record<string, string>;
    expect(labels.ceph).toBe('True');
    // Debian's ceph user is 64045: cephadm takes the uid/gid from this directory's owner
    expect(dockerRun(['--entrypoint', 'sh', img.image, '-c', 'stat -c %u:%g /var/lib/ceph; id -u ceph'])).toBe('64045:64045\n64045');
    expect(dockerRun(['--entrypoint', 'sh', img.image, '-c', 'for b in ceph-mon ceph-mgr ceph-osd ceph-volume lvm ceph-crash; do command -v $b; done'])).toBe(
      ['/usr/bin/ceph-mon', '/usr/bin/ceph-mgr', '/usr/bin/ceph-osd', '/usr/sbin/ceph-volume', '/usr/sbin/lvm', '/usr/bin/ceph-crash'].join('\n'),
    );
    expect(dockerRun(['--entrypoint', 'ls', img.image, '/usr/share/ceph/mgr/cephadm/module.py'])).toBe('/usr/share/ceph/mgr/cephadm/module.py');
  });

  it('is slim and one layer: no manual pages, translations or documentation but the copyright files', () => {
    const layers = JSON.parse(execFileSync('docker', ['inspect', '-f', '{{json .RootFS.Layers}}', img.image], { encoding: 'utf8' })) as string[];
    expect(layers).toHaveLength(1);
    const out = dockerRun(['--entrypoint', 'sh', img.image, '-c', 'find /usr/share/doc -type f ! -name copyright | wc -l; find /usr/share/doc -name copyright | wc -l; find /usr/share/man /usr/share/info -type f | wc -l; ls -A /usr/share/locale | wc -l']);
    const [docs, copyrights, man, locale] = out.split('\n');
    expect(docs).toBe('0');
    expect(Number(copyrights)).toBeGreaterThan(150);
    expect(man).toBe('0');
    // bookworm's minbase has no locales package: no locale.alias to keep, nothing at all there
    expect(locale).toBe('0');
  });

  it("puts the image's docker save archive beside the cephadm .deb, with the sha256 and image id the nodes check", () => {
    expect(path.dirname(img.archive.file)).toBe(path.dirname(img.cephadm_deb));
    expect(path.basename(img.archive.file)).toBe(`kseed-ceph_${img.image.split(':')[1]}.tar`);
    expect(statSync(img.archive.file).size).toBe(img.archive.size);
    expect(execFileSync('sha256sum', [img.archive.file], { encoding: 'utf8' }).split(' ')[0]).toBe(img.archive.sha256);
    const rec = JSON.parse(readFileSync(`${img.archive.file}.json`, 'utf8')) as Record<string, unknown>;
    expect(rec).toEqual({ image: img.image, id: img.id, sha256: img.archive.sha256, size: img.archive.size });
    const manifest = JSON.parse(execFileSync('tar', ['-xOf', img.archive.file, 'manifest.json'], { encoding: 'utf8' })) as { RepoTags: string[]; Config: string }[];
    expect(manifest).toEqual([expect.objectContaining({ RepoTags: [img.image], Config: `${img.id.replace('sha256:', '')}.json` })]);
    console.log(`archive ${path.basename(img.archive.file)}: ${(img.archive.size / 1e6).toFixed(0)} MB (image ${(img.size / 1e6).toFixed(0)} MB), ${img.archive.status}`);
  });

  it("passes Debian cephadm's own reading of the image (same release as the cephadm)", () => {
    const r = spawnSync('cephadm', ['--image', img.image, 'version'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ceph version 16\.2\.\d+ .*pacific/);
    const deb = execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'cephadm'], { encoding: 'utf8' });
    expect(deb.split('+')[0]).toBe(img.version.split('+')[0]);
  });

  it("runs the mgr module's remotes.py on a host through the remoto stand-in (execnet over OpenSSH)", () => {
    // the module's own calls: Connection(...), import_module(remotes), choose_python(), write_file(),
    // process.check() with stdin, has_connection(), exit(); the host is this machine's sshd on loopback,
    // so write_file's path is one on this machine (the test's directory), not in the container
    const py = `
import importlib.util, json, sys
import remoto, remoto.process, execnet.gateway_bootstrap
spec = importlib.util.spec_from_file_location('remotes', '/usr/share/ceph/mgr/cephadm/remotes.py')
remotes = importlib.util.module_from_spec(spec); spec.loader.exec_module(remotes)
opts = '-p ${SSH_PORT} -i /k/id -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes'
conn = remoto.Connection('root@127.0.0.1', ssh_options=opts, sudo=False)
r = conn.import_module(remotes)
out = {'version': remoto.__version__, 'python': r.choose_python(), 'alive': conn.has_connection()}
out['write'] = r.write_file('${dir}/written/by-mgr.txt', b'hello from the mgr\\n', 0o640, 0, 0)
out['check'] = remoto.process.check(conn, ['sh', '-c', 'cat; echo to-stderr >&2; exit 3'], stdin=b'line one\\nline two\\n')
conn.exit()
out['alive_after_exit'] = conn.has_connection()
try:
    remoto.Connection('root@127.0.0.1', ssh_options='-p 1 -o BatchMode=yes -o ConnectTimeout=5', sudo=False).import_module(remotes).choose_python()
    out['unreachable'] = 'connected?'
except execnet.gateway_bootstrap.HostNotFound as e:
    out['unreachable'] = 'HostNotFound'
print(json.dumps(out))
`;
    const r = spawnSync('docker', ['run', '--rm', '--network', 'host', '-v', `${dir}:/k`, '--entrypoint', 'python3', img.image, '-c', py], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(out).toEqual({
      version: '1.2.1',
      python: '/usr/bin/python3',
      alive: true,
      write: null,
      check: [['line one', 'line two'], ['to-stderr'], 3],
      alive_after_exit: false,
      unreachable: 'HostNotFound',
    });
    expect(readFileSync(path.join(dir, 'written', 'by-mgr.txt'), 'utf8')).toBe('hello from the mgr\n');
  });

  it('the hand-off preflight asks the seed registry: wrong password, missing image, then loaded by kseed and found', async () => {
    const plan = (password: string): CephPlan => ({
      site: 't',
      image: `${REG}/${img.image}`,
      localImage: img.image,
      delivery: 'registry',
      hosts: [],
      osds: [],
      bootstrapHost: 'n1',
      bootstrapArgv: [],
      remoteDir: '/root/kseed-ceph',
      registry: { address: REG, username: USER, password },
      httpUrl: 'http://127.0.0.1:1',
      artifactsDir: path.dirname(img.cephadm_deb),
      login: { user: 'root', keyFile: '/nonexistent', knownHosts: '/nonexistent' },
    });
    await expect(preflight(plan('not-the-password'))).rejects.toThrow(/refused kseed's credentials \(user kseed\): wrong registry password/);
    await expect(preflight(plan(PASS))).rejects.toThrow(new RegExp(`has no kseed/ceph:${img.image.split(':')[1]!.replace(/\./g, '\\.')}: load it with \`kseed mirror sync --ceph\``));
    const state = openState(path.join(dir, 'state'));
    try {
      const t0 = Date.now();
      const res = await syncImages(state, [img.image], { registry: REG, username: USER, password: PASS, source: { kind: 'daemon' }, insecure: true });
      console.log(`push of ${img.image} (${(img.size / 1e6).toFixed(0)} MB) into the registry: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      expect(res).toEqual([expect.objectContaining({ ref: img.image, dest: `${REG}/${img.image}`, status: 'copied', digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) })]);
    } finally {
      state.close();
    }
    await expect(preflight(plan(PASS))).resolves.toEqual({ debFile: path.basename(img.cephadm_deb), debVersion: img.version });

    // past the preflight, unreachable nodes (nothing listens on 127.0.0.77/78:22) fail each with its
    // reason, and the run stops before bootstrap because the first monitor is one of them
    const st = openState(path.join(dir, 'state-run'));
    try {
      const key = path.join(dir, 'id');
      const p = { ...plan(PASS), hosts: [{ name: 'n1', addr: '127.0.0.77', labels: ['mon', 'mgr', '_admin'] }, { name: 'n2', addr: '127.0.0.78', labels: ['osd'] }], login: { user: 'root', keyFile: key, knownHosts: path.join(dir, 'kh') } };
      const rep = await runCeph(st, p);
      expect(rep.ok).toBe(false);
      expect(rep.failed_hosts).toEqual([
        { host: 'n1', step: 'trust-registry', reason: expect.stringMatching(/^unreachable over SSH: .*127\.0\.0\.77.*Connection refused/) },
        { host: 'n2', step: 'trust-registry', reason: expect.stringMatching(/^unreachable over SSH: .*127\.0\.0\.78.*Connection refused/) },
      ]);
      expect(rep.steps.map((x) => `${x.name}@${x.host}:${x.status}`)).toEqual(['trust-registry@n1:failed', 'trust-registry@n2:failed']);
      expect(st.get<CephRunRecord>(CEPH_RUN_KEY)?.steps).toEqual({
        'trust-registry@n1': expect.objectContaining({ status: 'failed' }),
        'trust-registry@n2': expect.objectContaining({ status: 'failed' }),
      });
    } finally {
      st.close();
    }
  }, 600_000);
});
