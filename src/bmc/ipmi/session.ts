/**
 * One RMCP+ (IPMI v2.0 lanplus) session with one BMC: capability discovery,
 * cipher suite choice, authenticated and encrypted requests, privilege,
 * Close Session. The handshake (Open Session + RAKP 1-4) is handshake.ts;
 * retransmission and deadlines are exchange.ts.
 *
 * Never cipher suite 0 and never IPMI v1.5 authentication: both accept any
 * password on many BMCs (ipmi_sim included), so only suites 17 and 3 exist here.
 */
import { lookup } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import { randomInt } from 'node:crypto';
import { BmcError } from '../errors.js';
import {
  AppCmd,
  completionName,
  decodeAuthCaps,
  decodeCipherSuiteRecords,
  decodeIpmiResponse,
  decodeRmcp,
  decodeV15,
  decodeV20,
  encodeAuthCapsRequest,
  encodeIpmiRequest,
  encodeV15,
  isV20,
  NetFn,
  PayloadType,
  Privilege,
  RmcpClass,
  type AuthCapabilities,
  type CipherSuiteRecord,
  type IpmiResponse,
} from './codec.js';
import { CIPHER_SUITES, SUITE_PREFERENCE, userKey, type CipherSuite } from './crypto.js';
import { SessionSeal } from './seal.js';
import { ExchangeFailure, Exchanger, type Unwrapped } from './exchange.js';
import { handshake, HandshakeFailure } from './handshake.js';
import { commandName, decodeGuid, USER_LEVEL_COMMANDS } from './commands.js';
import { UdpTransport, type Channel } from './transport.js';

export type PrivilegeName = 'operator' | 'administrator';
/** 'user' is for read-only sessions (monitoring); control needs operator. */
export type SessionPrivilege = 'user' | PrivilegeName;

export interface SessionOptions {
  address: string;
  port?: number;
  username: string;
  /** Never logged, never part of an error. */
  password: string;
  kg?: Buffer;
  /** Pin one suite; unset = the best the BMC offers (17, then 3). */
  cipherSuite?: 3 | 17;
  privilege?: SessionPrivilege;
  /** Wait for the first answer before retransmitting, ms, until the round-trip time is measured. */
  requestTimeoutMs?: number;
  /** Most retransmissions per request after the first send; unset = as many as the deadline allows. */
  retries?: number;
  /** Budget for opening the session, ms. */
  timeoutMs?: number;
  /** Absolute deadline (Date.now() ms) for opening, when the caller's operation has one. */
  deadline?: number;
  transport?: UdpTransport;
}

export interface RequestOptions {
  /** Command-specific completion code names (0x80-0xBE). */
  codes?: Readonly<Record<number, string>>;
  /** Completion codes returned to the caller instead of thrown. */
  accept?: readonly number[];
  /** Absolute deadline (Date.now() ms) for this request, retries included. */
  deadline?: number;
  retries?: number;
}

const PRIV_CODE: Record<SessionPrivilege, number> = { user: Privilege.User, operator: Privilege.Operator, administrator: Privilege.Administrator };

/** Session header formats an answer may carry: v1.5 authentication types (13.6) and RMCP+ (0x06). */
const AUTH_TYPES = new Set([0x00, 0x01, 0x02, 0x04, 0x05, 0x06]);

/** RMCP class IPMI or nothing: anything else from the BMC's address is named, not silently dropped. */
export function unwrap(msg: Buffer): Unwrapped {
  let r;
  try {
    r = decodeRmcp(msg);
  } catch {
    return { not: 'not RMCP' };
  }
  const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;
  if (r.header.msgClass !== RmcpClass.IPMI) return { not: `RMCP of class ${hex(r.header.msgClass)}, not IPMI` };
  if (r.body.length === 0 || !AUTH_TYPES.has(r.body[0]!)) {
    return { not: `RMCP without an IPMI session header (${r.body.length ? `authentication type ${hex(r.body[0]!)}` : 'empty'})` };
  }
  return { body: r.body };
}

export class IpmiSession {
  readonly bmc: string;
  private channel?: Channel;
  private io?: Exchanger;
  private rqSeq = randomInt(0, 64);
  private seal?: SessionSeal;
  private payloadSink?: { type: number; fn: (data: Buffer) => void };
  private suite?: CipherSuite;
  private active = false;
  private closed = false;
  /** Deadline of the operation currently running (set by the caller per operation). */
  deadline = Infinity;
  authCaps?: AuthCapabilities;
  /** Suites the BMC listed, or undefined if it did not answer Get Channel Cipher Suites. */
  offeredSuites?: CipherSuiteRecord[];
  /** System GUID from the handshake (RAKP 2), in Get System GUID's text form. */
  systemGuid?: string;
  /** Handshakes the session took (more than 1: setup messages were lost and it restarted). */
  handshakes = 0;
  /** Privilege level the session runs at: User until raised (22.18). */
  private level: number = Privilege.User;
  /** One request in flight per session (IPMI's model); callers queue here. */
  private lane: Promise<unknown> = Promise.resolve();
  private targetLevel: number = Privilege.Administrator;

  /** Kept out of `opts` so inspecting or logging a session never shows it. */
  readonly #secret: { password: string; kg?: Buffer };
  private readonly opts: Omit<SessionOptions, 'password' | 'kg'> & { port: number; ip: string };

  private constructor(all: SessionOptions & { port: number; ip: string }) {
    const { password, kg, ...opts } = all;
    this.#secret = { password, ...(kg ? { kg } : {}) };
    this.opts = opts;
    this.bmc = `${opts.address}:${opts.port}`;
  }

  get cipherSuite(): 3 | 17 | undefined {
    return this.suite?.id;
  }

  /** Authenticates and returns an active session, or throws BmcError. */
  static async open(opts: SessionOptions): Promise<IpmiSession> {
    const port = opts.port ?? 623;
    const bmc = `${opts.address}:${port}`;
    let ip = opts.address;
    if (!isIPv4(ip)) {
      try {
        ip = (await lookup(opts.address, { family: 4 })).address;
      } catch (err) {
        throw new BmcError('network', bmc, `cannot resolve ${opts.address}`, { cause: err });
      }
    }
    const s = new IpmiSession({ ...opts, port, ip });
    s.deadline = Math.min(opts.deadline ?? Infinity, Date.now() + (opts.timeoutMs ?? 15_000));
    try {
      await s.connect();
      return s;
    } catch (err) {
      s.release();
      throw err;
    }
  }

  private fail(kind: ConstructorParameters<typeof BmcError>[0], msg: string, detail?: string): BmcError {
    return new BmcError(kind, this.bmc, msg, detail ? { detail } : {});
  }

  private async connect(): Promise<void> {
    const transport = this.opts.transport ?? UdpTransport.shared();
    try {
      this.channel = await transport.open(this.opts.ip, this.opts.port, (m) => this.route(m));
    } catch (err) {
      throw new BmcError('network', this.bmc, `cannot open a UDP socket: ${(err as Error).message}`, { cause: err });
    }
    const channel = this.channel;
    this.io = new Exchanger((pkt) => channel.send(pkt), unwrap, this.opts.requestTimeoutMs ?? 1000);
    const priv = PRIV_CODE[this.opts.privilege ?? 'administrator'];
    this.targetLevel = priv;
    if (!this.opts.cipherSuite) {
      // with a pinned suite the capabilities add nothing Open Session would not tell: save the round trip
      this.authCaps = await this.getAuthCaps(priv);
      if (!this.authCaps.ipmi20) throw this.fail('cipher', 'BMC does not support IPMI v2.0 (RMCP+); IPMI v1.5 is not used by kseed');
    }

    let order: (3 | 17)[];
    if (this.opts.cipherSuite) {
      order = [this.opts.cipherSuite];
    } else {
      this.offeredSuites = await this.getCipherSuites();
      if (this.offeredSuites) {
        const ids = new Set(this.offeredSuites.filter((r) => r.oemIana === undefined).map((r) => r.id));
        order = SUITE_PREFERENCE.filter((id) => ids.has(id));
        if (order.length === 0) {
          throw this.fail('cipher', `BMC offers cipher suites ${[...ids].join(',') || 'none'}; kseed needs 17 or 3`);
        }
      } else {
        // the BMC ignored Get Channel Cipher Suites (ipmi_sim does): try the strongest first
        order = [...SUITE_PREFERENCE];
      }
    }
    let lastReject: BmcError | undefined;
    for (const id of order) {
      try {
        await this.establish(CIPHER_SUITES[id], priv);
        lastReject = undefined;
        break;
      } catch (err) {
        if (err instanceof BmcError && err.kind === 'cipher' && Date.now() < this.deadline) {
          lastReject = err;
          continue;
        }
        throw err;
      }
    }
    if (lastReject) {
      throw order.length === 1
        ? lastReject
        : this.fail('cipher', `BMC accepted none of cipher suites ${order.join(', ')}`, lastReject.message);
    }
  }

  // ------------------------------------------------------------ transport ---

  /** One exchange under the operation's deadline; its failure becomes this BMC's error. */
  private async exchange<T>(
    what: string,
    build: () => Buffer,
    accept: (body: Buffer) => T | undefined,
    o: { deadline?: number; retries?: number; wait?: number } = {},
  ): Promise<T> {
    const retries = o.retries ?? this.opts.retries;
    try {
      return await this.io!.run(what, build, accept, {
        deadline: Math.min(o.deadline ?? Infinity, this.deadline),
        ...(retries !== undefined ? { tries: retries + 1 } : {}),
        ...(o.wait !== undefined ? { wait: o.wait } : {}),
      });
    } catch (err) {
      if (err instanceof ExchangeFailure) throw this.fail(err.kind, err.message);
      throw err;
    }
  }

  private nextRqSeq(): number {
    this.rqSeq = (this.rqSeq + 1) & 0x3f;
    return this.rqSeq;
  }

  private matchResponse(r: IpmiResponse, netFn: number, cmd: number, rqSeq: number): boolean {
    return r.netFn === (netFn | 1) && r.cmd === cmd && r.rqSeq === rqSeq;
  }

  // ------------------------------------------------------ pre-session ---

  /** Get Channel Authentication Capabilities (22.13), sessionless in v1.5 framing as the spec requires for discovery. */
  private async getAuthCaps(priv: number): Promise<AuthCapabilities> {
    const rqSeq = this.nextRqSeq();
    const msg = encodeIpmiRequest({ netFn: NetFn.App, cmd: AppCmd.GetChannelAuthCapabilities, rqSeq, data: encodeAuthCapsRequest(priv) });
    return this.exchange(
      'Get Channel Authentication Capabilities',
      () => encodeV15(msg),
      (body) => {
        if (isV20(body)) return undefined;
        const r = decodeIpmiResponse(decodeV15(body).msg);
        if (!this.matchResponse(r, NetFn.App, AppCmd.GetChannelAuthCapabilities, rqSeq)) return undefined;
        if (r.completionCode !== 0) {
          throw this.fail('completion', `Get Channel Authentication Capabilities: ${completionName(r.completionCode)}`);
        }
        return decodeAuthCaps(r.data);
      },
    );
  }

  /**
   * Get Channel Cipher Suites (22.15), sessionless. Returns undefined when the
   * BMC does not answer: some (ipmi_sim) never implement it, so this waits
   * only briefly instead of spending the budget.
   */
  private async getCipherSuites(): Promise<CipherSuiteRecord[] | undefined> {
    const channel = this.authCaps?.channel ?? 0x0e;
    const records: Buffer[] = [];
    for (let index = 0; index < 64; index++) {
      const rqSeq = this.nextRqSeq();
      const msg = encodeIpmiRequest({
        netFn: NetFn.App,
        cmd: AppCmd.GetChannelCipherSuites,
        rqSeq,
        data: Buffer.from([channel, 0x00, 0x80 | index]),
      });
      let r: IpmiResponse;
      try {
        r = await this.exchange(
          'Get Channel Cipher Suites',
          // v1.5 framing like Get Channel Authentication Capabilities (what BMCs expect
          // before a session); the answer is taken in either framing
          () => encodeV15(msg),
          (body) => {
            let payload: Buffer;
            if (isV20(body)) {
              const p = decodeV20(body, 0);
              if (p.payloadType !== PayloadType.IPMI || p.authenticated) return undefined;
              payload = p.payload;
            } else payload = decodeV15(body).msg;
            const res = decodeIpmiResponse(payload);
            return this.matchResponse(res, NetFn.App, AppCmd.GetChannelCipherSuites, rqSeq) ? res : undefined;
          },
          { deadline: Date.now() + 500, retries: 1, wait: 250 },
        );
      } catch (err) {
        if (err instanceof BmcError && index === 0 && (err.kind === 'timeout' || err.kind === 'protocol')) return undefined;
        throw err;
      }
      if (r.completionCode !== 0) {
        if (index === 0) return undefined;
        break;
      }
      const chunk = r.data.subarray(1);
      records.push(chunk);
      if (chunk.length < 16) break;
    }
    try {
      return decodeCipherSuiteRecords(Buffer.concat(records));
    } catch (err) {
      throw this.fail('protocol', `malformed Get Channel Cipher Suites answer: ${(err as Error).message}`);
    }
  }

  /** Open Session + RAKP 1-4 with one suite, restarted on loss within the deadline (handshake.ts). */
  private async establish(suite: CipherSuite, priv: number): Promise<void> {
    const username = Buffer.from(this.opts.username, 'utf8');
    if (username.length > 16) throw this.fail('auth', 'user name longer than 16 bytes');
    let kuid: Buffer;
    try {
      kuid = userKey(this.#secret.password);
    } catch {
      throw this.fail('auth', 'password longer than 20 bytes');
    }
    const channel = this.channel!;
    try {
      const e = await handshake(this.io!, (pkt) => channel.send(pkt), {
        suite,
        privilege: priv,
        username,
        kuid,
        ...(this.#secret.kg ? { kg: this.#secret.kg } : {}),
        deadline: this.deadline,
      });
      this.handshakes += e.attempts;
      this.seal = new SessionSeal(suite, e.keys, e.bmcSessionId, e.consoleSessionId);
      // all zeros: the BMC did not fill it in (then Get System GUID asks)
      if (e.systemGuid.some((b) => b !== 0)) this.systemGuid = decodeGuid(e.systemGuid);
    } catch (err) {
      if (err instanceof HandshakeFailure) throw this.fail(err.kind, err.message);
      throw err;
    }
    this.suite = suite;
    this.active = true;
  }

  // ------------------------------------------------------------ session ---

  private sessionPacket(ipmiMsg: Buffer): Buffer {
    return this.seal!.seal(PayloadType.IPMI, ipmiMsg);
  }

  private openSessionPayload(body: Buffer): Buffer | undefined {
    return this.seal!.open(body, PayloadType.IPMI);
  }

  /** Sends one payload of another type (SOL, 15.9) inside the session, sealed like IPMI messages. */
  sendPayload(payloadType: number, data: Buffer): void {
    if (!this.active || this.closed || !this.seal) throw this.fail('protocol', 'session is not active');
    this.channel!.send(this.seal.seal(payloadType, data));
  }

  /**
   * Takes the in-session packets of `payloadType` (SOL): they come
   * unsolicited, so they bypass the request/answer matching. undefined stops.
   */
  onPayload(payloadType: number, fn: ((data: Buffer) => void) | undefined): void {
    this.payloadSink = fn ? { type: payloadType, fn } : undefined;
  }

  private route(m: Buffer): void {
    const sink = this.payloadSink;
    if (sink && this.seal) {
      const u = unwrap(m);
      if ('body' in u && isV20(u.body) && (u.body[1]! & 0x3f) === sink.type) {
        let data: Buffer | undefined;
        try {
          data = this.seal.open(u.body, sink.type);
        } catch {
          return; // forged or garbled: dropped like a lost packet, SOL retransmits
        }
        if (data) sink.fn(data);
        return;
      }
    }
    this.io?.onDatagram(m);
  }

  /** The BMC's ID of this session (its Open Session Response), once open. */
  get bmcSessionId(): number | undefined {
    return this.seal?.bmcSessionId;
  }

  /** One IPMI command inside the session. Throws BmcError on a completion code not in `accept`. */
  request(netFn: number, cmd: number, data: Buffer = Buffer.alloc(0), o: RequestOptions = {}): Promise<IpmiResponse> {
    const run = this.lane.then(() => this.requestNow(netFn, cmd, data, o));
    this.lane = run.catch(() => undefined);
    return run;
  }

  private async requestNow(netFn: number, cmd: number, data: Buffer, o: RequestOptions): Promise<IpmiResponse> {
    if (!this.active || this.closed) throw this.fail('protocol', 'session is not active');
    // raise the session only when a command needs it: read-only fleet queries save a round trip
    if (this.level < (USER_LEVEL_COMMANDS.has(`${netFn}:${cmd}`) ? Privilege.User : this.targetLevel)) {
      await this.setPrivilege(this.targetLevel);
    }
    const rqSeq = this.nextRqSeq();
    const msg = encodeIpmiRequest({ netFn, cmd, rqSeq, data });
    const what = commandName(netFn, cmd);
    const r = await this.exchange(
      what,
      () => this.sessionPacket(msg),
      (body) => {
        const pl = this.openSessionPayload(body);
        if (!pl) return undefined;
        const res = decodeIpmiResponse(pl);
        return this.matchResponse(res, netFn, cmd, rqSeq) ? res : undefined;
      },
      { deadline: o.deadline, retries: o.retries },
    );
    if (r.completionCode !== 0 && !o.accept?.includes(r.completionCode)) {
      const name = completionName(r.completionCode, o.codes);
      if (r.completionCode === 0xd4) throw this.fail('privilege', `${what}: ${name}`);
      throw this.fail('completion', `${what}: ${name}`);
    }
    return r;
  }

  /** Set Session Privilege Level (22.18): sessions start at User level. */
  private async setPrivilege(priv: number): Promise<void> {
    this.level = priv; // set first: Set Session Privilege Level itself needs only User
    const r = await this.requestNow(NetFn.App, AppCmd.SetSessionPrivilegeLevel, Buffer.from([priv]), {
      accept: [0x80, 0x81, 0x82, 0xd4],
    });
    if (r.completionCode !== 0) {
      const codes = { 0x80: 'requested level not available for this user', 0x81: 'requested level exceeds channel or user limit', 0x82: 'cannot disable user-level authentication' };
      this.level = Privilege.User;
      throw this.fail('privilege', `Set Session Privilege Level: ${completionName(r.completionCode, codes)}`);
    }
  }

  /** Privilege the session runs at now. */
  get privilege(): SessionPrivilege {
    return this.level >= Privilege.Administrator ? 'administrator' : this.level === Privilege.Operator ? 'operator' : 'user';
  }

  /**
   * Close Session (22.19), best effort and brief: a closing error never fails
   * the caller. It waits at most 1 s and not past `until` (the caller's
   * deadline); past that it is sent once and waited for 100 ms, and a BMC that
   * misses it times the session out on its own.
   */
  async close(until = Infinity): Promise<void> {
    if (this.closed) return;
    if (this.active) {
      const id = Buffer.alloc(4);
      id.writeUInt32LE(this.seal!.bmcSessionId, 0);
      try {
        const now = Date.now();
        this.deadline = Math.max(now + 100, Math.min(now + 1000, until));
        await this.request(NetFn.App, AppCmd.CloseSession, id, { retries: 1 });
      } catch {
        // the BMC times idle sessions out on its own
      }
    }
    this.release();
  }

  private release(): void {
    this.closed = true;
    this.active = false;
    this.io?.cancel();
    this.channel?.close();
    this.channel = undefined;
  }
}
