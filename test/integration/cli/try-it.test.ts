/**
 * README's Try it scripts, run by real bash: `scripts/try-it.sh --down`
 * stops the seed, takes down its lab and removes the try directory it made
 * (site file, state, the hand-off SSH key, built images: 224 MB after a run),
 * saying so; a directory it did not make stays. `scripts/setup.sh` refuses
 * an unknown option and a machine without Node.js before installing anything.
 * No lab is made: the lab name (KSEED_TRY_LAB) is one no other test uses.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, REPO } from '../../helpers/cli.js';
import { needPeers } from '../../helpers/peers.js';

const ok = needPeers('bash', 'du');
let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(path.join(os.tmpdir(), 'ksi-try-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function bash(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile('/bin/bash', args, { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    ),
  );
}

/** What try-it.sh leaves after a run: its marker, the lab's site file, state and a cache. */
function tryDir(name: string, lab: string): string {
  const work = path.join(dir, name);
  mkdirSync(path.join(work, '.kseed', 'cache'), { recursive: true });
  mkdirSync(path.join(work, '.kseed', 'handoff'), { recursive: true });
  writeFileSync(path.join(work, '.made-by-try-it'), '');
  writeFileSync(path.join(work, '.kseed', 'cache', 'os.qcow2'), Buffer.alloc(2 << 20, 1));
  writeFileSync(path.join(work, '.kseed', 'handoff', 'id_ed25519'), 'key\n', { mode: 0o600 });
  writeFileSync(
    path.join(work, 'kseed.yaml'),
    [
      `# kseed-lab: ${lab}`,
      `site: ${lab}`,
      'engine: embedded',
      'seed:',
      '  interface: ksl-br0',
      `  netns: ksl-${lab}`,
      '  address: 10.78.0.1/24',
      '  dhcp: { mode: authoritative, range: 10.78.0.100-10.78.0.199 }',
      'defaults:',
      '  bmc: { type: ipmi, username: admin, password: { env: KSEED_BMC_PASSWORD } }',
      '  root_device: { name: /dev/vda }',
      'nodes:',
      '  - { name: node01, bmc: { address: 127.0.0.1, port: 1 }, macs: ["52:54:00:aa:00:01"] }',
      '',
    ].join('\n'),
  );
  return work;
}

describe.skipIf(!ok)('scripts/try-it.sh --down', () => {
  it('stops the seed, takes down the lab, removes the try directory and says so; twice is fine', async () => {
    const work = tryDir('try', 'kti');
    const env = { KSEED_TRY_DIR: work, KSEED_TRY_LAB: 'kti', KSEED_BMC_PASSWORD: 'password' };
    const r = await bash([path.join(REPO, 'scripts/try-it.sh'), '--down'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      'boot services were not running\n' + 'lab kti: nothing to remove\n' + `removed ${work} (2.1M: site file, state, the hand-off SSH key, built images)\n`,
    );
    expect(existsSync(work)).toBe(false);
    const again = await bash([path.join(REPO, 'scripts/try-it.sh'), '--down'], env);
    expect(again).toMatchObject({ code: 0, stdout: 'lab kti: nothing to remove\n' });
    // lab down of a lab that is nowhere creates nothing (it used to make .kseed/lab/ for its lock)
    expect(existsSync(work)).toBe(false);
  });

  it('leaves a directory it did not make', async () => {
    const work = path.join(dir, 'mine');
    mkdirSync(work);
    writeFileSync(path.join(work, 'notes.txt'), 'mine\n');
    const r = await bash([path.join(REPO, 'scripts/try-it.sh'), '--down'], { KSEED_TRY_DIR: work, KSEED_TRY_LAB: 'kti' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`lab kti: nothing to remove\nleft ${work} in place: scripts/try-it.sh did not make it (no .made-by-try-it)\n`);
    expect(existsSync(path.join(work, 'notes.txt'))).toBe(true);
  });
});

describe.skipIf(!ok)('scripts/setup.sh refuses before it installs anything', () => {
  it('an unknown option: usage, exit 2', async () => {
    const r = await bash([path.join(REPO, 'scripts/setup.sh'), '--bogus'], {});
    expect(r).toMatchObject({ code: 2, stdout: '', stderr: 'usage: bash scripts/setup.sh [--npm]   (--npm: also npm ci and npm run build)\n' });
  });

  it('no Node.js on PATH: names the version kseed needs and where to get it, exit 2', async () => {
    // a PATH with what setup.sh runs before its Node check, and no node
    const bin = path.join(dir, 'bin');
    mkdirSync(bin);
    for (const t of ['dirname', 'dpkg', 'mkdir', 'touch', 'chmod', 'printf']) {
      const p = ['/usr/bin', '/bin'].map((d) => path.join(d, t)).find(existsSync);
      if (p) symlinkSync(p, path.join(bin, t));
    }
    const r = await bash([path.join(REPO, 'scripts/setup.sh'), '--npm'], { PATH: bin });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'kseed needs Node.js 20.19 or newer; this machine has: none.\n' +
        'Install Node.js 20 or 22 (https://nodejs.org/en/download, or NodeSource\'s Debian packages), then run scripts/setup.sh again.\n',
    );
    expect(r.stdout).toBe('');
  });
});
