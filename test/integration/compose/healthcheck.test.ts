/**
 * The stack's healthchecks grep /proc/net/{tcp,udp} for the seed address
 * and port (the images carry no client tools). Checked against the kernel:
 * sockets bound on loopback show up exactly in the rendered form.
 */
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { renderStack } from '../../../src/render/index.js';
import { labSite } from '../../fixtures/compose/sites.js';
import { readFileSync } from 'node:fs';

const work = mkdtempSync(path.join(os.tmpdir(), 'kseedtest-health-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function probes(): Promise<Record<string, string[]>> {
  const site = labSite(work);
  site.seed = { ...site.seed, address: '127.0.0.1', prefix: 8, ports: { ...site.seed.ports, http: 15180, registry: 15150 } };
  await renderStack(site);
  const doc = YAML.parse(readFileSync(path.join(work, '.kseed', 'stack', 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, { healthcheck: { test: string[] } }>;
  };
  return Object.fromEntries(Object.entries(doc.services).map(([k, v]) => [k, v.healthcheck.test]));
}

/** Runs a `["CMD", ...]` healthcheck on this host; true when it exits 0. */
function run(test: string[]): boolean {
  try {
    execFileSync(test[1] as string, test.slice(2), { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('healthcheck probes', () => {
  it('see a TCP listener and a UDP socket on the seed address, and nothing before', async () => {
    const p = await probes();
    expect(run(p.http!)).toBe(false);
    expect(run(p.registry!)).toBe(false);
    expect(run(p.dnsmasq!)).toBe(false);
    const srv = net.createServer();
    const srv2 = net.createServer();
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => srv.listen(15180, '127.0.0.1', r));
    await new Promise<void>((r) => srv2.listen(15150, '127.0.0.1', r));
    // dnsmasq's TFTP port is always 69: a UDP socket on 127.0.0.1:69 stands in for it.
    await new Promise<void>((r) => udp.bind(69, '127.0.0.1', r));
    try {
      expect(run(p.http!)).toBe(true);
      expect(run(p.registry!)).toBe(true);
      expect(run(p.dnsmasq!)).toBe(true);
    } finally {
      srv.close();
      srv2.close();
      udp.close();
    }
  });
});
