/**
 * `kseed bmc bootdev`, `bmc info`, `enroll` and `discover` (jobs) through the seed service, on a
 * simulated lab (`kseed lab up --sim 2`, lab "bv", ipmi_sim BMCs on UDP
 * 15980-15981, the service on 18379): the same stdout (table and --json),
 * stderr and exit code whether the service runs (its request log shows the
 * CLI's calls) or not (the CLI works on the store); a BMC that refuses the
 * login is the same error either way (502 over the API); bootdev of a node
 * leased to someone else is refused either way naming the holder and the
 * expiry (409 over the API), info still reads it, enroll refuses it alone
 * with the same words either way; a recorded service that
 * refuses connections is a warning and the store is used; a BMC password
 * `{env: NAME}` unset where the service runs is refused naming the node,
 * the field, the variable and the fix (503, exit 1). Lane: rest.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CliRun } from '../../helpers/cli.js';
import { ensureBuilt } from '../../helpers/cli.js';
import { needPeers, needRoot } from '../../helpers/peers.js';
import { api, createToken, type Service, simSeed, startService } from './helpers.js';

const PORT = 18379;
const LAB = 'bv';
const BMC_BASE = 15980;
const [N1, N2] = ['node01', 'node02'];

const ok = needRoot() && needPeers('ip', 'ipmi_sim', 'ipmitool', '/usr/lib/ipxe/undionly.kpxe');

/** What differs between two runs: the times (ms in --json, "N ms" in tables). */
const steady = (text: string) => {
  try {
    return JSON.stringify(JSON.parse(text), (k, v) => (k === 'ms' ? 0 : v), 2);
  } catch {
    return text.replace(/\d+ ms\b/g, 'N ms').replace(/-+/g, '-').replace(/ +/g, ' ');
  }
};

describe.skipIf(!ok)('bmc bootdev and info through the seed service print what they print on the store (simulated lab, real service)', () => {
  let lab: Awaited<ReturnType<typeof simSeed>>;
  let svc: Service | undefined;
  let token = '';
  const clean = { KSEED_URL: undefined, KSEED_TOKEN: undefined, KSEED_OWNER: undefined };
  const k = (args: string[], env: Record<string, string | undefined> = {}) => lab.k(args, { env: { ...clean, ...env } });
  /** The requests of `user` in the service's log. */
  const calls = (route: string, user = 'cli@seed') => svc!.output().split('\n').filter((l) => l.includes(`"user":"${user}"`) && l.includes(`"path":"/api/v1${route}"`));

  /** The same commands on the store, then through the service: stdout, stderr and exit code compared. */
  const SCRIPT: [string, string[]][] = [
    ['bootdev-json', ['--json', 'bmc', 'bootdev', N1, 'pxe', '--uefi']],
    ['info-json', ['--json', 'bmc', 'info', N1]],
    ['bootdev', ['bmc', 'bootdev', N1, 'disk', '--persistent']],
    ['info', ['bmc', 'info', N1]],
    // bad input either way (exit 2), nothing sent to a BMC
    ['bad-device', ['bmc', 'bootdev', N1, 'floppy']],
    ['unknown-node', ['--json', 'bmc', 'info', 'node09']],
    // node02's BMC refuses the wrong password (set below): the BMC's error is the command's, exit 1
    ['bmc-refuses', ['bmc', 'bootdev', N2, 'pxe']],
    ['bmc-refuses-json', ['--json', 'bmc', 'info', N2]],
    // enroll, a job through the service: node02 fails (its BMC refuses the login), exit 3
    ['enroll', ['enroll', N1, N2]],
    ['enroll-json', ['--json', 'enroll', '--all']],
    ['enroll-unknown', ['enroll', 'node09']],
    // discover, a job through the service: the scan runs from the seed
    ['discover', ['discover', '--range', '127.0.0.1/32', '--port', String(BMC_BASE)]],
    ['discover-json', ['--json', 'discover', '--range', '127.0.0.1/32', '--port', String(BMC_BASE + 1)]],
    ['discover-bad', ['discover', '--range', '10.0.0.0/8']],
  ];
  const script = async () => {
    const out: Record<string, CliRun> = {};
    for (const [name, args] of SCRIPT) out[name] = await k(args);
    return out;
  };

  beforeAll(async () => {
    ensureBuilt();
    lab = await simSeed({ prefix: 'ksl-bv-', lab: LAB, nodes: 2, bmcBase: BMC_BASE });
    token = await createToken(lab.root, 'ci');
    // node02's own BMC password, wrong: its BMC refuses the session (RAKP), at once
    const site = readFileSync(lab.site, 'utf8');
    const line = new RegExp(`(  - name: ${N2}\\n    bmc: \\{ address: [^,]+, port: \\d+)( \\})`);
    expect(site).toMatch(line);
    writeFileSync(lab.site, site.replace(line, '$1, password: { value: not-the-password }$2'));
  }, 240_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    process.stderr.write(`--- service\n${svc?.output().split('\n').slice(-40).join('\n')}\n`);
  });

  afterAll(async () => {
    await svc?.stop();
    await lab?.down();
  }, 60_000);

  it('bootdev and info: the same stdout, stderr and exit code on the store and through the service', async () => {
    const direct = await script();
    svc = await startService(lab.root, PORT);
    const via = await script();
    for (const [name] of SCRIPT) {
      expect(via[name]!.code, name).toBe(direct[name]!.code);
      expect(steady(via[name]!.stdout), name).toBe(steady(direct[name]!.stdout));
      expect(via[name]!.stderr, name).toBe(direct[name]!.stderr);
    }
    expect(via['bootdev-json']!.code, via['bootdev-json']!.stderr).toBe(0);
    expect(JSON.parse(via['bootdev-json']!.stdout)).toMatchObject({ node: N1, set: { device: 'pxe', uefi: true, persistent: false }, reported: { device: 'pxe' } });
    expect(JSON.parse(via['info-json']!.stdout)).toMatchObject({ node: N1, bmc: `127.0.0.1:${BMC_BASE}`, power: expect.any(String), boot: { device: 'pxe' }, identity: { protocol: 'ipmi' } });
    expect(via.bootdev!.stdout).toMatch(new RegExp(`^${N1}: boot device disk \\(legacy BIOS, persistent\\); BMC reports disk`));
    expect(via.info!.stdout).toMatch(/^boot device +disk/m);
    expect([via['bad-device']!.code, via['unknown-node']!.code]).toEqual([2, 2]);
    expect(via['bmc-refuses']!.code).toBe(1);
    expect(via['bmc-refuses']!.stderr).toMatch(new RegExp(`^kseed: 127\\.0\\.0\\.1:${BMC_BASE + 1}: .*password`, 'm'));
    expect(JSON.parse(via['bmc-refuses-json']!.stdout)).toMatchObject({ error: expect.stringMatching(/^bmc-/) });
    expect(via.enroll!.code).toBe(3);
    expect(via.enroll!.stdout).toMatch(new RegExp(`^${N1} +manageable +qemu-lab +\\w+ +\\d+ ms +- *$`, 'm'));
    expect(JSON.parse(via['enroll-json']!.stdout)).toMatchObject({ nodes: [{ node: N1, result: 'manageable', identity: { protocol: 'ipmi' } }, { node: N2, result: 'enroll failed', error: expect.stringMatching(/password/) }] });
    expect(via.enroll!.stderr).toBe('enrolling 2 nodes...\n');
    expect(via['enroll-unknown']!.code).toBe(2);
    expect(via.discover!.code, via.discover!.stderr).toBe(0);
    expect(via.discover!.stderr).toBe('scanning 1 addresses of 127.0.0.1/32 (UDP 15980)...\n');
    expect(JSON.parse(via['discover-json']!.stdout)).toMatchObject({ range: '127.0.0.1/32', scanned: 1, found: [{ address: '127.0.0.1', protocols: ['ipmi'], ipmi: { port: BMC_BASE + 1 } }] });
    expect(via['discover-bad']!.code).toBe(2);
    // the second run went through the service
    expect(calls('/discover').filter((l) => l.includes('"status":202'))).toHaveLength(2);
    expect(svc!.output().match(/"type":"job","job":"job-[0-9a-f]+","kind":"discover","user":"cli@seed","state":"succeeded"/g)).toHaveLength(2);
    expect(calls('/enroll').filter((l) => l.includes('"status":202'))).toHaveLength(2);
    expect(calls('/enroll').filter((l) => l.includes('"status":400'))).toHaveLength(1);
    expect(svc!.output().match(/"type":"job","job":"job-[0-9a-f]+","kind":"enroll","user":"cli@seed","state":"succeeded"/g)).toHaveLength(2);
    expect(calls(`/nodes/${N1}/bootdev`).filter((l) => l.includes('"status":200'))).toHaveLength(2);
    expect(calls(`/nodes/${N1}/bmc`).filter((l) => l.includes('"status":200'))).toHaveLength(2);
    expect(calls('/nodes/node09/bmc').filter((l) => l.includes('"status":400'))).toHaveLength(1);
    expect(calls(`/nodes/${N2}/bootdev`).filter((l) => l.includes('"status":502'))).toHaveLength(1);
    expect(calls(`/nodes/${N2}/bmc`).filter((l) => l.includes('"status":502'))).toHaveLength(1);
    // KSEED_URL and KSEED_TOKEN: that service, as that token
    const remote = await k(['--json', 'bmc', 'info', N1], { KSEED_URL: svc!.url, KSEED_TOKEN: token });
    expect(remote.code, remote.stderr).toBe(0);
    expect(JSON.parse(remote.stdout)).toMatchObject({ node: N1, boot: { device: 'disk' } });
    expect(calls(`/nodes/${N1}/bmc`, 'ci').filter((l) => l.includes('"status":200'))).toHaveLength(1);
  });

  it('bootdev of a node leased to someone else: the same refusal on both paths, 409 over the API naming holder and expiry; info still reads it', async () => {
    const l = await api(svc!.url, 'POST', '/leases', { token, body: JSON.stringify({ owner: 'ci-9', nodes: [N1], ttl: '1h' }) });
    expect(l.status).toBe(201);
    const held = `node ${N1} is leased to ci-9 until ${l.body.expires_at} (lease ${l.body.id}; the holder runs verbs with KSEED_OWNER=ci-9); nothing was done`;
    const bootOf = async () => JSON.parse((await k(['--json', 'bmc', 'info', N1])).stdout).boot;
    const before = await bootOf();
    const refused = await k(['bmc', 'bootdev', N1, 'pxe']);
    expect([refused.code, refused.stdout, refused.stderr]).toEqual([1, '', `kseed: ${held}\n`]);
    const raw = await api(svc!.url, 'POST', `/nodes/${N1}/bootdev`, { token: await createToken(lab.root, 'other'), body: '{"device":"pxe"}' });
    expect(raw).toEqual({ status: 409, body: { error: 'node-leased', message: held } });
    // the holder goes ahead: through the API its token, from the seed's CLI its KSEED_OWNER
    const mine = await api(svc!.url, 'POST', `/nodes/${N1}/bootdev`, { token, body: '{"device":"disk","persistent":true}' });
    expect(mine.status).toBe(200);
    const asHolder = await k(['bmc', 'bootdev', N1, 'disk', '--persistent'], { KSEED_OWNER: 'ci-9' });
    expect(asHolder.code, asHolder.stderr).toBe(0);
    expect(await bootOf()).toEqual(before);

    // enroll refuses the leased node alone, the others enroll
    const enrollVia = await k(['--json', 'enroll', N1, N2]);

    // on the store, the same words, and the boot device untouched
    await svc!.stop();
    svc = undefined;
    const onStore = await k(['bmc', 'bootdev', N1, 'pxe']);
    expect([onStore.code, onStore.stdout, onStore.stderr]).toEqual([refused.code, refused.stdout, refused.stderr]);
    const enrollDirect = await k(['--json', 'enroll', N1, N2]);
    expect([enrollVia.code, steady(enrollVia.stdout), enrollVia.stderr]).toEqual([enrollDirect.code, steady(enrollDirect.stdout), enrollDirect.stderr]);
    expect(enrollDirect.code).toBe(1);
    expect(JSON.parse(enrollDirect.stdout).nodes[0]).toMatchObject({ node: N1, error: expect.stringContaining('leased to ci-9') });
    expect(await bootOf()).toEqual(before);
    expect((await k(['bmc', 'bootdev', N1, 'disk', '--persistent'], { KSEED_OWNER: 'ci-9' })).code).toBe(0);
  });

  it('a recorded service that refuses connections: a warning, and the store answers', async () => {
    svc = await startService(lab.root, PORT);
    await svc.kill9();
    const r = await k(['--json', 'bmc', 'info', N1]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^warning: the seed service recorded in .* refuses connections: it is gone; using the state store directly$/m);
    expect(JSON.parse(r.stdout)).toMatchObject({ node: N1, boot: { device: 'disk' } });
    svc = undefined;
  });

  it('a BMC password given as {env: NAME} unset where the service runs: the service names node, field and variable and the fix; nothing done', async () => {
    const site = readFileSync(lab.site, 'utf8');
    const file = /password: \{ file: ("[^"]+") \}/.exec(site)!;
    const pw = readFileSync(JSON.parse(file[1]!) as string, 'utf8').replace(/\n$/, '');
    writeFileSync(lab.site, site.replace(file[0], 'password: { env: KST_BV_BMC_PASSWORD }'));
    try {
      expect(process.env.KST_BV_BMC_PASSWORD).toBeUndefined();
      // the service starts without it; the CLI has it
      svc = await startService(lab.root, PORT);
      // as the holder of node01's lease (the test above): the lease is checked first
      const env = { KST_BV_BMC_PASSWORD: pw, KSEED_OWNER: 'ci-9' };
      const jobs = () => svc!.output().split('"type":"job"').length;
      const before = jobs();
      const why = `node ${N1}: bmc.password is {env: KST_BV_BMC_PASSWORD}, and KST_BV_BMC_PASSWORD is not set in the seed service's environment (pid ${svc.child.pid}: it reads BMC secrets where \`kseed up\` ran, not where this command runs): set KST_BV_BMC_PASSWORD there and restart the service (\`kseed down\`, then \`KST_BV_BMC_PASSWORD=... kseed up\`), or run the seed without it (\`kseed down\`, then \`kseed up --no-api\`: commands then work on the state store, with their own environment); nothing was done`;
      for (const args of [['bmc', 'power', N1, 'status'], ['bmc', 'bootdev', N1, 'pxe'], ['bmc', 'info', N1], ['enroll', N1], ['provision', N1]]) {
        const r = await k(args, env);
        expect([r.code, r.stdout, r.stderr], args.join(' ')).toEqual([1, '', `kseed: ${why}\n`]);
      }
      const j = await k(['--json', 'bmc', 'power', N1, N2, 'on'], env);
      expect(j.code).toBe(1);
      expect(JSON.parse(j.stdout)).toEqual({ error: 'secret-missing', message: why });
      expect(calls('/power').filter((l) => l.includes('"status":503'))).toHaveLength(2);
      expect(calls('/provision').filter((l) => l.includes('"status":503'))).toHaveLength(1);
      expect(jobs()).toBe(before);
      // on the store, the CLI's own environment has it
      await svc.stop();
      svc = undefined;
      const direct = await k(['--json', 'bmc', 'power', N1, 'status'], env);
      expect(direct.code, direct.stderr).toBe(0);
      expect(JSON.parse(direct.stdout)).toMatchObject({ nodes: [{ node: N1, ok: true }] });
    } finally {
      writeFileSync(lab.site, site);
    }
  });
});
