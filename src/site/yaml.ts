/**
 * YAML files with positions: parse with yaml's Document API so every
 * problem (syntax, schema, cross-field) names file:line:col and a field
 * path like `nodes[2].macs[0]`. Shared by the site file and the hardware
 * profiles so both report errors the same way.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node as YNode } from '../util/vendor/yaml.js';
import type { z } from '../util/vendor/zod.js';
import type { Problem } from '../errors.js';
import { suggest } from './schema.js';

export type Path = readonly (string | number)[];

export interface YamlFile {
  /** Absolute path. */
  file: string;
  /** What problems print: relative to the working directory when inside it. */
  shown: string;
  doc?: Document;
  lines: LineCounter;
  /** Plain data; undefined when the file could not be parsed. */
  data: unknown;
}

export function shownPath(file: string): string {
  const abs = path.resolve(file);
  const rel = path.relative(process.cwd(), abs);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : abs;
}

const FRIENDLY: Record<string, string> = {
  TAB_AS_INDENT: 'tabs are not allowed as indentation in YAML: indent with spaces',
  DUPLICATE_KEY: 'this key appears twice in the same mapping',
};

/**
 * Reads and parses one YAML file. Syntax errors come back as problems (all
 * of them); `data` is set only when the document parsed cleanly.
 */
export async function readYaml(file: string, what: string): Promise<{ y: YamlFile; problems: Problem[] }> {
  const abs = path.resolve(file);
  const shown = shownPath(file);
  const lines = new LineCounter();
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const msg = code === 'ENOENT' ? `${what} not found` : code === 'EISDIR' ? `${what} is a directory` : `cannot read ${what} (${code ?? 'error'})`;
    return { y: { file: abs, shown, lines, data: undefined }, problems: [{ file: shown, message: msg }] };
  }
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, strict: true });
  const y: YamlFile = { file: abs, shown, doc, lines, data: undefined };
  // a tab in the indentation derails the parser: what follows it is noise
  const tabs = doc.errors.filter((e) => e.code === 'TAB_AS_INDENT');
  const errors = (tabs.length ? tabs : doc.errors).filter((e, i, all) => all.findIndex((o) => o.pos[0] === e.pos[0]) === i);
  const problems: Problem[] = errors.map((e) => {
    const { line, col } = lines.linePos(e.pos[0]);
    let message = FRIENDLY[e.code] ?? e.message;
    if (e.code === 'DUPLICATE_KEY') {
      const key = /^[^\s:#]+/.exec(text.slice(e.pos[0]));
      if (key) message = `duplicate key "${key[0]}" in the same mapping`;
    }
    return { file: shown, line, col, message: `YAML syntax: ${message}` };
  });
  if (problems.length) return { y, problems };
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    return { y, problems: [{ file: shown, line: 1, col: 1, message: `${what} is empty` }] };
  }
  const aliases: Problem[] = [];
  visit(doc, {
    Alias(_, node) {
      if (node.resolve(doc) === undefined && node.range) {
        const { line, col } = lines.linePos(node.range[0]);
        aliases.push({ file: shown, line, col, message: `YAML: alias *${node.source} has no anchor &${node.source} before it` });
      }
    },
  });
  if (aliases.length) return { y, problems: aliases };
  try {
    y.data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // e.g. an alias bomb (maxAliasCount)
    return { y, problems: [{ file: shown, line: 1, col: 1, message: `YAML: ${(err as Error).message}` }] };
  }
  return { y, problems: [] };
}

export function formatPath(p: Path): string {
  let s = '';
  for (const seg of p) {
    if (typeof seg === 'number') s += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) s += s ? `.${seg}` : seg;
    else s += `[${JSON.stringify(seg)}]`;
  }
  return s;
}

/** The YAML node at a path, or the deepest existing ancestor. */
function nodeAt(y: YamlFile, p: Path, atKey: boolean): YNode | undefined {
  let node: unknown = y.doc?.contents;
  let keyNode: unknown;
  for (const seg of p) {
    keyNode = undefined;
    if (isMap(node)) {
      const pair = node.items.find((it) => isPair(it) && (isScalar(it.key) ? it.key.value : it.key) === seg);
      if (!pair) return node;
      keyNode = pair.key;
      // `key:` with no value: point at the key
      if (pair.value === null || pair.value === undefined) return pair.key as YNode;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined || item === null) return node;
      node = item;
    } else {
      return node as YNode | undefined;
    }
  }
  return (atKey && keyNode ? keyNode : node) as YNode | undefined;
}

export function positionOf(y: YamlFile, p: Path, atKey = false): { line: number; col: number } {
  const n = nodeAt(y, p, atKey);
  const off = n?.range?.[0];
  return off === undefined ? { line: 1, col: 1 } : y.lines.linePos(off);
}

export function problemAt(y: YamlFile, p: Path, message: string, atKey = false): Problem {
  const { line, col } = positionOf(y, p, atKey);
  const out: Problem = { file: y.shown, line, col, message };
  if (p.length) out.path = formatPath(p);
  return out;
}

/** The plain value at a path in the parsed data. */
export function valueAt(data: unknown, p: Path): unknown {
  let v = data;
  for (const seg of p) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

export function describe(v: unknown): string {
  if (v === null) return 'empty';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Uint8Array) return 'binary data';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}`;
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'boolean') return String(v);
  return typeof v;
}

const NOUNS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
};

// Paths under these keys hold secrets: never echo their values.
const SECRET_KEYS = new Set(['password', 'kg']);
const isSecretPath = (p: Path) => p.some((s) => typeof s === 'string' && SECRET_KEYS.has(s));

type Issue = z.core.$ZodIssue;

/** Turns zod issues into positioned problems worded for people. */
export function zodProblems(y: YamlFile, schema: z.ZodType, issues: readonly Issue[], base: Path = []): Problem[] {
  const out: Problem[] = [];
  for (const iss of issues) {
    const p = [...base, ...(iss.path as (string | number)[])];
    const input = valueAt(y.data, p);
    const shown = isSecretPath(p) ? 'a value' : describe(input);
    switch (iss.code) {
      case 'invalid_type': {
        const noun = NOUNS[iss.expected] ?? iss.expected;
        if (input === undefined) out.push(problemAt(y, p, 'is required'));
        else out.push(problemAt(y, p, `must be ${noun}, not ${shown}`));
        break;
      }
      case 'unrecognized_keys': {
        const known = keysAt(schema, p);
        for (const k of iss.keys) {
          const guess = suggest(k, known);
          const hint = guess ? ` (did you mean "${guess}"?)` : known.length ? ` (known: ${known.join(', ')})` : '';
          out.push(problemAt(y, [...p, k], `unknown key "${k}"${hint}`, true));
        }
        break;
      }
      case 'invalid_value': {
        // a schema-specific message (e.g. roles) beats the generic one
        if (iss.message && !/^Invalid/.test(iss.message)) {
          out.push(problemAt(y, p, iss.message));
          break;
        }
        const values = iss.values.map(String);
        if (input === undefined) {
          out.push(problemAt(y, p, `is required: one of ${values.join(', ')}`));
          break;
        }
        const guess = typeof input === 'string' ? suggest(input, values) : undefined;
        if (typeof input !== 'string' || isSecretPath(p)) {
          out.push(problemAt(y, p, `must be one of ${values.join(', ')}, not ${shown}`));
          break;
        }
        out.push(problemAt(y, p, `${JSON.stringify(input)} is not one of ${values.join(', ')}${guess ? ` (did you mean "${guess}"?)` : ''}`));
        break;
      }
      case 'too_small': {
        const n = Number(iss.minimum);
        if (iss.origin === 'array') out.push(problemAt(y, p, n === 1 ? 'must have at least one entry' : `must have at least ${n} entries`));
        else if (iss.origin === 'string') out.push(problemAt(y, p, 'must not be empty'));
        else out.push(problemAt(y, p, `must be ${iss.inclusive ? 'at least' : 'greater than'} ${n}, not ${input as number}`));
        break;
      }
      case 'too_big': {
        const n = Number(iss.maximum);
        if (iss.origin === 'array') out.push(problemAt(y, p, `must have at most ${n} entries`));
        else if (iss.origin === 'string') out.push(problemAt(y, p, `must be at most ${n} characters`));
        else out.push(problemAt(y, p, `must be ${iss.inclusive ? 'at most' : 'less than'} ${n}, not ${input as number}`));
        break;
      }
      case 'invalid_union': {
        // report the branch that got furthest, i.e. not rejected on its type alone
        const branches = iss.errors.filter((errs) => !errs.every((e) => e.code === 'invalid_type' && e.path.length === 0));
        if (branches.length === 1) {
          out.push(...zodProblems(y, schema, branches[0]!, p));
        } else {
          const expected = [
            ...new Set(iss.errors.flatMap((errs) => errs.filter((e) => e.code === 'invalid_type').map((e) => NOUNS[(e as { expected: string }).expected] ?? 'another form'))),
          ];
          out.push(problemAt(y, p, `must be ${expected.join(' or ') || 'another form'}, not ${shown}`));
        }
        break;
      }
      default:
        out.push(problemAt(y, p, iss.message));
    }
  }
  return out;
}

/** Keys an object schema accepts at a path, for "did you mean". */
export function keysAt(schema: z.ZodType, p: Path): string[] {
  const found = walk(schema as unknown as ZodLike, p);
  return found ? Object.keys(found) : [];
}

interface ZodLike {
  _zod: { def: Record<string, unknown> & { type: string } };
}

function walk(s: ZodLike, p: Path): Record<string, ZodLike> | undefined {
  const def = s._zod.def;
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
      return walk(def.innerType as ZodLike, p);
    case 'pipe':
      return walk(def.in as ZodLike, p);
    case 'union':
      for (const o of def.options as ZodLike[]) {
        const r = walk(o, p);
        if (r) return r;
      }
      return undefined;
    case 'array':
      return p.length && typeof p[0] === 'number' ? walk(def.element as ZodLike, p.slice(1)) : undefined;
    case 'record':
      return p.length ? walk(def.valueType as ZodLike, p.slice(1)) : undefined;
    case 'object': {
      const shape = def.shape as Record<string, ZodLike>;
      if (!p.length) return shape;
      const next = shape[p[0] as string];
      return next ? walk(next, p.slice(1)) : undefined;
    }
    default:
      return undefined;
  }
}
