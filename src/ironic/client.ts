/**
 * A typed client for Ironic's Bare Metal API v1 over HTTP (node's fetch).
 *
 * - Every request carries X-OpenStack-Ironic-API-Version: without it Ironic
 *   answers with 1.1 semantics (no node names, nodes skip `enroll`;
 *   ironic-offline.md section 4). `connect()` checks the version against the
 *   server's range from GET / (which needs no credentials).
 * - http_basic credentials go in every request's Authorization header.
 * - Every request has a timeout; a node wait has its own, and reports where
 *   the node got stuck and Ironic's last_error.
 * - Request bodies are never logged nor put in errors: they carry BMC
 *   passwords (Ironic itself answers them as "******").
 *
 * API reference: https://docs.openstack.org/api-ref/baremetal/
 */
import { faultOf, IronicError, IronicNodeFailed, IronicTimeout, IronicVersionError } from './errors.js';
import type {
  ApiVersions,
  BootDeviceInfo,
  BootDeviceName,
  ConfigDrive,
  IronicNode,
  IronicPort,
  JsonPatchOp,
  NodeCreate,
  NodeStates,
  NodeValidation,
  PortCreate,
  PowerTarget,
  ProvisionState,
  ProvisionTarget,
} from './types.js';
import { abortableSleep } from '../util/sleep.js';
import { PollBatch } from './poll-batch.js';

/**
 * 1.78 (Zed) has everything used here: names (1.5), enroll (1.11), abort
 * (1.13), hardware interfaces at creation (1.31), rebuild with config drive
 * (1.35), config drive as a dict (1.56); Debian bookworm's Ironic serves up to 1.82.
 */
export const IRONIC_API_VERSION = '1.78';

/** keystoneauth's ConnectFailure, as the API passes on a JSON-RPC call to a conductor that is gone. */
const CONDUCTOR_UNREACHABLE = /Unable to establish connection to https?:\/\/[^ ]+:\d+/;

export interface IronicClientOptions {
  /** Base URL, e.g. http://10.77.0.1:6385 (no /v1). */
  url: string;
  username?: string;
  /** Resolved secret: sent, never logged. */
  password?: string;
  apiVersion?: string;
  /** Per request (connect included); default 30 s. */
  timeoutMs?: number;
  /** Poll interval of the waits; default 1 s. */
  pollMs?: number;
  /** A node locked by a running conductor task answers 409, a dead conductor (until Ironic drops it) 500: retried this long; default 60 s. */
  lockedRetryMs?: number;
  /** Called after each request: method, path and status only (never bodies). */
  onRequest?: (r: { method: string; path: string; status: number; ms: number }) => void;
}

export interface WaitOptions {
  timeoutMs?: number;
  pollMs?: number;
  signal?: AbortSignal;
  /** Called when provision or power state changes while waiting. */
  onChange?: (n: NodeStates & { uuid: string; name: string | null }) => void;
}

export interface VerbOptions extends WaitOptions {
  /** Wait for the verb's end state (default true); false returns once Ironic accepted it. */
  wait?: boolean;
}

/** The fields the waits read: small answers, cheap polls. */
const STATE_FIELDS = ['uuid', 'name', 'provision_state', 'target_provision_state', 'power_state', 'target_power_state', 'last_error', 'fault', 'maintenance'];

/** Where each verb ends when it succeeds (automated cleaning off, as kseed configures Ironic). */
const END_STATE: Record<Exclude<ProvisionTarget, 'abort'>, ProvisionState[]> = {
  manage: ['manageable'],
  provide: ['available'],
  inspect: ['manageable'],
  active: ['active'],
  rebuild: ['active'],
  deleted: ['available'],
  clean: ['manageable'],
  adopt: ['active'],
};

const DEFAULT_WAIT_MS = 30 * 60_000;

function versionParts(v: string): [number, number] {
  const m = /^(\d+)\.(\d+)$/.exec(v.trim());
  if (!m) throw new TypeError(`not an API version: ${v}`);
  return [Number(m[1]), Number(m[2])];
}

/** -1, 0, 1 as a < b, a == b, a > b (1.9 < 1.10). */
export function compareVersions(a: string, b: string): number {
  const [a1, a2] = versionParts(a);
  const [b1, b2] = versionParts(b);
  return a1 !== b1 ? Math.sign(a1 - b1) : Math.sign(a2 - b2);
}

const isFailed = (s: ProvisionState | string | null): boolean => typeof s === 'string' && (s.endsWith(' failed') || s === 'error');

export class IronicClient {
  readonly url: string;
  readonly apiVersion: string;
  private readonly auth: string | undefined;
  private readonly timeoutMs: number;
  private readonly pollMs: number;
  private readonly lockedRetryMs: number;
  private readonly polls: PollBatch;

  constructor(private readonly o: IronicClientOptions) {
    this.url = o.url.replace(/\/+$/, '').replace(/\/v1$/, '');
    this.apiVersion = o.apiVersion ?? IRONIC_API_VERSION;
    versionParts(this.apiVersion);
    this.auth = o.username !== undefined ? `Basic ${Buffer.from(`${o.username}:${o.password ?? ''}`).toString('base64')}` : undefined;
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.pollMs = o.pollMs ?? 1000;
    this.lockedRetryMs = o.lockedRetryMs ?? 60_000;
    // a quarter of the poll interval: a poll waits that long at most for others to join it
    this.polls = new PollBatch(
      (id, signal) => this.request<IronicNode>('GET', `/v1/nodes/${IronicClient.id(id)}?fields=${STATE_FIELDS.join(',')}`, undefined, signal),
      () => this.listNodes({ fields: STATE_FIELDS }),
      Math.max(1, Math.round(this.pollMs / 4)),
    );
  }

  /** A client whose API version the server was checked to serve. */
  static async connect(o: IronicClientOptions): Promise<IronicClient> {
    const c = new IronicClient(o);
    await c.checkVersion();
    return c;
  }

  // ------------------------------------------------------------ transport

  private async raw(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<{ status: number; text: string }> {
    const headers: Record<string, string> = {
      'X-OpenStack-Ironic-API-Version': this.apiVersion,
      Accept: 'application/json',
    };
    if (this.auth) headers.Authorization = this.auth;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const t0 = Date.now();
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const sig = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.url + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: sig });
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why = timeout.aborted ? `no answer within ${Math.round(this.timeoutMs / 1000)} s` : (e.cause?.code ?? e.cause?.message ?? e.message);
      // the message of a fetch failure never contains the request body
      throw new IronicError(method, path, 0, `${why} (${this.url})`, { cause: err });
    }
    this.o.onRequest?.({ method, path, status: res.status, ms: Date.now() - t0 });
    return { status: res.status, text };
  }

  /** One API call; JSON in, JSON out; typed errors; a locked node is retried. */
  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const deadline = Date.now() + this.lockedRetryMs;
    let delay = 250;
    for (;;) {
      const { status, text } = await this.raw(method, path, body, signal);
      if (status >= 200 && status < 300) return (text ? JSON.parse(text) : undefined) as T;
      const fault = faultOf(text);
      if (status === 406 && /version/i.test(fault ?? '')) {
        const m = /\[(\d+\.\d+),\s*(\d+\.\d+)\]/.exec(fault ?? '');
        throw new IronicVersionError(this.apiVersion, m?.[1], m?.[2], fault);
      }
      // NodeLocked: a conductor task (power sync, a running verb) holds the node for a moment.
      // Or the node's conductor died (ironic.conductors >= 2): the API's JSON-RPC call cannot reach it
      // until it misses [conductor]heartbeat_timeout and the hash ring, rebuilt every
      // hash_ring_reset_interval, hands its nodes to another; nothing reached it, so retrying is safe.
      const retryable = (status === 409 && /locked/i.test(fault ?? '')) || (status >= 500 && CONDUCTOR_UNREACHABLE.test(fault ?? ''));
      if (retryable && Date.now() + delay < deadline) {
        await abortableSleep(delay, signal);
        delay = Math.min(delay * 2, 2000);
        continue;
      }
      throw new IronicError(method, path, status, fault);
    }
  }

  // ------------------------------------------------------------- version

  /** GET /: the API's version range (public, no credentials needed). */
  async versions(signal?: AbortSignal): Promise<ApiVersions> {
    const { status, text } = await this.raw('GET', '/', undefined, signal);
    if (status !== 200) throw new IronicError('GET', '/', status, faultOf(text));
    const doc = JSON.parse(text) as { default_version?: { min_version?: string; version?: string }; versions?: { min_version?: string; version?: string }[] };
    const v = doc.default_version ?? doc.versions?.[0];
    if (!v?.version || !v.min_version) throw new IronicError('GET', '/', status, 'no version range in the answer (is this Ironic?)');
    return { min: v.min_version, max: v.version };
  }

  /** Throws IronicVersionError when the server does not serve this client's version. */
  async checkVersion(signal?: AbortSignal): Promise<ApiVersions> {
    const v = await this.versions(signal);
    if (compareVersions(this.apiVersion, v.min) < 0 || compareVersions(this.apiVersion, v.max) > 0) {
      throw new IronicVersionError(this.apiVersion, v.min, v.max);
    }
    return v;
  }

  // --------------------------------------------------------------- nodes

  private static id(node: string): string {
    return encodeURIComponent(node);
  }

  createNode(body: NodeCreate, signal?: AbortSignal): Promise<IronicNode> {
    return this.request<IronicNode>('POST', '/v1/nodes', body, signal);
  }

  /** By name or uuid. */
  getNode(node: string, signal?: AbortSignal): Promise<IronicNode> {
    return this.request<IronicNode>('GET', `/v1/nodes/${IronicClient.id(node)}`, undefined, signal);
  }

  /** By name or uuid; undefined when Ironic has no such node. */
  async findNode(node: string, signal?: AbortSignal): Promise<IronicNode | undefined> {
    try {
      return await this.getNode(node, signal);
    } catch (err) {
      if (err instanceof IronicError && err.notFound) return undefined;
      throw err;
    }
  }

  /** All nodes (follows Ironic's pagination); `fields` limits what each carries. */
  async listNodes(opts: { fields?: string[]; provision_state?: string; driver?: string; signal?: AbortSignal } = {}): Promise<IronicNode[]> {
    const q = new URLSearchParams();
    if (opts.fields) q.set('fields', opts.fields.join(','));
    if (opts.provision_state) q.set('provision_state', opts.provision_state);
    if (opts.driver) q.set('driver', opts.driver);
    const base = opts.fields ? '/v1/nodes' : '/v1/nodes/detail';
    return this.paged<IronicNode>(`${base}${q.size ? `?${q}` : ''}`, 'nodes', opts.signal);
  }

  private async paged<T>(first: string, key: string, signal?: AbortSignal): Promise<T[]> {
    const out: T[] = [];
    let path: string | undefined = first;
    while (path) {
      const page: Record<string, unknown> = await this.request<Record<string, unknown>>('GET', path, undefined, signal);
      out.push(...((page[key] as T[] | undefined) ?? []));
      const next = page.next;
      // `next` is an absolute URL with Ironic's idea of its host: keep only path and query, against our base
      path = typeof next === 'string' && next ? (() => { const u = new URL(next); return u.pathname + u.search; })() : undefined;
    }
    return out;
  }

  patchNode(node: string, ops: JsonPatchOp[], signal?: AbortSignal): Promise<IronicNode> {
    return this.request<IronicNode>('PATCH', `/v1/nodes/${IronicClient.id(node)}`, ops, signal);
  }

  /**
   * Sets keys inside the node's dict fields (driver_info, instance_info,
   * properties, extra) and top-level fields; undefined removes a key that
   * exists. `add` on an existing member replaces it (RFC 6902 4.1).
   */
  async updateNode(
    node: string,
    patch: { [field: string]: unknown; driver_info?: Record<string, unknown>; instance_info?: Record<string, unknown>; properties?: Record<string, unknown>; extra?: Record<string, unknown> },
    signal?: AbortSignal,
  ): Promise<IronicNode> {
    const ops: JsonPatchOp[] = [];
    const dicts = new Set(['driver_info', 'instance_info', 'properties', 'extra']);
    let current: IronicNode | undefined;
    for (const [field, value] of Object.entries(patch)) {
      if (dicts.has(field) && value && typeof value === 'object') {
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
          const p = `/${field}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
          if (v === undefined) {
            current ??= await this.getNode(node, signal);
            if ((current[field] as Record<string, unknown> | undefined)?.[k] !== undefined) ops.push({ op: 'remove', path: p });
          } else ops.push({ op: 'add', path: p, value: v });
        }
      } else if (value !== undefined) ops.push({ op: 'replace', path: `/${field}`, value });
    }
    if (!ops.length) return current ?? this.getNode(node, signal);
    return this.patchNode(node, ops, signal);
  }

  async deleteNode(node: string, signal?: AbortSignal): Promise<void> {
    await this.request<void>('DELETE', `/v1/nodes/${IronicClient.id(node)}`, undefined, signal);
  }

  validateNode(node: string, signal?: AbortSignal): Promise<NodeValidation> {
    return this.request<NodeValidation>('GET', `/v1/nodes/${IronicClient.id(node)}/validate`, undefined, signal);
  }

  getStates(node: string, signal?: AbortSignal): Promise<NodeStates> {
    return this.request<NodeStates>('GET', `/v1/nodes/${IronicClient.id(node)}/states`, undefined, signal);
  }

  // --------------------------------------------------------------- ports

  createPort(body: PortCreate, signal?: AbortSignal): Promise<IronicPort> {
    return this.request<IronicPort>('POST', '/v1/ports', { ...body, address: body.address.toLowerCase() }, signal);
  }

  /** A node's ports (by name or uuid), or all ports. */
  listPorts(node?: string, signal?: AbortSignal): Promise<IronicPort[]> {
    // not /v1/nodes/{node}/ports/detail: Ironic 21.4 answers that with 404 "Portgroup None could not be found"
    const path = node ? `/v1/ports/detail?node=${IronicClient.id(node)}` : '/v1/ports/detail';
    return this.paged<IronicPort>(path, 'ports', signal);
  }

  async deletePort(uuid: string, signal?: AbortSignal): Promise<void> {
    await this.request<void>('DELETE', `/v1/ports/${encodeURIComponent(uuid)}`, undefined, signal);
  }

  // ------------------------------------------------------ provision states

  /** PUT .../states/provision; Ironic answers 202 and works in the background. */
  async setProvisionState(node: string, target: ProvisionTarget, extra: { configdrive?: ConfigDrive; clean_steps?: unknown[] } = {}, signal?: AbortSignal): Promise<void> {
    await this.request<void>('PUT', `/v1/nodes/${IronicClient.id(node)}/states/provision`, { target, ...extra }, signal);
  }

  private async verb(node: string, target: Exclude<ProvisionTarget, 'abort'>, opts: VerbOptions, extra: { configdrive?: ConfigDrive } = {}): Promise<IronicNode> {
    await this.setProvisionState(node, target, extra, opts.signal);
    if (opts.wait === false) return this.getNode(node, opts.signal);
    return this.waitProvision(node, END_STATE[target], { ...opts, label: target });
  }

  /** enroll -> manageable: Ironic checks the BMC credentials (power status). */
  manage(node: string, opts: VerbOptions = {}): Promise<IronicNode> {
    return this.verb(node, 'manage', opts);
  }
  /** manageable -> available (cleaning, if enabled, runs on the way). */
  provide(node: string, opts: VerbOptions = {}): Promise<IronicNode> {
    return this.verb(node, 'provide', opts);
  }
  /** manageable -> inspecting -> manageable. */
  inspect(node: string, opts: VerbOptions = {}): Promise<IronicNode> {
    return this.verb(node, 'inspect', opts);
  }
  /** available -> deploying -> active (target "active"). */
  deploy(node: string, opts: VerbOptions & { configdrive?: ConfigDrive } = {}): Promise<IronicNode> {
    return this.verb(node, 'active', opts, opts.configdrive !== undefined ? { configdrive: opts.configdrive } : {});
  }
  /** active -> deploying -> active. */
  rebuild(node: string, opts: VerbOptions & { configdrive?: ConfigDrive } = {}): Promise<IronicNode> {
    return this.verb(node, 'rebuild', opts, opts.configdrive !== undefined ? { configdrive: opts.configdrive } : {});
  }
  /** active / deploy failed -> deleting -> available (target "deleted"). */
  undeploy(node: string, opts: VerbOptions = {}): Promise<IronicNode> {
    return this.verb(node, 'deleted', opts);
  }
  /**
   * Stops a waiting operation (inspect wait, clean wait, ...); Ironic moves
   * the node to that operation's failed state. Resolves once it settled.
   */
  async abort(node: string, opts: VerbOptions = {}): Promise<IronicNode> {
    await this.setProvisionState(node, 'abort', {}, opts.signal);
    if (opts.wait === false) return this.getNode(node, opts.signal);
    return this.waitSettled(node, opts);
  }

  // ------------------------------------------------------- power and boot

  /** PUT .../states/power; waits for the power state unless wait is false. */
  async setPower(node: string, target: PowerTarget, opts: VerbOptions & { timeoutSec?: number } = {}): Promise<IronicNode> {
    const body: Record<string, unknown> = { target };
    if (opts.timeoutSec !== undefined) body.timeout = opts.timeoutSec;
    await this.request<void>('PUT', `/v1/nodes/${IronicClient.id(node)}/states/power`, body, opts.signal);
    if (opts.wait === false) return this.getNode(node, opts.signal);
    const want = target === 'power off' || target === 'soft power off' ? 'power off' : 'power on';
    return this.waitPower(node, want, opts);
  }
  powerOn(node: string, opts: VerbOptions = {}): Promise<IronicNode> {
    return this.setPower(node, 'power on', opts);
  }
  powerOff(node: string, opts: VerbOptions = {}): Promise<IronicNode> {
    return this.setPower(node, 'power off', opts);
  }

  async setBootDevice(node: string, device: BootDeviceName, persistent = false, signal?: AbortSignal): Promise<void> {
    await this.request<void>('PUT', `/v1/nodes/${IronicClient.id(node)}/management/boot_device`, { boot_device: device, persistent }, signal);
  }

  async supportedBootDevices(node: string, signal?: AbortSignal): Promise<BootDeviceName[]> {
    const r = await this.request<{ supported_boot_devices: BootDeviceName[] }>('GET', `/v1/nodes/${IronicClient.id(node)}/management/boot_device/supported`, undefined, signal);
    return r.supported_boot_devices ?? [];
  }

  getBootDevice(node: string, signal?: AbortSignal): Promise<BootDeviceInfo> {
    return this.request<BootDeviceInfo>('GET', `/v1/nodes/${IronicClient.id(node)}/management/boot_device`, undefined, signal);
  }

  // --------------------------------------------------------------- waits

  /** The node's state fields; the polls of concurrent waits share one list request (poll-batch.ts). */
  private poll(node: string, signal?: AbortSignal): Promise<IronicNode> {
    return this.polls.poll(node, signal);
  }

  /**
   * Polls until the node rests in one of `want` (no transition pending).
   * A node that lands in a failed state, or comes to rest anywhere else
   * (e.g. manage falling back to enroll on a wrong BMC password), throws
   * IronicNodeFailed with Ironic's last_error; running out of time throws
   * IronicTimeout naming the node, the target and where it is.
   */
  async waitProvision(node: string, want: ProvisionState | ProvisionState[], opts: WaitOptions & { label?: string } = {}): Promise<IronicNode> {
    const wanted = Array.isArray(want) ? want : [want];
    const label = opts.label ? `${opts.label} (-> ${wanted.join('|')})` : wanted.join('|');
    let restingElsewhere = 0;
    return this.pollUntil(node, label, opts, (n) => {
      if (wanted.includes(n.provision_state) && !n.target_provision_state) return true;
      if (isFailed(n.provision_state)) throw new IronicNodeFailed(n.name ?? node, opts.label ?? wanted.join('|'), n.provision_state ?? 'null', n.last_error);
      // A verb Ironic accepted has set target_provision_state before its 202; resting
      // elsewhere for a few polls means it ended there.
      if (!n.target_provision_state) {
        restingElsewhere += 1;
        if (restingElsewhere >= 3) throw new IronicNodeFailed(n.name ?? node, opts.label ?? wanted.join('|'), n.provision_state ?? 'available', n.last_error);
      } else restingElsewhere = 0;
      return false;
    });
  }

  /**
   * Polls until no provision transition is pending; returns wherever the
   * node rests. A failed state counts as rest although Ironic keeps the
   * target there (measured: "clean failed" with target "manageable").
   */
  async waitSettled(node: string, opts: WaitOptions = {}): Promise<IronicNode> {
    return this.pollUntil(node, 'the end of the running operation', opts, (n) => !n.target_provision_state || isFailed(n.provision_state));
  }

  /** Polls until power_state is `want` with no power change pending. */
  async waitPower(node: string, want: 'power on' | 'power off', opts: WaitOptions = {}): Promise<IronicNode> {
    let resting = 0;
    return this.pollUntil(node, want, opts, (n) => {
      if (n.power_state === want && !n.target_power_state) return true;
      if (!n.target_power_state && (n.power_state === 'error' || n.last_error)) {
        resting += 1;
        if (resting >= 3) throw new IronicNodeFailed(n.name ?? node, want, n.power_state ?? 'unknown power', n.last_error);
      } else resting = 0;
      return false;
    });
  }

  /**
   * Polls until `done` says so (it may throw to fail the wait); for
   * transient states such as "clean wait" or "wait call-back", which keep a
   * target. Times out with IronicTimeout.
   */
  waitFor(node: string, label: string, done: (n: IronicNode) => boolean, opts: WaitOptions = {}): Promise<IronicNode> {
    return this.pollUntil(node, label, opts, done);
  }

  private async pollUntil(node: string, label: string, opts: WaitOptions, done: (n: IronicNode) => boolean): Promise<IronicNode> {
    const timeout = opts.timeoutMs ?? DEFAULT_WAIT_MS;
    const t0 = Date.now();
    const every = opts.pollMs ?? this.pollMs;
    let last: IronicNode | undefined;
    for (;;) {
      opts.signal?.throwIfAborted();
      const n = await this.poll(node, opts.signal);
      if (opts.onChange && (!last || last.provision_state !== n.provision_state || last.power_state !== n.power_state || last.target_provision_state !== n.target_provision_state)) {
        try {
          opts.onChange({ ...n, name: n.name ?? null });
        } catch {
          /* a failing observer must not end the wait */
        }
      }
      last = n;
      if (done(n)) return this.getNode(node, opts.signal);
      if (Date.now() - t0 + every > timeout) {
        const where = `${n.provision_state ?? 'available'}${n.target_provision_state ? ` (target ${n.target_provision_state})` : ''}, ${n.power_state ?? 'power unknown'}`;
        throw new IronicTimeout(n.name ?? node, label, where, Date.now() - t0, n.last_error);
      }
      await abortableSleep(every, opts.signal);
    }
  }
}
