/**
 * Lease operations as the seed service and the CLI both run them, so `kseed
 * lease ...` prints the same document whether it went through the service's
 * API or opened the state store itself: the store's transaction is the one
 * place where nodes are handed out (engine/state-node-leases.ts).
 */
import { UNDEPLOYED_STATES, type NodeState } from '../engine/lifecycle.js';
import type { NodeLeaseRecord, StateStore } from '../engine/state.js';
import type { NodeReleaseOutcome } from '../engine/state-node-leases.js';
import { InputError, KseedError } from '../errors.js';
import type { Site } from '../site/types.js';
import { parseDuration } from './api-input.js';

export const DEFAULT_TTL = '1h';

export interface LeasedNode {
  name: string;
  /** Lifecycle state in the store; null for a node never enrolled. */
  state: string | null;
  ip: string | null;
  /** What the lease's release did to it (null until then): wiped, clean (nothing deployed), kept, failed (with `error`; still held). */
  released: NodeReleaseOutcome['result'] | null;
  error?: string;
}

/**
 * Wipes nodes a lease held (the engine's undeploy, as `kseed undeploy`),
 * as the lease's `owner` (whose lease the engine's guard lets through); one
 * outcome per node, never a throw for one node's failure.
 */
export type NodeWiper = (nodes: string[], owner: string) => Promise<{ node: string; ok: boolean; error?: string }[]>;

export interface LeaseView {
  id: string;
  owner: string;
  nodes: LeasedNode[];
  created_at: string;
  expires_at: string;
  /** Set once the lease ended: released by its holder or expired. */
  ended_at: string | null;
  end_reason: 'released' | 'expired' | null;
  keep: boolean;
  created_by: string | null;
}

export interface AcquireInput {
  owner: string;
  count?: number;
  nodes?: string[];
  /** Only nodes of this hardware profile (matched at enrollment, else the site's), instead of `nodes`. */
  profile?: string;
  /** Only nodes with this role in the site file, instead of `nodes`. */
  role?: string;
  /** A duration (`2h`); default DEFAULT_TTL. */
  ttl?: string;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function leaseView(l: NodeLeaseRecord, store: StateStore): LeaseView {
  return {
    id: l.id,
    owner: l.owner,
    nodes: l.nodes.map((name) => {
      const r = store.getNode(name);
      const o = l.outcomes[name];
      return { name, state: r?.state ?? null, ip: r?.ip ?? null, released: o?.result ?? null, ...(o?.error ? { error: o.error } : {}) };
    }),
    created_at: iso(l.created_at)!,
    expires_at: iso(l.expires_at)!,
    ended_at: iso(l.ended_at),
    end_reason: l.end_reason,
    keep: l.keep,
    created_by: l.created_by,
  };
}

/** A node that can be leased, with what --role and --profile select on. */
export interface LeaseCandidate {
  name: string;
  roles: readonly string[];
  /** The site file's profile; the one matched at enrollment (in the store) wins. */
  profile?: string | undefined;
  /** The site file's MACs: the page's boot trace matches the boot log's lines by them. */
  macs?: readonly string[];
}

export const candidatesOf = (site: Pick<Site, 'nodes'>): LeaseCandidate[] => site.nodes.map((n) => ({ name: n.name, roles: n.roles, profile: n.profile, macs: n.macs }));

/** The lease operations on one store, over the site's nodes (`candidates`, in site order). */
export class LeaseDesk {
  readonly names: readonly string[];

  /** Releases under way, by lease: a second release (or the expiry) of one waits for it instead of wiping twice. */
  private readonly releasing = new Map<string, Promise<LeaseView>>();

  /** `wipe`: without one, a node with an OS on it cannot be released but with keep (its wipe fails, saying so). */
  constructor(
    readonly store: StateStore,
    readonly candidates: readonly LeaseCandidate[],
    readonly wipe?: NodeWiper,
  ) {
    this.names = candidates.map((c) => c.name);
  }

  acquire(i: AcquireInput, createdBy?: string): LeaseView {
    const ttlMs = parseDuration(i.ttl ?? DEFAULT_TTL, 'ttl');
    const l = this.store.nodeLeases.acquire(
      { owner: i.owner, ttlMs, ...(i.count !== undefined ? { count: i.count } : {}), ...(i.nodes ? { nodes: i.nodes } : {}), ...(createdBy ? { createdBy } : {}) },
      this.selected(i),
    );
    return leaseView(l, this.store);
  }

  /** The candidates --role and --profile leave (all without them); none left, or fewer than asked, is bad input naming what there is. */
  private selected(i: AcquireInput): readonly string[] {
    if (i.role === undefined && i.profile === undefined) return this.names;
    if (i.nodes?.length) throw new InputError('nodes named, and a role or profile: name the nodes, or let the role/profile choose among the free ones', [], { code: 'bad-input' });
    const profileOf = (c: LeaseCandidate) => this.store.getNode(c.name)?.profile ?? c.profile;
    const what = [i.role !== undefined ? `role ${i.role}` : '', i.profile !== undefined ? `profile ${i.profile}` : ''].filter(Boolean).join(' and ');
    const fit = this.candidates.filter((c) => (i.role === undefined || c.roles.includes(i.role)) && (i.profile === undefined || profileOf(c) === i.profile));
    if (!fit.length) {
      const roles = [...new Set(this.candidates.flatMap((c) => c.roles))].sort();
      const profiles = [...new Set(this.candidates.map(profileOf).filter((p): p is string => Boolean(p)))].sort();
      throw new InputError(`no node of the site has ${what}: roles ${roles.join(', ') || 'none'}; profiles ${profiles.join(', ') || 'none known yet (matched at enroll)'}`, [], { code: 'no-such-nodes' });
    }
    const count = i.count ?? 1;
    if (count > fit.length) throw new InputError(`count ${count} is more than the ${fit.length} node${fit.length > 1 ? 's' : ''} with ${what} (${fit.map((c) => c.name).join(', ')})`, [], { code: 'bad-count' });
    return fit.map((c) => c.name);
  }

  list(all = false): LeaseView[] {
    return this.store.nodeLeases.list({ all }).map((l) => leaseView(l, this.store));
  }

  get(id: string): LeaseView | undefined {
    const l = this.store.nodeLeases.get(id);
    return l ? leaseView(l, this.store) : undefined;
  }

  /** `by`: the API token asking (undefined on the store itself, whoever can open it administers the seed). */
  renew(id: string, ttl = DEFAULT_TTL, by?: string): LeaseView {
    this.mayChange(id, by, 'renew');
    return leaseView(this.store.nodeLeases.renew(id, parseDuration(ttl, 'ttl')), this.store);
  }

  /**
   * Ends the lease: with `keep` the nodes keep their OS; else each node with
   * one is wiped (engine undeploy) and ends available. A node whose wipe
   * failed stays held by the ended lease with its error (releasing again
   * retries it); the others are free. Releasing a released lease returns it.
   */
  release(id: string, keep = false, by?: string): Promise<LeaseView> {
    this.mayChange(id, by, 'release');
    return this.end(id, 'released', keep);
  }

  private end(id: string, reason: 'released' | 'expired', keep: boolean): Promise<LeaseView> {
    const running = this.releasing.get(id);
    if (running) return running;
    const p = this.endNow(id, reason, keep).finally(() => this.releasing.delete(id));
    this.releasing.set(id, p);
    return p;
  }

  private async endNow(id: string, reason: 'released' | 'expired', keep: boolean): Promise<LeaseView> {
    const { lease, nodes } = this.store.nodeLeases.pending(id);
    if (lease.ended_at !== null && !nodes.length) return leaseView(lease, this.store);
    const outcomes: Record<string, NodeReleaseOutcome> = {};
    // a node never deployed, or already wiped, has nothing of the holder's on it
    const bare = (n: string) => {
      const s = this.store.getNode(n)?.state;
      return s === undefined || UNDEPLOYED_STATES.has(s as NodeState);
    };
    const toWipe = keep ? [] : nodes.filter((n) => !bare(n));
    for (const n of nodes) if (!toWipe.includes(n)) outcomes[n] = { result: keep ? 'kept' : 'clean' };
    if (toWipe.length && !this.wipe) {
      for (const n of toWipe) outcomes[n] = { result: 'failed', error: `${n} has an OS on it and nothing here can wipe it: release it with --keep, or on the seed (\`kseed lease release ${id}\`)` };
    } else if (toWipe.length) {
      for (const o of await this.wipe!(toWipe, lease.owner)) outcomes[o.node] = o.ok ? { result: 'wiped' } : { result: 'failed', error: o.error ?? 'the wipe failed' };
    }
    return leaseView(this.store.nodeLeases.finish(id, reason, keep, outcomes), this.store);
  }

  /**
   * Through the API only the token that acquired a lease renews or releases
   * it: one pipeline's token cannot end another's lease under it. A lease
   * made on the store itself belongs to the seed's administrator.
   */
  private mayChange(id: string, by: string | undefined, what: string): void {
    if (by === undefined) return;
    const l = this.store.nodeLeases.get(id);
    if (!l || l.created_by === by) return;
    const whose = l.created_by === null ? 'was acquired on the seed itself, not through the API' : `was acquired with token ${l.created_by}`;
    throw new KseedError(`lease ${id} (owner ${l.owner}) ${whose}: token ${by} may not ${what} it (\`kseed lease ${what} ${id}\` on the seed can)`, { code: 'lease-not-yours' });
  }

  /**
   * Runs the release of every lease past its expiry (the service's timer,
   * and the CLI on the store before it acquires). An expired lease is always
   * wiped: it was forgotten, and the next holder must not get its OS.
   */
  async expire(): Promise<LeaseView[]> {
    const ended: LeaseView[] = [];
    for (const l of this.store.nodeLeases.due()) ended.push(await this.end(l.id, 'expired', false));
    return ended;
  }
}
