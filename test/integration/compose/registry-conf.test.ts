/**
 * The rendered registry config.yml and the bcryptjs htpasswd run by the real
 * distribution registry (Debian docker-registry, what kseed/registry holds),
 * on 127.0.0.1: every request needs the generated credentials.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStack } from '../../../src/render/index.js';
import { needPeers } from '../../helpers/peers.js';
import { labSite } from '../../fixtures/compose/sites.js';

const ok = needPeers('docker-registry');
const PORT = 15500;
const base = `http://127.0.0.1:${PORT}`;

describe.skipIf(!ok)('rendered registry config under the real registry', () => {
  let work: string;
  let proc: ChildProcess | undefined;
  let log = '';
  let password = '';

  beforeAll(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'kseedtest-registry-'));
    const site = labSite(work);
    site.seed = { ...site.seed, address: '127.0.0.1', prefix: 8, ports: { ...site.seed.ports, registry: PORT } };
    await renderStack(site);
    const secrets = path.join(work, '.kseed', 'secrets');
    password = readFileSync(path.join(secrets, 'registry-password'), 'utf8').trim();
    const data = path.join(work, 'data');
    mkdirSync(data);
    const conf = path.join(work, 'config.yml');
    writeFileSync(
      conf,
      readFileSync(path.join(work, '.kseed', 'stack', 'registry', 'config.yml'), 'utf8')
        .replaceAll('/var/lib/docker-registry', data)
        .replaceAll('/etc/docker/registry/htpasswd', path.join(secrets, 'registry-htpasswd')),
    );
    proc = spawn('docker-registry', ['serve', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (c: Buffer) => (log += c.toString()));
    proc.stderr?.on('data', (c: Buffer) => (log += c.toString()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`docker-registry exited:\n${log}`);
      try {
        await fetch(`${base}/v2/`);
        break;
      } catch {
        if (Date.now() > deadline) throw new Error(`registry not up:\n${log}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  });

  afterAll(async () => {
    if (proc && proc.exitCode === null) proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    if (proc && proc.exitCode === null) proc.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  });

  const basic = (u: string, p: string) => ({ Authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

  it('refuses requests without or with wrong credentials', async () => {
    const anon = await fetch(`${base}/v2/`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toBe('Basic realm="kseed-lab1"');
    expect((await fetch(`${base}/v2/`, { headers: basic('kseed', `${password}x`) })).status).toBe(401);
  });

  it('accepts the generated credentials', async () => {
    const r = await fetch(`${base}/v2/_catalog`, { headers: basic('kseed', password) });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ repositories: [] });
  });
});
