/**
 * The CLI's token of the seed service (service/cli-token.ts) on a real state
 * store: kept across service starts while it is live, replaced (and the old
 * one revoked) when it was revoked or its file lost, the file 0600; and the
 * engine's status and the API's /status building a node from one function.
 */
import { mkdtempSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeStatusOf } from '../../../src/engine/node-status.js';
import { openState } from '../../../src/engine/state.js';
import { CLI_TOKEN_NAME, cliTokenFileOf, ensureCliToken, readCliToken } from '../../../src/service/cli-token.js';

const tmp: string[] = [];
afterAll(() => tmp.forEach((d) => rmSync(d, { recursive: true, force: true })));
function stateDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'kseed-clitoken-'));
  tmp.push(d);
  return path.join(d, '.kseed');
}

describe('the CLI token the seed service keeps', () => {
  it('is written once (0600), kept while live, replaced when revoked or lost', () => {
    const dir = stateDir();
    const s = openState(dir);
    try {
      ensureCliToken(s, dir);
      const first = readCliToken(dir)!;
      expect(statSync(cliTokenFileOf(dir)).mode & 0o777).toBe(0o600);
      expect(s.tokens.check(first)).toEqual({ ok: true, name: CLI_TOKEN_NAME });

      ensureCliToken(s, dir);
      expect(readCliToken(dir)).toBe(first);

      s.tokens.revoke(CLI_TOKEN_NAME);
      ensureCliToken(s, dir);
      const second = readCliToken(dir)!;
      expect(second).not.toBe(first);
      expect(s.tokens.check(second)).toEqual({ ok: true, name: CLI_TOKEN_NAME });

      // the file lost: the live token whose secret nobody has is revoked, a new one written
      unlinkSync(cliTokenFileOf(dir));
      ensureCliToken(s, dir);
      const third = readCliToken(dir)!;
      expect(s.tokens.check(second)).toMatchObject({ ok: false, reason: 'revoked' });
      expect(s.tokens.check(third)).toEqual({ ok: true, name: CLI_TOKEN_NAME });
      expect(s.tokens.list().filter((t) => t.revoked_at === null).map((t) => t.name)).toEqual([CLI_TOKEN_NAME]);
    } finally {
      s.close();
    }
  });
});

describe('nodeStatusOf', () => {
  it('an unknown node is enroll with nothing known; a running node takes its first MAC\'s DHCP address, one at rest none', () => {
    const dir = stateDir();
    let t = 1_000_000;
    const s = openState(dir, { now: () => t });
    try {
      expect(nodeStatusOf(s, 'n9', [])).toEqual({ node: 'n9', state: 'enroll', power: null, ip: null, profile: null, last_error: null, timings: [], updated_at: 0 });
      s.ensureNode('n1', { phase: 'enroll' });
      t += 1000;
      s.transition('n1', 'manageable', { phase: 'enroll' });
      s.leases.allocate('52:54:00:00:00:01', { start: '10.0.0.10', end: '10.0.0.20' }, { ttlSeconds: 60, state: 'bound' });
      expect(nodeStatusOf(s, 'n1', ['52:54:00:00:00:01'])).toMatchObject({ state: 'manageable', ip: null, timings: [{ phase: 'enroll', ms: 1000 }] });
      s.transition('n1', 'deploying', { phase: 'deploy' });
      s.updateNode('n1', { data: { booted: { hostname: 'n1.lab' } } });
      expect(nodeStatusOf(s, 'n1', ['52:54:00:00:00:01'])).toMatchObject({ state: 'deploying', ip: '10.0.0.10', booted_hostname: 'n1.lab' });
    } finally {
      s.close();
    }
  });
});
