/**
 * The status page's server pieces without sockets: the session cookie and
 * its sessions, the login body, and one node's boot trace and console tail
 * read from a state store, a boot-services log and a lab manifest on disk.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openState } from '../../../src/engine/state.js';
import { bootTrace, consoleTail } from '../../../src/service/trace.js';
import { cookieOf, loginSecret, SESSION_COOKIE, sessionCookie, Sessions } from '../../../src/service/web.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'kseed-web-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('session cookie', () => {
  it('is HttpOnly, SameSite=Strict, on /, Secure only under TLS; removal is Max-Age=0', () => {
    expect(sessionCookie('abc', false)).toBe(`${SESSION_COOKIE}=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200`);
    expect(sessionCookie('abc', true)).toMatch(/; Secure$/);
    expect(sessionCookie('', false, 0)).toContain('Max-Age=0');
  });

  it('reads one cookie out of a Cookie header (RFC 6265 5.4)', () => {
    expect(cookieOf('a=1; kseed_session=xyz; b=2', SESSION_COOKIE)).toBe('xyz');
    expect(cookieOf('kseed_sessionx=1', SESSION_COOKIE)).toBeUndefined();
    expect(cookieOf(undefined, SESSION_COOKIE)).toBeUndefined();
  });

  it('maps a random id to its token until it expires or is ended; ids are not the token', () => {
    const s = new Sessions();
    const id = s.create('kseed_secret', 1000);
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(id).not.toContain('kseed_secret');
    expect(s.secretOf(`${SESSION_COOKIE}=${id}`, 2000)).toBe('kseed_secret');
    expect(s.secretOf(`${SESSION_COOKIE}=other`, 2000)).toBeUndefined();
    expect(s.secretOf(`${SESSION_COOKIE}=${id}`, 1000 + 12 * 3600_000)).toBeUndefined();
    const id2 = s.create('kseed_secret', 5000);
    s.end(`${SESSION_COOKIE}=${id2}`);
    expect(s.secretOf(`${SESSION_COOKIE}=${id2}`, 5001)).toBeUndefined();
  });

  it('keeps at most 1000 sessions, dropping the oldest', () => {
    const s = new Sessions();
    const first = s.create('t0', 0);
    for (let i = 1; i <= 1000; i++) s.create(`t${i}`, i);
    expect(s.secretOf(`${SESSION_COOKIE}=${first}`, 2000)).toBeUndefined();
  });
});

describe('login body', () => {
  it('takes {"token": "..."} and names what is wrong with anything else', () => {
    expect(loginSecret(Buffer.from('{"token":" kseed_abc "}'))).toBe('kseed_abc');
    expect(() => loginSecret(Buffer.from('{'))).toThrow(/not JSON/);
    expect(() => loginSecret(Buffer.from('[]'))).toThrow(/must be an object/);
    expect(() => loginSecret(Buffer.from('{"token":"x","user":"a"}'))).toThrow(/unknown field "user"/);
    expect(() => loginSecret(Buffer.from('{"token":5}'))).toThrow(/token: expected/);
  });
});

describe('boot trace and console tail', () => {
  const MAC = '52:54:00:00:aa:01';

  it("joins the boot log's lines of the node's MAC and leased address with the agent's events, in time order", () => {
    const dir = tmp();
    const store = openState(dir, { synchronous: 'normal' });
    try {
      store.ensureNode('n1');
      store.allocateLease(MAC, { start: '10.9.0.100', end: '10.9.0.110' }, { ttlSeconds: 600 });
      const ip = store.getLease(MAC)!.ip;
      store.recordEvent('n1', 'agent-result', { stage: 'deploy', status: 'failed', msg: 'no disk matched the root-device hint' });
      store.recordEvent('n2', 'agent-result', { stage: 'deploy', status: 'ok' });
      const ts = (s: number) => new Date(Date.now() - 60_000 + s * 1000).toISOString();
      mkdirSync(path.join(dir, 'logs'));
      writeFileSync(
        path.join(dir, 'logs', 'boot-serve.log'),
        [
          JSON.stringify({ ts: ts(1), service: 'dhcp', type: 'offer', mac: MAC, ip, bootFile: 'undionly.kpxe' }),
          JSON.stringify({ ts: ts(1), service: 'dhcp', type: 'offer', mac: '52:54:00:00:aa:02', ip: '10.9.0.101' }),
          'not json: a line from an older kseed',
          JSON.stringify({ ts: ts(2), service: 'tftp', type: 'end', client: `${ip}:2070`, file: 'undionly.kpxe', bytes: 1 }),
          JSON.stringify({ ts: ts(3), service: 'http', type: 'request', method: 'GET', path: '/boot/x.ipxe', status: 200, client: ip }),
          JSON.stringify({ ts: ts(3), service: 'http', type: 'request', method: 'GET', path: '/boot/y.ipxe', status: 404, client: '10.9.0.101' }),
          '',
        ].join('\n'),
      );
      const t = bootTrace(dir, store, 'n1', [MAC.toUpperCase()]);
      expect(t.map((e) => [e.source, e.what, e.bad ?? false])).toEqual([
        ['dhcp', `offer ip ${ip} boot file undionly.kpxe`, false],
        ['tftp', 'sent undionly.kpxe', false],
        ['http', 'GET /boot/x.ipxe 200', false],
        ['agent', 'deploy failed: no disk matched the root-device hint', true],
      ]);
    } finally {
      store.close();
    }
  });

  it("tails a lab VM's serial log without its escape sequences; a simulated node or an unknown one has none", () => {
    const dir = tmp();
    const lab = path.join(dir, 'lab', 'l1');
    mkdirSync(path.join(lab, 'nodes', 'node01'), { recursive: true });
    const serial = path.join(lab, 'nodes', 'node01', 'serial.log');
    writeFileSync(serial, `${'x'.repeat(20_000)}\n\x1b[2J\x1b[1;1HiPXE 1.21\r\nDebian login: \x07`);
    const node = (name: string, extra = {}) => ({ name, serialLog: path.join(lab, 'nodes', name, 'serial.log'), ...extra });
    writeFileSync(path.join(lab, 'manifest.json'), JSON.stringify({ version: 1, name: 'l1', nodes: [node('node01'), node('node02', { sim: { netns: 'x' } })] }));
    const c = consoleTail(dir, 'node01');
    expect(c?.file).toBe(serial);
    expect(c?.text).toBe('iPXE 1.21\nDebian login: ');
    expect(consoleTail(dir, 'node02')).toBeUndefined();
    expect(consoleTail(dir, 'node03')).toBeUndefined();
  });
});
