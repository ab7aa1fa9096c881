/**
 * Enrollment's BMC conversation (connect, power state, identity: what
 * engine/node-runner.ts identify() does) over a lossy link: UDP relays
 * (test/helpers/lossy-relay.ts, seeded) that drop 30% of datagrams each way
 * and delay the rest by 200 ms, in front of a real ipmi_sim on
 * 127.0.0.1:16300. Ten conversations run at once, each through its own relay.
 *
 * A lost RAKP answer means the BMC already consumed that step's state
 * (IPMI v2.0 13.15-13.20): the session must restart from Open Session, and
 * the budget (timeout_ms) is one deadline per operation, not a time per try.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needPeers } from '../../../helpers/peers.js';
import { BAD_LINK, lossyRelay, type LossyRelay } from '../../../helpers/lossy-relay.js';
import { connectBmc, DEFAULT_BUDGET_MS } from '../../../../src/bmc/index.js';
import type { BmcTarget } from '../../../../src/bmc/types.js';
import { startBmc, tempRoot, writeBmc, type SimBmc } from './helpers.js';

const ok = needPeers('ipmi_sim');
const TRIALS = 10;
const { loss: LOSS, delayMs: DELAY_MS, seed: SEED } = BAD_LINK;
/** Scheduling slack over a deadline: a bound on correctness, not a speed claim. */
const SLACK_MS = 500;

interface Trial {
  ok: boolean;
  error?: string;
  /** Each BMC operation's name and elapsed ms. */
  ops: [string, number][];
}

async function timed<T>(ops: [string, number][], name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    ops.push([name, Date.now() - t0]);
  }
}

describe.skipIf(!ok)(`IPMI enrollment over a lossy link (${LOSS * 100}% loss each way, ${DELAY_MS} ms delay)`, () => {
  let root: string;
  let bmc: SimBmc;
  const relays: LossyRelay[] = [];

  beforeAll(async () => {
    root = tempRoot('kseed-ipmi-lossy-');
    bmc = (await startBmc(writeBmc(root, { name: 'lossy', port: 16300, serial: 'SN-LOSSY-1' }))) as SimBmc;
  });
  afterAll(async () => {
    for (const r of relays) await r.close();
    await bmc?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  /** One enrollment check per trial, each through its own relay (own PRNG stream), all at once. */
  /**
   * `timeoutMs` is both each operation's budget and, as the engine gives it
   * (node-runner withBmc), the deadline of the whole conversation.
   */
  async function trials(timeoutMs: number, seed: number): Promise<{ trials: Trial[]; report: string }> {
    const mine = await Promise.all(Array.from({ length: TRIALS }, (_, i) => lossyRelay({ target: bmc, loss: LOSS, delayMs: DELAY_MS, seed: seed + i })));
    relays.push(...mine);
    const out = await Promise.all(
      mine.map(async (relay) => {
        const t0 = Date.now();
        const target: BmcTarget = { protocol: 'ipmi', address: relay.address, port: relay.port, username: 'admin', password: 'password', cipherSuite: 3, timeoutMs, deadline: t0 + timeoutMs };
        const t: Trial = { ok: false, ops: [] };
        try {
          const b = await timed(t.ops, 'connect', () => connectBmc(target));
          try {
            expect(await timed(t.ops, 'powerStatus', () => b.powerStatus())).toMatch(/^(on|off)$/);
            const id = await timed(t.ops, 'identity', () => b.identity());
            expect(id.serial).toBe('SN-LOSSY-1');
            t.ok = true;
          } finally {
            await b.close();
          }
        } catch (err) {
          t.error = (err as Error).message;
        }
        t.ops.push(['whole', Date.now() - t0]);
        return t;
      }),
    );
    const dropped = mine.reduce((n, r) => n + r.stats().upDropped + r.stats().downDropped, 0);
    const sent = mine.reduce((n, r) => n + r.stats().up + r.stats().down, 0);
    const lines = out.map((t, i) => `${i}: ${t.ok ? 'ok' : `FAIL ${t.error}`} | ${t.ops.map(([n, ms]) => `${n} ${ms} ms`).join(', ')}`);
    const report = `timeout_ms ${timeoutMs}: ${out.filter((t) => t.ok).length}/${TRIALS} ok; ${dropped} of ${sent} datagrams dropped\n${lines.join('\n')}`;
    console.log(report);
    expect(dropped / sent).toBeGreaterThan(LOSS / 2);
    return { trials: out, report };
  }

  it(`at the default budget, enrollment's BMC check succeeds at least 9 times in ${TRIALS}, within its deadline`, async () => {
    const TIMEOUT_MS = DEFAULT_BUDGET_MS.ipmi;
    const { trials: out, report } = await trials(TIMEOUT_MS, SEED);
    for (const t of out) for (const [name, ms] of t.ops) expect(ms, `${name}: ${report}`).toBeLessThanOrEqual(TIMEOUT_MS + SLACK_MS);
    expect(out.filter((t) => t.ok).length, report).toBeGreaterThanOrEqual(9);
  }, DEFAULT_BUDGET_MS.ipmi + 30_000);

  it('with a budget too short for the link, every operation still ends within its deadline and says why', async () => {
    const TIMEOUT_MS = 3000;
    const { trials: out, report } = await trials(TIMEOUT_MS, SEED + 100);
    for (const t of out) for (const [name, ms] of t.ops) expect(ms, `${name}: ${report}`).toBeLessThanOrEqual(TIMEOUT_MS + SLACK_MS);
    const failed = out.filter((t) => !t.ok);
    expect(failed.length, report).toBeGreaterThan(0);
    // loss is silence, never a "malformed" answer
    for (const t of failed) expect(t.error, report).toMatch(/: (no answer to [A-Za-z +]+ after \d+ tr(y|ies)|RMCP\+ session not established in \d+ ms: \d+ handshakes each lost a step .*)$/);
  }, 3 * 3000 + 30_000);
});
