/**
 * The seed service in the seed's lifecycle, as a user runs it: `kseed up`
 * (embedded engine on lo, 127.0.0.1, DHCP off) starts `kseed serve` in the
 * background on the site's seed.ports.api (18340), a second `up` leaves it
 * alone, `kseed status` shows its URL and PID and whether it answers, a
 * kill -9 is reported and the next `up` starts it again, `kseed down` stops
 * it by its PID, `up --no-api` starts none, a taken port is a warning of
 * `up` (the seed itself is up), and a service whose run file is gone stops
 * by itself. Ports 18340-18342 (the api tests use 18300-18346, one port or three per file).
 */
import { createServer, type Server } from 'node:net';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runKseed } from '../../helpers/cli.js';
import { api, createToken, siteDir } from './helpers.js';

const PORTS = { api: 18340, http: 18341, tftp: 18342 };
const URL_ = `http://127.0.0.1:${PORTS.api}`;

const alive = (pid: number) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');

async function gone(pid: number, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !alive(pid);
}

describe('kseed up/status/down own the seed service', () => {
  let root: string;
  let runFile: string;
  const kseed = (args: string[]) => runKseed(args, { cwd: root, timeoutMs: 60_000 });
  const json = async (args: string[]) => {
    const r = await kseed(['--json', ...args]);
    expect(r.code, `${args.join(' ')}: ${r.stderr}${r.stdout}`).toBe(0);
    return JSON.parse(r.stdout);
  };

  beforeAll(async () => {
    ensureBuilt();
    root = siteDir('kseed-api-life-', 2, PORTS);
    runFile = path.join(root, '.kseed', 'run', 'api.json');
  });
  afterAll(async () => {
    if (root) await kseed(['down']);
    rmSync(root, { recursive: true, force: true });
  });

  it('up starts the service on seed.ports.api, once; status shows it answering; its routes need a token', async () => {
    const up = await json(['up']);
    expect(up.api).toEqual({ pid: expect.any(Number), url: URL_, log: path.join(root, '.kseed', 'logs', 'api.log'), already_running: false });
    const run = JSON.parse(readFileSync(runFile, 'utf8'));
    expect(run).toMatchObject({ pid: up.api.pid, url: URL_ });
    expect(statSync(runFile).mode & 0o777).toBe(0o600);
    expect(await api(URL_, 'GET', '/health')).toMatchObject({ status: 200, body: { ok: true } });
    expect(await api(URL_, 'GET', '/nodes')).toMatchObject({ status: 401, body: { error: 'no-token' } });
    const token = await createToken(root, 'life');
    const nodes = await api(URL_, 'GET', '/nodes', { token });
    expect(nodes.status).toBe(200);
    expect(nodes.body.nodes.map((n: { name: string }) => n.name)).toEqual(['n1', 'n2']);

    const again = await json(['up']);
    expect(again.api).toMatchObject({ pid: up.api.pid, url: URL_, already_running: true });
    expect(alive(up.api.pid)).toBe(true);

    const st = await json(['status']);
    expect(st.api).toEqual({ running: true, pid: up.api.pid, url: URL_, answers: true, log: up.api.log });
    const text = await kseed(['status']);
    expect(text.stdout).toContain(`seed service: running (pid ${up.api.pid}) on ${URL_}`);
  });

  it('a service killed with -9 is reported by status, and the next up starts a new one', async () => {
    const { pid } = JSON.parse(readFileSync(runFile, 'utf8'));
    process.kill(pid, 'SIGKILL');
    expect(await gone(pid)).toBe(true);
    const st = await json(['status']);
    expect(st.api).toMatchObject({ running: false, answers: false, crashed: { pid, url: URL_ } });
    expect((await kseed(['status'])).stdout).toMatch(new RegExp(`seed service: not running: pid ${pid} \\(started [^)]+\\) died without stopping; log .*api\\.log; \`kseed up\` starts it again`));
    const up = await json(['up']);
    expect(up.api).toMatchObject({ url: URL_, already_running: false });
    expect(up.api.pid).not.toBe(pid);
    expect(await api(URL_, 'GET', '/health')).toMatchObject({ status: 200 });
  });

  it('a service whose run file is gone (its .kseed/ deleted) stops by itself; up starts it again', async () => {
    const { pid } = JSON.parse(readFileSync(runFile, 'utf8'));
    rmSync(runFile);
    expect(await gone(pid)).toBe(true);
    expect(readFileSync(path.join(root, '.kseed', 'logs', 'api.log'), 'utf8')).toContain(`"type":"orphaned","message":"${runFile} no longer names this process (pid ${pid}): stopping"`);
    const up = await json(['up']);
    expect(up.api).toMatchObject({ already_running: false });
    expect(up.api.pid).not.toBe(pid);
  });

  it('down stops it by its PID and removes its run file; status then says it is not running', async () => {
    const { pid } = JSON.parse(readFileSync(runFile, 'utf8'));
    const down = await json(['down']);
    expect(down.api).toEqual({ stopped: true, pid, forced: false });
    expect(await gone(pid)).toBe(true);
    expect(existsSync(runFile)).toBe(false);
    const st = await json(['status']);
    expect(st.api).toMatchObject({ running: false, answers: false });
    expect(st.api.crashed).toBeUndefined();
    await expect(fetch(`${URL_}/api/v1/health`)).rejects.toThrow();
    // down twice succeeds: nothing to stop
    expect((await json(['down'])).api).toEqual({ stopped: false });
  });

  it('a taken port is a warning of up naming it (the seed is up); up --no-api starts no service', async () => {
    const squatter: Server = createServer();
    await new Promise<void>((r) => squatter.listen(PORTS.api, '127.0.0.1', () => r()));
    try {
      const r = await kseed(['up']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`warning: the seed service \\(kseed serve\\) did not start \\(exit code 1\\); log .*api\\.log: the seed service cannot listen on 127\\.0\\.0\\.1:${PORTS.api}: EADDRINUSE`));
      expect((await json(['status'])).api).toMatchObject({ running: false });
      const j = await json(['up']);
      expect(j.boot_services).toMatchObject({ already_running: true });
      expect(j.api.error).toContain(`cannot listen on 127.0.0.1:${PORTS.api}: EADDRINUSE`);
      expect(j.warnings).toContainEqual(j.api.error);
    } finally {
      await new Promise((r) => squatter.close(r));
    }
    const up = await json(['up', '--no-api']);
    expect(up.api).toBeUndefined();
    expect(up.boot_services.pid).toEqual(expect.any(Number));
    expect(existsSync(runFile)).toBe(false);
    await expect(fetch(`${URL_}/api/v1/health`)).rejects.toThrow();
    expect((await json(['down'])).api).toEqual({ stopped: false });
  });
});
