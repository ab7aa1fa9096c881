/**
 * The CLI's side of the API: with KSEED_URL set a command talks to that seed
 * service (on another machine, for a CI runner) with KSEED_TOKEN; on the
 * seed itself, to the service its run file names, with the token the service
 * keeps for it (cli-token.ts). The service's refusal comes back as the same
 * error, and exit code, the command would have given working on the store
 * itself.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { InputError, KseedError } from '../errors.js';
import { API_PREFIX } from './api.js';
import { CLI_TOKEN_NAME, cliTokenFileOf, readCliToken } from './cli-token.js';
import { runFileOf } from './serve.js';

export interface ApiTarget {
  url: string;
  token: string;
  /** PEM of the CA that signed an https service's certificate (KSEED_CA names its file). */
  ca?: string;
}

/** KSEED_URL and KSEED_TOKEN (and KSEED_CA for https), when KSEED_URL is set. */
export function apiTargetFromEnv(env: NodeJS.ProcessEnv = process.env): ApiTarget | undefined {
  const url = env.KSEED_URL?.trim();
  if (!url) return undefined;
  const token = env.KSEED_TOKEN?.trim();
  if (!token) throw new InputError('KSEED_URL is set but KSEED_TOKEN is not: give the token `kseed token create NAME` printed', [], { code: 'no-token' });
  const caFile = env.KSEED_CA?.trim();
  let ca: string | undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new InputError(`KSEED_CA ${caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (the seed's .kseed/secrets/api-ca.crt)`, [], { code: 'bad-ca' });
    }
  }
  return { url: url.replace(/\/+$/, ''), token, ...(ca ? { ca } : {}) };
}

export interface HttpAnswer {
  status: number;
  retryAfter: string | undefined;
  text: string;
}

/**
 * One HTTP(S) request with node:http(s), not fetch: Node 20's fetch cannot be
 * given a CA, and the service's certificate is signed by kseed's own.
 */
export function httpCall(url: string, o: { method: string; headers?: Record<string, string>; body?: string; ca?: string; timeoutMs: number }): Promise<HttpAnswer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { method: o.method, headers: o.headers ?? {}, ...(o.ca ? { ca: o.ca } : {}), timeout: o.timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(o.body);
  });
}

/** How long the CLI keeps asking a busy service (503 with Retry-After) before it gives up with its answer. */
const BUSY_PATIENCE_MS = 30_000;

export async function callApi<T>(t: ApiTarget, method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
  const where = `${t.url}${API_PREFIX}${route}`;
  const t0 = Date.now();
  let res: HttpAnswer;
  for (;;) {
    try {
      res = await httpCall(where, {
        method,
        headers: { authorization: `Bearer ${t.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(t.ca ? { ca: t.ca } : {}),
        timeoutMs: 30_000,
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // a certificate kseed's CA did not sign (or no KSEED_CA given) says which, and the cure
      const tls = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(e.code ?? '') ? `: set KSEED_CA to the seed's .kseed/secrets/api-ca.crt` : '';
      throw new KseedError(`the seed service at ${t.url} does not answer (${e.code ?? e.message})${tls}`, { code: 'api-unreachable', cause: err });
    }
    // 503 + Retry-After: the service changed nothing (its store was busy); asking again is safe, also for a POST
    const after = res.retryAfter === undefined ? NaN : Number(res.retryAfter);
    if (res.status !== 503 || !Number.isFinite(after) || Date.now() - t0 > BUSY_PATIENCE_MS) break;
    await new Promise((r) => setTimeout(r, Math.min(Math.max(after, 0.1), 10) * 1000));
  }
  const { text } = res;
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new KseedError(`${method} ${where}: HTTP ${res.status} with a body that is not JSON`, { code: 'api-bad-answer', detail: text.slice(0, 500) });
  }
  if (res.status >= 200 && res.status < 300) return doc as T;
  const message = typeof doc.message === 'string' ? doc.message : `HTTP ${res.status}`;
  const code = typeof doc.error === 'string' ? doc.error : 'api-error';
  // a BMC's raw answer (502), shown with --verbose and in --json as on the store
  const detail = typeof doc.detail === 'string' ? { detail: doc.detail } : {};
  if (res.status === 400) throw new InputError(message, [], { code, ...detail });
  throw new KseedError(message, { code, ...detail });
}

export type ApiCall = <R>(method: 'GET' | 'POST', route: string, body?: unknown) => Promise<R>;

/** The service this seed's run file records (.kseed/run/api.json), with the token it keeps for the CLI. */
export function recordedService(stateDir: string): (ApiTarget & { pid: number; site?: string }) | undefined {
  let run: { pid?: unknown; url?: unknown; ca?: unknown; site?: unknown };
  try {
    run = JSON.parse(readFileSync(runFileOf(stateDir), 'utf8')) as typeof run;
  } catch {
    return undefined;
  }
  if (typeof run.url !== 'string' || typeof run.pid !== 'number') return undefined;
  const token = readCliToken(stateDir);
  // the service writes the token before its run file: a run file without one is a service too old to have it
  if (!token) throw new KseedError(`the seed service (pid ${run.pid}, ${run.url}) left no CLI token in ${cliTokenFileOf(stateDir)}: restart it (kseed down; kseed up)`, { code: 'no-cli-token' });
  let ca: string | undefined;
  if (typeof run.ca === 'string') {
    try {
      ca = readFileSync(run.ca, 'utf8');
    } catch (err) {
      throw new KseedError(`the seed service's CA ${run.ca}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { code: 'bad-ca' });
    }
  }
  return { url: run.url.replace(/\/+$/, ''), token, pid: run.pid, ...(ca ? { ca } : {}), ...(typeof run.site === 'string' ? { site: run.site } : {}) };
}

/** Whether the call failed because nothing listens there any more (not a refusal, a timeout or a TLS problem). */
const refused = (err: unknown) => err instanceof KseedError && err.code === 'api-unreachable' && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ECONNREFUSED';

/**
 * A command's work through the seed service when one runs, else on the store
 * (`direct`): KSEED_URL first (a refusal of that one is an error: it was asked
 * for), then the service the seed's run file records. A recorded service that
 * refuses connections is gone (killed, or stopping): `warn` says so and the
 * store is read directly. With `site` (the verbs), only a service that
 * runs that site file's verbs is asked. Any answer of the service, a 401 included, is its
 * answer, never a reason to go around it.
 */
export async function viaService<T>(stateDir: string, viaApi: (call: ApiCall) => Promise<T>, direct: () => Promise<T> | T, warn: (line: string) => void, o: { site?: string } = {}): Promise<T> {
  const env = apiTargetFromEnv();
  if (env) return viaApi((method, route, body) => callApi(env, method, route, body));
  const rec = recordedService(stateDir);
  if (!rec) return direct();
  // a verb runs on the service's site file: a command given another one (beside it, sharing .kseed/) works on the store
  if (o.site !== undefined && (rec.site === undefined || path.resolve(rec.site) !== path.resolve(o.site))) return direct();
  try {
    return await viaApi((method, route, body) => callApi(rec, method, route, body));
  } catch (err) {
    if (!refused(err)) {
      if (err instanceof KseedError && /^(unknown-token|token-revoked)$/.test(err.code)) {
        throw new KseedError(`${err.message}: the seed service (pid ${rec.pid}) refuses the CLI's token ${CLI_TOKEN_NAME} (${cliTokenFileOf(stateDir)}); restarting the service (kseed down; kseed up) issues a new one`, { code: err.code });
      }
      throw err;
    }
    warn(`the seed service recorded in ${runFileOf(stateDir)} (pid ${rec.pid}, ${rec.url}) refuses connections: it is gone; using the state store directly`);
    return direct();
  }
}
