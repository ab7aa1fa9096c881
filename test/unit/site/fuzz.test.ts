/**
 * Whatever the file holds, the loader answers with positioned problems or a
 * site, never with a crash: random edits of a valid file, checked with
 * fast-check.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSite } from '../../../src/site/load.js';
import { BASE } from './cases.js';

const dir = mkdtempSync(path.join(tmpdir(), 'kseed-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = path.join(dir, 'kseed.yaml');
const lines = BASE.split('\n');

// values that break types: YAML spellings of numbers, lists, maps, nulls, odd strings
const scalar = fc.oneof(
  fc.constantFrom('~', '[]', '{}', '[1, 2]', '{ a: 1 }', 'true', '-1', '0x10', '1e9', '""', "'x: y'", '*nope', '!!binary aGk=', '"\\u0000"'),
  fc.integer().map(String),
  fc.string({ maxLength: 12 }).map((s) => JSON.stringify(s)),
);

const mutation = fc.oneof(
  // replace the value after a key
  fc.tuple(fc.constant('value' as const), fc.nat(lines.length - 1), scalar),
  // drop a line
  fc.tuple(fc.constant('drop' as const), fc.nat(lines.length - 1), fc.constant('')),
  // duplicate a line
  fc.tuple(fc.constant('dup' as const), fc.nat(lines.length - 1), fc.constant('')),
  // re-indent a line
  fc.tuple(fc.constant('indent' as const), fc.nat(lines.length - 1), fc.constantFrom(' ', '   ', '\t')),
);

function apply(muts: [string, number, string][]): string {
  const out = [...lines];
  for (const [kind, i, v] of muts) {
    const at = i % out.length;
    const l = out[at] ?? '';
    if (kind === 'value') out[at] = l.includes(': ') ? `${l.slice(0, l.indexOf(': ') + 2)}${v}` : l;
    else if (kind === 'drop') out.splice(at, 1);
    else if (kind === 'dup') out.splice(at, 0, l);
    else out[at] = v + l;
  }
  return out.join('\n');
}

describe('site loader under random edits', () => {
  it('always returns positioned problems or a site', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (muts) => {
        const text = apply(muts);
        writeFileSync(file, text);
        const r = await checkSite(file);
        const nLines = text.split('\n').length;
        if (r.site) {
          expect(r.problems).toEqual([]);
        } else {
          expect(r.problems.length).toBeGreaterThan(0);
        }
        for (const p of r.problems) {
          expect(p.file).toBe(file);
          expect(p.line).toBeGreaterThanOrEqual(1);
          expect(p.line).toBeLessThanOrEqual(nLines + 1);
          expect(p.col).toBeGreaterThanOrEqual(1);
          expect(p.message).not.toMatch(/undefined|\[object Object\]|NaN/);
          expect(p.message.length).toBeGreaterThan(5);
        }
      }),
      { numRuns: 300 },
    );
  });
});
