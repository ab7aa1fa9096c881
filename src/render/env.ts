/**
 * The Handlebars environment every kseed template renders with. Config files
 * are not HTML, so nothing is escaped; values that land in YAML or JSON go
 * through `json`, which quotes them safely (JSON is a subset of YAML).
 */
import Handlebars from 'handlebars';

export type HandlebarsEnv = typeof Handlebars;

/** Keys sorted recursively, so `json` output never depends on insertion order. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value as Record<string, unknown>).sort()) out[k] = sortKeys((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

/** Handlebars passes its options hash as the last argument; strip it. */
function args(a: unknown[]): unknown[] {
  return a.slice(0, -1);
}

export function createEnv(): HandlebarsEnv {
  const hb = Handlebars.create();
  hb.registerHelper('json', (value: unknown) => new hb.SafeString(JSON.stringify(sortKeys(value)) ?? 'null'));
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('ne', (a: unknown, b: unknown) => a !== b);
  hb.registerHelper('and', (...a: unknown[]) => args(a).every(Boolean));
  hb.registerHelper('or', (...a: unknown[]) => args(a).some(Boolean));
  hb.registerHelper('not', (a: unknown) => !a);
  hb.registerHelper('concat', (...a: unknown[]) => args(a).map(String).join(''));
  hb.registerHelper('join', (list: unknown, sep: unknown) =>
    Array.isArray(list) ? list.map(String).join(typeof sep === 'string' ? sep : ',') : '',
  );
  // `{{indent 4 text}}` indents every line but the first (the template places the first).
  hb.registerHelper('indent', (n: unknown, text: unknown) => {
    const pad = ' '.repeat(Number(n) || 0);
    return String(text ?? '')
      .split('\n')
      .map((line, i) => (i === 0 || line === '' ? line : pad + line))
      .join('\n');
  });
  // /proc/net/{tcp,udp} print ports as 4 upper-case hex digits; healthchecks grep for them.
  hb.registerHelper('hexport', (port: unknown) => Number(port).toString(16).toUpperCase().padStart(4, '0'));
  // ...and IPv4 addresses as the in-memory u32, i.e. bytes reversed on the
  // little-endian hosts Docker runs on (x86-64, arm64): 10.77.0.1 -> 01004D0A.
  hb.registerHelper('hexaddr', (ip: unknown) =>
    String(ip)
      .split('.')
      .reverse()
      .map((b) => Number(b).toString(16).toUpperCase().padStart(2, '0'))
      .join(''),
  );
  return hb;
}
