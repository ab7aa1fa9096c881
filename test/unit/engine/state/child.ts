/**
 * Runs the real state store in child processes: the TypeScript sources are
 * transpiled (no type check, a few ms) into <repo>/node_modules/.cache/ so
 * the children resolve better-sqlite3 from the repository's node_modules
 * (cache/ may be a link to a cache shared by several checkouts, outside it).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const repo = fileURLToPath(new URL('../../../../', import.meta.url));

export function buildWorker(): string {
  const out = path.join(repo, 'node_modules', '.cache', `kseed-state-worker-${process.pid}`);
  for (const rel of ['engine/state.ts', 'engine/state-records.ts', 'engine/state-schema.ts', 'engine/state-leases.ts', 'engine/state-node-leases.ts', 'engine/state-tokens.ts', 'engine/state-sessions.ts', 'engine/lifecycle.ts', 'errors.ts', 'site/net.ts']) {
    const src = readFileSync(path.join(repo, 'src', rel), 'utf8');
    const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
    const dest = path.join(out, rel.replace(/\.ts$/, '.js'));
    mkdirSync(path.dirname(dest), { recursive: true });
    writeFileSync(dest, js);
  }
  writeFileSync(path.join(out, 'package.json'), '{"type":"module"}');
  writeFileSync(path.join(out, 'worker.mjs'), WORKER);
  return path.join(out, 'worker.mjs');
}

// Modes:
//  hammer DIR ID N  : N times: counter += 1 (read-modify-write), a node
//                     transition, a lease from a shared small pool
//  crash DIR        : commits one key, then holds an open write transaction
//                     with uncommitted rows until killed
//  loop DIR         : counter += 1 forever, printing each committed value
const WORKER = `
import { openState } from './engine/state.js';
const [mode, dir, id, n] = process.argv.slice(2);
const s = openState(dir, { busyTimeoutMs: 60000 });
if (mode === 'hammer') {
  const node = 'w' + id;
  s.ensureNode(node);
  for (let i = 0; i < Number(n); i++) {
    s.update('counter', (c) => (c ?? 0) + 1);
    s.transition(node, i % 2 ? 'manageable' : 'enroll', { phase: 'hammer' });
    const mac = '02:00:00:00:' + Number(id).toString(16).padStart(2, '0') + ':' + (i % 8).toString(16).padStart(2, '0');
    s.allocateLease(mac, { start: '10.9.0.1', end: '10.9.0.254' }, { ttlSeconds: 600 });
    s.tx(() => {
      const v = s.get('shared') ?? [];
      s.set('shared', [...v, id + ':' + i]);
    });
  }
  s.close();
  process.stdout.write('done\\n');
} else if (mode === 'crash') {
  s.set('committed', 1);
  s.db.exec('BEGIN IMMEDIATE');
  for (let i = 0; i < 1000; i++) s.db.prepare('INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?)').run('uncommitted' + i, '1', 0);
  s.db.prepare("UPDATE kv SET value = '2' WHERE key = 'committed'").run();
  process.stdout.write('READY\\n');
  setInterval(() => {}, 1000);
} else if (mode === 'loop') {
  for (;;) {
    // one transaction: a kill between the two writes must not split them
    const v = s.tx(() => {
      const next = s.update('counter', (c) => (c ?? 0) + 1);
      s.ensureNode('n' + next);
      return next;
    });
    process.stdout.write(v + '\\n');
  }
}
`;
