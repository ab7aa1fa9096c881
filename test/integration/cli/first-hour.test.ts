/**
 * Issue 16, "the first hour": what a newcomer trips on, through the built CLI
 * (exit code and message). No lab is made here: a lab verb must name the
 * lab of its --config site file even when that lab does not exist, and never
 * fall back to the default lab.
 */
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../../src/engine/state.js';
import { ensureBuilt, runKseed } from '../../helpers/cli.js';

let dir: string;
const kseed = (args: string[], cwd = dir) => runKseed(args, { cwd, env: { KSEED_BMC_PASSWORD: 'password' } });

/** An embedded site of one node whose BMC is `port` on loopback. */
function site(file: string, port: number, opts: { image?: boolean; netns?: string; marker?: string } = {}): string {
  const p = path.join(dir, file);
  writeFileSync(
    p,
    [
      ...(opts.marker ? [`# kseed-lab: ${opts.marker}`] : []),
      'site: fh',
      'engine: embedded',
      'seed:',
      '  interface: ksl-br0',
      ...(opts.netns ? [`  netns: ${opts.netns}`] : []),
      '  address: 10.77.0.1/24',
      '  dhcp: { mode: authoritative, range: 10.77.0.100-10.77.0.199 }',
      'defaults:',
      '  bmc: { type: ipmi, username: admin, password: { env: KSEED_BMC_PASSWORD } }',
      '  root_device: { name: /dev/vda }',
      ...(opts.image ? ['  image: { url: "http://10.77.0.1:8080/artifacts/os.raw", checksum: "sha256:' + 'ab'.repeat(32) + '" }'] : []),
      'nodes:',
      `  - { name: node01, bmc: { address: 127.0.0.1, port: ${port} }, macs: ["52:54:00:aa:00:01"] }`,
      '',
    ].join('\n'),
  );
  return p;
}

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(path.join(os.tmpdir(), 'ksi-first-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('lab verbs act on the lab their --config site file names', () => {
  it('status, down and console name the lab of the site file, never the default lab', async () => {
    const f = site('lab-a.yaml', 1, { marker: 'kfh1' });
    const st = await kseed(['--config', f, 'lab', 'status', '--no-probe']);
    expect(st).toMatchObject({ code: 0, stdout: 'lab kfh1: not created\n' });
    const js = await kseed(['--config', f, '--json', 'lab', 'status', '--no-probe']);
    expect(JSON.parse(js.stdout)).toMatchObject({ name: 'kfh1', exists: false, netns: 'ksl-kfh1' });
    const down = await kseed(['--config', f, 'lab', 'down']);
    expect(down).toMatchObject({ code: 0, stdout: 'lab kfh1: nothing to remove\n' });
    const con = await kseed(['--config', f, 'lab', 'console', 'node01']);
    expect(con.code).toBe(1);
    expect(con.stderr).toBe(`kseed: lab kfh1 does not exist under ${path.join(dir, '.kseed')}\n`);
  });

  it('a hand-written lab site file names its lab by seed.netns; --name still wins', async () => {
    const f = site('lab-b.yaml', 1, { netns: 'ksl-kfh2' });
    expect(await kseed(['--config', f, 'lab', 'status', '--no-probe'])).toMatchObject({ code: 0, stdout: 'lab kfh2: not created\n' });
    expect(await kseed(['--config', f, 'lab', 'status', '--no-probe', '--name', 'kfh3'])).toMatchObject({ code: 0, stdout: 'lab kfh3: not created\n' });
  });

  it('a site file of no lab: lab down refuses (exit 2) instead of taking down the default lab', async () => {
    const f = site('rack.yaml', 1);
    const down = await kseed(['--config', f, 'lab', 'down']);
    expect(down.code).toBe(2);
    expect(down.stderr).toBe(
      'kseed: rack.yaml belongs to no lab: pass --name to say which lab `kseed lab down` acts on\n' +
        '  rack.yaml:1:1: no "# kseed-lab: NAME" first line and no seed.netns ksl-NAME\n',
    );
  });
});

describe('node verbs', () => {
  it('provision refuses nodes without an image up front (exit 2), before any BMC packet', async () => {
    const bmc = dgram.createSocket('udp4');
    let packets = 0;
    bmc.on('message', () => packets++);
    await new Promise<void>((r) => bmc.bind(0, '127.0.0.1', () => r()));
    try {
      const f = site('noimage.yaml', bmc.address().port);
      const r = await kseed(['--config', f, 'provision', '--all']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`kseed: node01 has no image to deploy: set defaults.image (or image on the node) in ${f}; \`kseed images testos\` builds a test image`);
      expect(r.stderr).toContain('nodes[0].image: node node01: no image here or in defaults');
      const j = await kseed(['--config', f, '--json', 'provision', 'node01']);
      expect(j.code).toBe(2);
      expect(JSON.parse(j.stdout)).toMatchObject({ error: 'no-image' });
      // rebuild takes --wait (provision's flag) and refuses the same way
      const rb = await kseed(['--config', f, 'rebuild', 'node01', '--wait']);
      expect(rb.code).toBe(2);
      expect(rb.stderr).toContain('kseed: node01 has no image to deploy');
      await new Promise((r) => setTimeout(r, 200));
      expect(packets).toBe(0);
    } finally {
      bmc.close();
    }
  });

  it('undeploy of a node already available exits 0 with a note, twice; its help has no --wait-booted', async () => {
    const f = site('avail.yaml', 1, { image: true });
    const store = openState(path.join(dir, '.kseed'));
    try {
      store.ensureNode('node01');
      store.transition('node01', 'manageable');
      store.transition('node01', 'available');
    } finally {
      store.close();
    }
    for (let i = 0; i < 2; i++) {
      const r = await kseed(['--config', f, 'undeploy', 'node01']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^node01: already available: nothing to undeploy$/m);
      expect(r.stdout).toMatch(/^node01 +unchanged +available /m);
    }
    const j = await kseed(['--config', f, '--json', 'undeploy', 'node01']);
    expect(JSON.parse(j.stdout).nodes[0]).toMatchObject({ node: 'node01', ok: true, skipped: true, state: 'available', note: 'already available: nothing to undeploy' });
    const help = await kseed(['undeploy', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).not.toContain('--wait-booted');
    expect(help.stdout).toContain('Example:\n  kseed undeploy node01 node02');
    const rhelp = await kseed(['rebuild', '--help']);
    expect(rhelp.stdout).toContain('--wait ');
    expect(rhelp.stdout).toContain('--wait-booted');
  });
});

describe('site file checks', () => {
  it('validate --strict refuses an all-zero sha256; without --strict it is a warning', async () => {
    const f = site('zero.yaml', 1);
    writeFileSync(f, `${(await import('node:fs')).readFileSync(f, 'utf8').replace('  root_device: { name: /dev/vda }\n', `  root_device: { name: /dev/vda }\n  image: { url: "http://10.77.0.1:8080/x.raw", checksum: "sha256:${'0'.repeat(64)}" }\n`)}`);
    const loose = await kseed(['--config', f, 'validate']);
    expect(loose.code).toBe(0);
    expect(loose.stderr).toContain("warning: zero.yaml:10:58 defaults.image.checksum: checksum is all zeros, a placeholder: put the image's own");
    const strict = await kseed(['--config', f, 'validate', '--strict']);
    expect(strict.code).toBe(2);
    expect(strict.stderr).toContain("zero.yaml:10:58 defaults.image.checksum: checksum is all zeros");
  });
});
