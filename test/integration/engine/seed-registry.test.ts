/**
 * The embedded engine's seed registry: `kseed mirror up` runs kseed/registry
 * (Debian's docker-registry) as one container whose PID 1 serves inside
 * seed.netns, on the seed address only, with the htpasswd of
 * .kseed/secrets; a second `mirror up` finds it running and starts nothing;
 * `mirror down` and `kseed down` remove it; a seed address the namespace
 * lacks is refused before any container starts. Judged with curl from
 * inside the namespace.
 * Namespace ksr-reg-s, bridge br0 10.94.0.1/24; container kseed-ksr-reg-registry.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runKseed } from '../../helpers/cli.js';
import { Lab } from '../../helpers/netns.js';
import { needDocker, needPeers, needRoot } from '../../helpers/peers.js';

const NAME = 'kseed-ksr-reg-registry';
const ok = needRoot() && needDocker() && needPeers('ip', 'curl') && spawnSync('docker', ['image', 'inspect', 'kseed/registry:0.1.0']).status === 0;

describe.skipIf(!ok)('kseed mirror up/down: the seed registry of the embedded engine, inside seed.netns', () => {
  let lab: Lab;
  let dir = '';
  let site = '';
  const kseed = (args: string[]) => runKseed(['--config', site, ...args], { cwd: dir, timeoutMs: 120_000 });
  const curl = (args: string[]) => lab.server.exec('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', ...args]);

  beforeAll(async () => {
    ensureBuilt();
    spawnSync('docker', ['rm', '-f', NAME]);
    lab = await Lab.create('ksr-reg');
    await lab.bridge('br0', '10.94.0.1/24');
    dir = mkdtempSync(path.join(tmpdir(), 'ksr-reg-'));
    site = path.join(dir, 'kseed.yaml');
    writeFileSync(site, ['site: ksr-reg', 'engine: embedded', 'seed:', '  interface: br0', '  netns: ksr-reg-s', '  address: 10.94.0.1/24', '  dhcp:', '    mode: off', 'nodes: []', ''].join('\n'));
  }, 60_000);

  afterAll(async () => {
    spawnSync('docker', ['rm', '-f', NAME, 'kseed-ksr-reg2-registry']);
    spawnSync('docker', ['volume', 'rm', '-f', `${NAME}-data`]);
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('mirror up: listening on the seed address in the namespace, credentials required; a second up starts nothing', async () => {
    const r = await kseed(['--json', 'mirror', 'up']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ registry: '10.94.0.1:5000', container: NAME, started: true });
    // PID 1 of the container is in the lab's namespace, not the host's
    const pid = spawnSync('docker', ['inspect', '-f', '{{.State.Pid}}', NAME], { encoding: 'utf8' }).stdout.trim();
    expect(statSync(`/proc/${pid}/ns/net`).ino).toBe(statSync('/run/netns/ksr-reg-s').ino);
    expect((await curl(['http://10.94.0.1:5000/v2/'])).stdout).toBe('401');
    const password = readFileSync(path.join(dir, '.kseed', 'secrets', 'registry-password'), 'utf8').trim();
    expect((await curl(['-u', `kseed:${password}`, 'http://10.94.0.1:5000/v2/'])).stdout).toBe('200');
    expect((await curl(['-u', 'kseed:wrong', 'http://10.94.0.1:5000/v2/'])).stdout).toBe('401');
    const again = await kseed(['--json', 'mirror', 'up']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ started: false });
    expect(spawnSync('docker', ['inspect', '-f', '{{.State.Pid}}', NAME], { encoding: 'utf8' }).stdout.trim()).toBe(pid);
  }, 120_000);

  it('mirror down removes the container; a second down says so and succeeds', async () => {
    const r = await kseed(['--json', 'mirror', 'down']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ stopped: true, container: NAME });
    expect(spawnSync('docker', ['inspect', NAME]).status).not.toBe(0);
    const again = await kseed(['--json', 'mirror', 'down']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ stopped: false, container: NAME });
  }, 60_000);

  it('kseed down stops the seed registry with the boot services; its images stay in the volume', async () => {
    const up = await kseed(['--json', 'mirror', 'up']);
    expect(up.code, up.stderr).toBe(0);
    expect(JSON.parse(up.stdout)).toMatchObject({ started: true });
    const r = await kseed(['--json', 'down']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ engine: 'embedded', registry: { stopped: true, container: NAME } });
    expect(spawnSync('docker', ['inspect', NAME]).status).not.toBe(0);
    expect(spawnSync('docker', ['volume', 'inspect', `${NAME}-data`]).status).toBe(0);
    const human = await kseed(['down']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).not.toContain('seed registry stopped');
  }, 120_000);

  it('refuses at once, naming `kseed up`, where the seed address is not in the namespace; no container is left', async () => {
    const other = path.join(dir, 'other.yaml');
    writeFileSync(other, ['site: ksr-reg2', 'engine: embedded', 'seed:', '  interface: br0', '  netns: ksr-reg-s', '  address: 10.94.0.9/24', '  dhcp:', '    mode: off', 'nodes: []', ''].join('\n'));
    const list = path.join(dir, 'images.txt');
    writeFileSync(list, 'quay.io/ceph/ceph:v16\n');
    for (const verb of [['mirror', 'up'], ['mirror', 'sync', '--list', list]]) {
      const r = await runKseed(['--config', other, ...verb], { cwd: dir, timeoutMs: 60_000 });
      expect(r.code, verb.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/seed address 10\.94\.0\.9 is not on br0 in network namespace ksr-reg-s.*`kseed up`.*no container was started/);
      expect(spawnSync('docker', ['inspect', 'kseed-ksr-reg2-registry']).status).not.toBe(0);
    }
  }, 120_000);
});
