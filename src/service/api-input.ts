/**
 * What the seed service accepts, checked before anything is touched: a
 * body is JSON, an object, within the size limit, with known fields of the
 * right types; a query has known parameters; a duration is `90s`, `30m`,
 * `2h`, `1d` or a sum like `1h30m`. Every refusal is an ApiError with the
 * HTTP status and a message naming the problem.
 */
import { InputError } from '../errors.js';

/** Request bodies are a few fields: 64 KiB is generous and keeps a flood out of memory. */
export const MAX_BODY_BYTES = 64 * 1024;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds the client should wait before asking again (a Retry-After header, RFC 9110 section 10.2.3). */
    readonly retryAfter?: number,
    /** The long form (a BMC's raw answer), as the CLI's --json shows it; never a secret. */
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export type FieldType = 'string' | 'integer' | 'number' | 'boolean' | 'string[]';
export type Fields = Record<string, { type: FieldType; required?: boolean }>;

function typeOk(v: unknown, t: FieldType): boolean {
  switch (t) {
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return Number.isSafeInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'string[]':
      return Array.isArray(v) && v.every((x) => typeof x === 'string');
  }
}

const article = (t: FieldType) => ({ string: 'a string', integer: 'a whole number', number: 'a number', boolean: 'true or false', 'string[]': 'a list of strings' })[t];

/** The body as an object of `fields`; an empty body is `{}`. */
export function parseBody(raw: Buffer | string, fields: Fields): Record<string, unknown> {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  let v: unknown = {};
  if (text.trim()) {
    try {
      v = JSON.parse(text);
    } catch (err) {
      throw new ApiError(400, 'invalid-json', `invalid JSON in the request body: ${(err as Error).message}`);
    }
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ApiError(400, 'invalid-body', 'the request body must be a JSON object');
  const o = v as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !Object.hasOwn(fields, k));
  if (unknown.length) {
    throw new ApiError(400, 'unknown-field', `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; known: ${Object.keys(fields).join(', ') || 'none'}`);
  }
  for (const [k, f] of Object.entries(fields)) {
    if (o[k] === undefined) {
      if (f.required) throw new ApiError(400, 'missing-field', `field "${k}" is required`);
      continue;
    }
    if (!typeOk(o[k], f.type)) throw new ApiError(400, 'bad-field', `field "${k}" must be ${article(f.type)}`);
  }
  return o;
}

/** The query's parameters, only the known ones; a repeated or unknown one is refused. */
export function parseQuery(params: URLSearchParams, known: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of params) {
    if (!known.includes(k)) throw new ApiError(400, 'unknown-parameter', `unknown query parameter "${k}"; known: ${known.join(', ') || 'none'}`);
    if (Object.hasOwn(out, k)) throw new ApiError(400, 'bad-parameter', `query parameter "${k}" is given twice`);
    out[k] = v;
  }
  return out;
}

/** A whole number in [min, max] from a query parameter. */
export function intParam(name: string, v: string | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new ApiError(400, 'bad-parameter', `query parameter "${name}" must be a whole number from ${min} to ${max}`);
  return n;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 };

/** `90s`, `30m`, `2h`, `1d`, `1h30m` in ms; InputError naming the text otherwise. */
export function parseDuration(text: string, what = 'duration'): number {
  const t = text.trim();
  const parts = [...t.matchAll(/(\d+)([smhd])/g)];
  if (!t || parts.map((p) => p[0]).join('') !== t) {
    throw new InputError(`${what} "${text}" is not a duration: use a number with s, m, h or d, like 90s, 30m, 2h, 1h30m`, [], { code: 'bad-duration' });
  }
  return parts.reduce((ms, p) => ms + Number(p[1]) * UNIT_MS[p[2]!]!, 0);
}
