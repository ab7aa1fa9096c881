/**
 * Rate limit for the log lines that anyone on the provisioning network can
 * cause: a malformed DHCP datagram, a refused TFTP request, an HTTP request
 * answered 4xx. Each used to be one JSON line, so a flood of datagrams was a
 * flood of disk writes (issue 14 hole 5). Now, per kind of line and source
 * address, the first `perWindow` lines of each window are logged; the rest
 * are counted, and when the window ends one `suppressed` line says how many
 * were left out. Every event, logged or not, is counted in `counters`.
 */

export interface LimitedLine {
  /** The kind of line, e.g. `dhcp malformed`. */
  kind: string;
  /** Who caused it: an address, never anything the sender chose freely. */
  source: string;
}

export interface SuppressedSummary {
  kind: string;
  source: string;
  /** Lines left out in the window. */
  suppressed: number;
  windowSeconds: number;
}

export interface NoiseLimiterOptions {
  /** Lines logged per kind and source in each window; default 10. */
  perWindow?: number;
  /** Default 60 s. */
  windowMs?: number;
  /** Sources tracked at once; beyond it, new sources share one bucket (a spoofed-source flood stays bounded). Default 1024. */
  maxSources?: number;
  now?: () => number;
}

interface Bucket {
  start: number;
  logged: number;
  suppressed: number;
}

const OVERFLOW = '(other sources)';

export class NoiseLimiter {
  private readonly perWindow: number;
  private readonly windowMs: number;
  private readonly maxSources: number;
  private readonly now: () => number;
  private readonly buckets = new Map<string, Bucket & LimitedLine>();
  /** Every limited event seen, by kind: logged or not. */
  readonly counters: Record<string, number> = {};

  constructor(o: NoiseLimiterOptions = {}) {
    this.perWindow = o.perWindow ?? 10;
    this.windowMs = o.windowMs ?? 60_000;
    this.maxSources = o.maxSources ?? 1024;
    this.now = o.now ?? Date.now;
  }

  /**
   * Counts the event; true when its line is to be written. A window that has
   * ended first yields its summary through `summaries`.
   */
  admit(line: LimitedLine, summaries: (s: SuppressedSummary) => void): boolean {
    this.counters[line.kind] = (this.counters[line.kind] ?? 0) + 1;
    const now = this.now();
    let key = `${line.kind}\u0000${line.source}`;
    let b = this.buckets.get(key);
    if (b && now - b.start >= this.windowMs) {
      this.close(key, b, summaries);
      b = undefined;
    }
    if (!b) {
      let source = line.source;
      if (this.buckets.size >= this.maxSources) this.expire(summaries);
      if (this.buckets.size >= this.maxSources) {
        source = OVERFLOW;
        key = `${line.kind}\u0000${OVERFLOW}`;
        b = this.buckets.get(key);
      }
      if (!b) {
        b = { kind: line.kind, source, start: now, logged: 0, suppressed: 0 };
        this.buckets.set(key, b);
      }
    }
    if (b.logged < this.perWindow) {
      b.logged++;
      return true;
    }
    b.suppressed++;
    return false;
  }

  /** Summaries of the windows that have ended (call it now and then, e.g. every 10 s). */
  expire(summaries: (s: SuppressedSummary) => void): void {
    const now = this.now();
    for (const [key, b] of this.buckets) if (now - b.start >= this.windowMs) this.close(key, b, summaries);
  }

  /** Summaries of every open window, ended or not (at stop: nothing counted goes unsaid). */
  flush(summaries: (s: SuppressedSummary) => void): void {
    for (const [key, b] of this.buckets) this.close(key, b, summaries);
  }

  private close(key: string, b: Bucket & LimitedLine, summaries: (s: SuppressedSummary) => void): void {
    this.buckets.delete(key);
    if (b.suppressed > 0) summaries({ kind: b.kind, source: b.source, suppressed: b.suppressed, windowSeconds: Math.round(this.windowMs / 1000) });
  }
}
