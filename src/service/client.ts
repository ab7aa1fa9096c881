/**
 * The CLI's side of the API: `kseed lease ...` with KSEED_URL set talks to a
 * seed service (on another machine, for a CI runner) with KSEED_TOKEN. The
 * service's refusal comes back as the same error, and exit code, the
 * command would have given working on the store itself.
 */
import { InputError, KseedError } from '../errors.js';
import { API_PREFIX } from './api.js';

export interface ApiTarget {
  url: string;
  token: string;
}

/** KSEED_URL and KSEED_TOKEN, when KSEED_URL is set. */
export function apiTargetFromEnv(env: NodeJS.ProcessEnv = process.env): ApiTarget | undefined {
  const url = env.KSEED_URL?.trim();
  if (!url) return undefined;
  const token = env.KSEED_TOKEN?.trim();
  if (!token) throw new InputError('KSEED_URL is set but KSEED_TOKEN is not: give the token `kseed token create NAME` printed', [], { code: 'no-token' });
  return { url: url.replace(/\/+$/, ''), token };
}

/** How long the CLI keeps asking a busy service (503 with Retry-After) before it gives up with its answer. */
const BUSY_PATIENCE_MS = 30_000;

export async function callApi<T>(t: ApiTarget, method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
  const where = `${t.url}${API_PREFIX}${route}`;
  const t0 = Date.now();
  let res: Response;
  for (;;) {
    try {
      res = await fetch(where, {
        method,
        headers: { authorization: `Bearer ${t.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new KseedError(`the seed service at ${t.url} does not answer (${cause})`, { code: 'api-unreachable' });
    }
    // 503 + Retry-After: the service changed nothing (its store was busy); asking again is safe, also for a POST
    const header = res.headers.get('retry-after');
    const after = header === null ? NaN : Number(header);
    if (res.status !== 503 || !Number.isFinite(after) || Date.now() - t0 > BUSY_PATIENCE_MS) break;
    await res.arrayBuffer();
    await new Promise((r) => setTimeout(r, Math.min(Math.max(after, 0.1), 10) * 1000));
  }
  const text = await res.text();
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new KseedError(`${method} ${where}: HTTP ${res.status} with a body that is not JSON`, { code: 'api-bad-answer', detail: text.slice(0, 500) });
  }
  if (res.ok) return doc as T;
  const message = typeof doc.message === 'string' ? doc.message : `HTTP ${res.status}`;
  const code = typeof doc.error === 'string' ? doc.error : 'api-error';
  if (res.status === 400) throw new InputError(message, [], { code });
  throw new KseedError(message, { code });
}
