/**
 * 20 ipmi_sim BMCs driven at once from one process over a few shared UDP
 * sockets, plus one BMC that never answers: it fails alone, within its own
 * budget, and delays nobody. Ports 16220-16240.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needPeers } from '../../../helpers/peers.js';
import { runFleet } from '../../../../src/bmc/fleet.js';
import type { IpmiBmc } from '../../../../src/bmc/ipmi/client.js';
import { UdpTransport } from '../../../../src/bmc/ipmi/transport.js';
import type { BmcTarget } from '../../../../src/bmc/types.js';
import { blackHole, ipmitool, startBmc, tempRoot, writeBmc, type SimBmc } from './helpers.js';

const ok = needPeers('ipmi_sim', 'ipmitool');
const N = 20;
const BASE = 16220;

describe.skipIf(!ok)('fleet: 20 BMCs at once', () => {
  let root: string;
  const bmcs: SimBmc[] = [];
  let hole: Awaited<ReturnType<typeof blackHole>>;

  beforeAll(async () => {
    root = tempRoot('kseed-ipmi-fleet-');
    for (let i = 0; i < N; i += 5) {
      const batch = [];
      for (let j = i; j < i + 5; j++) batch.push(startBmc(writeBmc(root, { name: `f${j}`, port: BASE + j, serial: `SN-F${j}`, power: j % 2 })));
      bmcs.push(...((await Promise.all(batch)) as SimBmc[]));
    }
    hole = await blackHole('127.0.0.1', BASE + N);
  });
  afterAll(async () => {
    hole?.close();
    await Promise.all(bmcs.map((b) => b.stop()));
    rmSync(root, { recursive: true, force: true });
  });

  const targets = (): BmcTarget[] => [
    ...bmcs.map((b) => ({ protocol: 'ipmi' as const, address: '127.0.0.1', port: b.port, username: 'admin', password: 'password', cipherSuite: 3 as const, timeoutMs: 8000 })),
    { protocol: 'ipmi', address: '127.0.0.1', port: BASE + N, username: 'admin', password: 'password', cipherSuite: 3, timeoutMs: 1500 },
  ];

  it('reads power and identity of all 20, the dead one fails alone within its budget', async () => {
    const res = await runFleet(
      targets(),
      async (b) => {
        const power = await b.powerStatus();
        const id = await b.identity();
        return { power, serial: id.serial, guid: id.guid };
      },
      { concurrency: 32, sockets: 2 },
    );
    expect(res).toHaveLength(N + 1);
    for (let i = 0; i < N; i++) {
      expect(res[i]!.ok, res[i]!.error?.message).toBe(true);
      expect(res[i]!.value!.serial).toBe(`SN-F${i}`);
      expect(res[i]!.value!.power).toBe(i % 2 ? 'on' : 'off');
    }
    // every BMC has its own GUID: answers were never crossed between sessions sharing a socket
    expect(new Set(res.slice(0, N).map((r) => r.value!.guid)).size).toBe(N);
    const dead = res[N]!;
    expect(dead.ok).toBe(false);
    expect(dead.error!.kind).toBe('timeout');
    expect(dead.ms).toBeLessThan(3000);
  });

  it('powers all 20 on at once; ipmitool agrees on every one', async () => {
    const res = await runFleet(targets().slice(0, N), async (b) => {
      await b.power('on');
      return b.powerStatus();
    });
    expect(res.every((r) => r.ok && r.value === 'on')).toBe(true);
    const seen = await Promise.all(bmcs.map((b) => ipmitool(b, 'chassis', 'power', 'status')));
    expect(seen.every((s) => /Chassis Power is on/.test(s))).toBe(true);
    expect(bmcs.every((b) => b.power() === '1')).toBe(true);
  });

  it('many sessions multiplex over few sockets', async () => {
    const t = new UdpTransport({ maxSockets: 2 });
    const { IpmiBmc: Client } = await import('../../../../src/bmc/ipmi/client.js');
    const clients: IpmiBmc[] = targets()
      .slice(0, N)
      .map((x) => new Client(x, { transport: t }));
    try {
      const ids = await Promise.all(clients.map((c) => c.deviceId()));
      expect(ids.every((d) => d.manufacturerId === 4753)).toBe(true);
      expect(t.socketCount).toBe(2);
      expect(t.conversationCount).toBe(N);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      t.close();
    }
  });
});
