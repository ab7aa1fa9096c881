import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeSolPacket, encodeSolPacket, SolStatus, type SolPacket } from '../../../../src/bmc/ipmi/sol-codec.js';
import { SolLink } from '../../../../src/bmc/ipmi/sol-link.js';

/** A link whose sent packets and delivered characters are recorded. */
function rig(o: { maxChars?: number; retries?: number; resync?: boolean } = {}) {
  const sent: SolPacket[] = [];
  const got: Buffer[] = [];
  const lost: string[] = [];
  const deactivating: number[] = [];
  const link = new SolLink({
    send: (b) => sent.push(decodeSolPacket(b)),
    deliver: (d) => got.push(d),
    maxChars: o.maxChars ?? 28,
    retryMs: 500,
    retries: o.retries ?? 3,
    onLost: (r) => lost.push(r),
    onDeactivating: () => deactivating.push(1),
    ...(o.resync ? { resync: true } : {}),
  });
  const fromBmc = (p: Partial<SolPacket>) => link.receive(encodeSolPacket({ seq: 0, ack: 0, count: 0, flags: 0, data: Buffer.alloc(0), ...p }));
  return { link, sent, got, lost, deactivating, fromBmc, text: () => Buffer.concat(got).toString() };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('SolLink: characters to the BMC', () => {
  it('sends one packet at a time and the next only after the ACK', () => {
    const r = rig({ maxChars: 4 });
    r.link.write(Buffer.from('abcdefghij'));
    expect(r.sent.map((p) => [p.seq, p.data.toString()])).toEqual([[1, 'abcd']]);
    r.fromBmc({ ack: 1, count: 4 });
    r.fromBmc({ ack: 2, count: 4 });
    r.fromBmc({ ack: 3, count: 2 });
    expect(r.sent.map((p) => [p.seq, p.data.toString()])).toEqual([
      [1, 'abcd'],
      [2, 'efgh'],
      [3, 'ij'],
    ]);
    expect(r.link.idle).toBe(true);
    expect(r.link.stats.charsOut).toBe(10);
  });

  it('resends the same packet on silence and gives up after the retries', () => {
    const r = rig({ retries: 2 });
    r.link.write(Buffer.from('x'));
    vi.advanceTimersByTime(499);
    expect(r.sent).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(r.sent.map((p) => p.seq)).toEqual([1, 1]);
    vi.advanceTimersByTime(500);
    expect(r.sent.map((p) => p.seq)).toEqual([1, 1, 1]);
    expect(r.lost).toEqual([]);
    vi.advanceTimersByTime(500);
    expect(r.lost[0]).toMatch(/SOL packet 1 not acknowledged after 3 sends 500 ms apart/);
    expect(r.link.stats.resent).toBe(2);
  });

  it('sends again what the BMC did not accept, under a new sequence number', () => {
    const r = rig();
    r.link.write(Buffer.from('hello world'));
    r.fromBmc({ ack: 1, count: 5 });
    expect(r.sent.map((p) => [p.seq, p.data.toString()])).toEqual([
      [1, 'hello world'],
      [2, ' world'],
    ]);
  });

  it('on a NACK keeps the rest and waits a retry interval before sending it', () => {
    const r = rig();
    r.link.write(Buffer.from('abcdef'));
    r.fromBmc({ ack: 1, count: 2, flags: SolStatus.Nack });
    expect(r.sent).toHaveLength(1);
    vi.advanceTimersByTime(500);
    expect(r.sent.map((p) => [p.seq, p.data.toString()])).toEqual([
      [1, 'abcdef'],
      [2, 'cdef'],
    ]);
  });

  it('ignores an ACK for another packet and drains once all is acknowledged', async () => {
    const r = rig();
    r.link.write(Buffer.from('ab'));
    let drained = false;
    void r.link.drain().then(() => (drained = true));
    r.fromBmc({ ack: 9, count: 2 });
    await Promise.resolve();
    expect(drained).toBe(false);
    r.fromBmc({ ack: 1, count: 2 });
    await Promise.resolve();
    expect(drained).toBe(true);
  });
});

describe('SolLink: characters from the BMC', () => {
  it('delivers each packet once and acknowledges it with its character count', () => {
    const r = rig();
    r.fromBmc({ seq: 1, data: Buffer.from('Linux version') });
    r.fromBmc({ seq: 2, data: Buffer.from(' 6.1') });
    expect(r.text()).toBe('Linux version 6.1');
    expect(r.sent.map((p) => [p.seq, p.ack, p.count])).toEqual([
      [0, 1, 13],
      [0, 2, 4],
    ]);
  });

  it('acknowledges a retransmission again without showing it twice (our ACK was lost)', () => {
    const r = rig();
    r.fromBmc({ seq: 4, data: Buffer.from('login: ') });
    r.fromBmc({ seq: 4, data: Buffer.from('login: ') });
    expect(r.text()).toBe('login: ');
    expect(r.sent.map((p) => [p.ack, p.count])).toEqual([
      [4, 7],
      [4, 7],
    ]);
    expect(r.link.stats.duplicates).toBe(1);
  });

  it('handles data and an ACK of ours in one packet, and the deactivating status', () => {
    const r = rig();
    r.link.write(Buffer.from('root\r'));
    r.fromBmc({ seq: 1, ack: 1, count: 5, data: Buffer.from('Password: '), flags: SolStatus.Deactivating });
    expect(r.link.idle).toBe(true);
    expect(r.text()).toBe('Password: ');
    expect(r.deactivating).toHaveLength(1);
  });

  it('drops malformed payloads and everything after close', () => {
    const r = rig();
    r.link.receive(Buffer.from([1, 2]));
    r.link.close();
    r.fromBmc({ seq: 1, data: Buffer.from('x') });
    r.link.write(Buffer.from('y'));
    expect(r.got).toEqual([]);
    expect(r.sent).toEqual([]);
  });
});

describe('SolLink: resync for a BMC that keeps sequence numbers across sessions', () => {
  it('opens with an empty packet numbered 1, so the first characters go as packet 2', () => {
    const r = rig({ resync: true, maxChars: 4 });
    expect(r.sent.map((p) => [p.seq, p.data.length])).toEqual([[1, 0]]);
    r.link.write(Buffer.from('root'));
    // one packet in flight at a time: the characters wait for the resync's ACK
    expect(r.sent).toHaveLength(1);
    // ipmi_sim took a packet 1 in the last session: it acknowledges this one again, with that packet's count
    r.fromBmc({ ack: 1, count: 5 });
    expect(r.sent.map((p) => [p.seq, p.data.toString()])).toEqual([[1, ''], [2, 'root']]);
    r.fromBmc({ ack: 2, count: 4 });
    expect(r.link.idle).toBe(true);
    expect(r.link.stats.charsOut).toBe(4);
  });

  it('a BMC that never acknowledges the empty packet costs one retry, not the link', () => {
    const r = rig({ resync: true, retries: 1 });
    r.link.write(Buffer.from('x'));
    vi.advanceTimersByTime(500);
    expect(r.sent.map((p) => [p.seq, p.data.toString()])).toEqual([[1, ''], [1, '']]);
    vi.advanceTimersByTime(500);
    expect(r.sent.map((p) => [p.seq, p.data.toString()])).toEqual([[1, ''], [1, ''], [2, 'x']]);
    expect(r.lost).toEqual([]);
    r.fromBmc({ ack: 2, count: 1 });
    expect(r.link.idle).toBe(true);
  });
});
