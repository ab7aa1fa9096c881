/**
 * What `kseed render` writes must be accepted by the tools that will read it:
 * the Compose-spec JSON schema (Debian's docker-compose ships it), Compose
 * itself (`config -q`), dnsmasq (`--test`) and nginx (`-t`). Sites: the lab,
 * a rack (3 controllers, 5 computes, 3 storage) and the DHCP-mode variants.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStack } from '../../../src/render/index.js';
import type { Site } from '../../../src/site/types.js';
import { needPeers, needRoot } from '../../helpers/peers.js';
import { labSite, rackSite } from '../../fixtures/compose/sites.js';
import { composeAjv, COMPOSE_SCHEMA as SCHEMA, loadComposeSchema as loadSchema } from './fixture.js';

const ok = needPeers('docker-compose', 'dnsmasq', 'nginx', 'unshare', 'ip', SCHEMA) && needRoot();

type Variant = { name: string; site: (dir: string) => Site };
const variants: Variant[] = [
  { name: 'lab', site: (d) => labSite(d) },
  { name: 'rack', site: (d) => rackSite(d) },
  {
    name: 'rack-proxy',
    site: (d) => {
      const s = rackSite(d);
      s.seed = { ...s.seed, dhcp: { mode: 'proxy', lease_seconds: 3600 } };
      return s;
    },
  },
  {
    name: 'rack-dhcp-off-no-registry',
    site: (d) => {
      const s = rackSite(d);
      s.seed = { ...s.seed, dhcp: { mode: 'off', lease_seconds: 3600 } };
      s.registry = { ...s.registry, enabled: false };
      s.ironic = { ...s.ironic, inspector: false };
      return s;
    },
  },
  {
    name: 'lab-discovery-custom-ports',
    site: (d) => {
      const s = labSite(d);
      s.seed = {
        ...s.seed,
        dhcp: { ...s.seed.dhcp, discovery_pool: true, router: '10.77.0.254', dns: ['10.77.0.53'] },
        ports: { http: 15080, tftp: 69, ironic_api: 15385, registry: 15500, inspector: 15050 },
      };
      return s;
    },
  },
];

describe.skipIf(!ok)('rendered stacks pass their tools', () => {
  let root: string;
  const dirs = new Map<string, string>();

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'kseedtest-validate-'));
    for (const v of variants) {
      const d = path.join(root, v.name);
      mkdirSync(d);
      await renderStack(v.site(d));
      dirs.set(v.name, path.join(d, '.kseed', 'stack'));
    }
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('the schema check itself catches a bad file', () => {
    const validate = composeAjv().compile(loadSchema());
    expect(validate({ services: { a: { image: 'x', healthcheck: { interval: 'soon' } } } })).toBe(false);
    expect(validate({ services: { a: { image: 'x', no_such_key: 1 } } })).toBe(false);
    expect(validate({ services: { a: { image: 'x', healthcheck: { interval: '1m30s' } } } })).toBe(true);
  });

  for (const v of variants) {
    describe(v.name, () => {
      const stack = () => dirs.get(v.name) as string;

      it('docker-compose.yml matches the Compose-spec schema', () => {
        const validate = composeAjv().compile(loadSchema());
        const doc = YAML.parse(readFileSync(path.join(stack(), 'docker-compose.yml'), 'utf8'));
        const valid = validate(doc);
        expect(validate.errors ?? []).toEqual([]);
        expect(valid).toBe(true);
      });

      it('docker-compose config -q accepts it', () => {
        const r = spawnSync('docker-compose', ['-p', `kseedtest-val-${v.name}`, '-f', 'docker-compose.yml', 'config', '-q'], {
          cwd: stack(),
          encoding: 'utf8',
        });
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
      });

      it('dnsmasq --test accepts dnsmasq.conf', () => {
        const r = spawnSync('dnsmasq', ['--test', '-C', path.join(stack(), 'dnsmasq', 'dnsmasq.conf')], { encoding: 'utf8' });
        expect(r.status).toBe(0);
        expect(r.stderr).toContain('syntax check OK');
      });

      it('nginx -t accepts nginx.conf under a private prefix', () => {
        const prefix = path.join(root, `${v.name}-nginx`);
        // what the http entrypoint creates before starting nginx
        mkdirSync(path.join(prefix, 'run'), { recursive: true });
        mkdirSync(path.join(prefix, 'tmp'), { recursive: true });
        const site = v.site(path.dirname(path.dirname(stack())));
        // nginx -t binds its listen addresses: give it the seed address in a
        // private, anonymous network namespace that vanishes with the process.
        const script = [
          'ip link set lo up',
          `ip addr add ${site.seed.address}/${site.seed.prefix} dev lo`,
          `exec nginx -t -p "${prefix}/" -c "${path.join(stack(), 'http', 'nginx.conf')}"`,
        ].join(' && ');
        // stdout a real file: access_log opens /dev/stdout, which fails on a socket.
        const r = spawnSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
        expect(r.stderr).toContain('test is successful');
        expect(r.status).toBe(0);
      });

      it('entrypoints are valid sh', () => {
        for (const svc of ['ironic', 'dnsmasq', 'http', 'registry', 'inspector']) {
          const f = path.join(stack(), svc, 'entrypoint.sh');
          if (!existsSync(f)) continue;
          const r = spawnSync('sh', ['-n', f], { encoding: 'utf8' });
          expect(r.stderr, f).toBe('');
          expect(r.status, f).toBe(0);
        }
      });
    });
  }
});
