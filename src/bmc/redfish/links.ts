/**
 * Links a Redfish service sends (`@odata.id`, action `target`, the Location
 * header of a new session; DSP0266 "Resource URI" and "Location header"),
 * checked before they are followed. A link that is present but not a URI on
 * this same service is an error naming the JSON path of the field and the
 * value received; a missing link is simply absent. Following a link to
 * another host would send it this BMC's credentials, so that is refused too.
 */
import { isObject, type Json } from './model.js';

/** A field of a BMC's answer that kseed cannot use: where it was, and what it held. */
export class BadField extends Error {
  constructor(
    /** JSON path of the field (`Links.Sessions["@odata.id"]`) or the header's name. */
    readonly field: string,
    readonly value: unknown,
    why: string,
  ) {
    super(`${field} ${why}: ${quoteValue(value)}`);
    this.name = 'BadField';
  }
}

/** The value as JSON, cut to `max` characters: enough to recognise, never a whole document. */
export function quoteValue(v: unknown, max = 80): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > max ? `${s.slice(0, max)}... (${s.length} characters)` : s;
}

/** `['Links', 'ManagedBy', 0, '@odata.id']` -> `Links.ManagedBy[0]["@odata.id"]`. */
export function jsonPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(p)) out += out ? `.${p}` : p;
    else out += `[${JSON.stringify(p)}]`;
  }
  return out;
}

/** A link's value as a path (and query) on `origin`, or BadField. */
export function servicePath(value: unknown, field: string, origin: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new BadField(field, value, 'is not a URI');
  let u: URL;
  try {
    u = new URL(value, `${origin}/`);
  } catch {
    throw new BadField(field, value, 'is not a valid URI');
  }
  if (u.origin !== new URL(origin).origin) throw new BadField(field, value, `points away from this BMC (${origin})`);
  return u.pathname + u.search;
}

/**
 * The link at `path` inside `resource` (the last element normally
 * `@odata.id`): undefined when any part is absent, BadField when it is
 * there but unusable.
 */
export function linkAt(resource: unknown, path: readonly (string | number)[], origin: string): string | undefined {
  let v: unknown = resource;
  for (const p of path) {
    if (typeof p === 'number' ? !Array.isArray(v) : !isObject(v)) return undefined;
    v = (v as Record<string | number, unknown>)[p];
    if (v === undefined || v === null) return undefined;
  }
  return servicePath(v, jsonPath(path), origin);
}

/** Member links of a collection; undefined when it is not one, BadField for a member that is not a link. */
export function memberLinks(collection: Json, origin: string): string[] | undefined {
  if (!Array.isArray(collection.Members)) return undefined;
  return collection.Members.map((m, i) => {
    const p = linkAt(collection, ['Members', i, '@odata.id'], origin);
    if (p === undefined) throw new BadField(jsonPath(['Members', i]), m, 'has no @odata.id');
    return p;
  });
}
