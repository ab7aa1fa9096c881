/**
 * Retransmission, deadlines and the failure texts of exchange.ts, driven by
 * hand: a send function that records, datagrams fed in directly, no sockets.
 */
import { describe, expect, it } from 'vitest';
import { describeDatagram, ExchangeFailure, Exchanger, RttEstimator } from '../../../../src/bmc/ipmi/exchange.js';
import { DecodeError } from '../../../../src/bmc/ipmi/decode.js';
import { unwrap } from '../../../../src/bmc/ipmi/session.js';

const fail = (p: Promise<unknown>) => p.then(() => expect.unreachable('the exchange succeeded')).catch((e: unknown) => e as ExchangeFailure);

function rig(initialWait = 30) {
  const sent: Buffer[] = [];
  const x = new Exchanger((b) => sent.push(b), unwrap, initialWait);
  return { x, sent };
}

describe('describeDatagram', () => {
  it('says how many bytes, why they were refused, and at most the first 8 in hex', () => {
    expect(describeDatagram(Buffer.from('HTTP/1.1 400', 'latin1'), 'not RMCP')).toBe(
      '12 bytes that are not RMCP (first bytes 0x48 0x54 0x54 0x50 0x2f 0x31 0x2e 0x31 ...)',
    );
    expect(describeDatagram(Buffer.from([0x06, 0x00, 0xff]), 'not RMCP')).toBe('3 bytes that are not RMCP (first bytes 0x06 0x00 0xff)');
    expect(describeDatagram(Buffer.from([0x0a]), 'not RMCP')).toBe('1 byte that is not RMCP (first bytes 0x0a)');
    expect(describeDatagram(Buffer.alloc(0), 'not RMCP')).toBe('0 bytes that are not RMCP');
  });
});

describe('unwrap', () => {
  it('names what is not an IPMI answer', () => {
    expect(unwrap(Buffer.from('HTTP', 'latin1'))).toEqual({ not: 'not RMCP' });
    expect(unwrap(Buffer.from([0x06, 0x00, 0xff, 0x06, 0, 0, 0x11, 0xbe]))).toEqual({ not: 'RMCP of class 0x06, not IPMI' });
    expect(unwrap(Buffer.from([0x06, 0x00, 0xff, 0x07, 0x37, 0]))).toEqual({ not: 'RMCP without an IPMI session header (authentication type 0x37)' });
    expect(unwrap(Buffer.from([0x06, 0x00, 0xff, 0x07, 0x06, 0x11]))).toEqual({ body: Buffer.from([0x06, 0x11]) });
  });
});

describe('Exchanger', () => {
  it('silence: retransmits until the deadline and says "no answer", with the tries', async () => {
    const { x, sent } = rig(30);
    const t0 = Date.now();
    const err = await fail(x.run('Get Device ID', () => Buffer.from([sent.length]), () => 1, { deadline: Date.now() + 200 }));
    expect(err).toBeInstanceOf(ExchangeFailure);
    expect(err.kind).toBe('timeout');
    expect(err.message).toBe(`no answer to Get Device ID after ${sent.length} tries`);
    expect(sent.length).toBeGreaterThanOrEqual(3);
    // each send was rebuilt (fresh sequence numbers)
    expect(sent.map((b) => b[0])).toEqual(sent.map((_, i) => i));
    expect(Date.now() - t0).toBeLessThan(400);
  });

  it('a tries limit stops earlier than the deadline', async () => {
    const { x, sent } = rig(20);
    const err = await fail(x.run('Chassis Control', () => Buffer.alloc(1), () => 1, { deadline: Date.now() + 5000, tries: 2 }));
    expect(err.message).toBe('no answer to Chassis Control after 2 tries');
    expect(sent).toHaveLength(2);
  });

  it('garbage: names the last datagram and counts the others', async () => {
    const { x } = rig(40);
    const p = fail(x.run('Get Device ID', () => Buffer.alloc(1), () => undefined, { deadline: Date.now() + 100 }));
    x.onDatagram(Buffer.from('junk', 'latin1'));
    x.onDatagram(Buffer.from('HTTP/1.1 400', 'latin1'));
    const err = await p;
    expect(err.kind).toBe('protocol');
    expect(err.message).toBe(
      'Get Device ID: the BMC answered 12 bytes that are not RMCP (first bytes 0x48 0x54 0x54 0x50 0x2f 0x31 0x2e 0x31 ...) (and 1 more invalid answer)',
    );
  });

  it('an answer that does not decode is named with the decoder\'s reason', async () => {
    const { x } = rig(40);
    const p = fail(
      x.run('RAKP Message 1', () => Buffer.alloc(1), () => {
        throw new DecodeError('RAKP Message 2: truncated (3 of 40 bytes)');
      }, { deadline: Date.now() + 80 }),
    );
    x.onDatagram(Buffer.from([0x06, 0x00, 0xff, 0x07, 0x06, 0x13, 0x00]));
    const err = await p;
    expect(err.kind).toBe('protocol');
    expect(err.message).toBe(
      'RAKP Message 1: the BMC answered 7 bytes that are malformed (RAKP Message 2: truncated (3 of 40 bytes)) (first bytes 0x06 0x00 0xff 0x07 0x06 0x13 0x00)',
    );
  });

  it('stale answers are ignored, counted, and reported with the silence', async () => {
    const { x } = rig(40);
    const p = fail(x.run('Get Device ID', () => Buffer.alloc(1), () => undefined, { deadline: Date.now() + 60, tries: 1 }));
    x.onDatagram(Buffer.from([0x06, 0x00, 0xff, 0x07, 0x06, 0x00]));
    const err = await p;
    expect(err.kind).toBe('timeout');
    expect(err.stale).toBe(1);
    expect(err.message).toBe('no answer to Get Device ID after 1 try (1 stale answer ignored)');
  });

  it('resolves with the accepted answer and learns the round-trip time only from single sends (Karn)', async () => {
    const { x } = rig(1000);
    const p = x.run('Get Device ID', () => Buffer.alloc(1), (b) => (b[1] === 0x11 ? 'yes' : undefined), { deadline: Date.now() + 1000 });
    setTimeout(() => x.onDatagram(Buffer.from([0x06, 0x00, 0xff, 0x07, 0x06, 0x11])), 20);
    expect(await p).toBe('yes');
    expect(x.rtt.rto).toBeLessThan(1000);
    expect(x.rtt.rto).toBeGreaterThanOrEqual(250);
  });
});

describe('RttEstimator', () => {
  it('starts at the configured wait, follows samples (RFC 6298), stays within its floor and ceiling', () => {
    const r = new RttEstimator(1000);
    expect(r.rto).toBe(1000);
    r.sample(400);
    expect(r.rto).toBe(800); // 400 + 4 * 100
    for (let i = 0; i < 30; i++) r.sample(400);
    expect(r.rto).toBe(450); // variance gone: srtt + 50
    const fast = new RttEstimator(1000);
    for (let i = 0; i < 30; i++) fast.sample(1);
    expect(fast.rto).toBe(250);
    const slow = new RttEstimator(1000);
    for (let i = 0; i < 30; i++) slow.sample(9000);
    expect(slow.rto).toBe(4000);
  });

  it('backs off by 1.5x, never beyond twice the RTO', () => {
    const r = new RttEstimator(1000);
    expect(r.backoff(1000)).toBe(1500);
    expect(r.backoff(1500)).toBe(2000);
    expect(r.backoff(2000)).toBe(2000);
  });
});
