/**
 * The rendered ironic.conf and htpasswd run by the real Ironic (Debian
 * ironic-common: the same packages the kseed/ironic image installs), on
 * 127.0.0.1 with the container paths pointed at a temp dir: the single
 * process starts, version discovery is public, the API refuses requests
 * without or with wrong credentials and accepts the generated ones (bcryptjs
 * hashes), and a node enrolls with the enabled interfaces.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStack } from '../../../src/render/index.js';
import { needPeers } from '../../helpers/peers.js';
import { labSite, rackSite } from '../../fixtures/compose/sites.js';

const ok = needPeers('ironic', 'ironic-dbsync');
const variants = [
  { name: 'lab (ramdisk, no inspector)', make: labSite, port: 15385, deploy: 'ramdisk', inspect: 'no-inspect' },
  { name: 'rack (direct, inspector)', make: rackSite, port: 15387, deploy: 'direct', inspect: 'inspector' },
];

async function waitUp(url: string, ms: number, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`ironic exited with ${proc.exitCode}:\n${log()}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`ironic not up after ${ms} ms:\n${log()}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe.skipIf(!ok).each(variants)('rendered ironic.conf under the real Ironic: $name', ({ make, port: PORT, deploy, inspect }) => {
  const base = `http://127.0.0.1:${PORT}`;
  let work: string;
  let proc: ChildProcess | undefined;
  let stderr = '';
  let password = '';

  beforeAll(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'kseedtest-ironic-'));
    const site = make(work);
    site.seed = { ...site.seed, address: '127.0.0.1', prefix: 8, ports: { ...site.seed.ports, ironic_api: PORT, http: 15080 } };
    site.ironic = { ...site.ironic, min_command_interval: 1 };
    await renderStack(site);
    const secrets = path.join(work, '.kseed', 'secrets');
    password = readFileSync(path.join(secrets, 'ironic-password'), 'utf8').trim();
    const state = path.join(work, 'state');
    mkdirSync(state);
    // What the container entrypoint does with the mounted secret and the data volume.
    const conf = readFileSync(path.join(work, '.kseed', 'stack', 'ironic', 'ironic.conf'), 'utf8')
      .replaceAll('/var/lib/ironic', state)
      .replaceAll('/etc/ironic/htpasswd', path.join(secrets, 'ironic-htpasswd'));
    const confFile = path.join(work, 'ironic.conf');
    writeFileSync(confFile, conf);
    for (const d of ['httpboot', 'tftpboot/master_images', 'lock']) mkdirSync(path.join(state, d), { recursive: true });
    const db = spawnSync('ironic-dbsync', ['--config-file', confFile, 'create_schema'], { encoding: 'utf8', timeout: 120_000 });
    if (db.status !== 0) throw new Error(`ironic-dbsync failed:\n${db.stderr}`);
    // The entrypoint adds the secrets file (credentials towards inspector) when the stack has one.
    const extra = site.ironic.inspector ? ['--config-file', path.join(secrets, 'ironic-secrets.conf')] : [];
    proc = spawn('ironic', ['--config-file', confFile, ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    await waitUp(`${base}/`, 90_000, proc, () => stderr);
  });

  afterAll(async () => {
    if (proc && proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 1000));
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
    rmSync(work, { recursive: true, force: true });
  });

  const H = { 'X-OpenStack-Ironic-API-Version': '1.82', 'Content-Type': 'application/json' };
  const auth = (user: string, pw: string) => ({ ...H, Authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}` });

  it('answers version discovery without credentials', async () => {
    const r = await fetch(`${base}/`);
    expect(r.status).toBe(200);
    expect(((await r.json()) as { default_version: { id: string } }).default_version.id).toBe('v1');
  });

  it('refuses the API without or with wrong credentials', async () => {
    expect((await fetch(`${base}/v1/nodes`, { headers: H })).status).toBe(401);
    expect((await fetch(`${base}/v1/nodes`, { headers: auth('kseed', `${password}x`) })).status).toBe(401);
  });

  it('accepts the generated credentials and enrolls a node with the default interfaces', async () => {
    const list = await fetch(`${base}/v1/nodes`, { headers: auth('kseed', password) });
    expect(list.status).toBe(200);
    const create = await fetch(`${base}/v1/nodes`, {
      method: 'POST',
      headers: auth('kseed', password),
      body: JSON.stringify({
        name: 'kseedtest-node',
        driver: 'ipmi',
        driver_info: { ipmi_address: '127.0.0.1', ipmi_port: 15999, ipmi_username: 'admin', ipmi_password: 'x' },
      }),
    });
    const node = (await create.json()) as Record<string, unknown>;
    expect(create.status, JSON.stringify(node)).toBe(201);
    expect(node).toMatchObject({ name: 'kseedtest-node', provision_state: 'enroll', boot_interface: 'ipxe', deploy_interface: deploy, inspect_interface: inspect });
  });

  it('enables the ipmi and redfish hardware types', async () => {
    const r = await fetch(`${base}/v1/drivers`, { headers: auth('kseed', password) });
    const names = ((await r.json()) as { drivers: { name: string }[] }).drivers.map((d) => d.name).sort();
    expect(names).toEqual(['fake-hardware', 'ipmi', 'redfish']);
    expect(stderr).not.toMatch(/ERROR/);
  });
});
