/**
 * Retransmission and deadlines for one BMC conversation: send a packet, wait
 * for the answer a matcher accepts, resend on silence, never past the
 * operation's deadline. The wait per try follows the measured round-trip
 * time (RFC 6298's estimator with Karn's rule), so a slow link gets longer
 * waits and a lossy one is not left waiting a fixed second per loss.
 *
 * Failures say what came back: silence is "no answer"; datagrams that are
 * not RMCP or do not decode are described by their length and first bytes.
 */
import { DecodeError } from './decode.js';

/** The kinds of failure an exchange can end with (a subset of BmcErrorKind). */
export type ExchangeFailureKind = 'timeout' | 'protocol';

export class ExchangeFailure extends Error {
  constructor(
    readonly kind: ExchangeFailureKind,
    message: string,
    /** Answers that came but matched no request of this exchange: late ones, typically. */
    readonly stale = 0,
  ) {
    super(message);
    this.name = 'ExchangeFailure';
  }
}

/**
 * "12 bytes that are not RMCP (first bytes 0x0a 0x0b ...)": what a peer
 * sent and why it was refused, never more than 8 bytes of it.
 */
export function describeDatagram(b: Buffer, why: string): string {
  const head = [...b.subarray(0, 8)].map((x) => `0x${x.toString(16).padStart(2, '0')}`).join(' ');
  const n = b.length === 1 ? '1 byte that is' : `${b.length} bytes that are`;
  return `${n} ${why}${b.length ? ` (first bytes ${head}${b.length > 8 ? ' ...' : ''})` : ''}`;
}

/** What unwrap makes of a datagram: the IPMI-class body, or why it is not one. */
export type Unwrapped = { body: Buffer } | { not: string };

/** Round-trip estimator, RFC 6298 section 2, with a floor and ceiling suited to BMCs. */
export class RttEstimator {
  private srtt?: number;
  private rttvar = 0;
  constructor(
    private readonly initial: number,
    private readonly min = 250,
    private readonly max = 4000,
  ) {}

  /** Wait before the first retransmission. */
  get rto(): number {
    if (this.srtt === undefined) return this.initial;
    return Math.min(this.max, Math.max(this.min, Math.round(this.srtt + Math.max(50, 4 * this.rttvar))));
  }

  /** One sample from an exchange answered after exactly one send (Karn: never from a retransmitted one). */
  sample(ms: number): void {
    if (this.srtt === undefined) {
      this.srtt = ms;
      // RFC 6298 starts at ms/2 (3x the RTT for TCP's first RTO); a BMC's answer time
      // varies far less than a TCP path's, and each handshake step is sent only once
      this.rttvar = ms / 4;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - ms);
      this.srtt = 0.875 * this.srtt + 0.125 * ms;
    }
  }

  /**
   * The next wait after a timeout: exponential backoff, capped at twice the
   * RTO. A lossy link is not congested (one datagram in flight per BMC), so
   * unbounded backoff would only spend the deadline waiting; the cap still
   * reaches a BMC twice as slow as the estimate.
   */
  backoff(wait: number): number {
    return Math.min(this.max, Math.max(wait, 2 * this.rto), Math.round(wait * 1.5));
  }
}

export interface ExchangeOptions {
  /** Absolute deadline, Date.now() ms. */
  deadline: number;
  /** Most sends; unset = as many as the deadline allows. */
  tries?: number;
  /** First wait; unset = the estimator's RTO. */
  wait?: number;
}

type Accept<T> = (body: Buffer) => T | undefined;

interface Waiting {
  onDatagram(msg: Buffer, u: Unwrapped): void;
}

/**
 * One request in flight at a time (IPMI's model): datagrams from the peer go
 * to the exchange waiting now. `unwrap` turns a datagram into the IPMI-class
 * body, or says why it is not one ("not RMCP").
 */
export class Exchanger {
  private waiting?: Waiting;
  readonly rtt: RttEstimator;

  constructor(
    private readonly send: (pkt: Buffer) => void,
    private readonly unwrap: (msg: Buffer) => Unwrapped,
    initialWait: number,
  ) {
    this.rtt = new RttEstimator(initialWait);
  }

  /** Feed every datagram from the peer here. */
  onDatagram(msg: Buffer): void {
    const w = this.waiting;
    if (!w) return;
    w.onDatagram(msg, this.unwrap(msg));
  }

  /** Drops whatever is waiting (the session is closing). */
  cancel(): void {
    this.waiting = undefined;
  }

  /**
   * Sends `build()` and resolves with the first answer `accept` returns a
   * value for. Resends (rebuilding, so each send can carry a fresh sequence
   * number) after each wait, until `tries` or the deadline. Answers that
   * `accept` does not match (stale, another exchange's) are ignored; ones it
   * cannot decode are remembered and named if nothing valid arrives.
   */
  run<T>(what: string, build: () => Buffer, accept: Accept<T>, o: ExchangeOptions): Promise<T> {
    let wait = o.wait ?? this.rtt.rto;
    return new Promise<T>((resolve, reject) => {
      let sends = 0;
      let lastSend = 0;
      let timer: NodeJS.Timeout | undefined;
      let bad: string | undefined;
      let badCount = 0;
      let unrelated = 0;
      const finish = (fn: () => void) => {
        if (timer) clearTimeout(timer);
        if (this.waiting === waiting) this.waiting = undefined;
        fn();
      };
      const waiting: Waiting = {
        onDatagram: (msg, u) => {
          if ('not' in u) {
            badCount += 1;
            bad = describeDatagram(msg, u.not);
            return;
          }
          try {
            const v = accept(u.body);
            if (v === undefined) {
              unrelated += 1;
              return;
            }
            if (sends === 1) this.rtt.sample(Date.now() - lastSend);
            finish(() => resolve(v));
          } catch (err) {
            if (!(err instanceof DecodeError)) return finish(() => reject(err));
            badCount += 1;
            bad = describeDatagram(msg, `malformed (${err.message})`);
          }
        },
      };
      const next = () => {
        const left = o.deadline - Date.now();
        if ((o.tries !== undefined && sends >= o.tries) || left <= 0) {
          const more = badCount > 1 ? ` (and ${badCount - 1} more invalid answer${badCount > 2 ? 's' : ''})` : '';
          finish(() =>
            reject(
              bad
                ? new ExchangeFailure('protocol', `${what}: the BMC answered ${bad}${more}`)
                : new ExchangeFailure('timeout', `no answer to ${what} after ${sends} ${sends === 1 ? 'try' : 'tries'}${unrelated ? ` (${unrelated} stale answer${unrelated === 1 ? '' : 's'} ignored)` : ''}`, unrelated),
            ),
          );
          return;
        }
        let pkt: Buffer;
        try {
          pkt = build();
        } catch (err) {
          finish(() => reject(err));
          return;
        }
        sends += 1;
        lastSend = Date.now();
        this.send(pkt);
        timer = setTimeout(next, Math.min(wait, left));
        wait = this.rtt.backoff(wait);
      };
      this.waiting = waiting;
      next();
    });
  }
}
