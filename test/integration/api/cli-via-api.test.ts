/**
 * The CLI through the seed service: `kseed status` on the seed asks the
 * service that .kseed/run/api.json names (with the token the service keeps in
 * .kseed/secrets/api-cli.token) and prints the same bytes, table and --json,
 * as it does reading the store with no service running. The service's
 * request log shows the CLI's calls; a recorded service that is gone
 * (connection refused) is a warning and the store is read; a service that
 * refuses the CLI's token (401) is an error, never a way around it.
 * Port 18376 (the api tests use 18300-18376, one port or three per file).
 */
import { rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../../src/engine/state.js';
import { ensureBuilt, runKseed } from '../../helpers/cli.js';
import { type Service, siteDir, startService } from './helpers.js';

const PORT = 18376;

describe('kseed status goes through the seed service when it runs, with identical output', () => {
  let root: string;
  let svc: Service | undefined;
  const kseed = (args: string[], env: Record<string, string | undefined> = {}) => runKseed(args, { cwd: root, env: { KSEED_URL: undefined, KSEED_TOKEN: undefined, KSEED_OWNER: undefined, ...env } });
  /** The CLI's requests in the service's log. */
  const calls = () => svc!.output().split('\n').filter((l) => l.includes('"user":"cli@seed"'));

  beforeAll(async () => {
    ensureBuilt();
    root = siteDir('kseed-api-cli-', 3);
    // a history with phases, a DHCP lease (n2's address comes from it) and a booted host name
    let t = 1_700_000_000_000;
    const s = openState(path.join(root, '.kseed'), { now: () => t });
    try {
      s.ensureNode('n1', { phase: 'enroll' });
      s.ensureNode('n2', { phase: 'enroll' });
      t += 2500;
      s.transition('n1', 'manageable', { phase: 'enroll' });
      s.transition('n2', 'manageable', { phase: 'enroll' });
      t += 1000;
      s.transition('n2', 'deploying', { phase: 'deploy' });
      s.leases.allocate('52:54:00:00:18:02', { start: '10.77.0.100', end: '10.77.0.120' }, { ttlSeconds: 3600, state: 'bound' });
      t += 65_000;
      s.transition('n2', 'active', { phase: 'deploy' });
      s.updateNode('n2', { power: 'on', data: { booted: { hostname: 'n2.lab' } } });
      s.updateNode('n1', { last_error: 'inspect: BMC 127.0.0.1:19000 timed out' });
      // n3 never touched
    } finally {
      s.close();
    }
  });
  afterAll(async () => {
    await svc?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('prints the same table and --json with the service up as with it down, and the service served them', async () => {
    const direct = { table: await kseed(['status']), json: await kseed(['--json', 'status']) };
    for (const r of Object.values(direct)) expect(r.code, r.stderr).toBe(0);
    expect(direct.table.stdout).toMatch(/n2 +active +on +10\.77\.0\.100 +- +enroll 2\.5s, deploy 1m5s/);
    expect(JSON.parse(direct.json.stdout).nodes.map((n: { node: string; state: string }) => `${n.node}:${n.state}`)).toEqual(['n1:manageable', 'n2:active', 'n3:enroll']);

    svc = await startService(root, PORT);
    // the service keeps the CLI's token beside its run file, readable by the seed's owner only
    expect(statSync(path.join(root, '.kseed', 'secrets', 'api-cli.token')).mode & 0o777).toBe(0o600);
    const via = { table: await kseed(['status']), json: await kseed(['--json', 'status']) };
    for (const r of Object.values(via)) expect(r.code, r.stderr).toBe(0);
    expect(calls().filter((l) => l.includes('"path":"/api/v1/status"') && l.includes('"status":200'))).toHaveLength(2);

    // `status` also says whether the service runs: that line and the api block differ, every node byte is the same
    const apiLine = /^seed service: .*\n/m;
    expect(via.table.stdout.replace(apiLine, '')).toBe(direct.table.stdout.replace(apiLine, ''));
    const j = { direct: JSON.parse(direct.json.stdout), via: JSON.parse(via.json.stdout) };
    expect(j.via.api).toMatchObject({ running: true, answers: true });
    expect(JSON.stringify(j.via.nodes, null, 2)).toBe(JSON.stringify(j.direct.nodes, null, 2));
    expect({ ...j.via, api: null }).toEqual({ ...j.direct, api: null });
  });

  it('a service that refuses the CLI token (401) is an error naming the token, not a way around it', async () => {
    const refusals = () => svc!.output().split('\n').filter((l) => l.includes('"path":"/api/v1/status","status":401')).length;
    expect(refusals()).toBe(0);
    expect((await kseed(['token', 'revoke', 'cli@seed'])).code).toBe(0);
    const r = await kseed(['status']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/token cli@seed was revoked at .*: the seed service \(pid \d+\) refuses the CLI's token cli@seed/);
    expect(refusals()).toBe(1);
  });

  it('a recorded service that is gone (connection refused) is a warning on stderr, and the store is read', async () => {
    const pid = svc!.child.pid!;
    await svc!.kill9();
    svc = undefined;
    const [table, json] = [await kseed(['status']), await kseed(['--json', 'status'])];
    for (const r of [table, json]) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`warning: the seed service recorded in ${path.join(root, '.kseed', 'run', 'api.json')} (pid ${pid}, http://127.0.0.1:${PORT}) refuses connections: it is gone; using the state store directly`);
    }
    expect(table.stdout).toMatch(/n2 +active +on +10\.77\.0\.100/);
    expect(JSON.parse(json.stdout).api).toMatchObject({ running: false, crashed: { pid } });
  });
});
