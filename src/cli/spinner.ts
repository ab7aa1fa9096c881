/**
 * The live line under a long step's progress on a terminal: a spinner, the
 * latest step and how long it has been running, redrawn in place on stderr.
 * It appears only after a second without news (no flicker on quick steps),
 * and never off a terminal, under --json, on TERM=dumb or with CI set:
 * there progress stays plain lines a log can keep.
 */
const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const QUIET_MS = 1000;
const TICK_MS = 120;

class LiveLine {
  private text = '';
  private since = 0;
  private frame = 0;
  private shown = false;
  private timer: NodeJS.Timeout | undefined;

  /** A terminal a human watches: stderr is a TTY, and neither CI nor a dumb terminal. */
  get enabled(): boolean {
    return Boolean(process.stderr.isTTY) && !process.env.CI && process.env.TERM !== 'dumb';
  }

  /** The step now running: a permanent line, then the live line under it while it lasts. */
  step(msg: string): void {
    this.clear();
    process.stderr.write(`${msg}\n`);
    this.text = msg.split('\n').at(-1) ?? msg;
    this.since = Date.now();
    if (!this.timer) {
      this.timer = setInterval(() => this.draw(), TICK_MS);
      // never what keeps the process alive
      this.timer.unref();
      process.once('exit', () => this.stop());
    }
  }

  /** Removes the live line (before other output); the next step brings it back. */
  clear(): void {
    if (!this.shown) return;
    process.stderr.write('\r\x1b[K');
    this.shown = false;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clear();
  }

  private draw(): void {
    const ms = Date.now() - this.since;
    if (ms < QUIET_MS) return;
    const secs = Math.floor(ms / 1000);
    const elapsed = secs >= 60 ? `${Math.floor(secs / 60)}m${String(secs % 60).padStart(2, '0')}s` : `${secs}s`;
    const width = (process.stderr.columns || 80) - elapsed.length - 5;
    const text = this.text.length > width ? `${this.text.slice(0, Math.max(0, width - 1))}…` : this.text;
    this.frame = (this.frame + 1) % FRAMES.length;
    process.stderr.write(`\r\x1b[K${FRAMES[this.frame]} ${text} · ${elapsed}`);
    this.shown = true;
  }
}

/** One per process: every Output of a run shares the one terminal line. */
export const liveLine = new LiveLine();
