/**
 * The built CLI (`node bin/kseed.js`) against site files: exit codes,
 * problems on stderr, --json, init's refusal to overwrite, and that
 * nothing is ever written to .kseed/ by init or validate.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE, CASES, edit } from '../../unit/site/cases.js';
import { type CliRun, ensureBuilt, runKseed } from '../../helpers/cli.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const root = mkdtempSync(path.join(tmpdir(), 'kseed-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

beforeAll(ensureBuilt, 180_000);

function kseed(args: string[], opts: { cwd: string; env?: Record<string, string | undefined> }): Promise<CliRun> {
  return runKseed(args, opts);
}
let n = 0;
function dirWith(files: Record<string, string> = {}): string {
  const d = path.join(root, `d${n++}`);
  mkdirSync(d);
  for (const [f, t] of Object.entries(files)) writeFileSync(path.join(d, f), t);
  return d;
}
const noEnv = { KSEED_BMC_PASSWORD: undefined };

// concurrent: each case is an independent process in its own directory
describe.concurrent('kseed validate on malformed site files', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s: exit 2, every problem, nothing in .kseed/', async (_name, c) => {
    const d = dirWith({ 'kseed.yaml': c.yaml });
    const r = await kseed(['--config', path.join(d, 'kseed.yaml'), 'validate'], { cwd: d, env: noEnv });
    expect(r.code).toBe(2);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('  '));
    expect(lines).toEqual(c.problems.map((p) => `  kseed.yaml:${p}`));
    expect(r.stderr).toContain(`kseed: kseed.yaml has ${c.problems.length} problem`);
    expect(existsSync(path.join(d, '.kseed'))).toBe(false);
  });

  it('--json gives { ok, problems, warnings } with exit 2', async () => {
    const c = CASES.find((x) => x.name === 'duplicate MACs across nodes')!;
    const d = dirWith({ 'kseed.yaml': c.yaml });
    const r = await kseed(['--config', 'kseed.yaml', 'validate', '--json'], { cwd: d, env: { KSEED_BMC_PASSWORD: 'x' } });
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc).toEqual({
      ok: false,
      file: 'kseed.yaml',
      problems: [{ file: 'kseed.yaml', line: 17, col: 12, path: 'nodes[1].macs[0]', message: 'duplicate MAC 52:54:00:00:00:01: already used by node "n1" (nodes[0].macs[0])' }],
      warnings: [],
    });
    expect(existsSync(path.join(d, '.kseed'))).toBe(false);
  });

  it('a missing site file is exit 2 with its name', async () => {
    const d = dirWith();
    const r = await kseed(['validate'], { cwd: d });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('  kseed.yaml: site file not found');
  });
});

describe('kseed validate on valid site files', () => {
  it('ok with exit 0; warnings on stderr; --strict turns them into problems', async () => {
    const d = dirWith({ 'kseed.yaml': BASE });
    const ok = await kseed(['validate'], { cwd: d, env: { KSEED_BMC_PASSWORD: 'x' } });
    expect(ok).toMatchObject({ code: 0, stderr: '' });
    expect(ok.stdout).toBe('kseed.yaml: ok (site t, engine embedded, 1 node, profiles: (matched at enrollment))\n');
    const warned = await kseed(['validate'], { cwd: d, env: noEnv });
    expect(warned.code).toBe(0);
    expect(warned.stderr).toBe('warning: kseed.yaml:8:37 defaults.bmc.password: environment variable KSEED_BMC_PASSWORD is not set here; commands that use this secret will fail\n');
    const strict = await kseed(['validate', '--strict'], { cwd: d, env: noEnv });
    expect(strict.code).toBe(2);
    expect(strict.stderr).toContain('  kseed.yaml:8:37 defaults.bmc.password: environment variable KSEED_BMC_PASSWORD is not set here');
    expect(existsSync(path.join(d, '.kseed'))).toBe(false);
  });

  it('refuses a world-readable secret file and never prints a secret', async () => {
    const y = edit('password: { env: KSEED_BMC_PASSWORD }', 'password: { file: bmc.pass }');
    const d = dirWith({ 'kseed.yaml': y, 'bmc.pass': 'very-s3cret\n' });
    chmodSync(path.join(d, 'bmc.pass'), 0o644);
    const bad = await kseed(['validate', '--json'], { cwd: d });
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout).problems).toEqual([
      { file: 'kseed.yaml', line: 8, col: 37, path: 'defaults.bmc.password', message: `secret file ${path.join(d, 'bmc.pass')} is accessible by every user (mode 644): chmod 600 it` },
    ]);
    chmodSync(path.join(d, 'bmc.pass'), 0o600);
    const good = await kseed(['validate', '--json'], { cwd: d });
    expect(good.code).toBe(0);
    expect(JSON.parse(good.stdout)).toMatchObject({ ok: true, problems: [], warnings: [], site: 't', engine: 'embedded', nodes: 1 });
    const inline = dirWith({ 'kseed.yaml': edit('password: { env: KSEED_BMC_PASSWORD }', 'password: { value: very-s3cret }') });
    const w = await kseed(['validate', '--json'], { cwd: inline });
    expect(w.code).toBe(0);
    expect(JSON.parse(w.stdout).warnings[0].message).toMatch(/^inline secret/);
    for (const r of [bad, good, w]) expect(r.stdout + r.stderr).not.toContain('very-s3cret');
  });

  it('checks the site folder hardware profiles too', async () => {
    const d = dirWith({ 'kseed.yaml': BASE });
    mkdirSync(path.join(d, 'hardware-profiles'));
    const profile = 'name: mine\ndescription: x\nvendor: x\nmatch: { ipmi: { manufacturer_id: [1] } }\nbmc: { protocol: ipmi, timeout_ms: 1000, retries: 1 }\nboot: { mode: uefi }\nironic: { driver: ipmi, boot: ipxe, deploy: direct, power: ipmitool, management: ipmitool, inspect: none }\n';
    writeFileSync(path.join(d, 'hardware-profiles', 'mine.yaml'), profile);
    const col = profile.split('\n')[6]!.indexOf('none') + 1;
    const r = await kseed(['validate'], { cwd: d, env: { KSEED_BMC_PASSWORD: 'x' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('kseed: 1 problem in kseed.yaml and its hardware profiles');
    expect(r.stderr).toContain(`  hardware-profiles/mine.yaml:7:${col} ironic.inspect: "none" is not one of inspector, agent, redfish, idrac-redfish, ilo, no-inspect`);
  });
});

describe('kseed init', () => {
  it('writes the lab starter, which validates, and never overwrites without --force', async () => {
    const d = dirWith();
    const r = await kseed(['init'], { cwd: d });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('wrote kseed.yaml (lab template)');
    // lab up refuses to overwrite a site file it did not write: the next step names a file of its own
    expect(r.stdout).toContain('`kseed --config lab.yaml lab up` makes a virtual rack on this machine with a site file of its own');
    const text = readFileSync(path.join(d, 'kseed.yaml'), 'utf8');
    expect(text).toBe(readFileSync(path.join(repo, 'examples/lab.yaml'), 'utf8'));
    expect(text).toMatch(/^# kseed site file/);
    // no image until `kseed images testos` built one: a warning per node, never a placeholder that nothing builds
    expect(await kseed(['validate'], { cwd: d, env: { KSEED_BMC_PASSWORD: 'password' } })).toMatchObject({
      code: 0,
      stderr:
        'warning: kseed.yaml:51:5 nodes[0]: node "node1" has no image (here or in defaults): it can be enrolled but not deployed\n' +
        'warning: kseed.yaml:56:5 nodes[1]: node "node2" has no image (here or in defaults): it can be enrolled but not deployed\n',
    });
    expect(text).not.toMatch(/sha256:0{64}/);

    writeFileSync(path.join(d, 'kseed.yaml'), 'mine: true\n');
    const again = await kseed(['init', '--rack'], { cwd: d });
    expect(again.code).toBe(2);
    expect(again.stderr).toBe('kseed: kseed.yaml already exists; pass --force to overwrite it\n');
    expect(readFileSync(path.join(d, 'kseed.yaml'), 'utf8')).toBe('mine: true\n');

    const forced = await kseed(['init', '--rack', '--force', '--json'], { cwd: d });
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout)).toEqual({ written: path.join(d, 'kseed.yaml'), template: 'rack' });
    expect(readFileSync(path.join(d, 'kseed.yaml'), 'utf8')).toBe(readFileSync(path.join(repo, 'examples/rack.yaml'), 'utf8'));
    expect(readdirSync(d)).toEqual(['kseed.yaml']); // no temp file left, no .kseed/
  });

  it('writes where --config says, and refuses bad combinations with exit 2', async () => {
    const d = dirWith();
    expect((await kseed(['--config', 'sub/site.yaml', 'init'], { cwd: d })).code).toBe(2);
    mkdirSync(path.join(d, 'sub'));
    expect((await kseed(['--config', 'sub/site.yaml', 'init', '--rack'], { cwd: d })).code).toBe(0);
    expect(existsSync(path.join(d, 'sub/site.yaml'))).toBe(true);
    const both = await kseed(['init', '--lab', '--rack'], { cwd: d });
    expect(both).toMatchObject({ code: 2, stderr: 'kseed: choose one of --lab and --rack\n' });
    expect(existsSync(path.join(d, 'kseed.yaml'))).toBe(false);
  });
});

describe('CLI conventions', () => {
  it('--version, help, and usage errors', async () => {
    const d = dirWith();
    const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string };
    expect(await kseed(['--version'], { cwd: d })).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    const help = await kseed(['help'], { cwd: d });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/init \[options\]/);
    expect(help.stdout).toMatch(/validate \[options\]/);
    expect((await kseed(['no-such-command'], { cwd: d })).code).toBe(2);
    expect((await kseed(['validate', '--bogus'], { cwd: d })).code).toBe(2);
  });
});
