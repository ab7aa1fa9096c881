/**
 * HTTPS for the lab's Redfish services: one listener per node on
 * 127.0.0.1:<its BMC port>, all in one process. Reads a request (body at
 * most 1 MiB), hands it to the node's RedfishService, writes the answer with
 * the headers DSP0266 asks for ("Response headers": OData-Version,
 * Content-Type, ETag of a resource that has one, Cache-Control) and logs one
 * line per request, never a body (a login carries the password).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { RfAnswer } from './requests.js';
import { rfError } from './requests.js';
import type { RedfishService } from './service.js';

const MAX_BODY = 1 << 20;

export interface Listener {
  node: string;
  port: number;
  service: RedfishService;
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        resolve(undefined);
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(size > MAX_BODY ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function headerMap(req: IncomingMessage): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(req.headers)) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function send(res: ServerResponse, a: RfAnswer): void {
  const headers: Record<string, string> = { 'odata-version': '4.0', 'cache-control': 'no-cache', ...a.headers };
  const etag = a.body?.['@odata.etag'];
  if (typeof etag === 'string') headers.etag = etag;
  if (a.body !== undefined && a.status !== 204 && a.status !== 304) {
    const text = JSON.stringify(a.body);
    headers['content-type'] = 'application/json; charset=utf-8';
    headers['content-length'] = String(Buffer.byteLength(text));
    res.writeHead(a.status, headers);
    res.end(text);
  } else {
    res.writeHead(a.status, headers);
    res.end();
  }
}

export function listen(l: Listener, tls: { cert: Buffer; key: Buffer }, log: (line: string) => void): Promise<Server> {
  const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const t0 = Date.now();
    void (async () => {
      let a: RfAnswer;
      const body = await readBody(req).catch(() => undefined);
      if (body === undefined) {
        a = rfError(413, { id: 'GeneralError', message: `The request body is larger than ${MAX_BODY} bytes or could not be read.` });
      } else {
        a = await l.service.handle({ method: req.method ?? 'GET', path: req.url ?? '/', headers: headerMap(req), body });
      }
      send(res, a);
      log(`${l.node} ${req.method} ${(req.url ?? '/').split('?')[0]} ${a.status} ${Date.now() - t0}ms`);
    })().catch((e: unknown) => {
      if (!res.headersSent) send(res, rfError(500, { id: 'InternalError', message: String(e) }));
    });
  });
  // a client that opens a connection and sends nothing must not hold it forever
  server.headersTimeout = 20_000;
  server.requestTimeout = 700_000;
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(e.code === 'EADDRINUSE' ? `TCP 127.0.0.1:${l.port} (BMC of ${l.node}) is in use by another process` : `${l.node}: ${e.message}`)),
    );
    server.listen(l.port, '127.0.0.1', () => resolve(server));
  });
}
