/**
 * The API's read cache (service/cache.ts) on a real state store: an answer
 * is rebuilt after any write, by this connection or by another one (as the
 * CLI and the boot services write from their own processes), and only then.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openState } from '../../../src/engine/state.js';
import { StoreCache } from '../../../src/service/cache.js';

const dir = mkdtempSync(path.join(tmpdir(), 'kseed-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('StoreCache', () => {
  it('serves the built value until the store changes, by this connection or another', () => {
    const stateDir = path.join(dir, '.kseed');
    const mine = openState(stateDir);
    const other = openState(stateDir);
    try {
      mine.ensureNode('n1', { phase: 'enroll' });
      const cache = new StoreCache(mine);
      let builds = 0;
      const list = () => cache.get('nodes', () => (builds++, JSON.stringify(mine.listNodes().map((n) => [n.name, n.state]))));
      expect(list()).toBe('[["n1","enroll"]]');
      expect(list()).toBe('[["n1","enroll"]]');
      expect(builds).toBe(1);
      // another connection's commit (PRAGMA data_version)
      other.transition('n1', 'manageable', { phase: 'enroll' });
      expect(list()).toBe('[["n1","manageable"]]');
      expect(builds).toBe(2);
      expect(list()).toBe('[["n1","manageable"]]');
      expect(builds).toBe(2);
      // this connection's own write (total_changes)
      mine.ensureNode('n2', { phase: 'enroll' });
      expect(list()).toBe('[["n1","manageable"],["n2","enroll"]]');
      expect(builds).toBe(3);
      // keys are kept apart
      expect(cache.get('other', () => 'x')).toBe('x');
      expect(list()).toBe('[["n1","manageable"],["n2","enroll"]]');
      expect(builds).toBe(3);
    } finally {
      other.close();
      mine.close();
    }
  });
});
