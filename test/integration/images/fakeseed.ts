/**
 * The seed's side of docs/AGENT-API.md, written by the tests (the real server is
 * src/boot/http, from another area): enough to drive the ramdisk and to
 * receive the test OS callback, recording everything it is told.
 */
import { createReadStream, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeedRecord {
  method: string;
  path: string;
  authorized: boolean;
  body: string;
  at: number;
}

export interface FakeSeedOptions {
  node: string;
  token: string;
  /** The KEY=value answer of GET task (called per request). */
  task: (seed: FakeSeed) => string;
  nocloud?: Record<string, string>;
  /** /artifacts/<name> -> file on disk */
  artifacts?: Record<string, string>;
  /** /artifacts/<name> sends only this many bytes, then holds the connection open (a stalled server) */
  stallAfter?: Record<string, number>;
}

export class FakeSeed {
  readonly requests: SeedRecord[] = [];
  inventory: unknown;
  readonly progress: Record<string, string>[] = [];
  readonly results: Record<string, string>[] = [];
  readonly callbacks: Record<string, string>[] = [];
  private server?: http.Server;
  port = 0;

  constructor(readonly opts: FakeSeedOptions) {}

  private handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname;
    const authorized = req.headers.authorization === `Bearer ${this.opts.token}`;
    this.requests.push({ method: req.method ?? '', path: p, authorized, body, at: Date.now() });
    const send = (code: number, text = '', type = 'text/plain') => {
      res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const art = /^\/artifacts\/([^/]+)$/.exec(p);
    if (art && req.method === 'GET') {
      const file = this.opts.artifacts?.[art[1]!];
      if (!file) return send(404, 'no such artifact\n');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(file).size });
      const stall = this.opts.stallAfter?.[art[1]!];
      if (stall === undefined) createReadStream(file).pipe(res);
      else createReadStream(file, { start: 0, end: stall - 1 }).on('data', (c) => res.write(c));
      return;
    }
    const node = this.opts.node;
    const m = new RegExp(`^/v1/(agent|nocloud|callback)/${node}(?:/([a-z-]+))?$`).exec(p);
    if (!m) return send(404, 'not found\n');
    if (!authorized) return send(401, 'unauthorized\n');
    const [, kind, leaf] = m;
    const form = () => Object.fromEntries(new URLSearchParams(body));
    if (kind === 'agent' && leaf === 'task' && req.method === 'GET') return send(200, this.opts.task(this));
    if (kind === 'agent' && leaf === 'inventory' && req.method === 'POST') {
      try {
        this.inventory = JSON.parse(body);
      } catch {
        return send(400, 'inventory is not JSON\n');
      }
      return send(200, 'ok\n');
    }
    if (kind === 'agent' && leaf === 'progress' && req.method === 'POST') {
      this.progress.push(form());
      return send(204);
    }
    if (kind === 'agent' && leaf === 'result' && req.method === 'POST') {
      this.results.push(form());
      return send(204);
    }
    if (kind === 'nocloud' && req.method === 'GET') {
      const f = this.opts.nocloud?.[leaf ?? ''];
      return f === undefined ? send(404, 'none\n') : send(200, f);
    }
    if (kind === 'callback' && !leaf && req.method === 'POST') {
      this.callbacks.push(form());
      return send(204);
    }
    send(405, 'method not allowed\n');
  }

  /** Listens on 127.0.0.1 at a free port of this area's range (20000-20999). */
  async start(): Promise<number> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = 20000 + Math.floor(Math.random() * 1000);
      const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => this.handle(req, res, Buffer.concat(chunks).toString('utf8')));
      });
      const ok = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(port, '127.0.0.1', () => resolve(true));
      });
      if (ok) {
        this.server = server;
        this.port = (server.address() as AddressInfo).port;
        return this.port;
      }
    }
    throw new Error('no free port in 20000-20999');
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
