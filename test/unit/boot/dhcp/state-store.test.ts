/** The DHCP handler over the real state store (SQLite in a temp dir; no sockets). */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MessageType, messageType } from '../../../../src/boot/dhcp/codec.js';
import { AuthoritativeHandler, type AuthoritativeConfig } from '../../../../src/boot/dhcp/handlers.js';
import { StateLeaseStore } from '../../../../src/boot/dhcp/state-store.js';
import { openState, type StateStore } from '../../../../src/engine/state.js';
import { request } from './build.js';

const SEED = '10.77.0.1';
const A = '52:54:00:00:00:0a';
const B = '52:54:00:00:00:0b';
const src = { address: '0.0.0.0', port: 68 };
let dir: string;
let stores: StateStore[] = [];

function open(): StateStore {
  const s = openState(dir, { synchronous: 'normal' });
  stores.push(s);
  return s;
}

function handler(state: StateStore, slow = false): AuthoritativeHandler {
  const cfg: AuthoritativeConfig = {
    seedAddress: SEED,
    prefix: 24,
    range: { start: '10.77.0.100', end: '10.77.0.110' },
    leaseSeconds: 600,
    nodes: [
      { mac: A, name: 'ctl01' },
      { mac: B, name: 'cmp01' },
    ],
    boot: { httpBase: 'http://10.77.0.1:8080', tftpServer: SEED },
    // slow: only the public StateStore methods (no prepared-statement fast path)
    store: new StateLeaseStore(slow ? publicOnly(state) : state),
  };
  const h = new AuthoritativeHandler(cfg);
  // what the server does after each burst of packets
  const handle = h.handle.bind(h);
  h.handle = (...a) => {
    const r = handle(...a);
    (cfg.store as StateLeaseStore).flush();
    return r;
  };
  return h;
}

function dora(h: AuthoritativeHandler, mac: string): string {
  const offer = h.handle(request({ type: MessageType.DISCOVER, mac }), src)!;
  const ack = h.handle(request({ type: MessageType.REQUEST, mac, requested: offer.packet.yiaddr, serverId: SEED }), src)!;
  expect(messageType(ack.packet)).toBe(MessageType.ACK);
  return ack.packet.yiaddr;
}

function publicOnly(s: StateStore) {
  return {
    leaseByIp: s.leaseByIp.bind(s),
    listLeases: s.listLeases.bind(s),
    allocateLease: s.allocateLease.bind(s),
    setLeaseState: s.setLeaseState.bind(s),
    deleteLease: s.deleteLease.bind(s),
    tx: s.tx.bind(s),
  };
}

afterEach(() => {
  for (const s of stores) s.close();
  stores = [];
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.each([
  ['prepared statements', false],
  ['public StateStore methods', true],
])('leases in the state store (%s)', (_name, slow) => {
  it('bound leases are rows of the leases table and survive a reopen', () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ksd-state-'));
    const s1 = open();
    const h1 = handler(s1, slow);
    const ipA = dora(h1, A);
    const ipB = dora(h1, B);
    expect(s1.getLease(A)).toMatchObject({ ip: ipA, state: 'bound', hostname: 'ctl01' });
    s1.close();
    const h2 = handler(open(), slow);
    expect(h2.leases.forMac(A)?.ip).toBe(ipA);
    // a renewing client is acknowledged after the restart, with its old address
    const renew = h2.handle(request({ type: MessageType.REQUEST, mac: B, ciaddr: ipB }), src)!;
    expect(messageType(renew.packet)).toBe(MessageType.ACK);
    expect(renew.packet.yiaddr).toBe(ipB);
  });

  it('declined addresses and releases are persisted', () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ksd-state-'));
    const s1 = open();
    const h1 = handler(s1, slow);
    const first = dora(h1, A);
    h1.handle(request({ type: MessageType.DECLINE, mac: A, requested: first, serverId: SEED }), src);
    expect(s1.leaseByIp(first)).toMatchObject({ mac: `declined@${first}`, state: 'declined' });
    const second = dora(h1, A);
    expect(second).not.toBe(first);
    expect(s1.getLease(A)).toMatchObject({ ip: second, state: 'bound' });
    h1.handle(request({ type: MessageType.RELEASE, mac: A, ciaddr: second, serverId: SEED }), src);
    expect(s1.getLease(A)?.state).toBe('released');
    s1.close();
    const h2 = handler(open(), slow);
    expect(h2.leases.atIp(first)?.state).toBe('declined');
    // the declined address stays out of the pool after the restart
    expect(dora(h2, B)).not.toBe(first);
  });
});
