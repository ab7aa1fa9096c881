/**
 * HTTP transport for one Redfish service (DSP0266): one undici Agent per BMC
 * so that TLS trust is decided per BMC, deadline-bounded requests, retries
 * with backoff for idempotent GETs, and every failure turned into a BmcError
 * whose text can never contain the credentials.
 */
import { Agent, request } from 'undici';
import { BmcError } from '../errors.js';
import type { BmcErrorKind } from '../types.js';

export interface HttpOptions {
  /** `https://host:port`, no trailing slash. */
  origin: string;
  /** `address:port`, the name used in errors. */
  label: string;
  insecureTls: boolean;
  /** Upper bound for one request; each request also stops at the operation deadline. */
  requestTimeoutMs: number;
  /** Extra attempts for idempotent GETs after a timeout, a socket error or a 5xx. */
  retries: number;
  /** Strings that must never reach an error message (password, basic token). */
  secrets: string[];
}

export interface RfResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body, or undefined when the body was empty. */
  body: unknown;
}

export interface RfRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  /** Absolute ms timestamp after which the operation has failed. */
  deadline: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** false for the service root and the session login. */
  auth?: boolean;
}

// A BMC answering with megabytes is broken or hostile; stop reading early.
const MAX_BODY = 8 * 1024 * 1024;

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class RedfishHttp {
  readonly agent: Agent;
  /** Authorization or X-Auth-Token header once logged in. */
  authHeader: [string, string] | undefined;
  private readonly opts: HttpOptions;

  constructor(opts: HttpOptions) {
    this.opts = opts;
    this.agent = new Agent({
      connect: {
        // Verification stays on unless this very BMC was declared self-signed.
        rejectUnauthorized: !opts.insecureTls,
        timeout: opts.requestTimeoutMs,
      },
      headersTimeout: opts.requestTimeoutMs,
      bodyTimeout: opts.requestTimeoutMs,
      keepAliveTimeout: 10_000,
      connections: 4,
    });
  }

  get label(): string {
    return this.opts.label;
  }

  /** Remove anything secret from text that came from the BMC or the network stack. */
  scrub(text: string): string {
    let out = text;
    for (const s of this.opts.secrets) if (s.length > 0) out = out.split(s).join('***');
    return out;
  }

  fail(kind: BmcErrorKind, message: string, detail?: string, cause?: unknown): BmcError {
    return new BmcError(kind, this.opts.label, this.scrub(message), {
      detail: detail === undefined ? undefined : this.scrub(detail),
      // The cause is kept only when it cannot carry request data (headers, body).
      cause: cause instanceof Error ? new Error(this.scrub(`${cause.name}: ${cause.message}`)) : undefined,
    });
  }

  /** One request; GETs are retried with backoff while the deadline allows. */
  async send(req: RfRequest): Promise<RfResponse> {
    const attempts = req.method === 'GET' ? this.opts.retries + 1 : 1;
    let backoff = 200;
    for (let i = 1; ; i++) {
      try {
        const res = await this.once(req);
        if (res.status >= 500 && i < attempts && this.timeLeft(req.deadline) > backoff) {
          await sleep(backoff);
          backoff *= 2;
          continue;
        }
        return res;
      } catch (err) {
        const retryable = err instanceof BmcError && (err.kind === 'timeout' || err.kind === 'network') && !isTlsTrust(err);
        if (!retryable || i >= attempts || this.timeLeft(req.deadline) <= backoff) throw err;
        await sleep(backoff);
        backoff *= 2;
      }
    }
  }

  private timeLeft(deadline: number): number {
    return deadline - Date.now();
  }

  private async once(req: RfRequest): Promise<RfResponse> {
    const left = this.timeLeft(req.deadline);
    const what = `${req.method} ${req.path}`;
    if (left <= 0) throw this.fail('timeout', `no answer within the time budget (${what})`);
    const timeoutMs = Math.min(this.opts.requestTimeoutMs, left);
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort();
    }, timeoutMs);
    const headers: Record<string, string> = { accept: 'application/json', 'odata-version': '4.0', ...req.headers };
    if (req.auth !== false && this.authHeader) headers[this.authHeader[0]] = this.authHeader[1];
    let payload: string | undefined;
    if (req.body !== undefined) {
      payload = JSON.stringify(req.body);
      headers['content-type'] = 'application/json';
    }
    try {
      const res = await request(this.opts.origin + req.path, {
        method: req.method,
        headers,
        body: payload,
        dispatcher: this.agent,
        signal: ctl.signal,
      });
      let size = 0;
      const chunks: Buffer[] = [];
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > MAX_BODY) {
          ctl.abort();
          throw this.fail('protocol', `answer to ${what} is larger than ${MAX_BODY} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      if (text.trim().length > 0) {
        try {
          body = JSON.parse(text);
        } catch {
          // Error pages from proxies are HTML; only a 2xx must be JSON.
          if (res.statusCode >= 200 && res.statusCode < 300) {
            throw this.fail('protocol', `malformed JSON in the answer to ${what}`, text.slice(0, 500));
          }
          body = text.slice(0, 500);
        }
      }
      return { status: res.statusCode, headers: res.headers, body };
    } catch (err) {
      if (err instanceof BmcError) throw err;
      throw this.netError(err, what, timedOut, timeoutMs);
    } finally {
      clearTimeout(timer);
    }
  }

  private netError(err: unknown, what: string, timedOut: boolean, timeoutMs: number): BmcError {
    const code = errorCode(err);
    if (timedOut || (code !== undefined && TIMEOUT_CODES.has(code))) {
      return this.fail('timeout', `no answer within ${timeoutMs} ms (${what})`, undefined, err);
    }
    if (code !== undefined && TLS_CODES.has(code)) {
      const e = this.fail(
        'network',
        `TLS certificate not trusted (${code}); set insecure_tls for this BMC only if it uses a self-signed certificate`,
        undefined,
        err,
      );
      (e as BmcError & { tlsTrust?: boolean }).tlsTrust = true;
      return e;
    }
    if (code !== undefined && code.startsWith('ERR_SSL')) {
      return this.fail('network', `TLS handshake failed (${code}); is this an HTTPS port?`, undefined, err);
    }
    if (code === 'HPE_INVALID_CONSTANT' || (err instanceof Error && err.name === 'HTTPParserError')) {
      return this.fail('protocol', `not an HTTP answer to ${what}`, undefined, err);
    }
    const reason = code ?? (err instanceof Error ? err.message : String(err));
    return this.fail('network', `${what} failed: ${reason}`, undefined, err);
  }

  async close(): Promise<void> {
    // destroy, not close: a BMC that never answered must not keep us waiting.
    await this.agent.destroy().catch(() => undefined);
  }
}

function isTlsTrust(err: BmcError): boolean {
  return (err as BmcError & { tlsTrust?: boolean }).tlsTrust === true;
}

/** The first `code` along the cause chain (undici wraps socket errors). */
export function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === 'string' && c !== 'UND_ERR_SOCKET' && c !== 'UND_ERR_ABORTED') return c;
    e = (e as { cause?: unknown }).cause;
  }
  const top = (err as { code?: unknown } | undefined)?.code;
  return typeof top === 'string' ? top : undefined;
}

/**
 * The text of a Redfish error response (DSP0266 "Error responses"):
 * `error.message` plus each `@Message.ExtendedInfo[].Message`.
 */
export function redfishErrorMessage(body: unknown): string | undefined {
  if (typeof body === 'string') return body.trim() || undefined;
  if (!body || typeof body !== 'object') return undefined;
  const err = (body as { error?: unknown }).error;
  const parts: string[] = [];
  const collect = (o: unknown) => {
    if (!o || typeof o !== 'object') return;
    const msg = (o as { message?: unknown }).message;
    if (typeof msg === 'string' && msg.trim()) parts.push(msg.trim());
    const ext = (o as Record<string, unknown>)['@Message.ExtendedInfo'];
    if (Array.isArray(ext)) {
      for (const x of ext) {
        const m = (x as { Message?: unknown } | null)?.Message;
        if (typeof m === 'string' && m.trim() && !parts.includes(m.trim())) parts.push(m.trim());
      }
    }
  };
  collect(err);
  if (parts.length === 0) collect(body);
  return parts.length ? parts.join('; ') : undefined;
}

export function header(res: RfResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
