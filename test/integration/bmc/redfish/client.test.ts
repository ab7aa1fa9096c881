/**
 * RedfishBmc against a STAND-IN BMC. No Redfish emulator is packaged for this
 * machine, so ./server.ts serves DMTF-mockup-shaped resources
 * (test/fixtures/redfish) over real HTTP/HTTPS sockets on 127.0.0.1 and
 * implements sessions, Basic auth, ComputerSystem.Reset and the Boot PATCH as
 * DSP0266 describes. It stands in for a real BMC; it is not one.
 * Ports: 19000-19499 (the redfish range).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { needPeers } from '../../../helpers/peers.js';
import { RedfishBmc } from '../../../../src/bmc/redfish/client.js';
import { connectBmc } from '../../../../src/bmc/index.js';
import { BmcError } from '../../../../src/bmc/errors.js';
import type { BmcTarget } from '../../../../src/bmc/types.js';
import { RedfishStandIn, SilentServer, selfSignedCert, type StandInOptions } from './server.js';

const PASSWORD = 'rf-Secret-9';
const execFileP = promisify(execFile);
const haveOpenssl = needPeers('openssl');
const SUSHY_PEER = join(import.meta.dirname, 'sushy-peer.py');
// The reference client is optional locally and required in CI (needPeers semantics).
const hasSushy = haveOpenssl && needPeers('/usr/lib/python3/dist-packages/sushy/__init__.py');

// Asynchronous: the stand-in runs in this process and must keep answering.
async function sushy(port: number, op: 'read' | 'write'): Promise<Record<string, unknown>> {
  // requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override verify=False, so drop them.
  const { REQUESTS_CA_BUNDLE: _r, CURL_CA_BUNDLE: _c, ...env } = process.env;
  const { stdout } = await execFileP('/usr/bin/python3', [SUSHY_PEER, String(port), op], {
    env: { ...env, RF_PASSWORD: PASSWORD },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return JSON.parse(stdout) as Record<string, unknown>;
}

let tls: { cert: string; key: string };
let nextBase = 19000;

beforeAll(() => {
  if (haveOpenssl) tls = selfSignedCert();
});

function target(port: number, extra: Partial<BmcTarget> = {}): BmcTarget {
  return {
    protocol: 'redfish',
    address: '127.0.0.1',
    port,
    scheme: 'https',
    insecureTls: true,
    username: 'admin',
    password: PASSWORD,
    timeoutMs: 5000,
    ...extra,
  };
}

/** A fresh stand-in BMC (HTTPS by default), always closed afterwards. */
async function withBmc(opts: StandInOptions, fn: (srv: RedfishStandIn) => Promise<void>): Promise<void> {
  const srv = new RedfishStandIn({ tls, ...opts });
  await srv.listen(nextBase);
  nextBase += 10;
  try {
    await fn(srv);
  } finally {
    await srv.close();
  }
}

async function connected(srv: RedfishStandIn, extra: Partial<BmcTarget> = {}, fn: (bmc: RedfishBmc) => Promise<void>) {
  const bmc = await RedfishBmc.connect(target(srv.port, extra));
  try {
    await fn(bmc);
  } finally {
    await bmc.close();
  }
}

async function failure(p: Promise<unknown>): Promise<BmcError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(BmcError);
    return err as BmcError;
  }
  throw new Error('expected a BmcError, the call succeeded');
}

function expectNoSecret(err: BmcError, password = PASSWORD) {
  const basic = Buffer.from(`admin:${password}`).toString('base64');
  for (const text of [err.message, err.detail ?? '', JSON.stringify(err), String(err.stack), String((err.cause as Error)?.message ?? '')]) {
    expect(text).not.toContain(password);
    expect(text).not.toContain(basic);
  }
}

describe.skipIf(!haveOpenssl)('Redfish client against the stand-in BMC', () => {
  it('logs in with a session, uses X-Auth-Token, deletes the session on close', async () => {
    await withBmc({}, async (srv) => {
      const bmc = await connectBmc(target(srv.port));
      expect(bmc).toBeInstanceOf(RedfishBmc);
      expect((bmc as RedfishBmc).authMode).toBe('session');
      expect(srv.sessions.size).toBe(1);
      expect(await bmc.powerStatus()).toBe('off');
      await bmc.close();
      expect(srv.sessions.size).toBe(0);
      const authed = srv.log.filter((l) => l.path !== '/redfish/v1/' && !(l.method === 'POST' && l.path.endsWith('/Sessions')));
      expect(authed.length).toBeGreaterThan(0);
      expect(authed.every((l) => l.auth === 'session')).toBe(true);
      expect(srv.log.at(-1)).toMatchObject({ method: 'DELETE', path: '/redfish/v1/SessionService/Sessions/1' });
      expect(JSON.stringify(bmc.target)).not.toContain(PASSWORD);
    });
  });

  it('falls back to HTTP Basic when the service offers no sessions', async () => {
    await withBmc({ sessions: false }, async (srv) => {
      await connected(srv, {}, async (bmc) => {
        expect(bmc.authMode).toBe('basic');
        expect(await bmc.powerStatus()).toBe('off');
      });
      expect(srv.log.some((l) => l.path.endsWith('/Sessions'))).toBe(false);
      expect(srv.log.filter((l) => l.path !== '/redfish/v1/').every((l) => l.auth === 'basic')).toBe(true);
    });
  });

  it('re-logs in when the BMC drops the session', async () => {
    await withBmc({}, async (srv) => {
      await connected(srv, {}, async (bmc) => {
        srv.sessions.clear();
        expect(await bmc.powerStatus()).toBe('off');
        expect(srv.sessions.size).toBe(1);
      });
    });
  });

  it('reports a wrong password as an auth error without the password, session and Basic', async () => {
    await withBmc({ echoCredentials: true }, async (srv) => {
      const wrong = await failure(RedfishBmc.connect(target(srv.port, { password: 'nope-' + PASSWORD })));
      expect(wrong.kind).toBe('auth');
      expect(wrong.message).toMatch(/wrong user or password/);
      // The stand-in echoed the password in its 401 text; the client must not repeat it.
      expect(wrong.detail).toContain('***');
      expectNoSecret(wrong, 'nope-' + PASSWORD);
    });
    await withBmc({ echoCredentials: true, sessions: false }, async (srv) => {
      const err = await failure(RedfishBmc.connect(target(srv.port, { password: PASSWORD + 'x' })));
      expect(err.kind).toBe('auth');
      expect(err.message).toMatch(/HTTP 401/);
      // The stand-in echoed the Basic header back; the client must not repeat it.
      expect(err.message).toContain('***');
      expectNoSecret(err, PASSWORD + 'x');
    });
    await withBmc({ echoCredentials: true }, async (srv) => {
      // The right password must not leak either when a later call fails.
      await connected(srv, {}, async (bmc) => {
        srv.sessions.clear();
        srv.res.delete('/redfish/v1/Systems/R1N01');
        const err = await failure(bmc.powerStatus());
        expect(err.kind).toBe('completion');
        expectNoSecret(err);
      });
    });
  });

  it('powers on, off, soft, reset and cycle with the allowed ResetType, idempotently', async () => {
    await withBmc({}, async (srv) => {
      await connected(srv, {}, async (bmc) => {
        expect(await bmc.powerStatus()).toBe('off');
        await bmc.power('on');
        expect(srv.system.PowerState).toBe('On');
        expect(await bmc.powerStatus()).toBe('on');
        await bmc.power('on'); // already on: nothing sent
        await bmc.power('cycle');
        await bmc.power('reset');
        await bmc.power('soft');
        expect(srv.system.PowerState).toBe('Off');
        await bmc.power('off'); // already off
        await bmc.power('on');
        await bmc.power('off');
        expect(await bmc.powerStatus()).toBe('off');
        expect(srv.resets).toEqual(['On', 'PowerCycle', 'ForceRestart', 'GracefulShutdown', 'On', 'ForceOff']);
      });
    });
  });

  it('cycles as ForceOff, wait for Off, On when PowerCycle is not allowed', async () => {
    await withBmc({ resetAllowed: ['On', 'ForceOff', 'GracefulShutdown'], offDelayMs: 700 }, async (srv) => {
      await connected(srv, {}, async (bmc) => {
        await bmc.power('on');
        await bmc.power('cycle');
        expect(srv.resets).toEqual(['On', 'ForceOff', 'On']);
        expect(srv.system.PowerState).toBe('On');
        // The On came only after the stand-in reported Off.
        const polls = srv.log.filter((l) => l.method === 'GET' && l.path === '/redfish/v1/Systems/R1N01');
        expect(polls.length).toBeGreaterThanOrEqual(3);
        // Cycling a server that is off powers it on.
        await bmc.power('off');
        await bmc.power('cycle');
        expect(srv.resets.slice(-2)).toEqual(['ForceOff', 'On']);
        expect(await bmc.powerStatus()).toBe('on');
      });
    });
  });

  it('reads allowable ResetTypes from @Redfish.ActionInfo and refuses what is not allowed', async () => {
    await withBmc({ actionInfo: true, resetAllowed: ['On', 'ForceOff'] }, async (srv) => {
      await connected(srv, {}, async (bmc) => {
        await bmc.power('on');
        const err = await failure(bmc.power('soft'));
        expect(err.kind).toBe('completion');
        expect(err.message).toMatch(/not supported.*On, ForceOff/);
        expect(srv.resets).toEqual(['On']);
        expect(srv.log.some((l) => l.path.endsWith('/ResetActionInfo'))).toBe(true);
      });
    });
  });

  it('sets the boot override once/continuous, UEFI/legacy, with If-Match, and reads it back', async () => {
    await withBmc({}, async (srv) => {
      await connected(srv, {}, async (bmc) => {
        await bmc.setBootDevice({ device: 'pxe', uefi: true });
        expect(srv.system.Boot).toMatchObject({ BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'UEFI' });
        expect(await bmc.getBootDevice()).toEqual({ device: 'pxe', uefi: true, persistent: false });

        await bmc.setBootDevice({ device: 'disk', uefi: false, persistent: true });
        expect(srv.system.Boot).toMatchObject({ BootSourceOverrideTarget: 'Hdd', BootSourceOverrideEnabled: 'Continuous', BootSourceOverrideMode: 'Legacy' });
        expect(await bmc.getBootDevice()).toEqual({ device: 'disk', uefi: false, persistent: true });

        await bmc.setBootDevice({ device: 'bios' });
        expect(srv.system.Boot).toMatchObject({ BootSourceOverrideTarget: 'BiosSetup', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'Legacy' });

        await bmc.setBootDevice({ device: 'none' });
        expect(srv.system.Boot.BootSourceOverrideEnabled).toBe('Disabled');
        expect((await bmc.getBootDevice()).device).toBe('none');

        const patches = srv.log.filter((l) => l.method === 'PATCH');
        expect(patches).toHaveLength(4);
        expect(patches.every((p) => /^W\/"\d+"$/.test(p.ifMatch ?? ''))).toBe(true);
      });
    });
  });

  it('refuses a boot target the BMC does not list, and reports the BMC 400 when it lists nothing', async () => {
    await withBmc({ bootTargets: ['None', 'Pxe', 'Hdd'] }, async (srv) => {
      await connected(srv, {}, async (bmc) => {
        const err = await failure(bmc.setBootDevice({ device: 'cdrom' }));
        expect(err.kind).toBe('completion');
        expect(err.message).toMatch(/BootSourceOverrideTarget=Cd is not supported/);
        expect(srv.log.some((l) => l.method === 'PATCH')).toBe(false);
      });
    });
    await withBmc({ bootTargets: ['None', 'Pxe', 'Hdd'], hideBootAllowable: true }, async (srv) => {
      await connected(srv, {}, async (bmc) => {
        const err = await failure(bmc.setBootDevice({ device: 'cdrom', persistent: true }));
        expect(err.kind).toBe('completion');
        expect(err.message).toMatch(/HTTP 400: .*not in the list of acceptable values/);
        expect(srv.system.Boot.BootSourceOverrideTarget).toBe('None');
        await bmc.setBootDevice({ device: 'pxe', persistent: true });
        expect(srv.system.Boot.BootSourceOverrideTarget).toBe('Pxe');
      });
    });
  });

  it('reads the inventory: system identity, host NIC MACs, BMC MAC and address', async () => {
    await withBmc({}, async (srv) => {
      await connected(srv, {}, async (bmc) => {
        expect(await bmc.identity()).toEqual({
          protocol: 'redfish',
          manufacturer: 'Kseedlabs',
          model: 'R1-2U',
          productName: 'R1-2U',
          serial: 'KS0001R1N01',
          guid: '4c4c4544-0042-3010-8052-b4c04f4e3132',
          firmware: '2.14.1',
          bmcMac: '52:54:00:b0:00:01',
          bmcIp: '10.77.1.11',
          nicMacs: ['52:54:00:a1:00:01', '52:54:00:a1:00:02'],
        });
      });
    });
  });

  it('works over plain HTTP when the target says so', async () => {
    await withBmc({ tls: undefined }, async (srv) => {
      await connected(srv, { scheme: 'http', insecureTls: false }, async (bmc) => {
        expect(await bmc.powerStatus()).toBe('off');
      });
    });
  });

  it('refuses a self-signed certificate unless insecureTls is set for this BMC', async () => {
    await withBmc({}, async (srv) => {
      const err = await failure(RedfishBmc.connect(target(srv.port, { insecureTls: false })));
      expect(err.kind).toBe('network');
      expect(err.message).toMatch(/TLS certificate not trusted/);
      // The handshake failed: not one request reached the service.
      expect(srv.log).toHaveLength(0);
      await connected(srv, { insecureTls: true }, async (bmc) => {
        expect(await bmc.powerStatus()).toBe('off');
      });
    });
  });

  it('gives up on a BMC that never answers with a timeout error within the budget', async () => {
    const silent = new SilentServer();
    await silent.listen(19400);
    try {
      for (const scheme of ['http', 'https'] as const) {
        const started = Date.now();
        const err = await failure(RedfishBmc.connect(target(silent.port, { scheme, timeoutMs: 1500, retries: 2 })));
        const took = Date.now() - started;
        expect(err.kind).toBe('timeout');
        expect(err.bmc).toBe(`127.0.0.1:${silent.port}`);
        // Retries stay inside the budget; the margin only absorbs a loaded machine.
        expect(took).toBeLessThan(1500 + 1000);
      }
    } finally {
      await silent.close();
    }
  });

  it('reports a refused connection as a network error', async () => {
    const silent = new SilentServer();
    const port = await silent.listen(19450);
    await silent.close();
    const err = await failure(RedfishBmc.connect(target(port, { retries: 0 })));
    expect(err.kind).toBe('network');
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('retries idempotent GETs after a 503, a dropped connection and a stalled request, never a POST', async () => {
    await withBmc({}, async (srv) => {
      const bmc = await RedfishBmc.connect(target(srv.port, { timeoutMs: 8000, retries: 2 }), { requestTimeoutMs: 700 });
      try {
        const sys = '/redfish/v1/Systems/R1N01';
        const gets = () => srv.log.filter((l) => l.method === 'GET' && l.path === sys).length;
        srv.faults.push({ method: 'GET', path: sys, count: 1, what: 503 });
        let before = gets();
        expect(await bmc.powerStatus()).toBe('off');
        expect(gets() - before).toBe(2);

        srv.faults.push({ method: 'GET', path: sys, count: 1, what: 'drop' });
        before = gets();
        expect(await bmc.powerStatus()).toBe('off');
        expect(gets() - before).toBe(2);

        srv.faults.push({ method: 'GET', path: sys, count: 1, what: 'stall' });
        before = gets();
        expect(await bmc.powerStatus()).toBe('off');
        expect(gets() - before).toBe(2);

        // Three failures exceed retries=2: the error says what happened last.
        srv.faults.push({ method: 'GET', path: sys, count: 3, what: 503 });
        const err = await failure(bmc.powerStatus());
        expect(err.kind).toBe('completion');
        expect(err.message).toMatch(/HTTP 503/);

        // A Reset is not idempotent: one failure, one error, no second POST.
        const reset = `${sys}/Actions/ComputerSystem.Reset`;
        srv.faults.push({ method: 'POST', path: reset, count: 1, what: 503 });
        expect((await failure(bmc.power('on'))).kind).toBe('completion');
        expect(srv.log.filter((l) => l.method === 'POST' && l.path === reset)).toHaveLength(1);
        expect(srv.system.PowerState).toBe('Off');
      } finally {
        await bmc.close();
      }
    });
  });

  it('re-reads and retries once when the ETag changed underneath (412)', async () => {
    await withBmc({}, async (srv) => {
      await connected(srv, {}, async (bmc) => {
        srv.faults.push({ method: 'PATCH', path: '/redfish/v1/Systems/R1N01', count: 1, what: 412 });
        await bmc.setBootDevice({ device: 'pxe', persistent: true });
        expect(srv.system.Boot).toMatchObject({ BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Continuous' });
        expect(srv.log.filter((l) => l.method === 'PATCH')).toHaveLength(2);
      });
    });
  });

  it('maps 403 to a privilege error', async () => {
    await withBmc({ readOnly: true }, async (srv) => {
      await connected(srv, {}, async (bmc) => {
        const err = await failure(bmc.power('on'));
        expect(err.kind).toBe('privilege');
        expect(err.message).toMatch(/insufficient privilege.*HTTP 403/);
        expect((await failure(bmc.setBootDevice({ device: 'pxe' }))).kind).toBe('privilege');
      });
    });
  });

  // sushy (OpenStack's Redfish client, used by Ironic) is an independent reading of
  // DSP0266: it checks that the stand-in and kseed agree with a real client.
  it.skipIf(!hasSushy)('agrees with the sushy reference client in both directions', async () => {
    await withBmc({}, async (srv) => {
      await connected(srv, {}, async (bmc) => {
        await bmc.power('on');
        await bmc.setBootDevice({ device: 'pxe', uefi: true, persistent: true });
        const seen = await sushy(srv.port, 'read');
        expect(seen).toMatchObject({ power: 'On', target: 'Pxe', enabled: 'Continuous', mode: 'UEFI', manufacturer: 'Kseedlabs', serial: 'KS0001R1N01' });
        expect(String(seen.uuid).toLowerCase()).toBe((await bmc.identity()).guid);
        expect(seen.allowed_resets).toEqual(['ForceOff', 'ForceRestart', 'GracefulShutdown', 'Nmi', 'On', 'PowerCycle']);

        const after = await sushy(srv.port, 'write');
        expect(after).toMatchObject({ power: 'Off', target: 'Hdd', enabled: 'Once', mode: 'Legacy' });
        expect(await bmc.powerStatus()).toBe('off');
        expect(await bmc.getBootDevice()).toEqual({ device: 'disk', uefi: false, persistent: false });
      });
    });
  });

  it('turns malformed JSON into a protocol error, and the client stays usable', async () => {
    await withBmc({ malformed: ['/redfish/v1/Systems/R1N01/EthernetInterfaces'] }, async (srv) => {
      await connected(srv, {}, async (bmc) => {
        const err = await failure(bmc.identity());
        expect(err.kind).toBe('protocol');
        expect(err.message).toMatch(/malformed JSON/);
        expect(await bmc.powerStatus()).toBe('off');
      });
    });
    await withBmc({ malformed: ['/redfish/v1/'] }, async (srv) => {
      const err = await failure(RedfishBmc.connect(target(srv.port)));
      expect(err.kind).toBe('protocol');
    });
  });

  it('names the field and the value of a bad link (the session Location, an @odata.id, an action target) or PowerState', async () => {
    await withBmc({ location: 'https://[::1' }, async (srv) => {
      const err = await failure(RedfishBmc.connect(target(srv.port)));
      expect(err.kind).toBe('protocol');
      expect(err.message).toBe(`127.0.0.1:${srv.port}: POST /redfish/v1/SessionService/Sessions: Location header is not a valid URI: "https://[::1"`);
    });
    await withBmc({}, async (srv) => {
      srv.res.get('/redfish/v1/')!.Systems['@odata.id'] = 'http://[bad';
      const err = await failure(RedfishBmc.connect(target(srv.port)));
      expect(err.message).toBe(`127.0.0.1:${srv.port}: GET /redfish/v1/: Systems["@odata.id"] is not a valid URI: "http://[bad"`);
    });
    await withBmc({}, async (srv) => {
      // a link to another host would carry this BMC's credentials there
      srv.system.Links.ManagedBy[0]['@odata.id'] = '//198.51.100.7/redfish/v1/Managers/1';
      await connected(srv, {}, async (bmc) => {
        const err = await failure(bmc.identity());
        expect(err.kind).toBe('protocol');
        expect(err.message).toBe(
          `127.0.0.1:${srv.port}: GET /redfish/v1/Systems/R1N01: Links.ManagedBy[0]["@odata.id"] points away from this BMC (https://127.0.0.1:${srv.port}): "//198.51.100.7/redfish/v1/Managers/1"`,
        );
      });
    });
    await withBmc({}, async (srv) => {
      srv.system.Actions['#ComputerSystem.Reset'].target = 42;
      await connected(srv, {}, async (bmc) => {
        const err = await failure(bmc.power('on'));
        expect(err.message).toBe(`127.0.0.1:${srv.port}: GET /redfish/v1/Systems/R1N01: Actions["#ComputerSystem.Reset"].target is not a URI: 42`);
        expect(srv.resets).toEqual([]);
      });
    });
    await withBmc({}, async (srv) => {
      srv.system.PowerState = 'Sleeping';
      await connected(srv, {}, async (bmc) => {
        const err = await failure(bmc.powerStatus());
        expect(err.kind).toBe('protocol');
        expect(err.message).toBe(`127.0.0.1:${srv.port}: GET /redfish/v1/Systems/R1N01: PowerState is "Sleeping", not On, Off, PoweringOn, PoweringOff or Paused`);
      });
    });
  });
});
