/**
 * `kseed serve --tls` (port 18346): a CA kseed makes in .kseed/secrets/
 * (keys 0600) signs the service's certificate for the address it listens on;
 * real clients verify it with the CA file: openssl verify, curl --cacert,
 * and kseed's own CLI with KSEED_CA. Without the CA the connection is
 * refused by the client, saying what to set; a restart keeps the CA, and a
 * new address gets a new certificate from the same CA.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runKseed } from '../../helpers/cli.js';
import { needPeers } from '../../helpers/peers.js';
import { createToken, type Service, siteDir, startService } from './helpers.js';

const PORT = 18346;
const ok = needPeers('openssl', 'curl');

describe.skipIf(!ok)('kseed serve --tls', () => {
  let root: string;
  let svc: Service | undefined;
  let token: string;
  let secrets: string;

  beforeAll(async () => {
    ensureBuilt();
    root = siteDir('kseed-api-tls-', 2);
    secrets = path.join(root, '.kseed', 'secrets');
    token = await createToken(root, 'tls');
  });
  afterAll(async () => {
    await svc?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const curl = (url: string, args: string[] = []) => spawnSync('curl', ['-sS', '-o', '-', '-w', '\n%{http_code}', ...args, url], { encoding: 'utf8' });

  it('serves HTTPS with a certificate of its own CA that openssl, curl and the CLI verify with the CA file', async () => {
    svc = await startService(root, PORT, ['--tls']);
    expect(svc.url).toBe(`https://127.0.0.1:${PORT}`);
    const ca = path.join(secrets, 'api-ca.crt');
    for (const key of ['api-ca.key', 'api.key']) expect(statSync(path.join(secrets, key)).mode & 0o777, key).toBe(0o600);
    expect(JSON.parse(readFileSync(path.join(root, '.kseed', 'run', 'api.json'), 'utf8'))).toMatchObject({ url: svc.url, ca });
    expect(execFileSync('openssl', ['verify', '-CAfile', ca, path.join(secrets, 'api.crt')], { encoding: 'utf8' })).toBe(`${path.join(secrets, 'api.crt')}: OK\n`);
    const ext = execFileSync('openssl', ['x509', '-in', path.join(secrets, 'api.crt'), '-noout', '-ext', 'subjectAltName,extendedKeyUsage,basicConstraints'], { encoding: 'utf8' });
    expect(ext).toMatch(/IP Address:127\.0\.0\.1\n/);
    expect(ext).toContain('TLS Web Server Authentication');
    expect(ext).toContain('CA:FALSE');

    const health = curl(`${svc.url}/api/v1/health`, ['--cacert', ca]);
    expect(health.status, health.stderr).toBe(0);
    expect(health.stdout).toMatch(/^\{"ok":true,"api":"v1",.*\}\n\n200$/);
    expect(curl(`${svc.url}/api/v1/nodes`, ['--cacert', ca]).stdout).toMatch(/^\{"error":"no-token",.*\}\n\n401$/);
    // no CA: curl refuses the certificate (exit 60: peer certificate cannot be authenticated)
    expect(curl(`${svc.url}/api/v1/health`).status).toBe(60);

    const env = { KSEED_URL: svc.url, KSEED_TOKEN: token };
    const list = await runKseed(['--json', 'lease', 'acquire', '--owner', 'tls-ci'], { cwd: root, env: { ...env, KSEED_CA: ca } });
    expect(list.code, list.stdout).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject({ owner: 'tls-ci', nodes: [{ name: 'n1' }], created_by: 'tls' });
    const noCa = await runKseed(['lease', 'list'], { cwd: root, env });
    expect(noCa.code).toBe(1);
    expect(noCa.stderr).toMatch(new RegExp(`^kseed: the seed service at https://127\\.0\\.0\\.1:${PORT} does not answer \\((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)\\): set KSEED_CA to the seed's \\.kseed/secrets/api-ca\\.crt\\n$`));
    const badCa = await runKseed(['lease', 'list'], { cwd: root, env: { ...env, KSEED_CA: path.join(secrets, 'nope.crt') } });
    expect(badCa.code).toBe(2);
    expect(badCa.stderr).toContain(`KSEED_CA ${path.join(secrets, 'nope.crt')}: ENOENT`);
  });

  it('a restart keeps the CA and the certificate; another address gets a new certificate from the same CA', async () => {
    const ca = readFileSync(path.join(secrets, 'api-ca.crt'), 'utf8');
    const cert = readFileSync(path.join(secrets, 'api.crt'), 'utf8');
    await svc!.stop();
    svc = await startService(root, PORT, ['--tls']);
    expect(readFileSync(path.join(secrets, 'api-ca.crt'), 'utf8')).toBe(ca);
    expect(readFileSync(path.join(secrets, 'api.crt'), 'utf8')).toBe(cert);
    await svc.stop();
    svc = await startService(root, PORT, ['--tls', '--host', '127.0.0.2']);
    expect(readFileSync(path.join(secrets, 'api-ca.crt'), 'utf8')).toBe(ca);
    expect(readFileSync(path.join(secrets, 'api.crt'), 'utf8')).not.toBe(cert);
    const r = curl(`https://127.0.0.2:${PORT}/api/v1/health`, ['--cacert', path.join(secrets, 'api-ca.crt')]);
    expect(r.stdout, r.stderr).toMatch(/\n200$/);
  });
});
