/**
 * The hand-off's Handlebars environment (templates/handoff/*.hbs). Values
 * go through `json`, whose output is also a valid YAML scalar, so a name or
 * path can never break the file's structure; INI values are quoted by the
 * caller (see kolla.ts iniValue).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';

export const TEMPLATE_DIR = fileURLToPath(new URL('../../templates/handoff/', import.meta.url));

const hb = Handlebars.create();
hb.registerHelper('json', (v: unknown) => new hb.SafeString(JSON.stringify(v ?? null)));
hb.registerHelper('yesno', (v: unknown) => new hb.SafeString(v ? '"yes"' : '"no"'));

const cache = new Map<string, Handlebars.TemplateDelegate>();

export function render(name: string, data: unknown): string {
  let t = cache.get(name);
  if (!t) {
    t = hb.compile(readFileSync(`${TEMPLATE_DIR}${name}`, 'utf8'), { noEscape: true, strict: true });
    cache.set(name, t);
  }
  return t(data);
}
