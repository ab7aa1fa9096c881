/**
 * Lease operations as the seed service and the CLI both run them, so `kseed
 * lease ...` prints the same document whether it went through the service's
 * API or opened the state store itself: the store's transaction is the one
 * place where nodes are handed out (engine/state-node-leases.ts).
 */
import type { NodeLeaseRecord, StateStore } from '../engine/state.js';
import { InputError, KseedError } from '../errors.js';
import type { Site } from '../site/types.js';
import { parseDuration } from './api-input.js';

export const DEFAULT_TTL = '1h';

export interface LeasedNode {
  name: string;
  /** Lifecycle state in the store; null for a node never enrolled. */
  state: string | null;
  ip: string | null;
}

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
      return { name, state: r?.state ?? null, ip: r?.ip ?? null };
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

  constructor(
    readonly store: StateStore,
    readonly candidates: readonly LeaseCandidate[],
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

  release(id: string, keep = false, by?: string): LeaseView {
    this.mayChange(id, by, 'release');
    return leaseView(this.store.nodeLeases.release(id, { keep }), this.store);
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

  /** Ends the leases past their expiry (the service's timer). */
  expire(): LeaseView[] {
    return this.store.nodeLeases.expire().map((l) => leaseView(l, this.store));
  }
}
