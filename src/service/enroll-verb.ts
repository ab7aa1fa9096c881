/**
 * `kseed enroll` as both its runners run it: the CLI on the state store, and
 * the seed service as a job (POST /api/v1/enroll, api-verbs.ts). A job,
 * like provision: every node's BMC is reached, authenticated and asked what
 * it is, and on the Ironic engine the node is created and managed in Ironic,
 * which together outlast a request (a dead BMC alone takes its whole time
 * budget). The document is the one `enroll --json` prints, with each node's
 * engine outcome beside it (`outcomes`: what the CLI hands its CI-mode
 * report, --events and --junit), so either way the CLI prints the same.
 */
import type { BmcIdentity, PowerState } from '../bmc/types.js';
import { canApply } from '../engine/lifecycle.js';
import { openEngine } from '../engine/open.js';
import { selectNodes } from '../engine/site-nodes.js';
import type { LeaseActor } from '../engine/state-node-leases.js';
import type { ProgressEvent } from '../engine/types.js';
import type { Site } from '../site/types.js';

export interface EnrollRow {
  node: string;
  result: 'manageable' | 'enroll failed' | 'skipped';
  profile?: string;
  power?: PowerState;
  ms?: number;
  error?: string;
  identity?: BmcIdentity;
}

/** A node's outcome as the CLI's CI-mode report takes it. */
export interface EnrollOutcome {
  node: string;
  result: 'ok' | 'failed' | 'skipped';
  state: string;
  verbs: string[];
  ms: number;
  error?: string;
}

export interface EnrollDoc {
  nodes: EnrollRow[];
  outcomes: EnrollOutcome[];
}

export interface EnrollRequest {
  nodes: string[];
  all: boolean;
  /** BMCs checked at once (the CLI's --concurrency, 1 to 1024). */
  concurrency: number;
}

export const MAX_ENROLL_CONCURRENCY = 1024;

export interface PreparedEnroll {
  nodes: string[];
  run(note: (line: string) => void): Promise<EnrollDoc>;
}

/**
 * Checks an enroll (the nodes exist) and opens the site's engine for it. A
 * node leased to someone else is refused by the engine alone, the others
 * enroll (README: "`enroll` refuses such a node alone").
 */
export async function prepareEnroll(site: Site, stateDir: string, req: EnrollRequest, o: { actor: LeaseActor; onProgress: (e: ProgressEvent) => void; claimOwner?: string }): Promise<PreparedEnroll> {
  const nodes = selectNodes(site, req.nodes, req.all);
  const opened = await openEngine(site, stateDir, {
    concurrency: req.concurrency,
    onProgress: o.onProgress,
    ...(o.actor.owner ? { leaseOwner: o.actor.owner } : {}),
    ...(o.actor.token ? { leaseToken: o.actor.token } : {}),
    ...(o.claimOwner ? { owner: o.claimOwner } : {}),
  });
  return {
    nodes: nodes.map((n) => n.name),
    run: async (note) => {
      try {
        note(`enrolling ${nodes.length} node${nodes.length === 1 ? '' : 's'}...`);
        const outcomes = await Promise.all(nodes.map((n) => opened.engine.enroll(n.name)));
        const rows = new Map<string, EnrollRow>();
        const said: EnrollOutcome[] = [];
        for (const oc of outcomes) {
          const rec = opened.store.getNode(oc.node);
          // a node the verb never started for (not in an enroll state, claimed by another run) is left as it is
          const skipped = !oc.ok && oc.verbs.length === 0 && !canApply('enroll', oc.state);
          rows.set(oc.node, {
            node: oc.node,
            result: skipped ? 'skipped' : oc.ok ? 'manageable' : 'enroll failed',
            ...(oc.ok && rec?.profile ? { profile: rec.profile } : {}),
            ...(oc.ok && rec?.power ? { power: rec.power as PowerState } : {}),
            ...(skipped ? {} : { ms: oc.ms }),
            ...(oc.error ? { error: oc.error } : {}),
            ...(oc.ok && rec?.data.bmc ? { identity: rec.data.bmc as BmcIdentity } : {}),
          });
          said.push({ node: oc.node, result: skipped ? 'skipped' : oc.ok ? 'ok' : 'failed', state: oc.state, verbs: oc.verbs, ms: oc.ms, ...(oc.error ? { error: oc.error } : {}) });
        }
        return { nodes: nodes.map((n) => rows.get(n.name)!), outcomes: said };
      } finally {
        await opened.close();
      }
    },
  };
}
