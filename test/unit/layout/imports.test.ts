/**
 * The import direction of DESIGN.md ("Dependencies point one way"), checked
 * over the real import graph of src/: every relative import, type-only and
 * dynamic ones included, since a type import is still a dependency on the
 * other folder's shape.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src');

/** Lower number = higher layer; an import may only go to the same or a larger number. */
const LAYER: Record<string, number> = {
  cli: 0,
  service: 1,
  web: 1,
  engine: 2,
  handoff: 2,
  lab: 2,
  bundle: 2,
  ironic: 3,
  boot: 3,
  bmc: 3,
  compose: 3,
  render: 3,
  images: 3,
  site: 4,
  profiles: 4,
  util: 5,
  // src/errors.ts and other files at the top of src/: shared by all, like util
  '.': 5,
};

/** Protocol code knows nothing of the site file (it gets its own small types). */
const FORBIDDEN: [from: string, to: string][] = [
  ['bmc', 'site'],
  ['boot', 'site'],
  ['bmc', 'profiles'],
  ['boot', 'profiles'],
  // The seed's lifecycle is the engine's (engine/seed.ts): the CLI reaches the
  // Ironic stack (render, Compose, Ironic's API) only through it.
  ['cli', 'compose'],
  ['cli', 'ironic'],
  ['cli', 'render'],
];


function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const SPEC = /(?:^|[\s;}])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]/gm;

function folderOf(file: string): string {
  const rel = path.relative(SRC, file);
  const parts = rel.split(path.sep);
  return parts.length > 1 ? parts[0]! : '.';
}

interface Edge {
  from: string;
  to: string;
}

export function importEdges(): Edge[] {
  const out: Edge[] = [];
  for (const f of files(SRC)) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(SPEC)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (!spec || !spec.startsWith('.')) continue;
      const target = path.resolve(path.dirname(f), spec).replace(/\.js$/, '.ts');
      out.push({ from: path.relative(SRC, f), to: path.relative(SRC, target) });
    }
  }
  return out;
}

function violations(edges: Edge[]): string[] {
  const bad = new Set<string>();
  const folderEdges = new Map<string, Set<string>>();
  for (const e of edges) {
    const a = folderOf(path.join(SRC, e.from));
    const b = folderOf(path.join(SRC, e.to));
    if (a === b) continue;
    const la = LAYER[a];
    const lb = LAYER[b];
    if (la === undefined || lb === undefined) {
      bad.add(`${e.from} -> ${e.to} (folder ${la === undefined ? a : b} has no layer: add it to DESIGN.md and LAYER)`);
      continue;
    }
    if (lb < la) bad.add(`${e.from} -> ${e.to}`);
    if (FORBIDDEN.some(([x, y]) => x === a && y === b)) bad.add(`${e.from} -> ${e.to}`);
    if (!folderEdges.has(a)) folderEdges.set(a, new Set());
    folderEdges.get(a)!.add(b);
  }
  // folders of one layer may import each other one way only
  for (const e of edges) {
    const a = folderOf(path.join(SRC, e.from));
    const b = folderOf(path.join(SRC, e.to));
    if (a !== b && LAYER[a] === LAYER[b] && folderEdges.get(b)?.has(a)) bad.add(`${e.from} -> ${e.to}`);
  }
  return [...bad].sort();
}

describe('imports point one way (DESIGN.md)', () => {
  const edges = importEdges();

  it('reads the import graph of src/', () => {
    // a broken pattern would see nothing and pass everything
    expect(edges.length).toBeGreaterThan(300);
    expect(edges.some((e) => e.from === 'cli/main.ts')).toBe(true);
  });

  it('no import climbs back up, no two folders import each other, protocol code does not know the site file, the CLI reaches the Ironic stack through the engine', () => {
    expect(violations(edges)).toEqual([]);
  });

  it('sees a climbing import, a mutual pair, protocol code reading the site file and the CLI running the Ironic stack itself', () => {
    expect(violations([{ from: 'site/load.ts', to: 'cli/main.ts' }])).toEqual(['site/load.ts -> cli/main.ts']);
    expect(violations([
      { from: 'site/a.ts', to: 'profiles/b.ts' },
      { from: 'profiles/b.ts', to: 'site/a.ts' },
    ])).toEqual(['profiles/b.ts -> site/a.ts', 'site/a.ts -> profiles/b.ts']);
    expect(violations([{ from: 'boot/x.ts', to: 'site/types.ts' }])).toEqual(['boot/x.ts -> site/types.ts']);
    expect(violations([{ from: 'cli/up.ts', to: 'compose/index.ts' }])).toEqual(['cli/up.ts -> compose/index.ts']);
    expect(violations([{ from: 'cli/x.ts', to: 'engine/y.ts' }, { from: 'engine/y.ts', to: 'util/z.ts' }])).toEqual([]);
  });
});
