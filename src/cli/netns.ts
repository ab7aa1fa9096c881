/**
 * Commands that must run where the seed address is (the boot services, the
 * hand-off's SSH and registry calls in a lab whose seed lives in seed.netns)
 * run themselves again inside that network namespace.
 */
import { existsSync, statSync } from 'node:fs';
import os from 'node:os';
import { KseedError } from '../errors.js';
import { startAttached } from '../util/spawn.js';

/** Set for the copy of the command re-run inside seed.netns: the pid of the copy outside. */
export const CHILD_ENV = 'KSEED_BOOT_SERVE_PARENT';

/** Whether this process already runs in the named network namespace (same nsfs inode). */
export function inNetns(name: string): boolean {
  const file = `/run/netns/${name}`;
  if (!existsSync(file)) {
    throw new KseedError(`network namespace ${name} (seed.netns) does not exist: create it first (ip netns add ${name}, or bring the lab up)`, { code: 'no-netns' });
  }
  const target = statSync(file);
  const self = statSync('/proc/self/ns/net');
  return target.ino === self.ino && target.dev === self.dev;
}

/** Runs this very command again under `ip netns exec`, passing signals on; resolves to its exit code. */
export function reexecIn(netns: string): Promise<number> {
  // `ip netns exec` execs node itself, so the child's pid is the server and signals reach it
  const child = startAttached(['ip', 'netns', 'exec', netns, process.execPath, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, [CHILD_ENV]: String(process.pid) });
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return new Promise((resolve, reject) => {
    child.once('error', (err) => reject(new KseedError(`cannot run ip netns exec ${netns}`, { detail: err.message, cause: err })));
    child.once('exit', (code, signal) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 15) : 1));
    });
  });
}

