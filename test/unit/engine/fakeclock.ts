import type { Clock } from '../../../src/engine/runner.js';

/**
 * Virtual time: a sleep resolves once everything else is idle (setImmediate),
 * jumping the clock to the earliest pending wake-up. A 45-minute phase
 * timeout takes a few milliseconds of real time.
 */
export class FakeClock implements Clock {
  t = 1_700_000_000_000;
  private timers: { at: number; seq: number; resolve: () => void; reject: (e: unknown) => void; signal?: AbortSignal; onAbort?: () => void }[] = [];
  private seq = 0;
  private pumping = false;

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = { at: this.t + ms, seq: this.seq++, resolve, reject, signal } as (typeof this.timers)[number];
      if (signal) {
        timer.onAbort = () => {
          this.timers = this.timers.filter((x) => x !== timer);
          reject(signal.reason);
        };
        signal.addEventListener('abort', timer.onAbort, { once: true });
      }
      this.timers.push(timer);
      this.pump();
    });
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    setImmediate(() => {
      this.pumping = false;
      if (!this.timers.length) return;
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers.shift()!;
      this.t = Math.max(this.t, next.at);
      if (next.signal && next.onAbort) next.signal.removeEventListener('abort', next.onAbort);
      next.resolve();
      if (this.timers.length) this.pump();
    });
  }
}
