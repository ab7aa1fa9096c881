/**
 * One read transfer (server sends DATA, client ACKs): RFC 1350 lockstep and
 * RFC 7440 windows. No sockets here: the caller supplies `send` and feeds
 * decoded packets from the transfer's peer, so the state machine is testable
 * on its own (with fake timers).
 */
import { type PacketSource } from './files.js';
import { encodeError, ErrorCode, type Packet } from './packet.js';

export interface TransferOptions {
  source: PacketSource;
  blksize: number;
  windowsize: number;
  /** Retransmission timeout (RFC 2349 value when negotiated). */
  timeoutMs: number;
  /** Timeouts in a row without progress before giving up. */
  maxRetries: number;
  /** OACK to send first (RFC 2347); the client then ACKs block 0. */
  oack?: Buffer;
  /**
   * Retransmission timeout and retries until the client's first ACK. The
   * negotiated options take effect only once the client acknowledged the OACK
   * (RFC 2347), so until then the server's own, short values hold: a client
   * that asks and never answers frees its slot in seconds. Default: timeoutMs, maxRetries.
   * (Without options there is no OACK and timeoutMs is the server's own already.)
   */
  setupTimeoutMs?: number;
  setupRetries?: number;
  /** Control packets (OACK, ERROR). */
  send(parts: Buffer[]): void;
  /** `count` DATA packets laid out back to back with stride 4 + blksize (see PacketSource). */
  sendPackets(buf: Buffer, count: number): void;
  onEnd(outcome: TransferOutcome): void;
}

export interface TransferOutcome {
  ok: boolean;
  /** done | timeout | peer-error | illegal-op | read-error | aborted */
  reason: string;
  bytes: number;
  blocks: number;
  retransmits: number;
  ms: number;
}

export class Transfer {
  /** Highest block (absolute, not wrapped) the client has acknowledged. */
  private acked = 0;
  /** Next block to put on the wire. */
  private next = 1;
  private readonly total: number;
  private oackPending: boolean;
  private retries = 0;
  private retransmits = 0;
  private sentBlocks = 0;
  private loading = false;
  private ended = false;
  private timer: NodeJS.Timeout | undefined;
  private fastRetransmitAt = -1;
  private readonly started = Date.now();

  constructor(private readonly o: TransferOptions) {
    // RFC 1350 section 6: a block shorter than blksize ends the transfer, so a
    // file whose size is a multiple of blksize ends with an empty block.
    this.total = o.source.total;
    this.oackPending = o.oack !== undefined;
  }

  get blocksTotal(): number {
    return this.total;
  }

  start(): void {
    if (this.oackPending) {
      this.o.send([this.o.oack!]);
      this.armTimer();
    } else this.pump();
  }

  onPacket(p: Packet): void {
    if (this.ended) return;
    switch (p.op) {
      case 'ack':
        this.onAck(p.block);
        return;
      case 'error':
        // RFC 1350 section 7: an ERROR terminates the transfer, and is not acknowledged.
        this.end(false, 'peer-error');
        return;
      case 'invalid':
        // Garbage from the right peer is dropped; the timeout covers real loss.
        return;
      default:
        // RFC 1350 section 7: a packet that is not expected here is an illegal operation.
        this.o.send([encodeError(ErrorCode.illegalOperation, 'unexpected packet in read transfer')]);
        this.end(false, 'illegal-op');
    }
  }

  /** An ACK of `block16` (the wrapped 16-bit number), as onPacket({ op: 'ack' }) without the packet object. */
  onAckBlock(block16: number): void {
    if (!this.ended) this.onAck(block16);
  }

  private onAck(block16: number): void {
    if (this.oackPending) {
      // RFC 2347: the client confirms the OACK with ACK 0. Anything else is stale.
      if (block16 !== 0) return;
      this.oackPending = false;
      this.retries = 0;
      this.pump();
      return;
    }
    // Block numbers wrap at 65536 (rollover); map onto the absolute number at or
    // after the last ACK. Windows are far smaller than 65536, so this is unambiguous.
    const abs = this.acked + ((block16 - (this.acked & 0xffff)) & 0xffff);
    if (abs > this.next - 1) return; // an ACK for a block never sent: stale or forged
    if (abs === this.acked) {
      // A duplicate ACK. RFC 1123 section 4.2.3.1: in lockstep, retransmit only on
      // timeout, never on a duplicate ACK (Sorcerer's Apprentice). With windows,
      // RFC 7440 section 4 uses a repeated ACK to report a gap; answer it once per
      // ACK value so duplicates cannot multiply traffic.
      if (this.o.windowsize > 1 && this.next - 1 > this.acked && this.fastRetransmitAt !== this.acked) {
        this.fastRetransmitAt = this.acked;
        this.retransmits += this.next - 1 - this.acked;
        this.next = this.acked + 1;
        this.pump();
      }
      return;
    }
    this.acked = abs;
    this.retries = 0;
    this.o.source.release(abs + 1);
    if (abs === this.total) {
      this.end(true, 'done');
      return;
    }
    // RFC 7440 section 4: an ACK inside the window means the blocks after it were
    // lost; the next window starts right after the acknowledged block.
    if (abs < this.next - 1) {
      this.retransmits += this.next - 1 - abs;
      this.next = abs + 1;
    }
    this.pump();
  }

  /** Send what the window allows; arm the timer once the window is out. */
  private pump(): void {
    if (this.loading || this.ended) return;
    const end = Math.min(this.acked + this.o.windowsize, this.total);
    while (this.next <= end && !this.ended) {
      const run = this.o.source.packets(this.next, end - this.next + 1);
      if (run === undefined) {
        this.loading = true;
        const want = this.next;
        this.o.source.load(want).then(
          () => {
            this.loading = false;
            if (this.ended) return;
            if (this.o.source.packets(want, 1) === undefined) return this.fail('read-error');
            this.pump();
          },
          () => this.fail('read-error'),
        );
        return;
      }
      this.o.sendPackets(run.buf, run.count);
      this.sentBlocks += run.count;
      this.next += run.count;
    }
    this.armTimer();
  }

  private fail(reason: string): void {
    if (this.ended) return;
    this.o.send([encodeError(ErrorCode.notDefined, reason === 'read-error' ? 'read error' : reason)]);
    this.end(false, reason);
  }

  /** Still waiting for the ACK of the OACK: the negotiated timeout is not agreed yet. */
  private get inSetup(): boolean {
    return this.oackPending;
  }

  /**
   * The wait before the next retransmission. RFC 1123 section 4.2.3.2 asks TFTP
   * for an adaptive timeout with exponential backoff: every timeout in a row
   * doubles the wait, and progress resets it. A client starved of CPU on a
   * loaded host (50 PXE clients at once) then gets 1 + 2 + 4 s to answer the
   * OACK instead of 3 x 1 s, and 63 s of silence mid-transfer with the default
   * 5 retries: tftpd-hpa's limits exactly (TIMEOUT 1 s doubled up to 63 s).
   */
  private waitMs(): number {
    const base = this.inSetup ? (this.o.setupTimeoutMs ?? this.o.timeoutMs) : this.o.timeoutMs;
    return base * 2 ** Math.min(this.retries, 6);
  }

  private armTimer(): void {
    const ms = this.waitMs();
    if (this.timer && this.timerMs === ms) this.timer.refresh();
    else {
      if (this.timer) clearTimeout(this.timer);
      this.timerMs = ms;
      this.timer = setTimeout(() => this.onTimeout(), ms);
    }
  }

  private timerMs = 0;

  private onTimeout(): void {
    if (this.ended) return;
    this.retries++;
    if (this.retries > (this.inSetup ? (this.o.setupRetries ?? this.o.maxRetries) : this.o.maxRetries)) {
      this.fail('timeout');
      return;
    }
    if (this.oackPending) {
      this.o.send([this.o.oack!]);
      this.armTimer();
      return;
    }
    // RFC 1350 section 2 / RFC 7440 section 4: on timeout, resend everything not yet acknowledged.
    this.retransmits += this.next - 1 - this.acked;
    this.next = this.acked + 1;
    this.fastRetransmitAt = -1;
    this.pump();
  }

  /** Stop from outside: server shutdown ('aborted') or the peer vanished ('peer-gone'). */
  abort(reason: 'aborted' | 'peer-gone' = 'aborted'): void {
    if (this.ended) return;
    if (reason === 'aborted') this.o.send([encodeError(ErrorCode.notDefined, 'server shutting down')]);
    this.end(false, reason);
  }

  private end(ok: boolean, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.o.onEnd({
      ok,
      reason,
      bytes: ok ? this.o.source.size : Math.min(this.acked * this.o.blksize, this.o.source.size),
      blocks: this.sentBlocks,
      retransmits: this.retransmits,
      ms: Date.now() - this.started,
    });
  }
}
