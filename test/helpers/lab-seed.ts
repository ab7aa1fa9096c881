/**
 * The end of a test that ran `kseed up` on a lab of its own: the seed down,
 * the lab destroyed, the temp dir removed (kept with E2E_KEEP=1 to look at
 * its logs). Each step runs even when the one before it failed.
 */
import { existsSync, rmSync } from 'node:fs';
import { destroyLab } from '../../src/lab/index.js';
import { startKseed } from './cli.js';

export async function tearDownLabSeed(o: { root: string; site: string; stateDir: string; lab: string }): Promise<void> {
  try {
    if (o.site && existsSync(o.site)) await startKseed(['--config', o.site, 'down']).done;
    if (o.stateDir) await destroyLab({ stateDir: o.stateDir, name: o.lab });
  } finally {
    if (o.root && !process.env.E2E_KEEP) rmSync(o.root, { recursive: true, force: true });
  }
}
