/**
 * A server the integration tests run in a namespace (serve-fixture.mjs over
 * dist/) that reports each event as one JSON line on stdout: its events as
 * they come, its stderr, and a stop that cannot hang a test.
 */
import type { ChildProcess } from 'node:child_process';

export class JsonLinesProcess<E> {
  readonly events: E[] = [];
  stderr = '';
  protected constructor(readonly child: ChildProcess) {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) if (l.startsWith('{')) this.events.push(JSON.parse(l) as E);
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
  }

  /** SIGTERM, SIGKILL after 5 s; the exit code, or null when it had to be killed. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const done = new Promise<number | null>((r) => this.child.once('exit', (code) => r(code)));
    // `ip netns exec` execs node, so the pid is the server itself
    this.child.kill('SIGTERM');
    const code = await Promise.race([done, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
    return code;
  }
}
