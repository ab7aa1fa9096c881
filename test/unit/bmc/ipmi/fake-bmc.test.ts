/**
 * The session state machine against an in-memory BMC (no sockets): cipher
 * suite negotiation, suite 17 end to end (ipmi_sim has no SHA-256 suites),
 * the BMC key Kg, retransmission, downgrade and forgery refusal.
 *
 * The fake BMC is written here from the IPMI v2.0 packet layouts and key
 * formulas (13.8, 13.17-13.32) with node:crypto and byte offsets; it shares
 * no code with src/bmc/ipmi, so agreement between the two is evidence.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BmcError } from '../../../../src/bmc/errors.js';
import { IpmiBmc } from '../../../../src/bmc/ipmi/client.js';
import { IpmiSession } from '../../../../src/bmc/ipmi/session.js';
import type { UdpTransport } from '../../../../src/bmc/ipmi/transport.js';

type Suite = { id: number; auth: number; integ: number; conf: number; hash: 'sha1' | 'sha256'; icv: number };
const SUITES: Record<number, Suite> = {
  0: { id: 0, auth: 0, integ: 0, conf: 0, hash: 'sha1', icv: 0 },
  1: { id: 1, auth: 1, integ: 0, conf: 0, hash: 'sha1', icv: 0 },
  2: { id: 2, auth: 1, integ: 1, conf: 0, hash: 'sha1', icv: 12 },
  3: { id: 3, auth: 1, integ: 1, conf: 1, hash: 'sha1', icv: 12 },
  17: { id: 17, auth: 3, integ: 4, conf: 1, hash: 'sha256', icv: 16 },
};

const hmac = (h: string, k: Buffer, ...p: Buffer[]) => {
  const m = createHmac(h, k);
  p.forEach((x) => m.update(x));
  return m.digest();
};
const le32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const cks = (b: Buffer) => (0x100 - (b.reduce((s, x) => s + x, 0) & 0xff)) & 0xff;

interface FakeOptions {
  offered: number[];
  /** Answer Get Channel Cipher Suites (ipmi_sim does not). */
  listSuites: boolean;
  user?: string;
  password?: string;
  kg?: Buffer;
  /** Drop this many packets before answering (retransmission). */
  drop?: number;
  /** Answer Open Session with integrity "none" whatever was asked. */
  downgrade?: boolean;
  /** Corrupt every in-session AuthCode. */
  forge?: boolean;
  /** Lose the first answer of this payload type (0x15: a RAKP 4 lost on the wire). */
  loseFirst?: number;
  /** Lose this many Chassis Control requests on the wire, before the BMC executes them. */
  loseControl?: number;
}

class FakeBmc {
  power = 0;
  /** Chassis Control requests executed. */
  controls = 0;
  private controlsLost = 0;
  received = 0;
  /** Requests received per RMCP+ payload type. */
  readonly seen = new Map<number, number>();
  /** RAKP 3 messages with an error status: the console dropping a half-open session (13.22). */
  abandoned = 0;
  private lost = false;
  private sess?: { suite: Suite; sidm: number; sidc: number; rm?: Buffer; rc?: Buffer; role?: number; uname?: Buffer; k1?: Buffer; k2?: Buffer; seq: number };
  private readonly guid = randomBytes(16);
  constructor(private readonly o: FakeOptions) {}

  private kuid(): Buffer {
    const k = Buffer.alloc(20);
    Buffer.from(this.o.password ?? 'secret').copy(k);
    return k;
  }

  private ipmiAnswer(req: Buffer, cc: number, data: Buffer): Buffer {
    // rqAddr, netFn+1, chk, rsAddr, rqSeq, cmd, cc, data, chk
    const h = Buffer.from([0x81, (((req[1]! >> 2) | 1) << 2) | 0]);
    const rest = Buffer.concat([Buffer.from([0x20, req[4]!, req[5]!, cc]), data]);
    return Buffer.concat([h, Buffer.from([cks(h)]), rest, Buffer.from([cks(rest)])]);
  }

  private setup(type: number, payload: Buffer): Buffer {
    const h = Buffer.alloc(12);
    h[0] = 0x06;
    h[1] = type;
    h.writeUInt16LE(payload.length, 10);
    return Buffer.concat([Buffer.from([6, 0, 0xff, 7]), h, payload]);
  }

  handle(pkt: Buffer): Buffer[] {
    const out = this.answer(pkt);
    if (this.o.loseFirst !== undefined && !this.lost && out.length && (out[0]![5]! & 0x3f) === this.o.loseFirst) {
      this.lost = true;
      return [];
    }
    return out;
  }

  private answer(pkt: Buffer): Buffer[] {
    this.received += 1;
    if (this.o.drop && this.received <= this.o.drop) return [];
    if (pkt[4] === 0x00) {
      // IPMI v1.5, sessionless: message at 14, length at 13
      const msg = pkt.subarray(14, 14 + pkt[13]!);
      const cmd = msg[5]!;
      let ans: Buffer | undefined;
      if (cmd === 0x38) ans = this.ipmiAnswer(msg, 0, Buffer.from([1, 0x84, 0x04, 0x02, 0, 0, 0, 0]));
      if (cmd === 0x54 && this.o.listSuites) {
        const recs = Buffer.concat(
          this.o.offered.map((id) => {
            const s = SUITES[id]!;
            return Buffer.from([0xc0, id, s.auth, 0x40 | s.integ, 0x80 | s.conf]);
          }),
        );
        const index = msg[8]! & 0x3f;
        ans = this.ipmiAnswer(msg, 0, Buffer.concat([Buffer.from([1]), recs.subarray(index * 16, index * 16 + 16)]));
      }
      if (!ans) return [];
      const h = Buffer.alloc(10);
      h[9] = ans.length;
      return [Buffer.concat([Buffer.from([6, 0, 0xff, 7]), h, ans])];
    }
    const type = pkt[5]! & 0x3f;
    this.seen.set(type, (this.seen.get(type) ?? 0) + 1);
    const len = pkt.readUInt16LE(14);
    const p = pkt.subarray(16, 16 + len);
    if (type === 0x10) {
      const want = { auth: p[12]!, integ: p[20]!, conf: p[28]! };
      const suite = this.o.offered.map((id) => SUITES[id]!).find((s) => s.auth === want.auth && s.integ === want.integ && s.conf === want.conf);
      const sidm = p.readUInt32LE(4);
      if (!suite) return [this.setup(0x11, Buffer.concat([Buffer.from([p[0]!, 0x11, 0, 0]), le32(sidm)]))];
      this.sess = { suite, sidm, sidc: 0x0a0b0c0d, seq: 0 };
      const integ = this.o.downgrade ? 0 : suite.integ;
      return [
        this.setup(
          0x11,
          Buffer.concat([
            Buffer.from([p[0]!, 0, 4, 0]),
            le32(sidm),
            le32(this.sess.sidc),
            Buffer.from([0, 0, 0, 8, suite.auth, 0, 0, 0, 1, 0, 0, 8, integ, 0, 0, 0, 2, 0, 0, 8, suite.conf, 0, 0, 0]),
          ]),
        ),
      ];
    }
    const s = this.sess;
    if (!s) return [];
    if (type === 0x12) {
      s.rm = Buffer.from(p.subarray(8, 24));
      s.role = p[24]!;
      s.uname = Buffer.from(p.subarray(28, 28 + p[27]!));
      const head = Buffer.from([p[0]!, 0, 0, 0]);
      if (s.uname.toString() !== (this.o.user ?? 'admin')) return [this.setup(0x13, Buffer.concat([Buffer.from([p[0]!, 0x0d, 0, 0]), le32(s.sidm)]))];
      s.rc = randomBytes(16);
      const code = hmac(s.suite.hash, this.kuid(), le32(s.sidm), le32(s.sidc), s.rm, s.rc, this.guid, Buffer.from([s.role, s.uname.length]), s.uname);
      return [this.setup(0x13, Buffer.concat([head, le32(s.sidm), s.rc, this.guid, code]))];
    }
    if (type === 0x14) {
      if (p[1] !== 0) {
        this.abandoned += 1;
        return [];
      }
      // RAKP 3 activated the session (13.22): a second one finds no session waiting for it
      if (s.k1) return [this.setup(0x15, Buffer.concat([Buffer.from([p[0]!, 0x02, 0, 0]), le32(s.sidm)]))];
      const ulen = Buffer.from([s.role!, s.uname!.length]);
      const expect = hmac(s.suite.hash, this.kuid(), s.rc!, le32(s.sidm), ulen, s.uname!);
      if (!expect.equals(p.subarray(8))) return [this.setup(0x15, Buffer.concat([Buffer.from([p[0]!, 0x0f, 0, 0]), le32(s.sidm)]))];
      const sik = hmac(s.suite.hash, this.o.kg ?? this.kuid(), s.rm!, s.rc!, ulen, s.uname!);
      const n = s.suite.hash === 'sha1' ? 20 : 32;
      s.k1 = hmac(s.suite.hash, sik, Buffer.alloc(n, 1));
      s.k2 = hmac(s.suite.hash, sik, Buffer.alloc(n, 2));
      const icv = hmac(s.suite.hash, sik, s.rm!, le32(s.sidc), this.guid).subarray(0, s.suite.icv);
      return [this.setup(0x15, Buffer.concat([Buffer.from([p[0]!, 0, 0, 0]), le32(s.sidm), icv]))];
    }
    if (type === 0x00 && s.k1) {
      const body = pkt.subarray(4);
      const signedLen = body.length - s.suite.icv;
      const code = hmac(s.suite.hash, s.k1, body.subarray(0, signedLen)).subarray(0, s.suite.icv);
      if (!code.equals(body.subarray(signedLen))) return [];
      const d = createDecipheriv('aes-128-cbc', s.k2!.subarray(0, 16), p.subarray(0, 16));
      d.setAutoPadding(false);
      const plain = Buffer.concat([d.update(p.subarray(16)), d.final()]);
      const msg = plain.subarray(0, plain.length - 1 - plain[plain.length - 1]!);
      const netFn = msg[1]! >> 2;
      const cmd = msg[5]!;
      const data = msg.subarray(6, msg.length - 1);
      let ans: Buffer;
      if (netFn === 6 && cmd === 0x3b) ans = this.ipmiAnswer(msg, 0, Buffer.from([data[0]!]));
      else if (netFn === 6 && cmd === 0x01) ans = this.ipmiAnswer(msg, 0, Buffer.from([0x20, 0x81, 0x02, 0x10, 0x02, 0xbf, 0xa2, 0x02, 0x00, 0x34, 0x12]));
      else if (netFn === 0 && cmd === 0x01) ans = this.ipmiAnswer(msg, 0, Buffer.from([this.power, 0, 0]));
      else if (netFn === 0 && cmd === 0x02) {
        if (this.controlsLost < (this.o.loseControl ?? 0)) {
          this.controlsLost += 1;
          return [];
        }
        this.controls += 1;
        this.power = data[0] === 1 ? 1 : 0;
        ans = this.ipmiAnswer(msg, 0, Buffer.alloc(0));
      } else ans = this.ipmiAnswer(msg, 0xc1, Buffer.alloc(0));
      // AES-CBC-128 with pad 1..N, N; then integrity pad to 4 bytes, 0x07, AuthCode
      const padN = (16 - ((ans.length + 1) % 16)) % 16;
      const pad = Buffer.from([...Array.from({ length: padN }, (_, i) => i + 1), padN]);
      const iv = randomBytes(16);
      const c = createCipheriv('aes-128-cbc', s.k2!.subarray(0, 16), iv);
      c.setAutoPadding(false);
      const enc = Buffer.concat([iv, c.update(Buffer.concat([ans, pad])), c.final()]);
      const h = Buffer.alloc(12);
      h[0] = 0x06;
      h[1] = 0xc0;
      h.writeUInt32LE(s.sidm, 2);
      h.writeUInt32LE(++s.seq, 6);
      h.writeUInt16LE(enc.length, 10);
      const ipad = (4 - ((12 + enc.length + 2) % 4)) % 4;
      const signed = Buffer.concat([h, enc, Buffer.alloc(ipad, 0xff), Buffer.from([ipad, 0x07])]);
      const auth = hmac(s.suite.hash, s.k1, signed).subarray(0, s.suite.icv);
      if (this.o.forge) auth[0] ^= 0xff;
      return [Buffer.concat([Buffer.from([6, 0, 0xff, 7]), signed, auth])];
    }
    return [];
  }
}

function transportFor(bmc: FakeBmc): UdpTransport {
  return {
    async open(address: string, port: number, onPacket: (m: Buffer) => void) {
      let open = true;
      return {
        peer: `${address}:${port}`,
        send(buf: Buffer) {
          setImmediate(() => {
            if (open) for (const r of bmc.handle(Buffer.from(buf))) onPacket(r);
          });
        },
        close() {
          open = false;
        },
      };
    },
  } as unknown as UdpTransport;
}

const open = (bmc: FakeBmc, o: Partial<Parameters<typeof IpmiSession.open>[0]> = {}) =>
  IpmiSession.open({
    address: '192.0.2.1',
    username: 'admin',
    password: 'secret',
    requestTimeoutMs: 40,
    timeoutMs: 2000,
    transport: transportFor(bmc),
    ...o,
  });

describe('RMCP+ session against an in-memory BMC', () => {
  it('suite 17 end to end: listed suites, RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128', async () => {
    const bmc = new FakeBmc({ offered: [3, 17], listSuites: true });
    const s = await open(bmc);
    expect(s.cipherSuite).toBe(17);
    expect(s.offeredSuites!.map((r) => r.id)).toEqual([3, 17]);
    const dev = await s.request(0x06, 0x01);
    expect(dev.data.readUInt16LE(9)).toBe(0x1234);
    await s.request(0x00, 0x02, Buffer.from([1]));
    expect(bmc.power).toBe(1);
    expect(s.privilege).toBe('administrator');
    expect((await s.request(0x00, 0x01)).data[0]).toBe(1);
    await s.close();
  });

  it('takes suite 3 when that is all the BMC lists, and refuses a BMC that lists neither', async () => {
    const s = await open(new FakeBmc({ offered: [1, 2, 3], listSuites: true }));
    expect(s.cipherSuite).toBe(3);
    await s.close();
    const err = (await open(new FakeBmc({ offered: [0, 1, 2], listSuites: true })).catch((e: unknown) => e)) as BmcError;
    expect(err.kind).toBe('cipher');
    expect(err.message).toMatch(/offers cipher suites 0,1,2; kseed needs 17 or 3/);
  });

  it('a BMC that does not answer Get Channel Cipher Suites gets 17, then 3', async () => {
    const s = await open(new FakeBmc({ offered: [3], listSuites: false }));
    expect(s.offeredSuites).toBeUndefined();
    expect(s.cipherSuite).toBe(3);
    await s.close();
    const s17 = await open(new FakeBmc({ offered: [17], listSuites: false }));
    expect(s17.cipherSuite).toBe(17);
    await s17.close();
  });

  it('never cipher suite 0, even when it is the only one', async () => {
    const bmc = new FakeBmc({ offered: [0], listSuites: false });
    const err = (await open(bmc).catch((e: unknown) => e)) as BmcError;
    expect(err.kind).toBe('cipher');
  });

  it('BMC key Kg: without it the RAKP 4 check fails as auth, with it the session works', async () => {
    const kg = Buffer.from('kg-of-twenty-bytes!!');
    const none = (await open(new FakeBmc({ offered: [17], listSuites: true, kg })).catch((e: unknown) => e)) as BmcError;
    expect(none.kind).toBe('auth');
    expect(none.message).toMatch(/may require a BMC key Kg/);
    const wrong = (await open(new FakeBmc({ offered: [17], listSuites: true, kg }), { kg: Buffer.from('another-key') }).catch((e: unknown) => e)) as BmcError;
    expect(wrong.message).toMatch(/wrong BMC key Kg/);
    const s = await open(new FakeBmc({ offered: [17], listSuites: true, kg }), { kg });
    expect((await s.request(0x06, 0x01)).completionCode).toBe(0);
    await s.close();
  });

  it('wrong password is caught at RAKP 2 and named; unknown user is named', async () => {
    const e1 = (await open(new FakeBmc({ offered: [17], listSuites: true }), { password: 'nope' }).catch((e: unknown) => e)) as BmcError;
    expect([e1.kind, e1.message]).toEqual(['auth', '192.0.2.1:623: wrong password (RAKP 2 HMAC is invalid)']);
    const e2 = (await open(new FakeBmc({ offered: [17], listSuites: true }), { username: 'bob' }).catch((e: unknown) => e)) as BmcError;
    expect(e2.message).toMatch(/wrong user name \(BMC: unauthorized name\)/);
  });

  it('retransmits through lost packets', async () => {
    const bmc = new FakeBmc({ offered: [3], listSuites: false, drop: 2 });
    const s = await open(bmc, { cipherSuite: 3 });
    expect((await s.request(0x00, 0x01)).completionCode).toBe(0);
    expect(bmc.received).toBeGreaterThan(5);
    await s.close();
  });

  it('Chassis Control: on and off retry through the whole budget; cycle and reset are sent at most twice', async () => {
    const client = (bmc: FakeBmc) =>
      new IpmiBmc({ protocol: 'ipmi', address: '192.0.2.1', username: 'admin', password: 'secret', cipherSuite: 3, retries: 5, timeoutMs: 3000 }, { transport: transportFor(bmc), requestTimeoutMs: 40 });
    const on = new FakeBmc({ offered: [3], listSuites: false, loseControl: 3 });
    const c1 = client(on);
    await c1.power('on');
    expect(on.power).toBe(1);
    expect(on.controls).toBe(1);
    await c1.close();

    const cycle = new FakeBmc({ offered: [3], listSuites: false, loseControl: 3 });
    const c2 = client(cycle);
    const err = await c2.power('cycle').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BmcError);
    // the first try and one retransmission were lost; a third would risk a second power cycle
    expect(cycle.controls).toBe(0);
    await c2.close();
  });

  it('a lost RAKP 4 restarts the handshake from Open Session instead of resending RAKP 3', async () => {
    const bmc = new FakeBmc({ offered: [3], listSuites: false, loseFirst: 0x15 });
    const s = await open(bmc, { cipherSuite: 3 });
    expect(s.handshakes).toBe(2);
    // one RAKP 3 per handshake, plus the error-status RAKP 3 that drops the abandoned session
    expect([bmc.seen.get(0x10), bmc.seen.get(0x12), bmc.seen.get(0x14), bmc.abandoned]).toEqual([2, 2, 3, 1]);
    expect((await s.request(0x00, 0x01)).completionCode).toBe(0);
    await s.close();
  });

  it('a lost RAKP 2 is fetched by resending RAKP 1 within the same handshake; the BMC drew a new random for the copy, and the session still works', async () => {
    const bmc = new FakeBmc({ offered: [3], listSuites: false, loseFirst: 0x13 });
    const s = await open(bmc, { cipherSuite: 3 });
    expect(s.handshakes).toBe(1);
    expect([bmc.seen.get(0x10), bmc.seen.get(0x12), bmc.seen.get(0x14), bmc.abandoned]).toEqual([1, 2, 1, 0]);
    expect((await s.request(0x00, 0x01)).completionCode).toBe(0);
    await s.close();
  });

  it('a BMC that never answers times out within the budget', async () => {
    const bmc = new FakeBmc({ offered: [3], listSuites: false, drop: 1e9 });
    const t0 = Date.now();
    const err = (await open(bmc, { cipherSuite: 3, timeoutMs: 300 }).catch((e: unknown) => e)) as BmcError;
    expect(err.kind).toBe('timeout');
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('refuses an Open Session answer that downgrades the algorithms', async () => {
    const err = (await open(new FakeBmc({ offered: [17], listSuites: true, downgrade: true })).catch((e: unknown) => e)) as BmcError;
    expect(err.kind).toBe('cipher');
    expect(err.message).toMatch(/with other algorithms/);
  });

  it('ignores in-session answers with a forged AuthCode', async () => {
    const bmc = new FakeBmc({ offered: [17], listSuites: true, forge: true });
    // opening sends nothing signed (privilege is raised lazily), so it succeeds
    const s = await open(bmc, { timeoutMs: 500 });
    const err = (await s.request(0x06, 0x01).catch((e: unknown) => e)) as BmcError;
    expect(err.kind).toBe('protocol');
    expect(err.message).toMatch(/invalid AuthCode/);
    await s.close();
  });
});
