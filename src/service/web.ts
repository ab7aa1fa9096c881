/**
 * The status page's side of the seed service: its static files (built by
 * `npm run build` from web/ into dist/web/, served from the package, no
 * CDN), the page's login session, and the live stream of the store's events.
 *
 * Login: the user pastes a kseed token (`kseed token create NAME`); POST
 * /api/v1/session checks it like a bearer token and answers with a cookie
 * naming a random session id (HttpOnly: no script reads it; SameSite=Strict:
 * no other site's page sends it; Secure under TLS). The session lives in the
 * state store (engine/state-sessions.ts: a hash of its id, bound to the
 * token's row, with its expiry), so a restart of the service keeps it; the
 * token itself is kept nowhere, never in a URL, a log line or the browser's
 * storage. Every request checks the session with its token's row, so a
 * revoked token ends its sessions at once. The cookie only opens GET routes:
 * a write verb still needs `Authorization: Bearer`, so a forged form post
 * can change nothing.
 *
 * Live updates: server-sent events (HTML Living Standard 9.2). The store is
 * shared with the CLI and the boot services in other processes, so there is
 * no in-process signal to wait on: one poller, running only while a stream
 * is open, reads the events table past the last id it saw (an index range,
 * microseconds) and fans new events out to every stream. The event id is
 * the SSE id, so a browser that reconnects (Last-Event-ID) misses nothing.
 * The same poller follows the boot services' log (trace.ts BootLogFollower)
 * and sends each node's new DHCP/TFTP/HTTP line as a `boot` event: a node
 * that never reaches its first store event still shows its last step.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StateStore } from '../engine/state.js';
import { ApiError } from './api-input.js';
import type { BootLogFollower } from './trace.js';

/** dist/web/ beside dist/service/: where `npm run build` puts the page. */
export const WEB_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'web');
export const SESSION_COOKIE = 'kseed_session';
/** How long a login lasts. */
export const SESSION_MS = 12 * 3600_000;
const POLL_MS = 500;
const PING_MS = 15_000;
/** Boot lines per tick at most: in a flood, the newest say where each node is. */
const BOOT_LINES_MAX = 200;

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };
/** The page's files by URL path; anything else is a 404 (no path from the URL ever reaches the file system). */
const FILES: Record<string, string> = { '/': 'index.html', '/index.html': 'index.html', '/app.js': 'app.js', '/app.css': 'app.css', '/favicon.svg': 'favicon.svg' };
// the page runs only its own script and style, talks only to its own origin, and is never framed
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Serves one of the page's files; false when `pathname` is not one. */
export function servePage(pathname: string, method: string, res: ServerResponse, dir = WEB_DIR): boolean {
  const file = FILES[pathname];
  if (!file || (method !== 'GET' && method !== 'HEAD')) return false;
  let body: Buffer;
  try {
    body = readFileSync(path.join(dir, file));
  } catch {
    res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`the status page is not built: ${path.join(dir, file)} is missing (npm run build)\n`);
    return true;
  }
  res.writeHead(200, {
    'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
    'content-length': body.length,
    // the files change only with the package; a reload after an upgrade must not mix versions
    'cache-control': 'no-cache',
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
  res.end(method === 'HEAD' ? undefined : body);
  return true;
}

/** The session id the request's cookie carries (looked up in the store: engine/state-sessions.ts), if any. */
export const sessionIdOf = (cookieHeader: string | undefined): string | undefined => cookieOf(cookieHeader, SESSION_COOKIE);

/** RFC 6265 section 5.4's Cookie header: `name=value; name2=value2`. */
export function cookieOf(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/** RFC 6265 section 4.1: the session cookie, or (maxAge 0) its removal. */
export function sessionCookie(id: string, secure: boolean, maxAgeS = SESSION_MS / 1000): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${secure ? '; Secure' : ''}`;
}

interface Stream {
  res: ServerResponse;
  /** Checked on every batch: a revoked token ends its streams. */
  live: () => boolean;
}

/** The events stream (text/event-stream) of every open page, fed by one poller. */
export class EventStreams {
  private readonly streams = new Set<Stream>();
  private timer: NodeJS.Timeout | undefined;
  private ping: NodeJS.Timeout | undefined;
  private last = 0;

  constructor(
    private readonly store: StateStore,
    /** The boot services' log, whose node lines go out as `boot` events (no SSE id: they are not the store's). */
    private readonly bootLog?: BootLogFollower,
  ) {}

  get open(): number {
    return this.streams.size;
  }

  /** Starts a stream at `lastEventId` (a reconnect) or at the newest event (a new page, which loaded the rest itself). */
  attach(req: IncomingMessage, res: ServerResponse, live: () => boolean): void {
    const resume = Number(req.headers['last-event-id']);
    if (!this.timer) {
      this.last = this.store.lastEventId();
      this.bootLog?.skipToEnd();
    }
    const newest = this.last;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    // the browser waits 2 s before reconnecting after a drop
    res.write(`retry: 2000\nevent: hello\ndata: ${JSON.stringify({ last_event_id: newest })}\n\n`);
    if (Number.isSafeInteger(resume) && resume > 0 && resume < this.last) this.send(res, this.events(resume, this.last));
    const s: Stream = { res, live };
    this.streams.add(s);
    res.on('close', () => {
      this.streams.delete(s);
      if (!this.streams.size) this.stop();
    });
    if (!this.timer) {
      this.timer = setInterval(() => this.poll(), POLL_MS);
      this.ping = setInterval(() => this.each((x) => x.res.write(': ping\n\n')), PING_MS);
    }
  }

  close(): void {
    for (const s of this.streams) s.res.end();
    this.streams.clear();
    this.stop();
  }

  private stop(): void {
    clearInterval(this.timer);
    clearInterval(this.ping);
    this.timer = undefined;
    this.ping = undefined;
  }

  private events(after: number, upTo = Number.MAX_SAFE_INTEGER) {
    return this.store
      .listEvents(undefined, { sinceId: after, limit: 500 })
      .filter((e) => e.id <= upTo)
      .map((e) => ({ id: e.id, node: e.node, ts: new Date(e.ts).toISOString(), kind: e.kind, from_state: e.from_state, to_state: e.to_state }));
  }

  private send(res: ServerResponse, evs: { id: number }[]): void {
    if (evs.length) res.write(`id: ${evs.at(-1)!.id}\nevent: events\ndata: ${JSON.stringify({ events: evs })}\n\n`);
  }

  private each(fn: (s: Stream) => void): void {
    for (const s of this.streams) {
      try {
        fn(s);
      } catch {
        this.streams.delete(s);
      }
    }
  }

  private poll(): void {
    let evs;
    try {
      evs = this.events(this.last);
    } catch {
      // the store busy this instant: the next tick reads the same range
      return;
    }
    this.each((s) => {
      if (!s.live()) {
        s.res.end('event: end\ndata: {"error":"token-revoked"}\n\n');
        this.streams.delete(s);
      }
    });
    // a boot line is sent after the store's events of the same tick: a node's DHCP offer may come
    // after its power-on event, never before
    const boot = this.bootLog?.read().slice(-BOOT_LINES_MAX) ?? [];
    if (evs.length) {
      this.last = evs.at(-1)!.id;
      this.each((s) => this.send(s.res, evs));
    }
    if (boot.length) this.each((s) => s.res.write(`event: boot\ndata: ${JSON.stringify({ lines: boot })}\n\n`));
  }
}

/** The login body: `{ "token": "kseed_..." }`, nothing else. */
export function loginSecret(body: Buffer): string {
  let j: unknown;
  try {
    j = JSON.parse(body.toString('utf8') || 'null');
  } catch (e) {
    throw new ApiError(400, 'bad-json', `the body is not JSON: ${(e as Error).message}`);
  }
  if (!j || typeof j !== 'object' || Array.isArray(j)) throw new ApiError(400, 'bad-body', 'the body must be an object: {"token": "<token>"}');
  const extra = Object.keys(j).filter((k) => k !== 'token');
  if (extra.length) throw new ApiError(400, 'unknown-field', `unknown field ${extra.map((k) => JSON.stringify(k)).join(', ')}; the body is {"token": "<token>"}`);
  const t = (j as { token?: unknown }).token;
  if (typeof t !== 'string' || !t.trim()) throw new ApiError(400, 'bad-field', 'token: expected the token kseed token create printed');
  return t.trim();
}
