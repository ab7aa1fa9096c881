/**
 * The SOL character stream over unreliable datagrams (IPMI v2.0 15.9-15.11):
 * one packet of ours in flight at a time, numbered 1-15; it is resent
 * unchanged until the BMC acknowledges it, and the BMC's ACK says how many
 * characters it accepted, the rest going out again in the next packet. The
 * BMC's packets are acknowledged with how many characters we took (all of
 * them); a packet that comes again with the sequence number just
 * acknowledged is a retransmission because our ACK was lost: it is
 * acknowledged again, never shown twice. No sockets: `send` gets the SOL
 * payload bytes and timers are plain setTimeout (tests use fake timers).
 */
import { DecodeError } from './decode.js';
import { decodeSolPacket, encodeSolPacket, nextSolSeq, SolOp, SolStatus, type SolPacket } from './sol-codec.js';

export interface SolLinkOptions {
  /** One SOL payload to the BMC (the session seals it). */
  send(payload: Buffer): void;
  /** Characters from the BMC, in order, each once. */
  deliver(data: Buffer): void;
  /** Characters per packet: the BMC's inbound payload size less the 4-byte header. */
  maxChars: number;
  /** Wait for an ACK before resending, ms. */
  retryMs?: number;
  /** Resends of one packet before the link is declared lost. */
  retries?: number;
  /** Our packet was never acknowledged: the BMC or the path is gone. */
  onLost(reason: string): void;
  /** The BMC says the payload is being deactivated (status bit 4). */
  onDeactivating?(): void;
  /**
   * Start with a packet of sequence number 1 and no characters. A BMC that
   * keeps the number of the last packet it accepted across activations
   * (OpenIPMI's ipmi_sim does) would take the new session's first packet,
   * numbered 1 as every session's, for a retransmission of the old one's and
   * drop its characters; after this one, which it accepts or acknowledges
   * again with nothing lost either way, its last number is 1 and ours go on
   * from 2. A BMC that does not answer it costs one retry interval, no more.
   */
  resync?: boolean;
}

export interface SolLinkStats {
  packetsSent: number;
  resent: number;
  packetsReceived: number;
  duplicates: number;
  charsOut: number;
  charsIn: number;
}

interface InFlight {
  seq: number;
  data: Buffer;
  sends: number;
  /** The resync packet: given up after one retry instead of losing the link. */
  resync?: boolean;
}

export class SolLink {
  private queue: Buffer[] = [];
  private inFlight?: InFlight;
  private outSeq = 0;
  /** Last BMC packet we acknowledged, and with how many characters (for a repeated ACK). */
  private lastIn = { seq: 0, count: 0 };
  private timer?: NodeJS.Timeout;
  private closed = false;
  private drained: (() => void)[] = [];
  readonly stats: SolLinkStats = { packetsSent: 0, resent: 0, packetsReceived: 0, duplicates: 0, charsOut: 0, charsIn: 0 };
  private readonly retryMs: number;
  private readonly retries: number;

  constructor(private readonly o: SolLinkOptions) {
    if (o.maxChars < 1) throw new RangeError('SOL packets must carry at least one character');
    this.retryMs = o.retryMs ?? 500;
    this.retries = o.retries ?? 7;
    if (o.resync) {
      this.outSeq = nextSolSeq(this.outSeq);
      this.inFlight = { seq: this.outSeq, data: Buffer.alloc(0), sends: 0, resync: true };
      this.transmit();
    }
  }

  /** Characters for the node's serial port. */
  write(data: Buffer): void {
    if (this.closed || data.length === 0) return;
    this.queue.push(Buffer.from(data));
    this.pump();
  }

  /** Nothing queued and nothing waiting for its ACK. */
  get idle(): boolean {
    return !this.inFlight && this.queue.length === 0;
  }

  /** Resolves once every written character was acknowledged (or the link closed). */
  drain(): Promise<void> {
    if (this.idle || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  /** One SOL payload from the BMC (already opened by the session). Malformed ones are dropped. */
  receive(payload: Buffer): void {
    if (this.closed) return;
    let p: SolPacket;
    try {
      p = decodeSolPacket(payload);
    } catch (err) {
      if (err instanceof DecodeError) return;
      throw err;
    }
    this.stats.packetsReceived += 1;
    if (p.ack !== 0 && this.inFlight && p.ack === this.inFlight.seq) this.acknowledged(p);
    if (p.seq !== 0) this.incoming(p);
    if (p.flags & SolStatus.Deactivating) this.o.onDeactivating?.();
  }

  private incoming(p: SolPacket): void {
    if (p.seq === this.lastIn.seq) {
      // our ACK was lost and the BMC resent: acknowledge again, show nothing twice
      this.stats.duplicates += 1;
      this.sendAck(p.seq, this.lastIn.count);
      return;
    }
    this.lastIn = { seq: p.seq, count: p.data.length };
    if (p.data.length) {
      this.stats.charsIn += p.data.length;
      this.o.deliver(p.data);
    }
    this.sendAck(p.seq, p.data.length);
  }

  private sendAck(seq: number, count: number): void {
    this.o.send(encodeSolPacket({ seq: 0, ack: seq, count, flags: 0, data: Buffer.alloc(0) }));
  }

  /**
   * Our packet was answered. The accepted count is taken from ACK and NACK
   * alike (a BMC whose buffer filled part way NACKs with what it took); the
   * rest goes back to the head of the queue. A NACK also means "not now":
   * the next packet waits one retry interval.
   */
  private acknowledged(p: SolPacket): void {
    const f = this.inFlight!;
    this.clearTimer();
    this.inFlight = undefined;
    const taken = Math.min(p.count, f.data.length);
    this.stats.charsOut += taken;
    if (taken < f.data.length) this.queue.unshift(f.data.subarray(taken));
    if (p.flags & SolStatus.Nack) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, this.retryMs);
      return;
    }
    this.pump();
  }

  private pump(): void {
    if (this.closed || this.inFlight || this.timer) return;
    if (this.queue.length === 0) {
      for (const r of this.drained.splice(0)) r();
      return;
    }
    const all = Buffer.concat(this.queue);
    const data = all.subarray(0, this.o.maxChars);
    this.queue = all.length > data.length ? [all.subarray(data.length)] : [];
    this.outSeq = nextSolSeq(this.outSeq);
    this.inFlight = { seq: this.outSeq, data, sends: 0 };
    this.transmit();
  }

  private transmit(): void {
    const f = this.inFlight!;
    if (f.resync && f.sends > 1) {
      this.inFlight = undefined;
      this.pump();
      return;
    }
    if (f.sends > this.retries) {
      this.inFlight = undefined;
      this.o.onLost(`SOL packet ${f.seq} not acknowledged after ${f.sends} sends ${this.retryMs} ms apart`);
      this.close();
      return;
    }
    if (f.sends > 0) this.stats.resent += 1;
    f.sends += 1;
    this.stats.packetsSent += 1;
    this.o.send(encodeSolPacket({ seq: f.seq, ack: 0, count: 0, flags: 0, data: f.data }));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.inFlight === f) this.transmit();
    }, this.retryMs);
  }

  /** A BREAK on the node's serial line (15.9 operation bit 4), in an ACK-only packet. */
  sendBreak(): void {
    if (!this.closed) this.o.send(encodeSolPacket({ seq: 0, ack: 0, count: 0, flags: SolOp.Break, data: Buffer.alloc(0) }));
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Stops all timers; pending characters are dropped. */
  close(): void {
    this.closed = true;
    this.clearTimer();
    this.queue = [];
    for (const r of this.drained.splice(0)) r();
  }
}
