/**
 * The built CLI (`node bin/kseed.js`) on the shipped example site files:
 * `kseed render` twice (the second writes nothing and says so), the stacks
 * pass the Compose schema, `docker-compose config -q` and `dnsmasq --test`;
 * `kseed up` without images stops at "image not found"; status/down/logs on
 * a stack that is rendered but not running.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, ensureBuilt, runKseed } from '../../helpers/cli.js';
import { needDocker, needPeers } from '../../helpers/peers.js';
import { COMPOSE_SCHEMA, composeAjv, loadComposeSchema, projectLeftovers } from './fixture.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const ok = needPeers('docker-compose', 'dnsmasq', COMPOSE_SCHEMA);
const docker = ok && needDocker();
const root = mkdtempSync(path.join(tmpdir(), 'kseedtest-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

beforeAll(ensureBuilt, 180_000);

// A tag no image build produces: `up` must find its images missing even where kseed images were built.
const TAG = `kseedtest-${process.pid}`;
function kseed(args: string[], cwd: string): Promise<CliRun> {
  return runKseed(args, { cwd, env: { KSEED_IMAGE_TAG: TAG }, timeoutMs: 60_000 });
}

function siteDir(example: string, name = example): string {
  const d = path.join(root, name);
  mkdirSync(d);
  copyFileSync(path.join(repo, 'examples', `${example}.yaml`), path.join(d, 'kseed.yaml'));
  return d;
}

describe.skipIf(!ok).each(['lab', 'rack'])('kseed render examples/%s.yaml', (example) => {
  let d: string;
  let first: CliRun;
  let second: CliRun;
  beforeAll(async () => {
    d = siteDir(example);
    first = await kseed(['render'], d);
    second = await kseed(['render'], d);
  });
  const stack = () => path.join(d, '.kseed', 'stack');

  it('renders the stack, then a second run writes nothing and says so', async () => {
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^rendered \.kseed\/stack: \d+ added, 0 changed, 0 removed\n/);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe('stack unchanged: nothing written (.kseed/stack)\n');
    const json = await kseed(['--json', 'render'], d);
    expect(JSON.parse(json.stdout)).toMatchObject({ unchanged: true, added: [], changed: [], removed: [] });
  });

  it('passes the Compose-spec schema, docker-compose config -q and dnsmasq --test', () => {
    const validate = composeAjv().compile(loadComposeSchema());
    expect(validate(YAML.parse(readFileSync(path.join(stack(), 'docker-compose.yml'), 'utf8'))), JSON.stringify(validate.errors)).toBe(true);
    const cfg = spawnSync('docker-compose', ['-p', `kseedtest-cli-${example}`, 'config', '-q'], { cwd: stack(), encoding: 'utf8' });
    expect(cfg.stderr).toBe('');
    expect(cfg.status).toBe(0);
    const dns = spawnSync('dnsmasq', ['--test', '-C', path.join(stack(), 'dnsmasq', 'dnsmasq.conf')], { encoding: 'utf8' });
    expect(dns.stderr).toContain('syntax check OK');
  });

  it('writes one dhcp-host per node of the example', () => {
    const site = YAML.parse(readFileSync(path.join(d, 'kseed.yaml'), 'utf8')) as { nodes: { name: string }[] };
    const conf = readFileSync(path.join(stack(), 'dnsmasq', 'dnsmasq.conf'), 'utf8');
    const hosts = conf.split('\n').filter((l) => l.startsWith('dhcp-host='));
    expect(hosts.map((h) => h.split(',').at(-1))).toEqual(site.nodes.map((n) => n.name));
  });
});

describe.skipIf(!ok)('kseed render: options and refusals', () => {
  it('--out writes elsewhere and leaves .kseed/stack alone', async () => {
    const d = siteDir('lab', 'out');
    const r = await kseed(['render', '--out', 'mystack'], d);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(path.join(d, 'mystack', 'docker-compose.yml'))).toBe(true);
    expect(existsSync(path.join(d, '.kseed', 'stack'))).toBe(false);
  });

  it('a broken site file: exit 2, the problem named, nothing written', async () => {
    const d = siteDir('rack', 'broken');
    const f = path.join(d, 'kseed.yaml');
    writeFileSync(f, readFileSync(f, 'utf8').replace(/mode: authoritative/, 'mode: sometimes'));
    const r = await kseed(['render'], d);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/kseed\.yaml:\d+:\d+ seed\.dhcp\.mode/);
    expect(existsSync(path.join(d, '.kseed'))).toBe(false);
  });
});

describe.skipIf(!docker)('kseed up/status/down/logs without images', () => {
  let d: string;
  beforeAll(() => {
    d = siteDir('rack', 'rack-up');
  });

  it('status and down before anything was rendered', async () => {
    const s = await kseed(['status'], d);
    expect(s.code).toBe(0);
    expect(s.stdout).toContain('no rendered stack');
    const down = await kseed(['down'], d);
    expect(down.code).toBe(0);
    expect(down.stdout).toContain('nothing to take down');
  });

  it('up fails with image not found and the build command, starting nothing', async () => {
    const r = await kseed(['up'], d);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`kseed: image not found: kseed/dnsmasq:${TAG}, kseed/http:${TAG}, kseed/ironic-inspector:${TAG}, kseed/ironic:${TAG}, kseed/registry:${TAG} — build them with: kseed images build`);
    expect(r.stderr).not.toMatch(/Traceback|at .*\.js:\d+/);
    const manifest = JSON.parse(readFileSync(path.join(d, '.kseed', 'stack', 'kseed-stack.json'), 'utf8')) as { project: string };
    expect(projectLeftovers(manifest.project)).toEqual({ containers: [], volumes: [] });
    const json = await kseed(['--json', 'up'], d);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: 'image-not-found' });
  });

  it('status lists every service as not created; --json says not healthy', async () => {
    const s = await kseed(['status'], d);
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/^ironic\s+not created/m);
    const j = JSON.parse((await kseed(['--json', 'status'], d)).stdout) as { healthy: boolean; services: { service: string; state: string }[] };
    expect(j.healthy).toBe(false);
    expect(j.services.map((x) => x.service)).toEqual(['ironic', 'dnsmasq', 'http', 'registry', 'inspector']);
  });

  it('down --volumes says what it deletes', async () => {
    const r = await kseed(['down', '--volumes'], d);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('ironic-data: Ironic database (enrolled nodes, their state)');
    expect(r.stderr).toContain('registry-data: images pushed to the seed registry');
    expect(r.stdout).toContain('removed, with its volumes');
  });

  it('logs refuses an unknown service with exit 2', async () => {
    const r = await kseed(['logs', 'nope'], d);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown service "nope": the stack runs ironic, dnsmasq, http, registry, inspector');
  });

  it('up on an embedded site never runs Compose, and names a missing seed namespace', async () => {
    const l = siteDir('lab', 'lab-up');
    const r = await kseed(['up'], l);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('network namespace "ksl-lab" (seed.netns) does not exist');
    expect(r.stderr).toContain('kseed lab up');
    // the embedded engine starts its own boot services: no Compose stack is rendered
    expect(existsSync(path.join(l, '.kseed', 'stack'))).toBe(false);
  });
});
