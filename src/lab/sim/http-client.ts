/**
 * HTTP/1.1 from a simulated node (node:http over a TCP socket made in the
 * node's namespace): iPXE's script and image fetches, the agent API.
 * Bodies stream to a callback, so an image never sits in memory.
 */
import http from 'node:http';
import { tcpConnectIn } from './netns-socket.js';

export interface SimResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body, unless `onData` took it. */
  body: Buffer;
  bytes: number;
}

export interface SimRequest {
  netns: string;
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Streams the body here instead of collecting it; may return a promise (backpressure). */
  onData?: (chunk: Buffer) => void | Promise<void>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class SimHttpError extends Error {}
/** The server never answered in time: to the client, the same as a refused connection. */
export class SimHttpTimeout extends SimHttpError {}

export function simHttp(r: SimRequest): Promise<SimResponse> {
  const u = new URL(r.url);
  if (u.protocol !== 'http:') return Promise.reject(new SimHttpError(`${r.url}: only http:// is simulated`));
  const port = Number(u.port || 80);
  let ours = false;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        method: r.method ?? 'GET',
        host: u.hostname,
        port,
        path: `${u.pathname}${u.search}`,
        headers: { ...(r.headers ?? {}), ...(r.body !== undefined ? { 'content-length': String(Buffer.byteLength(r.body)) } : {}) },
        // no agent: an Agent (even `agent: false`, a fresh one) ignores createConnection and
        // would connect from the simulator's own namespace, off the lab network
        createConnection: () => {
          ours = true;
          return tcpConnectIn(r.netns, u.hostname, port);
        },
        timeout: r.timeoutMs ?? 30_000,
        ...(r.signal ? { signal: r.signal } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        let pending = Promise.resolve();
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (!r.onData) {
            chunks.push(c);
            return;
          }
          const p = r.onData(c);
          if (p) {
            res.pause();
            pending = pending.then(() => p).then(() => {
              res.resume();
            });
            pending.catch((e: Error) => req.destroy(e));
          }
        });
        res.on('end', () => {
          pending.then(
            () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), bytes }),
            reject,
          );
        });
        res.on('error', reject);
      },
    );
    req.on('socket', () => {
      if (!ours) req.destroy(new SimHttpError(`${r.url}: not connected from ${r.netns}`));
    });
    req.on('timeout', () => req.destroy(new SimHttpTimeout(`${r.method ?? 'GET'} ${r.url}: no answer in ${r.timeoutMs ?? 30_000} ms`)));
    req.on('error', reject);
    req.end(r.body);
  });
}
