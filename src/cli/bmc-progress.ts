/**
 * Progress of a BMC run over several nodes, on stderr. A BMC that never
 * answers costs its node the whole budget (IPMI: 60 s unless the site sets
 * timeout_ms), and the table comes only at the end: without this a run with
 * one dead BMC printed nothing for a minute. After a second, and then every
 * few seconds, it says how many answered and which nodes it still waits on.
 */
import type { Output } from './output.js';

const FIRST_MS = 1000;
const EVERY_MS = 5000;
const NAMED = 5;

export interface Waiting {
  /** Node `index` has its result. */
  done(index: number): void;
  stop(): void;
}

/** `nodes[i]` is the name and BMC address:port of item i; `budgets[i]` its time budget in ms. */
export function reportWaiting(out: Output, nodes: readonly { name: string; bmc: string; budgetMs: number }[]): Waiting {
  const left = new Set(nodes.map((_, i) => i));
  const t0 = Date.now();
  const say = () => {
    if (left.size === 0) return;
    const secs = Math.round((Date.now() - t0) / 1000);
    const named = [...left].slice(0, NAMED).map((i) => `${nodes[i]!.name} (${nodes[i]!.bmc}, gives up after ${Math.round(nodes[i]!.budgetMs / 1000)} s)`);
    const more = left.size > NAMED ? ` and ${left.size - NAMED} more` : '';
    out.progress(`${nodes.length - left.size} of ${nodes.length} BMCs finished after ${secs} s; waiting for ${named.join(', ')}${more}`);
    timer = setTimeout(say, EVERY_MS);
    timer.unref();
  };
  let timer = setTimeout(say, FIRST_MS);
  timer.unref();
  return {
    done: (i) => {
      left.delete(i);
    },
    stop: () => clearTimeout(timer),
  };
}
