/**
 * kseed's Redfish client (src/bmc/redfish/client.ts) drives virtual media on
 * the lab's Redfish service over real HTTPS on 127.0.0.1 (src/lab/redfish/
 * server.ts, the process `kseed lab up --bmc redfish` runs), with the node
 * kept in memory (no VM): InsertMedia/EjectMedia reach the node once, asking
 * for what is already there changes nothing, a new image replaces the old
 * one, and a refused insert fails with Redfish's own message. Port 18190.
 */
import type { Server } from 'node:https';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BmcError } from '../../../src/bmc/errors.js';
import { RedfishBmc } from '../../../src/bmc/redfish/client.js';
import { listen } from '../../../src/lab/redfish/server.js';
import { RedfishService } from '../../../src/lab/redfish/service.js';
import { Accounts } from '../../../src/lab/redfish/sessions.js';
import { needPeers } from '../../helpers/peers.js';
import { MemoryNode } from '../../helpers/redfish-memory-node.js';
import { selfSignedCert } from '../bmc/redfish/server.js';

const PORT = 18190;
const ISO = 'http://10.77.0.1:8080/artifacts/vmedia/node01-0123456789abcdef.iso';

describe.skipIf(!needPeers('openssl'))("kseed's Redfish client: virtual media on the lab BMC (HTTPS, node in memory)", () => {
  let server: Server;
  let node: MemoryNode;
  beforeAll(async () => {
    node = new MemoryNode();
    const tls = selfSignedCert();
    const service = new RedfishService(node, new Accounts('admin', 'pw'), { lab: 'u1', node: 'node01' });
    server = await listen({ node: 'node01', port: PORT, service }, { cert: Buffer.from(tls.cert), key: Buffer.from(tls.key) }, () => {});
  });
  afterAll(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));
  beforeEach(() => {
    node.calls = [];
    node.failInsert = undefined;
  });

  const bmc = () => RedfishBmc.connect({ protocol: 'redfish', address: '127.0.0.1', port: PORT, scheme: 'https', insecureTls: true, username: 'admin', password: 'pw', timeoutMs: 10_000 });

  it('inserts once (read-only, by URL), and a second insert of the same image does nothing', async () => {
    const b = await bmc();
    try {
      await b.insertMedia(ISO);
      expect(node.calls).toEqual([`insert ${ISO}`]);
      expect(node.state.media).toMatchObject({ image: ISO, inserted: true, writeProtected: true, transferProtocol: 'HTTP' });
      await b.insertMedia(ISO);
      expect(node.calls).toEqual([`insert ${ISO}`]);
    } finally {
      await b.close();
    }
  });

  it('a new image ejects the old one first; eject empties the drive, and a second eject does nothing', async () => {
    const b = await bmc();
    try {
      const next = ISO.replace('0123456789abcdef', 'fedcba9876543210');
      await b.insertMedia(next);
      expect(node.calls).toEqual(['eject', `insert ${next}`]);
      await b.ejectMedia();
      await b.ejectMedia();
      expect(node.calls).toEqual(['eject', `insert ${next}`, 'eject']);
      expect(node.state.media.inserted).toBe(false);
    } finally {
      await b.close();
    }
  });

  it("an insert the BMC refuses fails with the BMC's own message", async () => {
    node.failInsert = 'Image http://10.77.0.1:8080/x.iso could not be fetched: connection refused';
    const b = await bmc();
    try {
      const err = await b.insertMedia(ISO).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(BmcError);
      expect((err as Error).message).toMatch(/POST \/redfish\/v1\/Managers\/BMC\/VirtualMedia\/Cd\/Actions\/VirtualMedia\.InsertMedia: HTTP 400: .*could not be fetched: connection refused/);
      expect(node.calls).toEqual([]);
    } finally {
      await b.close();
    }
  });
});
