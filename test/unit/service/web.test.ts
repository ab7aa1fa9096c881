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
import { MAX_SESSIONS } from '../../../src/engine/state-sessions.js';
import { cookieOf, loginSecret, SESSION_COOKIE, SESSION_MS, sessionCookie, sessionIdOf } from '../../../src/service/web.js';

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

  it("keeps sessions in the state store as a hash of the id, bound to the token's row: they outlive the process (a reopened store), expire, log out, and end with the token", () => {
    const dir = path.join(tmp(), '.kseed');
    let t = 1000;
    let s = openState(dir, { now: () => t });
    const alice = s.tokens.create('alice');
    const id = s.sessions.create('alice', SESSION_MS)!;
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(s.sessions.check(sessionIdOf(`a=1; ${SESSION_COOKIE}=${id}`)!)).toEqual({ ok: true, name: 'alice' });
    // neither the id nor the token's secret is in the table
    const rows = JSON.stringify(s.db.prepare('SELECT * FROM api_sessions').all());
    expect(rows).not.toContain(id);
    expect(rows).not.toContain(alice.secret);
    expect(s.sessions.create('nobody', SESSION_MS)).toBeUndefined();
    s.close();
    // a new service process: same store, same session
    s = openState(dir, { now: () => t });
    expect(s.sessions.check(id)).toEqual({ ok: true, name: 'alice' });
    expect(s.sessions.check('x'.repeat(43))).toEqual({ ok: false, reason: 'unknown' });
    expect(s.sessions.check('not an id')).toEqual({ ok: false, reason: 'unknown' });
    t += SESSION_MS;
    expect(s.sessions.check(id)).toEqual({ ok: false, reason: 'unknown' });
    const out = s.sessions.create('alice', SESSION_MS)!;
    expect(s.sessions.end(out)).toBe(true);
    expect(s.sessions.end(out)).toBe(false);
    expect(s.sessions.check(out)).toEqual({ ok: false, reason: 'unknown' });
    const live = s.sessions.create('alice', SESSION_MS)!;
    t += 10;
    s.tokens.revoke('alice');
    expect(s.sessions.check(live)).toEqual({ ok: false, reason: 'revoked', name: 'alice', revoked_at: t });
    // a new token of the same name opens no old session
    s.tokens.create('alice');
    expect(s.sessions.check(live)).toMatchObject({ ok: false, reason: 'revoked' });
    s.close();
  });

  it('keeps at most 1000 sessions, dropping the oldest; expired ones go at the next login', () => {
    let t = 0;
    const s = openState(path.join(tmp(), '.kseed'), { now: () => t, synchronous: 'normal' });
    s.tokens.create('bob');
    const first = s.sessions.create('bob', 1000)!;
    for (let i = 1; i < MAX_SESSIONS; i++) s.sessions.create('bob', SESSION_MS);
    expect(s.sessions.count()).toBe(MAX_SESSIONS);
    s.sessions.create('bob', SESSION_MS);
    expect(s.sessions.check(first)).toEqual({ ok: false, reason: 'unknown' });
    expect(s.sessions.count()).toBe(MAX_SESSIONS);
    t = SESSION_MS;
    s.sessions.create('bob', SESSION_MS);
    expect(s.db.prepare('SELECT COUNT(*) AS n FROM api_sessions').get()).toEqual({ n: 1 });
    s.close();
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
