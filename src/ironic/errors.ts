/**
 * Typed errors of the Ironic client. Messages name the request (method and
 * path, never the body: bodies carry BMC passwords) and Ironic's own
 * faultstring, which is what an operator needs to act.
 */
import { KseedError } from '../errors.js';
import type { ProvisionState } from './types.js';

/** Ironic answered with an HTTP error (or could not be reached). */
export class IronicError extends KseedError {
  /** HTTP status; 0 when no answer came (connection refused, timeout). */
  readonly status: number;
  /** Ironic's faultstring / error message, when it gave one. */
  readonly faultstring: string | undefined;
  readonly method: string;
  readonly path: string;
  constructor(method: string, path: string, status: number, faultstring: string | undefined, opts: { message?: string; detail?: string; cause?: unknown; code?: string } = {}) {
    const what = `Ironic ${method} ${path}`;
    const msg = opts.message ?? (status ? `${what}: HTTP ${status}${faultstring ? `: ${faultstring}` : ''}` : `${what}: ${faultstring ?? 'no answer'}`);
    super(msg, { code: opts.code ?? (status ? `ironic-http-${status}` : 'ironic-unreachable'), detail: opts.detail, cause: opts.cause });
    this.name = 'IronicError';
    this.status = status;
    this.faultstring = faultstring;
    this.method = method;
    this.path = path;
  }
  get notFound(): boolean {
    return this.status === 404;
  }
  get unauthorized(): boolean {
    return this.status === 401;
  }
  /** 409: the node is locked by a running task (retryable) or the name exists. */
  get conflict(): boolean {
    return this.status === 409;
  }
}

/** The API version kseed speaks is outside what this Ironic serves. */
export class IronicVersionError extends KseedError {
  constructor(
    readonly wanted: string,
    readonly min: string | undefined,
    readonly max: string | undefined,
    detail?: string,
  ) {
    super(
      min && max
        ? `Ironic serves API versions ${min}..${max}; kseed needs ${wanted} (upgrade Ironic, or use kseed's own image)`
        : `Ironic refused API version ${wanted}`,
      { code: 'ironic-version', detail },
    );
    this.name = 'IronicVersionError';
  }
}

/** A node ended in a failed state (or back where it started) instead of the target. */
export class IronicNodeFailed extends KseedError {
  constructor(
    readonly node: string,
    readonly target: string,
    readonly state: ProvisionState | string,
    readonly lastError: string | null,
  ) {
    super(`node ${node}: ${target} failed, it is ${state ?? 'available'}${lastError ? `: ${lastError}` : ''}`, { code: 'ironic-node-failed' });
    this.name = 'IronicNodeFailed';
  }
}

/**
 * Ironic failed a step because the conductor holding the node went offline
 * mid-step ([conductor]heartbeat_timeout) and another took the node over
 * (_check_orphan_nodes, conductor/utils.py abort_on_conductor_take_over).
 */
export function isTakeoverAbort(err: unknown): err is IronicNodeFailed {
  return err instanceof IronicNodeFailed && /aborted due to conductor take over/i.test(err.lastError ?? '');
}

/** A wait ran out of time: names the node, what it waited for and where the node is. */
export class IronicTimeout extends KseedError {
  constructor(
    readonly node: string,
    readonly target: string,
    readonly state: string,
    readonly ms: number,
    readonly lastError: string | null,
  ) {
    super(
      `node ${node}: timed out after ${Math.round(ms / 1000)} s waiting for ${target}; it is ${state}${lastError ? ` (last_error: ${lastError})` : ''}`,
      { code: 'ironic-timeout' },
    );
    this.name = 'IronicTimeout';
  }
}

/**
 * Ironic's error bodies come in three shapes (measured on 21.4):
 * - `{"error_message": "<JSON string with faultstring>"}` (WSME API errors),
 * - `{"error_message": {"faultstring": ...}}`,
 * - `{"error": {"message": "...", "code": 401}}` (the http_basic middleware);
 * a version refusal (406) has `description` inside the JSON string.
 */
export function faultOf(body: string): string | undefined {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    const t = body.trim();
    return t ? t.slice(0, 500) : undefined;
  }
  const pick = (o: unknown): string | undefined => {
    if (typeof o === 'string') {
      try {
        return pick(JSON.parse(o)) ?? o;
      } catch {
        return o;
      }
    }
    if (!o || typeof o !== 'object') return undefined;
    const r = o as Record<string, unknown>;
    for (const k of ['faultstring', 'description', 'message', 'title']) {
      if (typeof r[k] === 'string' && r[k]) return r[k] as string;
    }
    for (const k of ['error_message', 'error']) {
      if (r[k] !== undefined) return pick(r[k]);
    }
    return undefined;
  };
  return pick(v);
}
