/**
 * Discovery: ipmi_sim BMCs on UDP 623 of some of 127.0.0.1-62 (plus one
 * just outside the range); a scan of 127.0.0.0/26 finds exactly those
 * inside. Binding 623 needs root.
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { needPeers, needRoot } from '../../../helpers/peers.js';
import { discover } from '../../../../src/bmc/discover.js';
import { startBmc, tempRoot, writeBmc, type SimBmc } from './helpers.js';

const ok = needPeers('ipmi_sim') && needRoot();
const INSIDE = ['127.0.0.3', '127.0.0.17', '127.0.0.40', '127.0.0.62'];
const OUTSIDE = '127.0.0.70';
const repo = path.resolve(__dirname, '../../../..');

describe.skipIf(!ok)('discover 127.0.0.0/26 on UDP 623', () => {
  let root: string;
  const bmcs: SimBmc[] = [];

  beforeAll(async () => {
    root = tempRoot('kseed-ipmi-disc-');
    const specs = [...INSIDE, OUTSIDE].map((address, i) => ({
      name: `d${i}`,
      address,
      port: 623,
      // one BMC configured badly on purpose: anonymous login and IPMI 1.5 'none' allowed
      ...(address === '127.0.0.40' ? { anonymous: true, auths: 'none md5' } : {}),
      // and one whose admin password differs from the rest
      ...(address === '127.0.0.17' ? { password: 'different' } : {}),
    }));
    bmcs.push(...((await Promise.all(specs.map((s) => startBmc(writeBmc(root, s))))) as SimBmc[]));
  });
  afterAll(async () => {
    await Promise.all(bmcs.map((b) => b.stop()));
    rmSync(root, { recursive: true, force: true });
  });

  it('finds exactly the BMCs inside the range, with versions, suites and findings', async () => {
    const found = await discover({ range: '127.0.0.0/26', rate: 2000, timeoutMs: 400 });
    expect(found.map((f) => f.address)).toEqual(INSIDE);
    for (const f of found) {
      expect(f).toMatchObject({ port: 623, protocols: ['ipmi'], asf: true, ipmiVersions: ['1.5', '2.0'], channel: 1 });
      // what ipmi_sim offers (lab.md): 0-3 and 6 work, 7/8 open but fail later, no SHA-256 suites
      expect(f.cipherSuites).toEqual(expect.arrayContaining([0, 1, 2, 3, 6]));
      expect(f.cipherSuites).not.toContain(17);
      expect(f.findings.map((x) => x.code)).toContain('cipher-0');
    }
    const bad = found.find((f) => f.address === '127.0.0.40')!;
    expect(bad.findings.map((x) => x.code)).toEqual(expect.arrayContaining(['cipher-0', 'anonymous-login', 'ipmi15-none']));
    expect(bad.authTypes).toEqual(expect.arrayContaining(['none', 'md5']));
    const good = found.find((f) => f.address === '127.0.0.3')!;
    expect(good.findings.map((x) => x.code)).toEqual(['cipher-0']);
    expect(good.authTypes).toEqual(['md5']);
  });

  it('with credentials: logs in to read the vendor (IANA number to name) and reports failed logins', async () => {
    const found = await discover({ range: '127.0.0.0/26', rate: 2000, timeoutMs: 400, probeSuites: false, credentials: { username: 'admin', password: 'password' } });
    expect(found.map((f) => f.address)).toEqual(INSIDE);
    for (const f of found.filter((x) => x.address !== '127.0.0.17')) {
      expect(f.login).toBe('ok');
      expect(f.vendor).toEqual({ iana: 4753, name: 'MontaVista (OpenIPMI)' });
    }
    const other = found.find((f) => f.address === '127.0.0.17')!;
    expect(other.login).toBe('auth: wrong password (RAKP 2 HMAC is invalid)');
    expect(other.vendor).toBeUndefined();
    expect(JSON.stringify(found)).not.toContain('"password"');
  });

  it.skipIf(!existsSync(path.join(repo, 'dist/cli/discover.js')))('kseed discover --redfish finds a Redfish service root beside the IPMI BMCs', async () => {
    // a stand-in Redfish service (the redfish area's DMTF-style service root fixture) on
    // 127.0.0.3, which also has an IPMI BMC, and on 127.0.0.9, which has none
    const serviceRoot = readFileSync(path.join(repo, 'test/fixtures/redfish/service-root.json'));
    const servers = await Promise.all(
      ['127.0.0.3', '127.0.0.9'].map(
        (addr) =>
          new Promise<http.Server>((resolve) => {
            const srv = http.createServer((req, res) => {
              if (req.url === '/redfish/v1/' || req.url === '/redfish/v1') {
                res.writeHead(200, { 'content-type': 'application/json' });
                res.end(serviceRoot);
              } else {
                res.writeHead(404);
                res.end();
              }
            });
            srv.listen(16900, addr, () => resolve(srv));
          }),
      ),
    );
    try {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [path.join(repo, 'bin/kseed.js'), 'discover', '--range', '127.0.0.0/26', '--redfish', '--redfish-scheme', 'http', '--redfish-port', '16900', '--json'],
        { cwd: root, timeout: 60_000 },
      );
      const r = JSON.parse(stdout) as { found: { address: string; protocols: string[]; redfish?: { vendor?: string } }[] };
      expect(r.found.map((f) => [f.address, f.protocols.join('+')])).toEqual([
        ['127.0.0.3', 'ipmi+redfish'],
        ['127.0.0.9', 'redfish'],
        ['127.0.0.17', 'ipmi'],
        ['127.0.0.40', 'ipmi'],
        ['127.0.0.62', 'ipmi'],
      ]);
      expect(r.found[1]!.redfish!.vendor).toBe('Kseedlabs');
    } finally {
      await Promise.all(servers.map((srv) => new Promise((res) => srv.close(res))));
    }
  });

  it.skipIf(!existsSync(path.join(repo, 'dist/cli/discover.js')))('kseed discover --json --write (built CLI)', async () => {
    const out = path.join(root, 'found.yaml');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [path.join(repo, 'bin/kseed.js'), 'discover', '--range', '127.0.0.0/26', '--json', '--write', out, '--timeout', '400'],
      { cwd: root, timeout: 60_000 },
    );
    const r = JSON.parse(stdout) as { scanned: number; found: { address: string }[] };
    expect(r.scanned).toBe(62);
    expect(r.found.map((f) => f.address)).toEqual(INSIDE);
    const frag = parse(readFileSync(out, 'utf8')) as { nodes: { name: string; bmc: { type: string; address: string; cipher_suite?: number } }[] };
    expect(frag.nodes.map((n) => n.bmc.address)).toEqual(INSIDE);
    expect(frag.nodes[0]).toMatchObject({ name: 'bmc-127-0-0-3', bmc: { type: 'ipmi', address: '127.0.0.3', cipher_suite: 3 } });
    // never overwrites
    const again = await promisify(execFile)(process.execPath, [path.join(repo, 'bin/kseed.js'), 'discover', '--range', '127.0.0.3/32', '--write', out], {
      cwd: root,
    }).catch((e: { code: number; stderr: string }) => e);
    expect((again as { code: number }).code).toBe(2);
    expect((again as { stderr: string }).stderr).toMatch(/exists/);
  });
});
