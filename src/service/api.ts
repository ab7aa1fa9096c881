/**
 * The seed service's JSON API, version 1, under /api/v1/. Health answers
 * anyone; every other route needs `Authorization: Bearer <token>` of a live
 * token (`kseed token create`). Whatever a client sends, the answer is JSON:
 * 2xx with the document, or 4xx/5xx with `{ error, message }` naming the
 * problem, and nothing is changed by a refused request (every check runs
 * before the store's transaction, which is all or nothing).
 * Plain HTTP on loopback; HTTPS (tls.ts) anywhere.
 * /metrics (Prometheus text, metrics.ts) sits beside /api/v1, where
 * scrapers look for it, behind the same token. The status page (web.ts)
 * is served at /, logs in at /api/v1/session and streams at /api/v1/stream;
 * its session cookie opens the GET routes only.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { nodeAddress, nodeStatusOf } from '../engine/node-status.js';
import type { NodeRecord, StateStore } from '../engine/state.js';
import type { NodeLeaseRecord } from '../engine/state-node-leases.js';
import { InputError, KseedError } from '../errors.js';
import { ApiError, type Fields, intParam, MAX_BODY_BYTES, parseBody, parseQuery } from './api-input.js';
import { type AcquireInput, type LeaseCandidate, LeaseDesk, type LeaseWork } from './leases.js';
import { StoreCache } from './cache.js';
import { bootdev, discoverVerb, engineVerb, enroll, info, power, releaseLease, type VerbService } from './api-verbs.js';
import { Jobs } from './jobs.js';
import type { Site } from '../site/types.js';
import { ApiMetrics, METRICS_CONTENT_TYPE, METRICS_PATH, metricsText } from './metrics.js';
import { nodeLeaseView } from './node-view.js';
import type { StackCounters, StackCountersView } from './stack-counters.js';
import { BootLogFollower, bootTrace, consoleTail } from './trace.js';
import { EventStreams, loginSecret, servePage, SESSION_MS, sessionCookie, sessionIdOf } from './web.js';

export const API_PREFIX = '/api/v1';
/** How much of a refused body is read and dropped before the connection is cut. */
const DRAIN_BYTES = 16 * 1024 * 1024;

export interface ApiOptions {
  store: StateStore;
  /** The site's nodes, in site order: what can be listed and leased. */
  nodes: readonly LeaseCandidate[];
  host: string;
  port: number;
  version: string;
  /** HTTPS with this key and certificate (PEM), else plain HTTP. */
  tls?: { key: string; cert: string } | undefined;
  /** One record per request (never a token's secret). */
  log?: (e: Record<string, unknown>) => void;
  /** The seed's state directory: the boot log and lab serial logs of the page's node view. */
  stateDir?: string;
  /** The built page (default dist/web/). */
  webDir?: string;
  /** How leases wipe and provision their nodes (the site's engine); without it only --keep frees a deployed node, and nothing is provisioned. */
  work?: LeaseWork;
  /** The Ironic engine's boot traffic, counted from its Compose stack's logs (/metrics; else the embedded boot services' file). */
  stack?: StackCounters | undefined;
  /** The site whose verbs (power, provision, undeploy, rebuild) the API runs (api-verbs.ts); without it those routes answer 501. */
  site?: Site;
}

export interface RunningApi {
  url: string;
  server: Server;
  /** The lease desk the routes use: the service's expiry runs its releases on the same one. */
  desk: LeaseDesk;
  close(): Promise<void>;
}

interface Ctx {
  store: StateStore;
  desk: LeaseDesk;
  nodes: readonly string[];
  version: string;
  metrics: ApiMetrics;
  stateDir: string | undefined;
  macs: ReadonlyMap<string, readonly string[]>;
  cache: StoreCache;
  log: ((e: Record<string, unknown>) => void) | undefined;
  stack: (() => StackCountersView | undefined) | undefined;
  jobs: Jobs;
  verbs: VerbService | undefined;
}

/** An answer already serialized: the Prometheus text of /metrics, or JSON kept by the cache. */
class Text {
  constructor(
    readonly type: string,
    readonly body: string,
  ) {}
}

interface Call {
  params: string[];
  query: URLSearchParams;
  body: () => Promise<Buffer>;
  user: string;
}

type Handler = (c: Ctx, call: Call) => Promise<[number, unknown]> | [number, unknown];

const ACQUIRE: Fields = { owner: { type: 'string', required: true }, count: { type: 'integer' }, nodes: { type: 'string[]' }, profile: { type: 'string' }, role: { type: 'string' }, ttl: { type: 'string' }, provision: { type: 'boolean' } };
const RENEW: Fields = { ttl: { type: 'string' } };

/** `known`: the node's record and lease already read (the list reads them for all nodes at once). */
function nodeView(c: Ctx, name: string, known?: { r: NodeRecord | undefined; l: NodeLeaseRecord | undefined }): Record<string, unknown> {
  const r = known ? known.r : c.store.getNode(name);
  const l = known ? known.l : c.store.nodeLeases.holderOf(name);
  return {
    name,
    state: r?.state ?? null,
    power: r?.power ?? null,
    ip: nodeAddress(c.store, r, c.macs.get(name) ?? []),
    profile: r?.profile ?? null,
    last_error: r?.last_error ?? null,
    updated_at: r ? new Date(r.updated_at).toISOString() : null,
    lease: nodeLeaseView(l, name),
  };
}

function phasesOf(c: Ctx, name: string) {
  return c.store.phaseTimings(name).map((p) => ({ phase: p.phase, start: new Date(p.start).toISOString(), ms: p.ms }));
}

/** [method, path pattern (`:x` is a parameter), needs a token, handler] */
const ROUTES: [string, string, boolean, Handler][] = [
  ['GET', '/health', false, (c) => [200, { ok: true, api: 'v1', version: c.version }]],
  [
    'GET',
    '/nodes',
    true,
    (c, k) => {
      // phases=true adds each node's phase timings (the page's bars); plain reads stay one row each
      const withPhases = parseQuery(k.query, ['phases']).phases === 'true';
      // the same answer until the store changes (cache.ts): a fleet's pages and pollers read it many times a second
      const body = c.cache.get(withPhases ? 'nodes+phases' : 'nodes', () => {
        // two queries for all nodes, not two per node: the list is rebuilt at every store change
        const recs = new Map(c.store.listNodes().map((r) => [r.name, r]));
        const held = c.store.nodeLeases.holders();
        const names = [...c.nodes, ...[...recs.keys()].filter((n) => !c.nodes.includes(n))];
        const view = (n: string) => nodeView(c, n, { r: recs.get(n), l: held.get(n) });
        return `${JSON.stringify({ nodes: names.map((n) => (withPhases ? { ...view(n), phases: phasesOf(c, n) } : view(n))) })}\n`;
      });
      return [200, new Text(JSON_TYPE, body)];
    },
  ],
  [
    'GET',
    '/status',
    true,
    (c, k) => {
      parseQuery(k.query, []);
      // the site's nodes as `kseed status` prints them (engine/node-status.ts): the same document whether the CLI asks here or reads the store
      return [200, { nodes: c.nodes.map((n) => nodeStatusOf(c.store, n, c.macs.get(n) ?? [])) }];
    },
  ],
  [
    'GET',
    '/nodes/:name',
    true,
    (c, k) => {
      parseQuery(k.query, []);
      const name = k.params[0]!;
      if (!c.nodes.includes(name) && !c.store.getNode(name)) throw new ApiError(404, 'unknown-node', `no node ${name}`);
      return [200, nodeView(c, name)];
    },
  ],
  [
    'GET',
    '/nodes/:name/trace',
    true,
    (c, k) => {
      const q = parseQuery(k.query, ['events']);
      const name = k.params[0]!;
      if (!c.nodes.includes(name) && !c.store.getNode(name)) throw new ApiError(404, 'unknown-node', `no node ${name}`);
      const events = c.store.listEvents(name).slice(-intParam('events', q.events, 200, 1, 5000));
      const trace = c.stateDir ? bootTrace(c.stateDir, c.store, name, c.macs.get(name) ?? []) : [];
      const cons = c.stateDir ? consoleTail(c.stateDir, name) : undefined;
      return [
        200,
        {
          node: nodeView(c, name),
          phases: phasesOf(c, name),
          events: events.map((e) => ({ ...e, ts: new Date(e.ts).toISOString() })),
          boot_trace: trace,
          console: cons ? { file: cons.file, tail: cons.text } : null,
        },
      ];
    },
  ],
  [
    'GET',
    '/events',
    true,
    (c, k) => {
      const q = parseQuery(k.query, ['node', 'since', 'limit', 'kind']);
      const opts = { sinceId: intParam('since', q.since, 0, 0, Number.MAX_SAFE_INTEGER), limit: intParam('limit', q.limit, 500, 1, 5000), ...(q.kind ? { kind: q.kind } : {}) };
      return [200, { events: c.store.listEvents(q.node, opts).map((e) => ({ ...e, ts: new Date(e.ts).toISOString() })) }];
    },
  ],
  ['GET', '/leases', true, (c, k) => [200, { leases: c.desk.list(parseQuery(k.query, ['all']).all === 'true') }]],
  [
    'POST',
    '/leases',
    true,
    async (c, k) => {
      const b = parseBody(await k.body(), ACQUIRE) as unknown as AcquireInput;
      const l = c.desk.acquire(b, k.user);
      // the deploy takes minutes: it runs on here, the client follows the lease (its nodes' state and first boot)
      if (b.provision) void c.desk.provision(l.id).catch((err: unknown) => c.log?.({ service: 'api', type: 'error', message: `lease ${l.id} provision: ${(err as Error).message}` }));
      return [201, l];
    },
  ],
  [
    'GET',
    '/leases/:id',
    true,
    (c, k) => {
      parseQuery(k.query, []);
      const l = c.desk.get(k.params[0]!);
      if (!l) throw new ApiError(404, 'lease-not-found', `no lease ${k.params[0]}`);
      return [200, l];
    },
  ],
  ['POST', '/leases/:id/renew', true, async (c, k) => [200, c.desk.renew(k.params[0]!, parseBody(await k.body(), RENEW).ttl as string | undefined, k.user)]],
  // with "job": true a job the client follows (api-verbs.ts): a wipe can take longer than a request should stay open
  ['POST', '/leases/:id/release', true, async (c, k) => releaseLease(c.desk, c.jobs, k.params[0]!, k.user, await k.body())],
  // the provisioning verbs (api-verbs.ts): power answers at once, the others start a job
  ['POST', '/nodes/:name/power', true, async (c, k) => power(c.verbs, k.user, await k.body(), k.params[0]!)],
  ['POST', '/power', true, async (c, k) => power(c.verbs, k.user, await k.body())],
  ['POST', '/nodes/:name/bootdev', true, async (c, k) => bootdev(c.verbs, k.user, await k.body(), k.params[0]!)],
  // what the node's BMC says (bmc info): a GET, as it changes nothing
  [
    'GET',
    '/nodes/:name/bmc',
    true,
    (c, k) => {
      parseQuery(k.query, []);
      return info(c.verbs, k.params[0]!);
    },
  ],
  ['POST', '/provision', true, async (c, k) => engineVerb(c.verbs, 'provision', k.user, await k.body())],
  ['POST', '/enroll', true, async (c, k) => enroll(c.verbs, k.user, await k.body())],
  ['POST', '/discover', true, async (c, k) => discoverVerb(c.verbs, k.user, await k.body())],
  ['POST', '/undeploy', true, async (c, k) => engineVerb(c.verbs, 'undeploy', k.user, await k.body())],
  ['POST', '/rebuild', true, async (c, k) => engineVerb(c.verbs, 'rebuild', k.user, await k.body())],
  [
    'GET',
    '/jobs/:id',
    true,
    (c, k) => {
      const j = c.jobs.get(k.params[0]!, intParam('since', parseQuery(k.query, ['since']).since, 0, 0, Number.MAX_SAFE_INTEGER));
      if (!j) throw new ApiError(404, 'job-not-found', `no job ${k.params[0]} (a job is kept an hour after it ended, and not across a restart of the service)`);
      return [200, j];
    },
  ],
];

function match(pattern: string, path: string): string[] | undefined {
  const a = pattern.split('/');
  const b = path.split('/');
  if (a.length !== b.length) return undefined;
  const params: string[] = [];
  for (let i = 0; i < a.length; i++) {
    if (a[i]!.startsWith(':')) {
      if (!b[i]) return undefined;
      try {
        params.push(decodeURIComponent(b[i]!));
      } catch {
        throw new ApiError(400, 'bad-path', `malformed percent-encoding in ${path}`);
      }
    } else if (a[i] !== b[i]) return undefined;
  }
  return params;
}

/** The request body, refused past MAX_BODY_BYTES (by Content-Length up front, or while it streams). */
function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) return Promise.reject(tooLarge());
  const type = String(req.headers['content-type'] ?? 'application/json');
  if (declared > 0 && !/^application\/json\b/i.test(type)) return Promise.reject(new ApiError(415, 'unsupported-media-type', `the request body must be application/json, not ${type}`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (d: Buffer) => {
      n += d.length;
      if (n > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge());
      } else chunks.push(d);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const tooLarge = () => new ApiError(413, 'body-too-large', `the request body is over ${MAX_BODY_BYTES} bytes`);

/**
 * Who is calling: the name of a live token, else a 401 saying what is wrong with it.
 * Without an Authorization header, a GET may come from the page with its session cookie (`session`: its id).
 */
function authenticate(store: StateStore, header: string | undefined, session?: string): string {
  if (!header && session === undefined) throw new ApiError(401, 'no-token', 'this route needs a token: Authorization: Bearer <token> (kseed token create NAME)');
  const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (header && !m) throw new ApiError(401, 'bad-authorization', 'the Authorization header must be "Bearer <token>"');
  const r = m ? store.tokens.check(m[1]!) : store.sessions.check(session!);
  if (r.ok) return r.name;
  if (r.reason === 'revoked') throw new ApiError(401, 'token-revoked', `token ${r.name} was revoked at ${new Date(r.revoked_at).toISOString()}`);
  if (!m) throw new ApiError(401, 'no-session', 'the session ended (logged out or expired): log in again');
  throw new ApiError(401, 'unknown-token', 'unknown token');
}

/** KseedError codes of the store and the lease desk, as HTTP statuses. */
function statusOf(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  // another process held the store's write lock past the busy timeout: nothing was changed (the transaction never began)
  const sqlite = (err as { code?: unknown })?.code;
  if (sqlite === 'SQLITE_BUSY' || sqlite === 'SQLITE_LOCKED') return new ApiError(503, 'store-busy', 'the state store is busy (another kseed process is writing to it): try again', 1);
  if (err instanceof InputError) return new ApiError(400, err.code, err.message);
  // a node's BMC failed (bmc bootdev, info): the service is a gateway to it
  if (err instanceof KseedError && err.code.startsWith('bmc-')) return new ApiError(502, err.code, err.message, undefined, err.detail);
  if (err instanceof KseedError) {
    const status = { 'lease-not-found': 404, 'lease-not-yours': 403, 'lease-unavailable': 409, 'lease-ended': 409 }[err.code] ?? 500;
    return new ApiError(status, err.code, err.detail && status === 409 ? `${err.message}; held: ${err.detail.replaceAll('\n', '; ')}` : err.message);
  }
  return new ApiError(500, 'internal', `internal error: ${(err as Error)?.message ?? String(err)}`);
}

const JSON_TYPE = 'application/json; charset=utf-8';

function send(res: ServerResponse, status: number, doc: unknown, retryAfter?: number): void {
  const [type, body] = doc instanceof Text ? [doc.type, doc.body] : [JSON_TYPE, `${JSON.stringify(doc)}\n`];
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...(retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {}) });
  res.end(body);
}

export async function startApi(o: ApiOptions): Promise<RunningApi> {
  const desk = new LeaseDesk(o.store, o.nodes, o.work);
  const ctx: Ctx = {
    store: o.store,
    desk,
    nodes: desk.names,
    version: o.version,
    metrics: new ApiMetrics(),
    stateDir: o.stateDir,
    macs: new Map(o.nodes.map((n) => [n.name, n.macs ?? []])),
    cache: new StoreCache(o.store),
    log: o.log,
    stack: o.stack ? () => o.stack!.view() : undefined,
    jobs: new Jobs(o.store, o.log),
    verbs: undefined,
  };
  if (o.site && o.stateDir) ctx.verbs = { siteFile: o.site.file, stateDir: o.stateDir, store: o.store, jobs: ctx.jobs };
  const streams = new EventStreams(o.store, o.stateDir ? new BootLogFollower(o.stateDir, o.store, ctx.macs) : undefined);
  /** The token of the request's page session: GET only, so a cookie alone can read but never change anything. */
  const sessionOf = (req: IncomingMessage) => (req.method === 'GET' || req.method === 'HEAD' ? sessionIdOf(req.headers.cookie) : undefined);
  const handle: RequestListener = (req, res) => {
    const t0 = performance.now();
    let user: string | undefined;
    /** The matched route's pattern, for the metrics (a raw path would make a series per lease id). */
    let route = 'unmatched';
    const done = (status: number, doc: unknown, retryAfter?: number) => {
      // a refused body may still be arriving: read and drop it, so the client (still writing) gets
      // to read the answer instead of a broken pipe; past DRAIN_BYTES the connection is cut
      if (!req.complete) {
        let dropped = 0;
        req.on('data', (d: Buffer) => {
          dropped += d.length;
          if (dropped > DRAIN_BYTES) req.socket.destroy();
        });
        req.resume();
      }
      send(res, status, doc, retryAfter);
      ctx.metrics.observe(route, req.method ?? '', status, (performance.now() - t0) / 1000);
      o.log?.({ service: 'api', type: 'request', method: req.method, path: (req.url ?? '').split('?')[0], status, ms: Math.round(performance.now() - t0), ...(user ? { user } : {}) });
    };
    (async () => {
      const url = new URL(req.url ?? '/', 'http://api');
      if (servePage(url.pathname, req.method ?? '', res, o.webDir)) {
        route = '/';
        return undefined;
      }
      if (url.pathname === `${API_PREFIX}/session`) {
        route = url.pathname;
        if (req.method === 'POST') {
          const secret = loginSecret(await readBody(req));
          user = authenticate(o.store, `Bearer ${secret}`);
          // the token revoked between the check and here: no session
          const id = o.store.sessions.create(user, SESSION_MS);
          if (!id) throw new ApiError(401, 'token-revoked', `token ${user} was revoked`);
          res.setHeader('set-cookie', sessionCookie(id, Boolean(o.tls)));
          return [200, { user }] as [number, unknown];
        }
        if (req.method === 'DELETE') {
          const id = sessionIdOf(req.headers.cookie);
          if (id) o.store.sessions.end(id);
          res.setHeader('set-cookie', sessionCookie('', Boolean(o.tls), 0));
          return [200, { ok: true }] as [number, unknown];
        }
        if (req.method === 'GET') {
          user = authenticate(o.store, req.headers.authorization, sessionOf(req));
          return [200, { user }] as [number, unknown];
        }
        throw new ApiError(405, 'method-not-allowed', `${req.method} is not allowed on ${url.pathname}; allowed: GET, POST, DELETE`);
      }
      if (url.pathname === `${API_PREFIX}/stream`) {
        route = url.pathname;
        if (req.method !== 'GET') throw new ApiError(405, 'method-not-allowed', `${req.method} is not allowed on ${url.pathname}; allowed: GET`);
        const auth = req.headers.authorization;
        const session = sessionOf(req);
        user = authenticate(o.store, auth, session);
        parseQuery(url.searchParams, []);
        // a revoked token (or a session logged out) ends the stream; a store busy this instant does not
        streams.attach(req, res, () => {
          try {
            authenticate(o.store, auth, session);
            return true;
          } catch (err) {
            return !(err instanceof ApiError);
          }
        });
        o.log?.({ service: 'api', type: 'stream', path: url.pathname, user });
        return undefined;
      }
      // Prometheus scrapes /metrics by convention; it sends the token as `authorization: {type: Bearer, credentials_file: ...}`
      if (url.pathname === METRICS_PATH) {
        route = METRICS_PATH;
        if (req.method !== 'GET') throw new ApiError(405, 'method-not-allowed', `${req.method} is not allowed on ${METRICS_PATH}; allowed: GET`);
        user = authenticate(o.store, req.headers.authorization, sessionOf(req));
        parseQuery(url.searchParams, []);
        return [200, new Text(METRICS_CONTENT_TYPE, metricsText(ctx))] as [number, unknown];
      }
      if (!url.pathname.startsWith(`${API_PREFIX}/`)) throw new ApiError(404, 'not-found', `no route ${url.pathname}: the API is under ${API_PREFIX}/ (and ${METRICS_PATH})`);
      const path = url.pathname.slice(API_PREFIX.length);
      const found = ROUTES.map((r) => [r, match(r[1], path)] as const).filter(([, p]) => p);
      if (!found.length) throw new ApiError(404, 'not-found', `no route ${url.pathname}`);
      const hit = found.find(([r]) => r[0] === req.method);
      if (!hit) throw new ApiError(405, 'method-not-allowed', `${req.method} is not allowed on ${url.pathname}; allowed: ${found.map(([r]) => r[0]).join(', ')}`);
      const [[, pattern, auth, handler], params] = hit;
      route = `${API_PREFIX}${pattern}`;
      if (auth) user = authenticate(o.store, req.headers.authorization, sessionOf(req));
      return handler(ctx, { params: params!, query: url.searchParams, body: () => readBody(req), user: user ?? '' });
    })().then(
      (r) => (r ? done(r[0], r[1]) : ctx.metrics.observe(route, req.method ?? '', res.statusCode, (performance.now() - t0) / 1000)),
      (err) => {
        const e = statusOf(err);
        done(e.status, { error: e.code, message: e.message, ...(e.detail ? { detail: e.detail } : {}) }, e.retryAfter);
      },
    );
  };
  const server: Server = o.tls ? createTlsServer({ key: o.tls.key, cert: o.tls.cert }, handle) : createServer(handle);
  // a client that never finishes its request does not hold a connection for long
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    url: `${o.tls ? 'https' : 'http'}://${a.address}:${a.port}`,
    server,
    desk,
    close: () =>
      new Promise<void>((resolve) => {
        streams.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
