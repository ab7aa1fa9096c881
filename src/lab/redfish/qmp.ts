/**
 * One QMP command to a lab VM (QEMU Machine Protocol, qemu docs
 * "interop/qmp-spec"): connect to its monitor socket, read the greeting,
 * leave capabilities negotiation (`qmp_capabilities`), run the command,
 * return its `return` or throw its `error`. Asynchronous events that arrive
 * in between are skipped. One short connection per command: the VM's
 * monitor serves one client at a time, and chassis.sh uses it too.
 */
import { createConnection } from 'node:net';

export class QmpError extends Error {
  constructor(
    readonly qmpClass: string,
    message: string,
  ) {
    super(message);
    this.name = 'QmpError';
  }
}

export async function qmp(socket: string, command: string, args?: Record<string, unknown>, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socket);
    let buf = '';
    let stage: 'greeting' | 'caps' | 'cmd' = 'greeting';
    const timer = setTimeout(() => finish(new Error(`QMP ${command} on ${socket}: no answer within ${timeoutMs} ms`)), timeoutMs);
    function finish(err: Error | undefined, value?: unknown) {
      clearTimeout(timer);
      conn.destroy();
      if (err) reject(err);
      else resolve(value);
    }
    const send = (o: unknown) => conn.write(`${JSON.stringify(o)}\n`);
    conn.on('error', (e) => finish(new Error(`QMP ${command} on ${socket}: ${e.message}`)));
    conn.on('close', () => finish(new Error(`QMP ${command} on ${socket}: connection closed`)));
    conn.on('data', (d) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line) as Record<string, unknown>;
        } catch {
          return finish(new Error(`QMP ${command} on ${socket}: not JSON: ${line.slice(0, 200)}`));
        }
        if ('event' in msg) continue;
        if (stage === 'greeting') {
          stage = 'caps';
          send({ execute: 'qmp_capabilities' });
        } else if ('error' in msg) {
          const e = msg.error as { class?: string; desc?: string };
          return finish(new QmpError(e.class ?? 'GenericError', `QMP ${command}: ${e.desc ?? 'error'}`));
        } else if (stage === 'caps') {
          stage = 'cmd';
          send(args ? { execute: command, arguments: args } : { execute: command });
        } else {
          return finish(undefined, msg.return);
        }
      }
    });
  });
}
