/**
 * The console's escape keys, as ssh and ipmitool's SOL have them: `~` is
 * special only right after Enter (or as the very first key), so it never
 * gets in the way of typing; everything else, Ctrl-C included, goes to the
 * node. `~.` detaches, `~B` sends a serial BREAK, `~?` lists the keys,
 * `~~` sends one `~`. Pure: bytes in, what to do out.
 */
export const ESCAPE_HELP = 'Supported escape keys (after Enter):\r\n  ~.  detach (the node is left as it is)\r\n  ~B  send a BREAK\r\n  ~?  this help\r\n  ~~  send a single ~\r\n';

export type EscapeAction = { data: Buffer } | { detach: true } | { break: true } | { help: true };

export class EscapeReader {
  private lineStart = true;
  private tilde = false;

  /** Splits typed bytes into what goes to the node and the escape actions, in order. */
  feed(input: Buffer): EscapeAction[] {
    const out: EscapeAction[] = [];
    let run: number[] = [];
    const flush = () => {
      if (run.length) out.push({ data: Buffer.from(run) });
      run = [];
    };
    for (const b of input) {
      if (this.tilde) {
        this.tilde = false;
        if (b === 0x2e /* . */) {
          flush();
          out.push({ detach: true });
          return out; // anything typed after the detach is not sent
        }
        if (b === 0x42 /* B */) {
          flush();
          out.push({ break: true });
          this.lineStart = false;
          continue;
        }
        if (b === 0x3f /* ? */) {
          flush();
          out.push({ help: true });
          this.lineStart = true;
          continue;
        }
        run.push(0x7e);
        if (b === 0x7e) {
          this.lineStart = false;
          continue;
        }
      } else if (this.lineStart && b === 0x7e) {
        this.tilde = true;
        continue;
      }
      run.push(b);
      this.lineStart = b === 0x0d || b === 0x0a;
    }
    flush();
    return out;
  }
}
