/**
 * The rendered inspector.conf plus its secrets file run by the real
 * ironic-inspector (Debian), standalone on 127.0.0.1: it starts from the
 * two --config-file arguments its entrypoint passes and enforces the
 * generated credentials.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStack } from '../../../src/render/index.js';
import { needPeers } from '../../helpers/peers.js';
import { rackSite } from '../../fixtures/compose/sites.js';

const ok = needPeers('ironic-inspector', 'ironic-inspector-dbsync');
const PORT = 15050;
const base = `http://127.0.0.1:${PORT}`;

describe.skipIf(!ok)('rendered inspector.conf under the real ironic-inspector', () => {
  let work: string;
  let proc: ChildProcess | undefined;
  let log = '';
  let password = '';

  beforeAll(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'kseedtest-inspector-'));
    const site = rackSite(work);
    site.seed = { ...site.seed, address: '127.0.0.1', prefix: 8, ports: { ...site.seed.ports, inspector: PORT, ironic_api: 15386 } };
    await renderStack(site);
    const secrets = path.join(work, '.kseed', 'secrets');
    password = readFileSync(path.join(secrets, 'ironic-password'), 'utf8').trim();
    const state = path.join(work, 'state');
    mkdirSync(state);
    const conf = path.join(work, 'inspector.conf');
    writeFileSync(
      conf,
      readFileSync(path.join(work, '.kseed', 'stack', 'inspector', 'inspector.conf'), 'utf8')
        .replaceAll('/var/lib/ironic-inspector', state)
        .replaceAll('/etc/ironic-inspector/htpasswd', path.join(secrets, 'ironic-htpasswd')),
    );
    const args = ['--config-file', conf, '--config-file', path.join(secrets, 'inspector-secrets.conf')];
    const db = spawnSync('ironic-inspector-dbsync', [...args, 'upgrade'], { encoding: 'utf8', timeout: 120_000 });
    if (db.status !== 0) throw new Error(`ironic-inspector-dbsync failed:\n${db.stderr}`);
    proc = spawn('ironic-inspector', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (c: Buffer) => (log += c.toString()));
    proc.stderr?.on('data', (c: Buffer) => (log += c.toString()));
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`ironic-inspector exited:\n${log}`);
      try {
        if ((await fetch(`${base}/`)).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`ironic-inspector not up:\n${log}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  });

  afterAll(async () => {
    if (proc && proc.exitCode === null) proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    if (proc && proc.exitCode === null) proc.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  });

  const basic = (u: string, p: string) => ({ Authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

  it('answers version discovery', async () => {
    const r = await fetch(`${base}/`);
    expect(r.status).toBe(200);
    expect(JSON.stringify(await r.json())).toContain('"id":"1.');
  });

  it('refuses the API without or with wrong credentials and accepts the generated ones', async () => {
    expect((await fetch(`${base}/v1/introspection`)).status).toBe(401);
    expect((await fetch(`${base}/v1/introspection`, { headers: basic('kseed', `${password}x`) })).status).toBe(401);
    const r = await fetch(`${base}/v1/introspection`, { headers: basic('kseed', password) });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ introspection: [] });
  });
});
