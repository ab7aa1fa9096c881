/**
 * probeRedfish against the STAND-IN Redfish service of ./server.ts (no Redfish
 * emulator is packaged here), a silent TCP listener and a plain HTTP server
 * that is not Redfish. Ports: 19500-19599.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needPeers } from '../../../helpers/peers.js';
import { probeRedfish } from '../../../../src/bmc/redfish/discover.js';
import { RedfishStandIn, SilentServer, listenInRange, selfSignedCert } from './server.js';

const haveOpenssl = needPeers('openssl');
let srv: RedfishStandIn;

beforeAll(async () => {
  if (!haveOpenssl) return;
  srv = new RedfishStandIn({ tls: selfSignedCert() });
  await srv.listen(19500);
});
afterAll(async () => {
  await srv?.close();
});

describe.skipIf(!haveOpenssl)('probeRedfish', () => {
  it('finds the service root without credentials and reads vendor, version, UUID', async () => {
    const found = await probeRedfish('127.0.0.1', { port: srv.port, insecureTls: true, timeoutMs: 3000 });
    expect(found).toEqual({
      found: true,
      vendor: 'Kseedlabs',
      product: 'Rack Server R1',
      redfishVersion: '1.15.0',
      uuid: '6a1b2c3d-0000-4000-8000-0000000000aa',
    });
    expect(srv.log.at(-1)).toMatchObject({ method: 'GET', path: '/redfish/v1/', auth: 'none' });
  });

  it('does not trust a self-signed certificate unless asked, and says why', async () => {
    const r = await probeRedfish('127.0.0.1', { port: srv.port, timeoutMs: 3000 });
    expect(r.found).toBe(false);
    expect(r.reason).toMatch(/TLS certificate not trusted/);
  });

  it('reports nothing on a silent port within the timeout, and on a refused one', async () => {
    const silent = new SilentServer();
    const port = await silent.listen(19550);
    try {
      const r = await probeRedfish('127.0.0.1', { port, timeoutMs: 800, insecureTls: true });
      expect(r).toMatchObject({ found: false });
      expect(r.reason).toMatch(/no answer within 800 ms/);
    } finally {
      await silent.close();
    }
    const refused = await probeRedfish('127.0.0.1', { port, timeoutMs: 800 });
    expect(refused.found).toBe(false);
    expect(refused.reason).toMatch(/ECONNREFUSED/);
  });

  it('does not mistake another web server for Redfish', async () => {
    const web = http.createServer((req, res) => {
      res.writeHead(req.url === '/redfish/v1/' ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ hello: 'world' }));
    });
    const port = await listenInRange(web, 19560);
    try {
      const r = await probeRedfish('127.0.0.1', { port, scheme: 'http', timeoutMs: 2000 });
      expect(r).toEqual({ found: false, reason: 'not a Redfish service root' });
    } finally {
      await new Promise<void>((r) => web.close(() => r()));
    }
  });
});
