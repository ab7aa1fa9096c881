/**
 * The noise limit of the boot services' log (issue 14 hole 5), on a fake
 * clock: the first lines of each kind and source per window, then one
 * summary with the count; every event counted.
 */
import { describe, expect, it } from 'vitest';
import { NoiseLimiter, type SuppressedSummary } from '../../../src/boot/log-limit.js';
import { noiseOf } from '../../../src/boot/serve.js';

describe('NoiseLimiter', () => {
  it('20,000 malformed datagrams from one host: 10 lines, then one summary of 19,990; the counter says 20,000', () => {
    let now = 0;
    const lim = new NoiseLimiter({ now: () => now });
    const summaries: SuppressedSummary[] = [];
    let logged = 0;
    for (let i = 0; i < 20_000; i++) if (lim.admit({ kind: 'dhcp malformed', source: '10.0.0.66' }, (s) => summaries.push(s))) logged++;
    expect(logged).toBe(10);
    lim.expire((s) => summaries.push(s));
    expect(summaries).toEqual([]);
    now = 60_000;
    lim.expire((s) => summaries.push(s));
    expect(summaries).toEqual([{ kind: 'dhcp malformed', source: '10.0.0.66', suppressed: 19_990, windowSeconds: 60 }]);
    expect(lim.counters).toEqual({ 'dhcp malformed': 20_000 });
    // a new window logs again
    expect(lim.admit({ kind: 'dhcp malformed', source: '10.0.0.66' }, (s) => summaries.push(s))).toBe(true);
  });

  it('sources and kinds have their own budgets; an ended window is summarized by the next event; flush says the rest', () => {
    let now = 0;
    const lim = new NoiseLimiter({ now: () => now, perWindow: 2, windowMs: 1000 });
    const out: SuppressedSummary[] = [];
    const admit = (kind: string, source: string) => lim.admit({ kind, source }, (s) => out.push(s));
    expect([admit('a', 'x'), admit('a', 'x'), admit('a', 'x'), admit('a', 'y'), admit('b', 'x')]).toEqual([true, true, false, true, true]);
    now = 1000;
    expect(admit('a', 'x')).toBe(true);
    expect(out).toEqual([{ kind: 'a', source: 'x', suppressed: 1, windowSeconds: 1 }]);
    admit('a', 'x');
    admit('a', 'x');
    lim.flush((s) => out.push(s));
    expect(out.at(-1)).toEqual({ kind: 'a', source: 'x', suppressed: 1, windowSeconds: 1 });
    expect(lim.counters).toEqual({ a: 7, b: 1 });
  });

  it('a flood from spoofed sources is bounded too: past maxSources they share one budget', () => {
    const lim = new NoiseLimiter({ now: () => 0, perWindow: 1, maxSources: 100 });
    let logged = 0;
    for (let i = 0; i < 10_000; i++) if (lim.admit({ kind: 'dhcp ignored', source: `52:54:00:${i}` }, () => {})) logged++;
    expect(logged).toBe(101);
    expect(lim.counters['dhcp ignored']).toBe(10_000);
  });

  it('what is limited: junk and refusals, never a normal answer', () => {
    expect(noiseOf({ service: 'dhcp', type: 'malformed', mac: '', client: '10.0.0.66' })).toEqual({ kind: 'dhcp malformed', source: '10.0.0.66' });
    expect(noiseOf({ service: 'dhcp', type: 'ack', mac: '52:54:00:00:00:01' })).toBeUndefined();
    expect(noiseOf({ service: 'tftp', type: 'refused', client: '10.0.0.66:4000', code: 4, message: 'x' })).toEqual({ kind: 'tftp refused', source: '10.0.0.66' });
    expect(noiseOf({ service: 'tftp', type: 'start', client: '10.0.0.5:4000', file: 'f', size: 1, blksize: 512, windowsize: 1 })).toBeUndefined();
    expect(noiseOf({ service: 'http', type: 'request', method: 'GET', path: '/x', status: 404, ms: 0, client: '10.0.0.66' })).toEqual({ kind: 'http 404', source: '10.0.0.66' });
    expect(noiseOf({ service: 'http', type: 'request', method: 'GET', path: '/boot.ipxe', status: 200, ms: 0, client: '10.0.0.5' })).toBeUndefined();
  });
});
