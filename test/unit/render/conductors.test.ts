/**
 * ironic.conductors: 1 renders exactly the single-process stack; 2 renders
 * ironic-api, two conductors on their own loopback JSON-RPC addresses and
 * MariaDB, with the database password only in the secrets directory.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renderStack } from '../../../src/render/index.js';
import type { Site } from '../../../src/site/types.js';
import { labSite, rackSite } from '../../fixtures/compose/sites.js';
import { tree } from '../../helpers/tree.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kseedtest-conductors-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const withConductors = (site: Site, n: number | undefined): Site => {
  const ironic = { ...site.ironic } as Partial<Site['ironic']>;
  if (n === undefined) delete ironic.conductors;
  else ironic.conductors = n;
  return { ...site, ironic: ironic as Site['ironic'] };
};

interface ComposeService {
  image: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  secrets?: string[];
  volumes: string[];
  healthcheck: { test: string[] };
}

describe('ironic.conductors', () => {
  for (const [name, make] of [['lab (ramdisk deploys)', labSite], ['rack (inspector)', rackSite]] as const) {
    it(`1 renders the same files as a site without the field: ${name}`, async () => {
      const a = path.join(dir, 'a');
      const b = path.join(dir, 'b');
      const secrets = path.join(dir, 'secrets');
      const r1 = await renderStack(withConductors(make(dir), undefined), { outDir: a, secretsDir: secrets });
      const r2 = await renderStack(withConductors(make(dir), 1), { outDir: b, secretsDir: secrets });
      expect(tree(b)).toEqual(tree(a));
      expect(r2.services).toEqual(r1.services);
      expect(r2.services).not.toContain('mariadb');
      const conf = readFileSync(path.join(b, 'ironic/ironic.conf'), 'utf8');
      expect(conf).toMatch(/^rpc_transport = none$/m);
      expect(conf).toMatch(/^connection = sqlite:/m);
      expect(conf).not.toContain('[json_rpc]');
      // no file a one-conductor stack never had
      expect(readdirSync(secrets).sort()).not.toContain('mariadb-password');
    });
  }

  it('2 renders ironic-api, two conductors with their own JSON-RPC address, and MariaDB', async () => {
    const site = withConductors(labSite(dir), 2);
    const r = await renderStack(site);
    expect(r.services).toEqual(['ironic', 'dnsmasq', 'http', 'registry', 'mariadb', 'ironic-conductor-1', 'ironic-conductor-2']);
    expect(r.images['ironic-conductor-2']).toBe(r.images.ironic);
    expect(r.images.mariadb).toMatch(/^kseed\/mariadb:/);
    const stack = r.outDir;
    const compose = YAML.parse(readFileSync(r.composeFile, 'utf8')) as { services: Record<string, ComposeService>; volumes: Record<string, unknown>; secrets: Record<string, { file: string }> };
    const c1 = compose.services['ironic-conductor-1']!;
    const c2 = compose.services['ironic-conductor-2']!;
    expect(c1.environment).toEqual({ KSEED_IRONIC_ROLE: 'conductor', KSEED_CONDUCTOR_HOST: '127.0.89.1' });
    expect(c2.environment).toEqual({ KSEED_IRONIC_ROLE: 'conductor', KSEED_CONDUCTOR_HOST: '127.0.89.2' });
    // the API made the schema before any conductor starts; the API waits for MariaDB
    expect(c1.depends_on).toEqual({ ironic: { condition: 'service_healthy' } });
    expect(compose.services.ironic!.depends_on).toEqual({ mariadb: { condition: 'service_healthy' } });
    // one httpboot for all: the volume nginx serves
    expect(c2.volumes).toContain('ironic-data:/var/lib/ironic');
    expect(c1.secrets).toContain('ironic-db-conf');
    expect(compose.services.ironic!.secrets).toContain('ironic-db-conf');
    // listening on 127.0.89.2:8089 (little-endian hex, as /proc/net/tcp writes it)
    expect(c2.healthcheck.test).toContain('0259007F:1F99 00000000:0000 0A');
    expect(compose.services.mariadb!.volumes).toContain('mariadb-data:/var/lib/mysql');
    expect(compose.services.mariadb!.secrets).toEqual(['mariadb-password']);
    expect(Object.keys(compose.volumes)).toContain('mariadb-data');

    const conf = readFileSync(path.join(stack, 'ironic/ironic.conf'), 'utf8');
    expect(conf).toMatch(/^rpc_transport = json-rpc$/m);
    expect(conf).not.toMatch(/^connection/m);
    expect(conf).toMatch(/\[json_rpc\]\n(#.*\n)*port = 8089\n/);
    expect(conf).toMatch(/^heartbeat_timeout = 20$/m);
    const entry = readFileSync(path.join(stack, 'ironic/entrypoint.sh'), 'utf8');
    expect(entry).toContain('ironic-conductor "$@" --config-file /etc/ironic/kseed-conductor.conf');
    expect(entry).toContain('ironic-api "$@"');
    // dnsmasq, another uid, must still read tftpboot after a conductor started
    expect(entry).toContain('chmod 0755 /var/lib/ironic/tftpboot');
    expect(readFileSync(path.join(stack, 'mariadb/entrypoint.sh'), 'utf8')).toContain('--bind-address=127.0.89.254 --port=3306');

    // the password lives in the secrets directory (0600), never in the stack
    const secrets = path.join(dir, '.kseed', 'secrets');
    const pw = readFileSync(path.join(secrets, 'mariadb-password'), 'utf8').trim();
    expect(pw.length).toBeGreaterThanOrEqual(24);
    for (const f of ['mariadb-password', 'ironic-db.conf']) expect(statSync(path.join(secrets, f)).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(secrets, 'ironic-db.conf'), 'utf8')).toContain(`mysql+pymysql://ironic:${pw}@127.0.89.254:3306/ironic`);
    for (const [rel, text] of Object.entries(tree(stack))) expect(text.includes(pw), rel).toBe(false);
    const manifest = JSON.parse(readFileSync(path.join(stack, 'kseed-stack.json'), 'utf8')) as { services: string[]; volumes: Record<string, string> };
    expect(manifest.services).toEqual(r.services);
    expect(Object.keys(manifest.volumes)).toContain('mariadb-data');

    // a second render keeps the password and changes nothing
    const again = await renderStack(site);
    expect(again.unchanged).toBe(true);
    expect(readFileSync(path.join(secrets, 'mariadb-password'), 'utf8').trim()).toBe(pw);
  });
});
