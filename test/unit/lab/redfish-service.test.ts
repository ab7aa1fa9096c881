/**
 * Routing, authentication and preconditions of one node's Redfish service,
 * with the node kept in memory (the VM side is backend.ts, tested on real
 * QEMU in test/integration/lab/redfish*.test.ts). No sockets.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { normalizePath, RedfishService, type RfRequest } from '../../../src/lab/redfish/service.js';
import { Accounts } from '../../../src/lab/redfish/sessions.js';
import { MemoryNode } from '../../helpers/redfish-memory-node.js';

const BASIC = `Basic ${Buffer.from('admin:pw').toString('base64')}`;
let node: MemoryNode;
let svc: RedfishService;
beforeEach(() => {
  node = new MemoryNode();
  svc = new RedfishService(node, new Accounts('admin', 'pw'), { lab: 'u1', node: 'node01' });
});

function req(method: string, path: string, body?: unknown, headers: Record<string, string> = { authorization: BASIC }): RfRequest {
  return { method, path, headers, body: body === undefined ? '' : JSON.stringify(body) };
}

describe('lab Redfish service', () => {
  it('serves /redfish and the service root without credentials, everything else only with them', async () => {
    expect(await svc.handle(req('GET', '/redfish', undefined, {}))).toMatchObject({ status: 200, body: { v1: '/redfish/v1/' } });
    const root = await svc.handle(req('GET', '/redfish/v1', undefined, {}));
    expect(root.status).toBe(200);
    expect(root.body).toMatchObject({ RedfishVersion: '1.8.0', Links: { Sessions: { '@odata.id': '/redfish/v1/SessionService/Sessions' } } });
    const denied = await svc.handle(req('GET', '/redfish/v1/Systems/System', undefined, {}));
    expect(denied.status).toBe(401);
    expect(denied.headers?.['WWW-Authenticate']).toMatch(/^Basic /);
    expect((await svc.handle(req('GET', '/redfish/v1/Systems/System/'))).status).toBe(200);
  });

  it('logs in with a session, uses its token, and logs out', async () => {
    const bad = await svc.handle(req('POST', '/redfish/v1/SessionService/Sessions', { UserName: 'admin', Password: 'nope' }, {}));
    expect(bad.status).toBe(401);
    const s = await svc.handle(req('POST', '/redfish/v1/SessionService/Sessions', { UserName: 'admin', Password: 'pw' }, {}));
    expect(s.status).toBe(201);
    const token = s.headers!['x-auth-token']!;
    const location = s.headers!.location!;
    expect(location).toBe(`/redfish/v1/SessionService/Sessions/${(s.body as { Id: string }).Id}`);
    const list = await svc.handle(req('GET', '/redfish/v1/SessionService/Sessions', undefined, { 'x-auth-token': token }));
    expect(list.body).toMatchObject({ 'Members@odata.count': 1, Members: [{ '@odata.id': location }] });
    expect((await svc.handle(req('DELETE', location, undefined, { 'x-auth-token': token }))).status).toBe(204);
    expect((await svc.handle(req('GET', '/redfish/v1/Systems', undefined, { 'x-auth-token': token }))).status).toBe(401);
  });

  it('Reset goes to the backend with the power state it acted on; a bad ResetType never reaches it', async () => {
    const target = '/redfish/v1/Systems/System/Actions/ComputerSystem.Reset';
    expect((await svc.handle(req('POST', target, { ResetType: 'On' }))).status).toBe(204);
    expect((await svc.handle(req('POST', target, { ResetType: 'ForceRestart' }))).status).toBe(204);
    expect((await svc.handle(req('POST', target, { ResetType: 'Nmi' }))).status).toBe(400);
    expect((await svc.handle(req('GET', target))).status).toBe(405);
    expect(node.calls).toEqual(['reset On Off', 'reset ForceRestart On']);
    expect((await svc.handle(req('GET', '/redfish/v1/Systems/System'))).body).toMatchObject({ PowerState: 'On' });
  });

  it('PATCHes the boot override under If-Match: a stale ETag is 412 and changes nothing', async () => {
    const sys = await svc.handle(req('GET', '/redfish/v1/Systems/System'));
    const etag = (sys.body as Record<string, string>)['@odata.etag']!;
    const patch = { Boot: { BootSourceOverrideTarget: 'Cd', BootSourceOverrideEnabled: 'Once' } };
    const ok = await svc.handle(req('PATCH', '/redfish/v1/Systems/System', patch, { authorization: BASIC, 'if-match': etag }));
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ Boot: { BootSourceOverrideTarget: 'Cd', BootSourceOverrideEnabled: 'Once' } });
    expect((ok.body as Record<string, string>)['@odata.etag']).not.toBe(etag);
    const stale = await svc.handle(req('PATCH', '/redfish/v1/Systems/System', { Boot: { BootSourceOverrideTarget: 'Pxe' } }, { authorization: BASIC, 'if-match': etag }));
    expect(stale.status).toBe(412);
    expect(node.calls).toEqual(['boot Cd Once']);
    // only the target: the enabled state is kept
    expect((await svc.handle(req('PATCH', '/redfish/v1/Systems/System', { Boot: { BootSourceOverrideTarget: 'Pxe' } }))).status).toBe(200);
    expect(node.calls).toEqual(['boot Cd Once', 'boot Pxe Once']);
    const uefi = await svc.handle(req('PATCH', '/redfish/v1/Systems/System', { Boot: { BootSourceOverrideMode: 'UEFI' } }));
    expect(uefi.status).toBe(400);
    expect(node.calls).toHaveLength(2);
  });

  it('answers a GET whose If-None-Match is current with 304', async () => {
    const m = await svc.handle(req('GET', '/redfish/v1/Managers/BMC/VirtualMedia/Cd'));
    const etag = (m.body as Record<string, string>)['@odata.etag']!;
    expect((await svc.handle(req('GET', '/redfish/v1/Managers/BMC/VirtualMedia/Cd', undefined, { authorization: BASIC, 'if-none-match': etag }))).status).toBe(304);
  });

  it('inserts and ejects virtual media; a backend refusal keeps its status and words', async () => {
    const insert = '/redfish/v1/Managers/BMC/VirtualMedia/Cd/Actions/VirtualMedia.InsertMedia';
    expect((await svc.handle(req('POST', insert, { Image: 'http://10.77.0.1/x.iso' }))).status).toBe(204);
    expect((await svc.handle(req('GET', '/redfish/v1/Managers/BMC/VirtualMedia/Cd'))).body).toMatchObject({
      Image: 'http://10.77.0.1/x.iso',
      ImageName: 'x.iso',
      Inserted: true,
      ConnectedVia: 'URI',
      TransferProtocolType: 'HTTP',
    });
    expect((await svc.handle(req('POST', '/redfish/v1/Managers/BMC/VirtualMedia/Cd/Actions/VirtualMedia.EjectMedia'))).status).toBe(204);
    node.failInsert = 'the BMC could not fetch http://10.77.0.1/y.iso: 404';
    const failed = await svc.handle(req('POST', insert, { Image: 'http://10.77.0.1/y.iso' }));
    expect(failed.status).toBe(400);
    expect(JSON.stringify(failed.body)).toContain('could not fetch http://10.77.0.1/y.iso');
    expect(node.calls).toEqual(['insert http://10.77.0.1/x.iso', 'eject']);
  });

  it('lists host and BMC NICs, and says 404 for what does not exist', async () => {
    expect((await svc.handle(req('GET', '/redfish/v1/Systems/System/EthernetInterfaces/NIC2'))).body).toMatchObject({ MACAddress: '52:54:01:77:00:01' });
    expect((await svc.handle(req('GET', '/redfish/v1/Managers/BMC/EthernetInterfaces/BMC1'))).body).toMatchObject({ MACAddress: '02:00:00:77:00:01' });
    expect((await svc.handle(req('GET', '/redfish/v1/Systems/System/EthernetInterfaces/NIC3'))).status).toBe(404);
    expect((await svc.handle(req('GET', '/redfish/v1/Chassis'))).status).toBe(404);
  });

  it('normalizes paths: query strings, double and trailing slashes', () => {
    expect(normalizePath('/redfish/v1')).toBe('/redfish/v1/');
    expect(normalizePath('/redfish//v1/Systems/?$expand=.')).toBe('/redfish/v1/Systems');
  });
});
