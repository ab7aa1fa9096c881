/**
 * A Serial-over-LAN console on one BMC: an RMCP+ session, the SOL payload
 * activated in it (IPMI v2.0 24.1) with the session's encryption and
 * integrity (suites 3 and 17 seal every packet, SOL included), the
 * character stream of sol-link.ts, and Deactivate Payload (24.2) on close.
 * While attached, Get Payload Activation Status (24.4) every few
 * seconds keeps the session alive, and Get Payload Instance Info (24.5)
 * notices another console taking the payload over: this one then ends
 * without deactivating what is now the other's.
 */
import { BmcError } from '../errors.js';
import { NetFn, PayloadType } from './codec.js';
import { IpmiSession, type SessionOptions } from './session.js';
import { SolLink, type SolLinkStats } from './sol-link.js';
import {
  ACTIVATE_CODES,
  decodeActivatePayload,
  decodeActivationStatus,
  decodePayloadInstanceInfo,
  DEACTIVATE_CODES,
  encodeActivatePayload,
  encodeDeactivatePayload,
  encodePayloadInstanceInfo,
  PayloadCmd,
  SOL_PAYLOAD,
  type ActivatedPayload,
  type ActivationStatus,
} from './sol-codec.js';

/** The BMC's SOL payload is held by another session (completion code 0x80 of 24.1). */
export class SolBusyError extends BmcError {
  constructor(bmc: string) {
    super('completion', bmc, 'Serial-over-LAN is already active in another session on this BMC');
    this.name = 'SolBusyError';
  }
}

export interface SolConsoleOptions extends SessionOptions {
  /** Deactivate a payload another session holds, then take it. */
  force?: boolean;
  /** SOL retransmission interval and count (sol-link.ts). */
  retryMs?: number;
  retries?: number;
  /** Idle time between keepalives, ms. */
  keepaliveMs?: number;
}

export type SolEnd = { by: 'detach' } | { by: 'deactivated' | 'lost'; reason: string };

/** Budget of one control request (activate, status, deactivate) while attached. */
const REQUEST_MS = 5000;

export class SolConsole {
  private link?: SolLink;
  private keepalive?: NodeJS.Timeout;
  private ending?: Promise<void>;
  private endCbs: ((e: SolEnd) => void)[] = [];
  private dataCbs: ((d: Buffer) => void)[] = [];
  private ended?: SolEnd;
  /** Another session held the payload and --force deactivated it. */
  tookOver = false;
  payload?: ActivatedPayload;

  private constructor(
    private readonly session: IpmiSession,
    private readonly o: SolConsoleOptions,
  ) {}

  get bmc(): string {
    return this.session.bmc;
  }

  get cipherSuite(): 3 | 17 | undefined {
    return this.session.cipherSuite;
  }

  get stats(): SolLinkStats | undefined {
    return this.link?.stats;
  }

  /** Opens a session and activates SOL; throws SolBusyError when another session holds it and `force` is off. */
  static async open(o: SolConsoleOptions): Promise<SolConsole> {
    const session = await IpmiSession.open(o);
    const c = new SolConsole(session, o);
    try {
      await c.activate();
      return c;
    } catch (err) {
      c.link?.close();
      session.onPayload(PayloadType.SOL, undefined);
      await session.close(Date.now() + 1000);
      throw err;
    }
  }

  private request(cmd: number, data: Buffer, codes: Readonly<Record<number, string>>, accept: number[]) {
    this.session.deadline = Date.now() + REQUEST_MS;
    return this.session.request(NetFn.App, cmd, data, { codes, accept });
  }

  /** Get Payload Activation Status (24.4) of SOL. */
  async status(): Promise<ActivationStatus> {
    const r = await this.request(PayloadCmd.ActivationStatus, Buffer.from([SOL_PAYLOAD]), {}, []);
    return decodeActivationStatus(r.data);
  }

  /**
   * Another session holds SOL now (24.5 names the session that activated
   * it). False when the BMC does not say: a BMC without 24.5 keeps the old
   * behaviour (deactivate on detach).
   */
  async heldElsewhere(): Promise<boolean> {
    try {
      const r = await this.request(PayloadCmd.InstanceInfo, encodePayloadInstanceInfo(), {}, []);
      const owner = decodePayloadInstanceInfo(r.data).sessionId;
      return owner !== 0 && this.session.bmcSessionId !== undefined && owner !== this.session.bmcSessionId;
    } catch {
      return false;
    }
  }

  private async activate(): Promise<void> {
    // the BMC may send characters right after its answer: the link listens before asking
    const pending: Buffer[] = [];
    this.session.onPayload(PayloadType.SOL, (d) => (this.link ? this.link.receive(d) : pending.push(d)));
    let r = await this.request(PayloadCmd.Activate, encodeActivatePayload(), ACTIVATE_CODES, [0x80]);
    if (r.completionCode === 0x80) {
      if (!this.o.force) throw new SolBusyError(this.bmc);
      // 24.2: a session with enough privilege may deactivate a payload another session activated
      await this.request(PayloadCmd.Deactivate, encodeDeactivatePayload(), DEACTIVATE_CODES, [0x80]);
      this.tookOver = true;
      r = await this.request(PayloadCmd.Activate, encodeActivatePayload(), ACTIVATE_CODES, [0x80]);
      if (r.completionCode === 0x80) throw new SolBusyError(this.bmc);
    }
    const p = decodeActivatePayload(r.data);
    this.payload = p;
    const port = Number(this.bmc.slice(this.bmc.lastIndexOf(':') + 1));
    if (p.port !== 0 && p.port !== port) {
      await this.deactivate();
      throw new BmcError('protocol', this.bmc, `the BMC wants SOL on UDP port ${p.port}, not the session's ${port}; kseed does not follow that`);
    }
    this.link = new SolLink({
      send: (payload) => this.session.sendPayload(PayloadType.SOL, payload),
      deliver: (d) => {
        for (const cb of this.dataCbs) cb(d);
      },
      // a BMC that states no size gets the spec's smallest useful packet
      maxChars: Math.max(1, Math.min(255, (p.inboundSize || 36) - 4)),
      ...(this.o.retryMs !== undefined ? { retryMs: this.o.retryMs } : {}),
      ...(this.o.retries !== undefined ? { retries: this.o.retries } : {}),
      onLost: (reason) => void this.end({ by: 'lost', reason }),
      resync: true,
      onDeactivating: () => void this.end({ by: 'deactivated', reason: 'the BMC is deactivating SOL' }),
    });
    for (const d of pending) this.link.receive(d);
    this.armKeepalive();
  }

  private armKeepalive(): void {
    const every = this.o.keepaliveMs ?? 10_000;
    this.keepalive = setTimeout(async () => {
      this.keepalive = undefined;
      if (this.ended) return;
      // also while characters flow: SOL packets need not count as session activity (ipmi_sim
      // closes a session after 30 s without an IPMI request, SOL or not), so a long boot log
      // would otherwise outlive the session
      try {
        const s = await this.status();
        if (!s.active.includes(1)) return void this.end({ by: 'deactivated', reason: 'SOL was deactivated on the BMC (another console may have taken it over)' });
        if (await this.heldElsewhere()) return void this.end({ by: 'deactivated', reason: 'another session took SOL over (--force)' });
      } catch (err) {
        return void this.end({ by: 'lost', reason: (err as Error).message });
      }
      if (!this.ended) this.armKeepalive();
    }, every);
    this.keepalive.unref?.();
  }

  /** Characters from the node's serial port. */
  onData(cb: (d: Buffer) => void): void {
    this.dataCbs.push(cb);
  }

  /** The console ended: detached by us, deactivated by the BMC, or lost. */
  onEnd(cb: (e: SolEnd) => void): void {
    if (this.ended) cb(this.ended);
    else this.endCbs.push(cb);
  }

  /** Characters for the node's serial port. */
  write(data: Buffer): void {
    this.link?.write(data);
  }

  sendBreak(): void {
    this.link?.sendBreak();
  }

  /** Waits (at most `ms`) until every written character is acknowledged. */
  async drain(ms = 2000): Promise<void> {
    if (!this.link) return;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.link.drain(), new Promise<void>((r) => (t = setTimeout(r, ms)))]);
    if (t) clearTimeout(t);
  }

  private async deactivate(): Promise<void> {
    await this.request(PayloadCmd.Deactivate, encodeDeactivatePayload(), DEACTIVATE_CODES, [0x80]);
  }

  /**
   * Deactivates SOL (unless the BMC already did) and closes the session;
   * idempotent, and safe from a signal handler. A BMC that does not answer
   * the deactivation drops the payload with the session when it times out.
   */
  close(): Promise<void> {
    return this.end({ by: 'detach' });
  }

  private end(e: SolEnd): Promise<void> {
    this.ending ??= (async () => {
      this.ended = e;
      if (this.keepalive) clearTimeout(this.keepalive);
      this.link?.close();
      this.session.onPayload(PayloadType.SOL, undefined);
      try {
        // never after a takeover or the BMC's own deactivation: the payload may be someone else's now
        // nor when another session took it over while we were idle (ipmi_sim deactivates whoever holds it)
        if (e.by === 'lost' || (e.by === 'detach' && !(await this.heldElsewhere()))) await this.deactivate();
      } catch {
        // closing the session below ends the payload with it on the BMCs that tie them
      }
      await this.session.close(Date.now() + 1000);
      for (const cb of this.endCbs.splice(0)) cb(e);
    })();
    return this.ending;
  }
}
