/**
 * One node's Redfish service as a function from request to answer: routing,
 * authentication, ETag preconditions, and the calls into the node's backend
 * (power, boot override, virtual media). Sockets and TLS are server.ts; the
 * VM is backend.ts; this file only decides, so it is unit-tested with an
 * in-memory backend.
 */
import {
  type BootState,
  EJECT_TARGET,
  etagOf,
  INSERT_TARGET,
  type Json,
  MANAGER,
  MANAGERS,
  managerNic,
  managerNics,
  manager,
  MEDIA,
  MEDIA_COLLECTION,
  mediaCollection,
  type NodeView,
  RESET_TARGET,
  type ResetType,
  ROOT,
  SESSION_SERVICE,
  SESSIONS,
  collection,
  computerSystem,
  session,
  sessionService,
  serviceRoot,
  SYSTEM,
  SYSTEMS,
  systemNic,
  systemNics,
  virtualMedia,
} from './resources.js';
import {
  type InsertMedia,
  ifMatchOk,
  notAllowed,
  notFound,
  parseBody,
  parseInsertMedia,
  parseLogin,
  parseReset,
  parseSystemPatch,
  preconditionFailed,
  type RfAnswer,
  rfError,
} from './requests.js';
import type { Accounts } from './sessions.js';

/** What the service needs from the node; every call may take seconds (a VM starting, an image download). */
export interface NodeBackend {
  view(): Promise<NodeView>;
  reset(type: ResetType, power: 'On' | 'Off'): Promise<void>;
  setBoot(next: BootState): Promise<void>;
  insertMedia(m: InsertMedia): Promise<void>;
  ejectMedia(): Promise<void>;
}

/** A backend failure the client should see with this status and text (e.g. the image URL answered 404). */
export class BackendError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'BackendError';
  }
}

export interface RfRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Lower-case names. */
  headers: Record<string, string | undefined>;
  body: string;
}

const REALM = 'WWW-Authenticate';

/** `/redfish/v1/Systems/` and `/redfish/v1/Systems` are the same resource; the root keeps its slash. */
export function normalizePath(p: string): string {
  const path = p.split('?')[0]!.replace(/\/{2,}/g, '/');
  if (path === '/redfish/v1' || path === ROOT) return ROOT;
  return path.length > 1 ? path.replace(/\/$/, '') : path;
}

export class RedfishService {
  /** Mutations of one node run one after the other: two power-ons must not race to start two VMs. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly backend: NodeBackend,
    private readonly accounts: Accounts,
    private readonly ids: { lab: string; node: string },
  ) {}

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async handle(req: RfRequest): Promise<RfAnswer> {
    const path = normalizePath(req.path);
    const method = req.method.toUpperCase();
    try {
      return await this.route(method, path, req);
    } catch (err) {
      if (err instanceof BackendError) return rfError(err.status, { id: 'GeneralError', message: err.message });
      return rfError(500, { id: 'InternalError', message: `The request failed due to an internal service error: ${(err as Error).message}` });
    }
  }

  private get(method: string, path: string, allow: string[] = ['GET']): RfAnswer | undefined {
    return allow.includes(method) ? undefined : notAllowed(method, path, allow);
  }

  private async route(method: string, path: string, req: RfRequest): Promise<RfAnswer> {
    // DSP0266 "Service root": the version document and the service root answer without credentials
    if (path === '/redfish') return this.get(method, path) ?? { status: 200, body: { v1: ROOT } };
    if (path === ROOT) return this.get(method, path) ?? ok(serviceRoot(this.ids));
    if (path === SESSIONS && method === 'POST') return this.login(req);

    const who = this.accounts.who({ token: req.headers['x-auth-token'], authorization: req.headers.authorization });
    if (!who.ok) {
      return {
        ...rfError(401, { id: 'NoValidSession', message: 'There is no valid session established with the implementation.' }),
        headers: { [REALM]: 'Basic realm="kseed lab BMC"' },
      };
    }

    switch (path) {
      case SYSTEMS:
        return this.get(method, path) ?? ok(collection(SYSTEMS, 'ComputerSystemCollection', 'Computer systems', [SYSTEM]));
      case SYSTEM:
        if (method === 'PATCH') return this.patchSystem(req);
        return this.get(method, path, ['GET', 'PATCH']) ?? this.conditional(req, computerSystem(await this.backend.view()));
      case `${SYSTEM}/EthernetInterfaces`:
        return this.get(method, path) ?? ok(systemNics(await this.backend.view()));
      case RESET_TARGET:
        return method === 'POST' ? this.reset(req) : notAllowed(method, path, ['POST']);
      case MANAGERS:
        return this.get(method, path) ?? ok(collection(MANAGERS, 'ManagerCollection', 'Managers', [MANAGER]));
      case MANAGER:
        return this.get(method, path) ?? this.conditional(req, manager(await this.backend.view()));
      case `${MANAGER}/EthernetInterfaces`:
        return this.get(method, path) ?? ok(managerNics());
      case `${MANAGER}/EthernetInterfaces/BMC1`:
        return this.get(method, path) ?? ok(managerNic(await this.backend.view()));
      case MEDIA_COLLECTION:
        return this.get(method, path) ?? ok(mediaCollection());
      case MEDIA:
        return this.get(method, path) ?? this.conditional(req, virtualMedia(await this.backend.view()));
      case INSERT_TARGET:
        return method === 'POST' ? this.insert(req) : notAllowed(method, path, ['POST']);
      case EJECT_TARGET:
        return method === 'POST' ? this.serial(async () => (await this.backend.ejectMedia(), { status: 204 })) : notAllowed(method, path, ['POST']);
      case SESSION_SERVICE:
        return this.get(method, path) ?? ok(sessionService(this.accounts.timeoutSec, this.accounts.list().length));
      case SESSIONS:
        return this.get(method, path, ['GET', 'POST']) ?? ok(collection(SESSIONS, 'SessionCollection', 'Sessions', this.accounts.list().map((s) => `${SESSIONS}/${s.id}`)));
    }
    if (path.startsWith(`${SYSTEM}/EthernetInterfaces/`)) {
      const nic = systemNic(await this.backend.view(), path.slice(`${SYSTEM}/EthernetInterfaces/`.length));
      return nic ? (this.get(method, path) ?? ok(nic)) : notFound(path);
    }
    if (path.startsWith(`${SESSIONS}/`)) {
      const s = this.accounts.byId(path.slice(SESSIONS.length + 1));
      if (!s) return notFound(path);
      if (method === 'DELETE') {
        this.accounts.logout(s.id);
        return { status: 204 };
      }
      return this.get(method, path, ['GET', 'DELETE']) ?? ok(session(s.id, s.user));
    }
    return notFound(path);
  }

  /** GET with If-None-Match (RFC 7232 3.2): 304 when the client's copy is current. */
  private conditional(req: RfRequest, resource: Json): RfAnswer {
    const tag = etagOf(resource);
    const inm = req.headers['if-none-match'];
    if (inm && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === tag)) return { status: 304, headers: { etag: tag } };
    return ok(resource);
  }

  private login(req: RfRequest): RfAnswer {
    const parsed = parseBody(req.body);
    if (!parsed.ok) return parsed.answer;
    const l = parseLogin(parsed.body);
    if (!l.ok) return l.answer;
    const s = this.accounts.login(l.user, l.password);
    if (!s) return rfError(401, { id: 'ResourceAtUriUnauthorized', message: `While accessing the resource at ${SESSIONS}, the service received an authorization error: wrong user name or password.`, args: [SESSIONS, 'unauthorized'] });
    return { status: 201, headers: { 'x-auth-token': s.token, location: `${SESSIONS}/${s.id}` }, body: session(s.id, s.user) };
  }

  private reset(req: RfRequest): Promise<RfAnswer> {
    const parsed = parseBody(req.body);
    if (!parsed.ok) return Promise.resolve(parsed.answer);
    const r = parseReset(parsed.body);
    if (!r.ok) return Promise.resolve(r.answer);
    return this.serial(async () => {
      const v = await this.backend.view();
      await this.backend.reset(r.resetType, v.power);
      return { status: 204 };
    });
  }

  private patchSystem(req: RfRequest): Promise<RfAnswer> {
    const parsed = parseBody(req.body);
    if (!parsed.ok) return Promise.resolve(parsed.answer);
    return this.serial(async () => {
      const v = await this.backend.view();
      // DSP0266 "ETags": a PATCH whose If-Match is stale changes nothing
      if (!ifMatchOk(req.headers['if-match'], etagOf(computerSystem(v)))) return preconditionFailed(SYSTEM);
      const p = parseSystemPatch(parsed.body, v.mode);
      if (!p.ok) return p.answer;
      const next: BootState = { target: p.change.target ?? v.boot.target, enabled: p.change.enabled ?? v.boot.enabled };
      if (next.target !== v.boot.target || next.enabled !== v.boot.enabled) await this.backend.setBoot(next);
      return ok(computerSystem(await this.backend.view()));
    });
  }

  private insert(req: RfRequest): Promise<RfAnswer> {
    const parsed = parseBody(req.body);
    if (!parsed.ok) return Promise.resolve(parsed.answer);
    const m = parseInsertMedia(parsed.body);
    if (!m.ok) return Promise.resolve(m.answer);
    return this.serial(async () => {
      await this.backend.insertMedia(m.media);
      return { status: 204 };
    });
  }
}

function ok(body: Json): RfAnswer {
  return { status: 200, body };
}
