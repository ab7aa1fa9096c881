/**
 * A STAND-IN for a real Redfish BMC: no Redfish emulator is packaged for
 * this machine (Debian ships the sushy client, not sushy-tools or DMTF's
 * emulator or mockup server), so the tests
 * serve DMTF-mockup-shaped resources (test/fixtures/redfish) from this small
 * server, which implements the parts of DSP0266 kseed relies on:
 * - unauthenticated service root, everything else needs a session token
 *   (X-Auth-Token) or HTTP Basic, 401 + WWW-Authenticate otherwise;
 * - POST SessionService/Sessions -> 201, X-Auth-Token, Location; DELETE it;
 * - ComputerSystem.Reset with ResetType checked against the allowable values
 *   (400 otherwise) and the power state changed accordingly;
 * - PATCH of ComputerSystem.Boot with allowable-values validation (400),
 *   ETag / If-Match (412 on mismatch), and the resource updated.
 * Knobs simulate BMC variants: no sessions, no PowerCycle, ActionInfo, TLS,
 * malformed JSON. It is test code, not a Redfish implementation.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

type Json = Record<string, any>;

const FIXTURES = join(import.meta.dirname, '../../../fixtures/redfish');
const SYSTEM = '/redfish/v1/Systems/R1N01';
const SESSIONS = '/redfish/v1/SessionService/Sessions';
const RESET = `${SYSTEM}/Actions/ComputerSystem.Reset`;

export interface StandInOptions {
  username?: string;
  password?: string;
  tls?: { cert: string; key: string };
  /** false: no Links.Sessions and 405 on the collection, like BMCs with Basic only. */
  sessions?: boolean;
  /** Replace the ResetType allowable values. */
  resetAllowed?: string[];
  /** Publish the allowable values through @Redfish.ActionInfo instead of inline. */
  actionInfo?: boolean;
  etag?: boolean;
  /** Paths answered with a truncated JSON body. */
  malformed?: string[];
  /** Put the submitted credentials in the 401 text, as a careless BMC might. */
  echoCredentials?: boolean;
  /** ms between ForceOff and PowerState Off (PoweringOff meanwhile). */
  offDelayMs?: number;
  /** Replace the BootSourceOverrideTarget allowable values. */
  bootTargets?: string[];
  /** Validate Boot PATCHes but do not publish the allowable values (many BMCs do not). */
  hideBootAllowable?: boolean;
  /** A read-only account: every POST/PATCH is refused with 403. */
  readOnly?: boolean;
  /** The Location header of a new session, instead of its path (a BMC that sends a broken one). */
  location?: string;
}

/** One-shot faults injected by a test: the next `count` matching requests misbehave. */
export interface Fault {
  method: string;
  path: string;
  count: number;
  /** 'stall': never answer; 'drop': close the socket; a number: answer with that status. */
  what: 'stall' | 'drop' | number;
}

export interface LogEntry {
  method: string;
  path: string;
  auth: 'session' | 'basic' | 'none' | 'bad';
  ifMatch?: string;
  body?: unknown;
}

function load(): Map<string, Json> {
  const m = new Map<string, Json>();
  for (const f of readdirSync(FIXTURES).filter((x) => x.endsWith('.json'))) {
    const r = JSON.parse(readFileSync(join(FIXTURES, f), 'utf8')) as Json;
    m.set(r['@odata.id'], r);
  }
  return m;
}

function rfError(code: string, message: string): Json {
  return { error: { code: `Base.1.15.${code}`, message, '@Message.ExtendedInfo': [{ MessageId: `Base.1.15.${code}`, Message: message }] } };
}

export class RedfishStandIn {
  readonly res: Map<string, Json>;
  readonly log: LogEntry[] = [];
  readonly resets: string[] = [];
  /** token -> session path */
  readonly sessions = new Map<string, string>();
  readonly faults: Fault[] = [];
  port = 0;
  private server: http.Server | https.Server;
  private etagN = 1;
  private nextSession = 1;
  private readonly o: Required<Pick<StandInOptions, 'username' | 'password' | 'sessions' | 'etag'>> & StandInOptions;

  constructor(opts: StandInOptions = {}) {
    this.o = { username: 'admin', password: 'rf-Secret-9', sessions: true, etag: true, ...opts };
    this.res = load();
    const root = this.res.get('/redfish/v1/')!;
    const sys = this.res.get(SYSTEM)!;
    const action = sys.Actions['#ComputerSystem.Reset'];
    if (opts.resetAllowed) action['ResetType@Redfish.AllowableValues'] = opts.resetAllowed;
    if (opts.actionInfo) {
      const info = this.res.get(`${SYSTEM}/ResetActionInfo`)!;
      info.Parameters[0].AllowableValues = action['ResetType@Redfish.AllowableValues'];
      delete action['ResetType@Redfish.AllowableValues'];
      action['@Redfish.ActionInfo'] = `${SYSTEM}/ResetActionInfo`;
    }
    if (!this.o.sessions) delete root.Links;
    if (opts.bootTargets) sys.Boot['BootSourceOverrideTarget@Redfish.AllowableValues'] = opts.bootTargets;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, Buffer.concat(chunks).toString('utf8'), res));
    };
    this.server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) : http.createServer(handler);
  }

  get system(): Json {
    return this.res.get(SYSTEM)!;
  }

  async listen(base: number): Promise<number> {
    this.port = await listenInRange(this.server, base);
    return this.port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections?.();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private etagOf(path: string): string {
    const r = this.res.get(path)!;
    if (!r['@odata.etag']) r['@odata.etag'] = `W/"${this.etagN++}"`;
    return r['@odata.etag'];
  }

  private send(res: http.ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'odata-version': '4.0', ...headers });
    res.end(text);
  }

  private authOf(req: http.IncomingMessage): LogEntry['auth'] {
    const tok = req.headers['x-auth-token'];
    if (typeof tok === 'string') return this.sessions.has(tok) ? 'session' : 'bad';
    const a = req.headers.authorization;
    if (a?.startsWith('Basic ')) {
      const [u, ...p] = Buffer.from(a.slice(6), 'base64').toString('utf8').split(':');
      return u === this.o.username && p.join(':') === this.o.password ? 'basic' : 'bad';
    }
    return 'none';
  }

  private handle(req: http.IncomingMessage, raw: string, res: http.ServerResponse): void {
    let path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/redfish/v1') path = '/redfish/v1/';
    else if (path.length > 1 && path.endsWith('/') && path !== '/redfish/v1/') path = path.slice(0, -1);
    const method = req.method ?? 'GET';
    const auth = this.authOf(req);
    let body: unknown;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        this.log.push({ method, path, auth });
        return this.send(res, 400, rfError('MalformedJSON', 'The request body submitted was malformed JSON.'));
      }
    }
    const ifMatch = req.headers['if-match'];
    this.log.push({ method, path, auth, ...(ifMatch ? { ifMatch: String(ifMatch) } : {}), ...(body !== undefined ? { body } : {}) });

    const fault = this.faults.find((f) => f.count > 0 && f.method === method && f.path === path);
    if (fault) {
      fault.count--;
      if (fault.what === 'stall') return; // the response is never written
      if (fault.what === 'drop') return void req.socket.destroy();
      return this.send(res, fault.what, rfError('GeneralError', `Injected HTTP ${fault.what}.`));
    }
    if (this.o.malformed?.includes(path)) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end('{"@odata.id": "' + path + '", "PowerState": "On", "Boot": {');
    }
    // DSP0266: the service root is readable without credentials.
    if (path === '/redfish/v1/' && method === 'GET') return this.send(res, 200, this.res.get(path));

    if (path === SESSIONS && method === 'POST') {
      if (!this.o.sessions) return this.send(res, 405, rfError('OperationNotAllowed', 'Sessions are not supported.'));
      const b = body as Json | undefined;
      if (!b || b.UserName !== this.o.username || b.Password !== this.o.password) {
        const msg = this.o.echoCredentials
          ? `Login failed for ${String(b?.UserName)} with password ${String(b?.Password)}`
          : 'The authentication credentials included with this request are missing or invalid.';
        return this.send(res, 401, rfError('NoValidSession', msg));
      }
      const token = randomBytes(16).toString('hex');
      const id = String(this.nextSession++);
      const loc = `${SESSIONS}/${id}`;
      this.sessions.set(token, loc);
      const s = { '@odata.type': '#Session.v1_7_0.Session', '@odata.id': loc, Id: id, Name: 'User Session', UserName: b.UserName };
      this.res.set(loc, s);
      return this.send(res, 201, s, { 'x-auth-token': token, location: this.o.location ?? loc });
    }

    if (auth === 'none' || auth === 'bad') {
      const msg = this.o.echoCredentials
        ? `Bad credentials ${req.headers.authorization ?? ''}`
        : 'The authentication credentials included with this request are missing or invalid.';
      return this.send(res, 401, rfError('NoValidSession', msg), { 'www-authenticate': 'Basic realm="Redfish"' });
    }

    if (path === SESSIONS && method === 'GET') {
      const m = [...this.sessions.values()].map((p) => ({ '@odata.id': p }));
      return this.send(res, 200, { '@odata.id': SESSIONS, Name: 'Session Collection', 'Members@odata.count': m.length, Members: m });
    }
    if (path.startsWith(`${SESSIONS}/`) && method === 'DELETE') {
      const tok = [...this.sessions].find(([, p]) => p === path)?.[0];
      if (!tok) return this.send(res, 404, rfError('ResourceMissingAtURI', `The resource at ${path} was not found.`));
      this.sessions.delete(tok);
      this.res.delete(path);
      return this.send(res, 204);
    }
    if (this.o.readOnly && (method === 'POST' || method === 'PATCH')) {
      return this.send(res, 403, rfError('InsufficientPrivilege', 'There are insufficient privileges for the account or credentials associated with the current session to perform the requested operation.'));
    }
    if (path === RESET && method === 'POST') return this.reset(res, body as Json | undefined);
    if (path === SYSTEM && method === 'PATCH') return this.patch(req, res, body as Json | undefined);

    const r = this.res.get(path);
    if (!r) return this.send(res, 404, rfError('ResourceMissingAtURI', `The resource at ${path} was not found.`));
    if (method !== 'GET') return this.send(res, 405, rfError('OperationNotAllowed', `${method} is not allowed on ${path}.`));
    const headers: Record<string, string> = {};
    if (this.o.etag && path === SYSTEM) headers.etag = this.etagOf(path);
    if (path === SYSTEM && this.o.hideBootAllowable) {
      const boot = Object.fromEntries(Object.entries(r.Boot).filter(([k]) => !k.endsWith('@Redfish.AllowableValues')));
      return this.send(res, 200, { ...r, Boot: boot }, headers);
    }
    return this.send(res, 200, r, headers);
  }

  private allowedResets(): string[] {
    const a = this.system.Actions['#ComputerSystem.Reset'];
    return a['ResetType@Redfish.AllowableValues'] ?? this.res.get(`${SYSTEM}/ResetActionInfo`)!.Parameters[0].AllowableValues;
  }

  private reset(res: http.ServerResponse, body: Json | undefined): void {
    const t = body?.ResetType;
    if (typeof t !== 'string') return this.send(res, 400, rfError('ActionParameterMissing', 'The action requires the parameter ResetType.'));
    if (!this.allowedResets().includes(t)) {
      return this.send(res, 400, rfError('ActionParameterNotSupported', `The parameter ResetType with the value ${t} is not supported.`));
    }
    this.resets.push(t);
    const sys = this.system;
    const setState = (s: string) => {
      sys.PowerState = s;
      delete sys['@odata.etag'];
    };
    switch (t) {
      case 'On':
      case 'ForceOn':
      case 'ForceRestart':
      case 'GracefulRestart':
      case 'PowerCycle':
        setState('On');
        break;
      case 'ForceOff':
      case 'GracefulShutdown':
        if (this.o.offDelayMs) {
          setState('PoweringOff');
          setTimeout(() => setState('Off'), this.o.offDelayMs);
        } else setState('Off');
        break;
    }
    return this.send(res, 204);
  }

  private patch(req: http.IncomingMessage, res: http.ServerResponse, body: Json | undefined): void {
    const ifMatch = req.headers['if-match'];
    if (this.o.etag && ifMatch && ifMatch !== '*' && ifMatch !== this.etagOf(SYSTEM)) {
      return this.send(res, 412, rfError('PreconditionFailed', 'The ETag supplied did not match the ETag required to change this resource.'));
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      return this.send(res, 400, rfError('MalformedJSON', 'The request body submitted was malformed JSON.'));
    }
    const boot = this.system.Boot;
    const changes: Json = {};
    for (const [k, v] of Object.entries(body)) {
      if (k !== 'Boot') return this.send(res, 400, rfError('PropertyNotWritable', `The property ${k} is a read only property.`));
      for (const [bk, bv] of Object.entries(v as Json)) {
        const allowed = boot[`${bk}@Redfish.AllowableValues`];
        if (!Array.isArray(allowed)) return this.send(res, 400, rfError('PropertyUnknown', `The property ${bk} is not in the list of valid properties.`));
        if (!allowed.includes(bv)) {
          return this.send(res, 400, rfError('PropertyValueNotInList', `The value ${JSON.stringify(bv)} for the property ${bk} is not in the list of acceptable values.`));
        }
        changes[bk] = bv;
      }
    }
    Object.assign(boot, changes);
    delete this.system['@odata.etag'];
    return this.send(res, 200, this.system, this.o.etag ? { etag: this.etagOf(SYSTEM) } : {});
  }
}

/** Listen on 127.0.0.1 at the first free port of [base, base+50). */
export async function listenInRange(server: net.Server, base: number): Promise<number> {
  for (let p = base; p < base + 50; p++) {
    const ok = await new Promise<boolean>((resolve, reject) => {
      const onErr = (e: NodeJS.ErrnoException) => {
        server.off('listening', onOk);
        if (e.code === 'EADDRINUSE') resolve(false);
        else reject(e);
      };
      const onOk = () => {
        server.off('error', onErr);
        resolve(true);
      };
      server.once('error', onErr);
      server.once('listening', onOk);
      server.listen(p, '127.0.0.1');
    });
    if (ok) return p;
  }
  throw new Error(`no free port in ${base}-${base + 49}`);
}

/** Accepts TCP connections and never says a word: a BMC that hangs. */
export class SilentServer {
  readonly sockets = new Set<net.Socket>();
  readonly server = net.createServer((s) => {
    this.sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => this.sockets.delete(s));
  });
  port = 0;
  async listen(base: number): Promise<number> {
    this.port = await listenInRange(this.server, base);
    return this.port;
  }
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/**
 * A throw-away self-signed certificate for 127.0.0.1, like the ones BMCs
 * ship with (openssl req; the caller checks needPeers('openssl') first).
 */
export function selfSignedCert(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kseed-rf-cert-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    ], { stdio: 'ignore' });
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
