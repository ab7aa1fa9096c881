/**
 * What the node commands share: the nodes named on the command line, a BMC
 * conversation with each of them at once, one line per error (all three in
 * engine/site-nodes.ts, which the seed service uses too), the exit code of
 * a run over several nodes.
 */
import { ExitCode } from '../errors.js';

export { errorText, onNodes, selectNodes, targetOf } from '../engine/site-nodes.js';

/** 0 all ok, 3 some failed, 1 all failed. */
export function exitFor(ok: number, failed: number): number {
  if (!failed) return ExitCode.ok;
  return ok ? ExitCode.partial : ExitCode.failure;
}
