/**
 * Redfish BMC client (DMTF DSP0266) behind kseed's Bmc interface.
 *
 * Sessions (DSP0266 "Redfish session login authentication") are preferred:
 * one login, then X-Auth-Token, and the session is deleted on close so that
 * BMCs with few session slots are not exhausted by repeated runs. Services
 * that offer no session collection get HTTP Basic authentication instead.
 * Every public call has its own time budget (BmcTarget.timeoutMs); a BMC that
 * is slow or silent fails that call, never hangs it.
 */
import type { Bmc, BmcIdentity, BmcTarget, BootOptions, PowerAction, PowerState } from '../types.js';
import { budgetOf } from '../budget.js';
import { BmcError } from '../errors.js';
import { RedfishHttp, header, redfishErrorMessage, type RfRequest, type RfResponse } from './http.js';
import { BadField, linkAt, memberLinks, quoteValue, servicePath } from './links.js';
import { allowedFromActionInfo, bootOptionsOf, bootPatch, checkBootAllowed, ipv4Of, isCdMedia, isObject, macOf, pickResetType, powerStateOf, str, type Json } from './model.js';

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_RETRIES = 2;
const POLL_MS = 500;

export interface RedfishOptions {
  /** Upper bound for one HTTP request; default min(10 s, the budget). */
  requestTimeoutMs?: number;
}

interface ResetInfo {
  target: string;
  /** undefined: the service does not say, so it will judge the request itself. */
  allowed: string[] | undefined;
}

/** `[v6]` in URLs (RFC 3986 section 3.2.2). */
function hostPart(address: string): string {
  return address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
}

export class RedfishBmc implements Bmc {
  readonly protocol = 'redfish' as const;
  readonly target: Readonly<Omit<BmcTarget, 'password' | 'kg'>>;
  /** The service root as read at connect time. */
  serviceRoot: Json = {};
  /** 'session' (X-Auth-Token) or 'basic', once connected. */
  authMode: 'session' | 'basic' | undefined;
  /** Path of the ComputerSystem this client drives. */
  systemPath = '';

  private readonly http: RedfishHttp;
  private readonly origin: string;
  private readonly username: string;
  private readonly password: string;
  private readonly budgetMs: number;
  private sessionsPath: string | undefined;
  private sessionPath: string | undefined;
  private resetInfo: ResetInfo | undefined;
  private closed = false;

  private constructor(target: BmcTarget, opts: RedfishOptions) {
    const scheme = target.scheme ?? 'https';
    const port = target.port ?? (scheme === 'https' ? 443 : 80);
    const { password: _p, kg: _k, ...pub } = target;
    this.target = Object.freeze({ ...pub, scheme, port });
    this.username = target.username;
    this.password = target.password;
    this.budgetMs = budgetOf(target);
    this.origin = `${scheme}://${hostPart(target.address)}:${port}`;
    const basic = Buffer.from(`${target.username}:${target.password}`).toString('base64');
    this.http = new RedfishHttp({
      origin: this.origin,
      label: `${target.address}:${port}`,
      insecureTls: target.insecureTls === true,
      requestTimeoutMs: Math.min(opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, this.budgetMs),
      retries: target.retries ?? DEFAULT_RETRIES,
      secrets: [target.password, basic],
    });
  }

  /** Read the service root, log in, find the ComputerSystem. */
  static async connect(target: BmcTarget, opts: RedfishOptions = {}): Promise<RedfishBmc> {
    if (target.protocol !== 'redfish') throw new TypeError(`RedfishBmc needs protocol redfish, got ${target.protocol}`);
    const bmc = new RedfishBmc(target, opts);
    try {
      await bmc.open(Date.now() + bmc.budgetMs);
      return bmc;
    } catch (err) {
      await bmc.http.close();
      throw err;
    }
  }

  private async open(deadline: number): Promise<void> {
    const ROOT = '/redfish/v1/';
    const root = await this.getJson(ROOT, deadline, false);
    const type = root['@odata.type'];
    if (typeof root.RedfishVersion !== 'string' && !(typeof type === 'string' && type.includes('ServiceRoot'))) {
      throw this.http.fail(
        'protocol',
        `not a Redfish service root at ${ROOT}: RedfishVersion is ${quoteValue(root.RedfishVersion ?? null)} and @odata.type is ${quoteValue(type ?? null)}`,
      );
    }
    this.serviceRoot = root;
    this.sessionsPath = this.link(root, `GET ${ROOT}`, ['Links', 'Sessions', '@odata.id']);
    await this.login(deadline);
    const systemsPath = this.link(root, `GET ${ROOT}`, ['Systems', '@odata.id']) ?? '/redfish/v1/Systems';
    const systems = await this.getJson(systemsPath, deadline);
    const list = this.members(systems, systemsPath);
    if (list === undefined) throw this.http.fail('protocol', `GET ${systemsPath}: not a collection (Members is ${quoteValue(systems.Members ?? null)})`);
    // A BMC manages one server; where an enclosure manager lists several, BmcTarget cannot name one yet, so the first.
    const first = list[0];
    if (first === undefined) throw this.http.fail('completion', 'the BMC lists no ComputerSystem');
    this.systemPath = first;
  }

  private async login(deadline: number): Promise<void> {
    this.http.authHeader = undefined;
    if (this.sessionsPath) {
      const res = await this.http.send({
        method: 'POST',
        path: this.sessionsPath,
        deadline,
        auth: false,
        body: { UserName: this.username, Password: this.password },
      });
      if (res.status === 401 || res.status === 403) {
        throw this.http.fail('auth', `login refused for user ${this.username} (HTTP ${res.status}): wrong user or password`, redfishErrorMessage(res.body));
      }
      const token = header(res, 'x-auth-token');
      if (res.status >= 200 && res.status < 300 && token) {
        this.http.authHeader = ['x-auth-token', token];
        this.authMode = 'session';
        const loc = header(res, 'location');
        const where = `POST ${this.sessionsPath}`;
        this.sessionPath =
          loc !== undefined ? this.checked(where, () => servicePath(loc, 'Location header', this.origin)) : this.link(res.body, where, ['@odata.id']);
        return;
      }
      // 404/405/501 or a 2xx without a token: sessions are not really offered.
      if (res.status < 400 || [404, 405, 501].includes(res.status)) {
        this.useBasic();
        return;
      }
      throw this.statusError(res, 'POST', this.sessionsPath);
    }
    this.useBasic();
  }

  private useBasic(): void {
    const basic = Buffer.from(`${this.username}:${this.password}`).toString('base64');
    this.http.authHeader = ['authorization', `Basic ${basic}`];
    this.authMode = 'basic';
    this.sessionPath = undefined;
  }

  /** A BadField from reading an answer becomes this BMC's protocol error, prefixed with the request it answered. */
  private checked<T>(where: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof BadField) throw this.http.fail('protocol', `${where}: ${err.message}`);
      throw err;
    }
  }

  /** The link at `path` in a resource read by `where` (`GET /redfish/v1/`). */
  private link(resource: unknown, where: string, path: (string | number)[]): string | undefined {
    return this.checked(where, () => linkAt(resource, path, this.origin));
  }

  private members(collection: Json, path: string): string[] | undefined {
    return this.checked(`GET ${path}`, () => memberLinks(collection, this.origin));
  }

  private statusError(res: RfResponse, method: string, path: string): BmcError {
    const msg = redfishErrorMessage(res.body);
    const what = `${method} ${path}: HTTP ${res.status}${msg ? `: ${msg}` : ''}`;
    const err =
      res.status === 401
        ? this.http.fail('auth', `credentials rejected (${what})`)
        : res.status === 403
          ? this.http.fail('privilege', `insufficient privilege (${what})`)
          : this.http.fail('completion', what);
    return Object.assign(err, { httpStatus: res.status });
  }

  /** Authenticated request; one re-login when a session expired underneath us. */
  private async call(req: RfRequest): Promise<RfResponse> {
    if (this.closed) throw this.http.fail('network', 'client already closed');
    let res = await this.http.send(req);
    if (res.status === 401 && this.authMode === 'session' && req.auth !== false) {
      await this.login(req.deadline);
      res = await this.http.send(req);
    }
    if (res.status >= 400) throw this.statusError(res, req.method, req.path);
    return res;
  }

  private async getRes(path: string, deadline: number, auth = true): Promise<RfResponse> {
    const res = auth ? await this.call({ method: 'GET', path, deadline }) : await this.http.send({ method: 'GET', path, deadline, auth: false });
    if (res.status >= 400) throw this.statusError(res, 'GET', path);
    if (!isObject(res.body)) {
      const got = res.body === undefined ? 'an empty body' : Array.isArray(res.body) ? `an array ${quoteValue(res.body)}` : quoteValue(res.body);
      throw this.http.fail('protocol', `GET ${path}: answer is not a JSON object but ${got}`);
    }
    return res;
  }

  private async getJson(path: string, deadline: number, auth = true): Promise<Json> {
    return (await this.getRes(path, deadline, auth)).body as Json;
  }

  /** A sub-resource that some BMCs lack: 404 means absent, anything else is an error. */
  private async optional(path: string | undefined, deadline: number): Promise<Json | undefined> {
    if (!path) return undefined;
    try {
      return await this.getJson(path, deadline);
    } catch (err) {
      if (err instanceof BmcError && (err as BmcError & { httpStatus?: number }).httpStatus === 404) return undefined;
      throw err;
    }
  }

  private deadline(): number {
    return Math.min(Date.now() + this.budgetMs, this.target.deadline ?? Infinity);
  }

  private async system(deadline: number): Promise<Json> {
    return this.getJson(this.systemPath, deadline);
  }

  async powerStatus(): Promise<PowerState> {
    const sys = await this.system(this.deadline());
    const state = powerStateOf(sys);
    if (!state) {
      throw this.http.fail('protocol', `GET ${this.systemPath}: PowerState is ${quoteValue(sys.PowerState ?? null)}, not On, Off, PoweringOn, PoweringOff or Paused`);
    }
    return state;
  }

  /** ComputerSystem.Reset target and its allowable ResetType values. */
  private async reset(sys: Json, deadline: number): Promise<ResetInfo> {
    if (this.resetInfo) return this.resetInfo;
    const action = isObject(sys.Actions) ? sys.Actions['#ComputerSystem.Reset'] : undefined;
    if (!isObject(action) || action.target === undefined || action.target === null) {
      throw this.http.fail('completion', `${this.systemPath} offers no #ComputerSystem.Reset action`);
    }
    let allowed: string[] | undefined;
    const inline = action['ResetType@Redfish.AllowableValues'];
    if (Array.isArray(inline)) {
      allowed = inline.filter((x): x is string => typeof x === 'string');
    } else if (action['@Redfish.ActionInfo'] !== undefined) {
      const info = this.link(sys, `GET ${this.systemPath}`, ['Actions', '#ComputerSystem.Reset', '@Redfish.ActionInfo']);
      allowed = allowedFromActionInfo(await this.optional(info, deadline));
    }
    const target = this.link(sys, `GET ${this.systemPath}`, ['Actions', '#ComputerSystem.Reset', 'target'])!;
    this.resetInfo = { target, allowed };
    return this.resetInfo;
  }

  private async postReset(info: ResetInfo, resetType: string, deadline: number): Promise<void> {
    if (info.allowed && !info.allowed.includes(resetType)) {
      throw this.http.fail('completion', `ResetType ${resetType} is not supported by this BMC (allowed: ${info.allowed.join(', ')})`);
    }
    await this.call({ method: 'POST', path: info.target, deadline, body: { ResetType: resetType } });
  }

  private async waitFor(state: 'Off' | 'On', deadline: number): Promise<void> {
    for (;;) {
      const sys = await this.system(deadline);
      if (sys.PowerState === state) return;
      if (deadline - Date.now() <= POLL_MS) {
        throw this.http.fail('timeout', `system did not reach PowerState ${state} within the time budget (now ${String(sys.PowerState)})`);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  async power(action: PowerAction): Promise<void> {
    const deadline = this.deadline();
    const sys = await this.system(deadline);
    const state = powerStateOf(sys);
    // Idempotent: asking for the state the server is already in does nothing.
    if (action === 'on' && state === 'on') return;
    if ((action === 'off' || action === 'soft') && state === 'off') return;
    const info = await this.reset(sys, deadline);
    // Cycling or resetting a server that is off leaves it on, as a provisioning reboot expects.
    const effective: PowerAction = (action === 'cycle' || action === 'reset') && state === 'off' ? 'on' : action;
    const resetType = pickResetType(effective, info.allowed);
    if (resetType) return this.postReset(info, resetType, deadline);
    if (effective === 'cycle' || effective === 'reset') {
      // No PowerCycle/ForceRestart offered: do it in two steps.
      await this.postReset(info, 'ForceOff', deadline);
      await this.waitFor('Off', deadline);
      const on = pickResetType('on', info.allowed);
      if (!on) throw this.http.fail('completion', `no ResetType to power on (allowed: ${(info.allowed ?? []).join(', ')})`);
      return this.postReset(info, on, deadline);
    }
    throw this.http.fail(
      'completion',
      `power ${action} is not supported by this BMC (allowed ResetType: ${(info.allowed ?? []).join(', ')})`,
    );
  }

  async setBootDevice(opts: BootOptions): Promise<void> {
    const deadline = this.deadline();
    const patch = bootPatch(opts);
    for (let attempt = 1; ; attempt++) {
      const res = await this.getRes(this.systemPath, deadline);
      const sys = res.body as Json;
      const problems = checkBootAllowed(isObject(sys.Boot) ? sys.Boot : {}, patch.Boot as Json);
      if (problems.length) throw this.http.fail('completion', problems.join('; '));
      // Optimistic concurrency (DSP0266 "ETags"): send the ETag back when the service gave one.
      const etag = header(res, 'etag') ?? str(sys['@odata.etag']);
      const headers: Record<string, string> = etag ? { 'if-match': etag } : {};
      const sent = await this.http.send({ method: 'PATCH', path: this.systemPath, deadline, body: patch, headers });
      if (sent.status === 412 && attempt === 1) continue; // someone changed it in between: re-read once
      if (sent.status === 401 && this.authMode === 'session' && attempt === 1) {
        await this.login(deadline);
        continue;
      }
      if (sent.status >= 400) throw this.statusError(sent, 'PATCH', this.systemPath);
      return;
    }
  }

  async getBootDevice(): Promise<BootOptions> {
    const sys = await this.system(this.deadline());
    return bootOptionsOf(sys.Boot);
  }

  async identity(): Promise<BmcIdentity> {
    const deadline = this.deadline();
    const sys = await this.system(deadline);
    const fromSys = `GET ${this.systemPath}`;
    const managedBy = this.link(sys, fromSys, ['Links', 'ManagedBy', 0, '@odata.id']);
    const managerPath = managedBy ?? (await this.firstMember(this.link(this.serviceRoot, 'GET /redfish/v1/', ['Managers', '@odata.id']), deadline));
    const [nics, manager] = await Promise.all([
      this.nics(this.link(sys, fromSys, ['EthernetInterfaces', '@odata.id']), deadline),
      this.optional(managerPath, deadline),
    ]);
    const bmcNics = manager ? await this.nics(this.link(manager, `GET ${managerPath}`, ['EthernetInterfaces', '@odata.id']), deadline) : [];
    // The BMC's own port is the enabled one with an address; else the first with a MAC.
    const bmcNic =
      bmcNics.find((n) => n.InterfaceEnabled !== false && macOf(n) && ipv4Of(n)) ?? bmcNics.find((n) => macOf(n));
    const nicMacs = [...new Set(nics.map(macOf).filter((m): m is string => m !== undefined))].sort();
    const id: BmcIdentity = { protocol: 'redfish' };
    const set = <K extends keyof BmcIdentity>(k: K, v: BmcIdentity[K] | undefined) => {
      if (v !== undefined) id[k] = v;
    };
    set('manufacturer', str(sys.Manufacturer));
    set('model', str(sys.Model));
    set('productName', str(sys.Model));
    set('serial', str(sys.SerialNumber));
    set('guid', str(sys.UUID)?.toLowerCase());
    set('firmware', manager ? str(manager.FirmwareVersion) : undefined);
    set('bmcMac', bmcNic ? macOf(bmcNic) : undefined);
    set('bmcIp', bmcNic ? ipv4Of(bmcNic) : undefined);
    if (nicMacs.length) id.nicMacs = nicMacs;
    return id;
  }

  /**
   * The virtual CD: the first VirtualMedia taking CD/DVD images, under the
   * ComputerSystem (Redfish 2021.2 and later) or else its manager.
   */
  private async cdMedia(deadline: number): Promise<{ path: string; media: Json }> {
    const sys = await this.system(deadline);
    const fromSys = `GET ${this.systemPath}`;
    const managerPath = this.link(sys, fromSys, ['Links', 'ManagedBy', 0, '@odata.id']) ?? (await this.firstMember(this.link(this.serviceRoot, 'GET /redfish/v1/', ['Managers', '@odata.id']), deadline));
    const manager = await this.optional(managerPath, deadline);
    const collections = [this.link(sys, fromSys, ['VirtualMedia', '@odata.id']), manager ? this.link(manager, `GET ${managerPath}`, ['VirtualMedia', '@odata.id']) : undefined];
    for (const col of collections) {
      const list = col ? (this.members((await this.optional(col, deadline)) ?? {}, col) ?? []) : [];
      for (const p of list) {
        const media = await this.optional(p, deadline);
        if (media && isCdMedia(media)) return { path: p, media };
      }
    }
    throw this.http.fail('completion', `the BMC offers no virtual CD: no VirtualMedia with MediaTypes CD or DVD under ${this.systemPath} or ${managerPath ?? 'any manager'}`);
  }

  private mediaAction(m: { path: string; media: Json }, action: 'InsertMedia' | 'EjectMedia'): string {
    const target = this.link(m.media, `GET ${m.path}`, ['Actions', `#VirtualMedia.${action}`, 'target']);
    if (!target) throw this.http.fail('completion', `${m.path} offers no #VirtualMedia.${action} action`);
    return target;
  }

  async insertMedia(image: string): Promise<void> {
    const deadline = this.deadline();
    const m = await this.cdMedia(deadline);
    if (m.media.Inserted === true && m.media.Image === image) return;
    // most BMCs refuse to insert over a mounted image: eject it first
    if (m.media.Inserted === true) await this.call({ method: 'POST', path: this.mediaAction(m, 'EjectMedia'), deadline, body: {} });
    await this.call({ method: 'POST', path: this.mediaAction(m, 'InsertMedia'), deadline, body: { Image: image, Inserted: true, WriteProtected: true } });
  }

  async ejectMedia(): Promise<void> {
    const deadline = this.deadline();
    const m = await this.cdMedia(deadline);
    if (m.media.Inserted !== true && (m.media.Image ?? null) === null) return;
    await this.call({ method: 'POST', path: this.mediaAction(m, 'EjectMedia'), deadline, body: {} });
  }

  private async firstMember(path: string | undefined, deadline: number): Promise<string | undefined> {
    const col = await this.optional(path, deadline);
    return col ? this.members(col, path!)?.[0] : undefined;
  }

  /** Every EthernetInterface of a collection, fetched concurrently. */
  private async nics(path: string | undefined, deadline: number): Promise<Json[]> {
    const col = await this.optional(path, deadline);
    const list = col ? (this.members(col, path!) ?? []) : [];
    const all = await Promise.all(list.map((p) => this.optional(p, deadline)));
    return all.filter((n): n is Json => n !== undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sessionPath && this.authMode === 'session') {
      // Free the BMC's session slot; a failure here must not fail the caller.
      const deadline = Date.now() + Math.min(this.budgetMs, 5_000);
      await this.http.send({ method: 'DELETE', path: this.sessionPath, deadline }).catch(() => undefined);
    }
    await this.http.close();
  }
}

export function connectRedfish(target: BmcTarget, opts?: RedfishOptions): Promise<RedfishBmc> {
  return RedfishBmc.connect(target, opts);
}
