/**
 * Issue 16, "the first hour": what a newcomer trips on, through the built CLI
 * (exit code and message). No lab is made here: a lab verb must name the
 * lab of its --config site file even when that lab does not exist, and never
 * fall back to the default lab; a missing lab names the command that makes it.
 */
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeState } from '../../../src/engine/lifecycle.js';
import { openState } from '../../../src/engine/state.js';
import { ensureBuilt, REPO, runKseed } from '../../helpers/cli.js';

let dir: string;
const kseed = (args: string[], cwd = dir) => runKseed(args, { cwd, env: { KSEED_BMC_PASSWORD: 'password' } });

/** An embedded site of one node whose BMC is `port` on loopback. */
/** A BMC that never answers: a UDP socket on loopback that counts the datagrams reaching it. */
async function silentBmc(): Promise<{ port: number; packets: () => number; close: () => void }> {
  const sock = dgram.createSocket('udp4');
  let packets = 0;
  sock.on('message', () => packets++);
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { port: sock.address().port, packets: () => packets, close: () => sock.close() };
}

function site(file: string, port: number, opts: { image?: boolean; netns?: string; marker?: string; bmcTimeoutMs?: number; node02?: boolean } = {}): string {
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
      `  - { name: node01, bmc: { address: 127.0.0.1, port: ${port}${opts.bmcTimeoutMs ? `, timeout_ms: ${opts.bmcTimeoutMs}` : ''} }, macs: ["52:54:00:aa:00:01"] }`,
      ...(opts.node02 ? ['  - { name: node02, bmc: { address: 127.0.0.1, port: 1 }, macs: ["52:54:00:aa:00:02"] }'] : []),
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
    expect(st).toMatchObject({ code: 0, stdout: 'lab kfh1: not created: `kseed --config ./lab-a.yaml lab up` creates it\n' });
    const js = await kseed(['--config', f, '--json', 'lab', 'status', '--no-probe']);
    expect(JSON.parse(js.stdout)).toMatchObject({ name: 'kfh1', exists: false, netns: 'ksl-kfh1' });
    const down = await kseed(['--config', f, 'lab', 'down']);
    expect(down).toMatchObject({ code: 0, stdout: 'lab kfh1: nothing to remove\n' });
    const con = await kseed(['--config', f, 'lab', 'console', 'node01']);
    expect(con.code).toBe(1);
    expect(con.stderr).toBe(`kseed: lab kfh1 does not exist under ${path.join(dir, '.kseed')}: \`kseed --config ./lab-a.yaml lab up\` creates it\n`);
  });

  it('a hand-written lab site file names its lab by seed.netns; --name still wins', async () => {
    const f = site('lab-b.yaml', 1, { netns: 'ksl-kfh2' });
    expect(await kseed(['--config', f, 'lab', 'status', '--no-probe'])).toMatchObject({ code: 0, stdout: 'lab kfh2: not created: `kseed --config ./lab-b.yaml lab up` creates it\n' });
    expect(await kseed(['--config', f, 'lab', 'status', '--no-probe', '--name', 'kfh3'])).toMatchObject({ code: 0, stdout: 'lab kfh3: not created: `kseed --config ./lab-b.yaml lab up --name kfh3` creates it\n' });
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
    const bmc = await silentBmc();
    try {
      const f = site('noimage.yaml', bmc.port);
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
      expect(bmc.packets()).toBe(0);
    } finally {
      bmc.close();
    }
  });

  it('provision and rebuild on the embedded engine before `kseed up`: refused naming it (exit 1), before any BMC packet', async () => {
    const bmc = await silentBmc();
    try {
      // a state dir of its own: no boot services of another test's site beside it
      const f = site(path.join(path.basename(mkdtempSync(path.join(dir, 'notup-'))), 'kseed.yaml'), bmc.port, { image: true });
      const shown = `./${path.relative(dir, f)}`;
      const msg = `kseed: kseed's boot services are not running, and node01 must boot from them: \`kseed --config ${shown} up\` starts them\n`;
      const r = await kseed(['--config', f, 'provision', '--all']);
      expect(r).toMatchObject({ code: 1, stdout: '', stderr: msg });
      const rb = await kseed(['--config', f, 'rebuild', 'node01']);
      expect(rb).toMatchObject({ code: 1, stderr: msg });
      const j = await kseed(['--config', f, '--json', 'provision', 'node01']);
      expect(j.code).toBe(1);
      expect(JSON.parse(j.stdout)).toMatchObject({ error: 'not-up' });
      await new Promise((res) => setTimeout(res, 200));
      expect(bmc.packets()).toBe(0);
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

  it('undeploy of a node that never got an OS (never enrolled, enrolled) exits 0 with a note, twice, with no boot services and no BMC touched', async () => {
    // its own directory: its own state (.kseed beside the site file)
    const sub = mkdtempSync(path.join(dir, 'never-'));
    const bmc = await silentBmc();
    try {
      const f = site(path.join(path.basename(sub), 'kseed.yaml'), bmc.port, { image: true, node02: true });
      const store = openState(path.join(sub, '.kseed'));
      try {
        store.ensureNode('node02');
        store.transition('node02', 'manageable', { phase: 'enroll' });
      } finally {
        store.close();
      }
      for (let i = 0; i < 2; i++) {
        const r = await kseed(['--config', f, 'undeploy', 'node01', 'node02'], sub);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toMatch(/^node01: not deployed \(enroll\): nothing to undeploy$/m);
        expect(r.stderr).toMatch(/^node02: not deployed \(manageable\): nothing to undeploy$/m);
        expect(r.stdout).toMatch(/^node01 +unchanged +enroll /m);
        expect(r.stdout).toMatch(/^node02 +unchanged +manageable /m);
      }
      const j = await kseed(['--config', f, '--json', 'undeploy', 'node02'], sub);
      expect(j.code).toBe(0);
      expect(JSON.parse(j.stdout).nodes[0]).toMatchObject({ node: 'node02', ok: true, skipped: true, state: 'manageable', verbs: [], note: 'not deployed (manageable): nothing to undeploy' });
      // nothing was sent to node01's BMC
      expect(bmc.packets()).toBe(0);
      const st = await kseed(['--config', f, '--json', 'status'], sub);
      expect(JSON.parse(st.stdout).nodes.map((n: { node: string; state: string }) => [n.node, n.state])).toEqual([
        ['node01', 'enroll'],
        ['node02', 'manageable'],
      ]);
      // a node that is deployed still needs the boot services: named, exit 1, nothing touched
      const store2 = openState(path.join(sub, '.kseed'));
      try {
        for (const s of ['available', 'deploying', 'active'] as const) store2.transition('node02', s, { phase: 'deploy' });
      } finally {
        store2.close();
      }
      const d = await kseed(['--config', f, 'undeploy', 'node01', 'node02'], sub);
      expect(d.code).toBe(1);
      expect(d.stderr).toContain("kseed's boot services are not running, and node02 must boot from them");
      expect(d.stderr).not.toContain('node01 must');
      // provision of a handed-off node needs nothing either: no boot services asked for
      const store3 = openState(path.join(sub, '.kseed'));
      try {
        store3.transition('node02', 'handed-off', { phase: 'handoff' });
      } finally {
        store3.close();
      }
      const p = await kseed(['--config', f, 'provision', 'node02'], sub);
      expect(p.code, p.stderr).toBe(0);
      expect(p.stdout).toMatch(/^node02 +unchanged +handed-off /m);
    } finally {
      bmc.close();
    }
  });
});

describe('status shows the node as it is now', () => {
  it('TIMINGS: the last run of each phase, no deploy/boot after an undeploy; an available node shows no old IP', async () => {
    const sdir = mkdtempSync(path.join(dir, 'timings-'));
    const f = path.join(sdir, 'kseed.yaml');
    writeFileSync(f, readFileSync(site('timings-src.yaml', 1, { image: true }), 'utf8'));
    let t = 1_000_000;
    const store = openState(path.join(sdir, '.kseed'), { now: () => t });
    const step = (ms: number, to: NodeState, phase: string) => {
      t += ms;
      store.transition('node01', to, { phase });
    };
    const boot = (ms: number) => {
      store.recordEvent('node01', 'boot-wait', { phase: 'boot' });
      t += ms;
      store.recordEvent('node01', 'booted', { phase: 'boot' });
    };
    try {
      store.ensureNode('node01', { phase: 'enroll' });
      step(1000, 'manageable', 'enroll');
      step(0, 'inspecting', 'inspect');
      step(30_000, 'manageable', 'inspect');
      step(0, 'available', 'provide');
      step(0, 'deploying', 'deploy');
      step(60_000, 'active', 'deploy');
      boot(20_000);
      store.allocateLease('52:54:00:aa:00:01', { start: '10.77.0.100', end: '10.77.0.199' }, { ttlSeconds: 3600, state: 'bound' });
      // rebuild: a second deploy and boot
      step(100_000, 'deploying', 'deploy');
      step(50_000, 'active', 'deploy');
      boot(25_000);
    } finally {
      store.close();
    }
    const row = (out: string) => out.split('\n').find((l) => l.startsWith('node01'));
    const active = await kseed(['--config', f, 'status']);
    expect(active.code, active.stderr).toBe(0);
    expect(row(active.stdout)).toMatch(/^node01 +active +- +10\.77\.0\.100 +- +enroll 1\.0s, inspect 30\.0s, provide 0\.0s, deploy 50\.0s, boot 25\.0s +-$/);

    const again = openState(path.join(sdir, '.kseed'), { now: () => t });
    try {
      t += 5000;
      again.transition('node01', 'deleting', { phase: 'undeploy' });
      t += 12_000;
      again.transition('node01', 'available', { phase: 'undeploy' });
    } finally {
      again.close();
    }
    const avail = await kseed(['--config', f, 'status']);
    expect(row(avail.stdout)).toMatch(/^node01 +available +- +- +- +enroll 1\.0s, inspect 30\.0s, provide 0\.0s, undeploy 12\.0s +-$/);
    // --json keeps the whole history
    const j = JSON.parse((await kseed(['--config', f, '--json', 'status'])).stdout);
    expect(j.nodes[0].ip).toBeNull();
    expect(j.nodes[0].timings.map((x: { phase: string }) => x.phase)).toEqual(['enroll', 'inspect', 'provide', 'deploy', 'boot', 'deploy', 'boot', 'undeploy']);
  });
});

describe('long steps show life on a terminal, and only there', () => {
  it('a BMC that never answers: a live spinner line with the step and elapsed time on a pty; plain lines off it; nothing under --json', async () => {
    const bmc = await silentBmc();
    try {
      // a state dir of its own: another test's node01 is already enrolled
      // 15 s: long enough to show the live line, short of IPMI's 60 s default budget (three runs of it here)
      const f = site(path.join(path.basename(mkdtempSync(path.join(dir, 'slow-'))), 'slow.yaml'), bmc.port, { image: true, bmcTimeoutMs: 15_000 });
      // script(1) gives kseed a pty; CI (set in CI runs) would turn the live line off, as it should
      const env: Record<string, string | undefined> = { ...process.env, KSEED_BMC_PASSWORD: 'password', CI: undefined, TERM: 'xterm' };
      delete env.CI;
      const tty = await new Promise<{ code: number; out: string }>((resolve) =>
        execFile('script', ['-qec', `${process.execPath} ${path.join(REPO, 'bin/kseed.js')} --config ${f} enroll --all`, '/dev/null'], { env, timeout: 60_000 }, (err, stdout) =>
          resolve({ code: err ? Number(err.code) : 0, out: stdout }),
        ),
      );
      expect(tty.code).toBe(1); // its one node failed
      expect(tty.out).toMatch(/^enrolling 1 node\.\.\.\r\n/);
      expect(tty.out).toMatch(/\r\x1b\[K[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] enrolling 1 node\.\.\. · [1-9]s/);
      // the live line is cleared before the result table
      expect(tty.out).toMatch(/\r\x1b\[KNODE +RESULT/);

      const plain = await kseed(['--config', f, 'enroll', '--all']);
      expect(plain.code).toBe(1);
      expect(plain.stderr).toBe('enrolling 1 node...\n');
      const json = await kseed(['--config', f, '--json', 'enroll', '--all']);
      expect(json.stderr).toBe('');
      expect(JSON.parse(json.stdout).nodes[0]).toMatchObject({ node: 'node01', result: 'enroll failed' });
    } finally {
      bmc.close();
    }
  }, 60_000);
});

describe('missing pieces are named, with the command that fixes them', () => {
  it('status and logs with no site file name ./kseed.yaml and suggest kseed init (exit 2)', async () => {
    const empty = mkdtempSync(path.join(dir, 'empty-'));
    for (const verb of ['status', 'logs']) {
      const r = await kseed([verb], empty);
      expect(r.code, verb).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('kseed: no site file ./kseed.yaml: `kseed init` writes a starter one (or pass --config FILE)\n  ./kseed.yaml: site file not found\n');
    }
    const j = await kseed(['--json', 'status'], empty);
    expect(j.code).toBe(2);
    expect(JSON.parse(j.stdout)).toMatchObject({ error: 'no-site', problems: [{ file: './kseed.yaml', message: 'site file not found' }] });
  });

  it('enroll against a lab that is down: the failure names the lab and the lab up that brings it (exit 1); a site of no lab gets no such hint', async () => {
    const bmc = await silentBmc();
    try {
      // a state dir of its own: another test's node01 is already enrolled
      const sub = path.basename(mkdtempSync(path.join(dir, 'labdown-')));
      const f = site(path.join(sub, 'lab-e.yaml'), bmc.port, { marker: 'kfhe', bmcTimeoutMs: 1000 });
      const hint = `the BMCs are lab kfhe's, and lab kfhe is not up: \`kseed --config ./${sub}/lab-e.yaml lab up\` creates it`;
      const r = await kseed(['--config', f, 'enroll', '--all']);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^node01 +enroll failed /m);
      expect(r.stdout.trimEnd().split('\n').at(-1)).toBe(`hint: ${hint}`);
      const j = await kseed(['--config', f, '--json', 'enroll', '--all']);
      expect(j.code).toBe(1);
      expect(JSON.parse(j.stdout)).toMatchObject({ nodes: [{ node: 'node01', result: 'enroll failed' }], hint });
      const plain = site(path.join(sub, 'plain.yaml'), bmc.port, { bmcTimeoutMs: 1000 });
      const p = await kseed(['--config', plain, '--json', 'enroll', '--all']);
      expect(p.code).toBe(1);
      expect(JSON.parse(p.stdout)).toMatchObject({ nodes: [{ node: 'node01', result: 'enroll failed' }] });
      expect(JSON.parse(p.stdout).hint).toBeUndefined();
      expect(bmc.packets()).toBeGreaterThan(0);
    } finally {
      bmc.close();
    }
  });

  it('bmc power with no action names the missing action (exit 2), before any BMC packet', async () => {
    const bmc = await silentBmc();
    try {
      const f = site('power.yaml', bmc.port);
      const missing = await kseed(['--config', f, 'bmc', 'power', 'node01']);
      expect(missing).toMatchObject({
        code: 2,
        stdout: '',
        stderr: 'kseed: missing power action after "node01" (one of on, off, cycle, reset, soft, status): e.g. kseed bmc power node01 status\n',
      });
      const order = await kseed(['--config', f, 'bmc', 'power', 'on', 'node01']);
      expect(order).toMatchObject({ code: 2, stderr: 'kseed: the power action comes last: kseed bmc power node01 on\n' });
      const unknown = await kseed(['--config', f, 'bmc', 'power', 'node01', 'explode']);
      expect(unknown).toMatchObject({ code: 2, stderr: 'kseed: unknown power action "explode" (one of on, off, cycle, reset, soft, status)\n' });
      const j = await kseed(['--config', f, '--json', 'bmc', 'power', 'node01']);
      expect(JSON.parse(j.stdout)).toMatchObject({ error: 'usage' });
      const help = await kseed(['bmc', 'power', '--help']);
      expect(help.stdout).toContain('Examples:\n  kseed bmc power node01 status\n');
      await new Promise((r) => setTimeout(r, 200));
      expect(bmc.packets()).toBe(0);
    } finally {
      bmc.close();
    }
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
