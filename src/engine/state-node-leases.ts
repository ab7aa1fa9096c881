/**
 * Node leases: a user or a CI pipeline holds a set of nodes until it
 * releases them or the lease expires. Every change is one BEGIN IMMEDIATE
 * transaction of the store, so concurrent acquirers (in one service or in
 * several processes) are serialised by SQLite's write lock, and a process
 * killed mid-change leaves either the whole lease or none of it. The
 * primary key of node_lease_members is the last word: one node is never in
 * two live leases, even if the selection below had a bug.
 */
import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { InputError, KseedError } from '../errors.js';

export interface NodeLeaseRecord {
  id: string;
  owner: string;
  nodes: string[];
  /** ms since the epoch */
  created_at: number;
  expires_at: number;
  ended_at: number | null;
  end_reason: 'released' | 'expired' | null;
  /** Released with --keep: the nodes keep their OS. */
  keep: boolean;
  /** The token name that acquired it (through the service), else null. */
  created_by: string | null;
  /** What its release did to each node so far (nodes not released yet have none). */
  outcomes: Record<string, NodeReleaseOutcome>;
  /** Acquired with --provision: the lease's SSH public key (`ssh-ed25519 ...`), put into its nodes' user-data. */
  ssh_key: string | null;
}

/**
 * A node's end of a lease: `wiped` (the disk's metadata erased, node
 * available), `clean` (nothing was deployed on it: nothing to wipe), `kept`
 * (released with --keep: its OS stays), `failed` (the wipe failed: the node
 * stays held by the ended lease, so nobody gets a disk with the last
 * holder's data; releasing the lease again tries the wipe again).
 */
export interface NodeReleaseOutcome {
  result: 'wiped' | 'clean' | 'kept' | 'failed';
  error?: string;
}

export interface AcquireRequest {
  owner: string;
  /** How many nodes (default 1, or the number of `nodes`). */
  count?: number;
  /** These nodes exactly. */
  nodes?: string[];
  ttlMs: number;
  createdBy?: string;
  /** The lease's SSH public key (acquire --provision). */
  sshKey?: string;
}

/** The longest lease: a forgotten CI job frees its nodes within a week. */
export const MAX_LEASE_MS = 7 * 24 * 3600_000;
export const OWNER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@:/-]{0,127}$/;

type Row = Record<string, unknown>;
const leaseOf = (r: Row): NodeLeaseRecord => ({
  id: r.id as string,
  owner: r.owner as string,
  nodes: JSON.parse(r.nodes as string) as string[],
  created_at: r.created_at as number,
  expires_at: r.expires_at as number,
  ended_at: (r.ended_at as number | null) ?? null,
  end_reason: (r.end_reason as NodeLeaseRecord['end_reason']) ?? null,
  keep: Boolean(r.keep),
  created_by: (r.created_by as string | null) ?? null,
  outcomes: JSON.parse((r.outcomes as string | null) ?? '{}') as Record<string, NodeReleaseOutcome>,
  ssh_key: (r.ssh_key as string | null) ?? null,
});

const iso = (ms: number) => new Date(ms).toISOString();

export class NodeLeases {
  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
    private readonly tx: <T>(fn: () => T) => T,
    private readonly event: (node: string, kind: string, detail: Record<string, unknown>) => void,
  ) {}

  get(id: string): NodeLeaseRecord | undefined {
    const r = this.db.prepare('SELECT * FROM node_leases WHERE id = ?').get(id) as Row | undefined;
    return r ? leaseOf(r) : undefined;
  }

  /** Live leases (ended ones too with `all`), oldest first. */
  list(opts: { all?: boolean } = {}): NodeLeaseRecord[] {
    const sql = opts.all ? 'SELECT * FROM node_leases ORDER BY created_at, rowid' : 'SELECT * FROM node_leases WHERE ended_at IS NULL ORDER BY created_at, rowid';
    return (this.db.prepare(sql).all() as Row[]).map(leaseOf);
  }

  /**
   * How many leases are live, how many nodes they hold, how many nodes ended
   * leases still hold (their wipe failed), and how many leases ended, by
   * reason (the service's /metrics).
   */
  stats(): { live: number; leased_nodes: number; wipe_failed_nodes: number; released: number; expired: number } {
    const by = new Map((this.db.prepare('SELECT end_reason AS r, COUNT(*) AS n FROM node_leases GROUP BY end_reason').all() as Row[]).map((x) => [x.r as string | null, x.n as number]));
    const held = new Map(
      (this.db.prepare('SELECT l.ended_at IS NULL AS live, COUNT(*) AS n FROM node_lease_members m JOIN node_leases l ON l.id = m.lease_id GROUP BY 1').all() as Row[]).map((x) => [Boolean(x.live), x.n as number]),
    );
    return { live: by.get(null) ?? 0, leased_nodes: held.get(true) ?? 0, wipe_failed_nodes: held.get(false) ?? 0, released: by.get('released') ?? 0, expired: by.get('expired') ?? 0 };
  }

  /** The live lease holding `node`, if any (an expired one the service has not ended yet still counts until it is). */
  holderOf(node: string): NodeLeaseRecord | undefined {
    const r = this.db.prepare('SELECT l.* FROM node_lease_members m JOIN node_leases l ON l.id = m.lease_id WHERE m.node = ?').get(node) as Row | undefined;
    return r ? leaseOf(r) : undefined;
  }

  /** Every held node with the lease holding it: the live leases' nodes, and the nodes ended leases keep because their wipe failed. */
  holders(): Map<string, NodeLeaseRecord> {
    const rows = this.db.prepare('SELECT m.node AS member, l.* FROM node_lease_members m JOIN node_leases l ON l.id = m.lease_id').all() as Row[];
    const byId = new Map<string, NodeLeaseRecord>();
    return new Map(rows.map((r) => [r.member as string, byId.get(r.id as string) ?? byId.set(r.id as string, leaseOf(r)).get(r.id as string)!]));
  }

  /** Why a verb acting for `actor` may not touch `node` (leaseRefusal of its holder), or undefined. */
  refusal(node: string, now: number, actor: LeaseActor): string | undefined {
    return leaseRefusal(node, this.holderOf(node), now, actor);
  }

  /**
   * Leases nodes out of `candidates` (the site's nodes, in site order): the
   * ones named, else the first `count` free ones. All or nothing.
   */
  acquire(req: AcquireRequest, candidates: readonly string[]): NodeLeaseRecord {
    checkAcquire(req, candidates);
    return this.tx(() => {
      // a lease past its expiry still holds its nodes until its release (a wipe) ran: see due()
      const now = this.now();
      const held = new Map((this.db.prepare('SELECT m.node, l.owner, l.expires_at, l.id FROM node_lease_members m JOIN node_leases l ON l.id = m.lease_id').all() as Row[]).map((r) => [r.node as string, r]));
      const busy = (n: string) => `${n} (${held.get(n)!.owner} until ${iso(held.get(n)!.expires_at as number)})`;
      let chosen: string[];
      if (req.nodes?.length) {
        const taken = req.nodes.filter((n) => held.has(n));
        if (taken.length) throw unavailable(`node${taken.length > 1 ? 's' : ''} ${taken.map(busy).join(', ')} ${taken.length > 1 ? 'are' : 'is'} leased`, candidates, held);
        chosen = [...req.nodes];
      } else {
        const count = req.count ?? 1;
        const free = candidates.filter((n) => !held.has(n));
        if (free.length < count) throw unavailable(`${count} node${count > 1 ? 's' : ''} asked, ${free.length} free`, candidates, held);
        chosen = free.slice(0, count);
      }
      const id = `ls-${randomBytes(5).toString('hex')}`;
      const expires = now + req.ttlMs;
      this.db
        .prepare('INSERT INTO node_leases (id, owner, nodes, created_at, expires_at, created_by, ssh_key) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(id, req.owner, JSON.stringify(chosen), now, expires, req.createdBy ?? null, req.sshKey ?? null);
      const add = this.db.prepare('INSERT INTO node_lease_members (node, lease_id) VALUES (?, ?)');
      for (const n of chosen) {
        add.run(n, id);
        this.event(n, 'leased', { lease: id, owner: req.owner, expires_at: iso(expires) });
      }
      return this.get(id)!;
    });
  }

  /** A new expiry, ttlMs from now. */
  renew(id: string, ttlMs: number): NodeLeaseRecord {
    checkTtl(ttlMs);
    return this.tx(() => {
      const l = this.live(id);
      if (l.expires_at <= this.now()) throw new KseedError(`lease ${id} expired at ${iso(l.expires_at)}: its nodes are being released; acquire a new one`, { code: 'lease-ended' });
      const expires = this.now() + ttlMs;
      this.db.prepare('UPDATE node_leases SET expires_at = ? WHERE id = ?').run(expires, id);
      for (const n of l.nodes) this.event(n, 'lease-renewed', { lease: id, owner: l.owner, expires_at: iso(expires) });
      return this.get(id)!;
    });
  }

  /**
   * The nodes a release of lease `id` still has to free: all of a live
   * lease's, and of an ended one those whose wipe failed (none: a release
   * again is a no-op). An unknown id is an error.
   */
  pending(id: string): { lease: NodeLeaseRecord; nodes: string[] } {
    const lease = this.get(id);
    if (!lease) throw notFound(id);
    const held = new Set((this.db.prepare('SELECT node FROM node_lease_members WHERE lease_id = ?').all(id) as Row[]).map((r) => r.node as string));
    return { lease, nodes: lease.nodes.filter((n) => held.has(n)) };
  }

  /**
   * Records a release's (or an expiry's) outcome per node in one
   * transaction: the lease ends (if it had not), every node but the failed
   * ones is freed, and each gets its event. A failed node stays a member, so
   * the lease is never silently half-released: list, get and the node's
   * holder all still show it.
   */
  finish(id: string, reason: 'released' | 'expired', keep: boolean, outcomes: Record<string, NodeReleaseOutcome>): NodeLeaseRecord {
    return this.tx(() => {
      const l = this.get(id);
      if (!l) throw notFound(id);
      const now = this.now();
      const merged = { ...l.outcomes, ...outcomes };
      this.db
        .prepare('UPDATE node_leases SET ended_at = COALESCE(ended_at, ?), end_reason = COALESCE(end_reason, ?), keep = ?, outcomes = ? WHERE id = ?')
        .run(now, reason, keep ? 1 : 0, JSON.stringify(merged), id);
      const free = this.db.prepare('DELETE FROM node_lease_members WHERE node = ? AND lease_id = ?');
      for (const [n, o] of Object.entries(outcomes)) {
        if (o.result === 'failed') {
          this.event(n, 'lease-wipe-failed', { lease: id, owner: l.owner, error: o.error ?? '' });
          continue;
        }
        free.run(n, id);
        this.event(n, reason === 'expired' ? 'lease-expired' : 'lease-released', { lease: id, owner: l.owner, keep, result: o.result });
      }
      return this.get(id)!;
    });
  }

  /** Ends the lease and frees its nodes without touching them (the store alone: service/leases.ts wipes first); releasing an ended lease returns it unchanged. */
  release(id: string, opts: { keep?: boolean } = {}): NodeLeaseRecord {
    const { lease, nodes } = this.pending(id);
    if (lease.ended_at !== null && !nodes.length) return lease;
    const keep = Boolean(opts.keep);
    return this.finish(id, 'released', keep, Object.fromEntries(nodes.map((n) => [n, { result: keep ? 'kept' : 'clean' } as NodeReleaseOutcome])));
  }

  /** Live leases past their expiry, whose release is due (the service's timer runs it). */
  due(): NodeLeaseRecord[] {
    return (this.db.prepare('SELECT * FROM node_leases WHERE ended_at IS NULL AND expires_at <= ? ORDER BY expires_at').all(this.now()) as Row[]).map(leaseOf);
  }

  private live(id: string): NodeLeaseRecord {
    const l = this.get(id);
    if (!l) throw notFound(id);
    if (l.ended_at !== null) throw new KseedError(`lease ${id} ${l.end_reason} at ${iso(l.ended_at)}: acquire a new one`, { code: 'lease-ended' });
    return l;
  }
}

/** Who a verb acts for: the KSEED_OWNER of a CLI on the store, the token of an API call (its name, and the leases it acquired). */
export interface LeaseActor {
  owner?: string | undefined;
  token?: string | undefined;
}

const actsFor = (l: NodeLeaseRecord, a: LeaseActor) => (a.owner !== undefined && l.owner === a.owner) || (a.token !== undefined && (l.created_by === a.token || l.owner === a.token));

/**
 * Why a verb acting for `actor` may not touch `node` that `lease` holds (its
 * holderOf), or undefined when it may. Every kind of hold refuses, as
 * acquire does: a live lease until its expiry; one past its expiry whose
 * release (a wipe) has not run yet, since that release is about to wipe
 * the node; and an ended lease whose wipe failed, which keeps the node on
 * purpose (nobody gets the last holder's disk) until a release again
 * retries the wipe. The holder itself goes ahead (that release wipes as it).
 */
export function leaseRefusal(node: string, lease: NodeLeaseRecord | undefined, now: number, actor: LeaseActor): string | undefined {
  if (!lease || actsFor(lease, actor)) return undefined;
  if (lease.ended_at !== null) {
    const failed = lease.outcomes[node]?.error;
    return `node ${node} is held by ended lease ${lease.id} (${lease.owner}, ${lease.end_reason} at ${iso(lease.ended_at)}) after a failed wipe${failed ? ` (${failed})` : ''}: \`kseed lease release ${lease.id}\` retries the wipe`;
  }
  if (lease.expires_at <= now) {
    return `node ${node} is held by lease ${lease.id} of ${lease.owner}, which expired at ${iso(lease.expires_at)}: its release (a wipe) is due; the seed service runs it within seconds, else \`kseed lease release ${lease.id}\``;
  }
  return `node ${node} is leased to ${lease.owner} until ${iso(lease.expires_at)} (lease ${lease.id}; the holder runs verbs with KSEED_OWNER=${lease.owner})`;
}

function checkTtl(ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs < 1000) throw new InputError(`ttl must be at least 1s`, [], { code: 'bad-ttl' });
  if (ttlMs > MAX_LEASE_MS) throw new InputError(`ttl ${Math.round(ttlMs / 3600_000)}h is over the longest lease, 168h (7d)`, [], { code: 'bad-ttl' });
}

/** What is wrong with a request before any node is looked at (bad input, exit 2 / HTTP 400). */
export function checkAcquire(req: AcquireRequest, candidates: readonly string[]): void {
  if (!OWNER_NAME.test(req.owner)) throw new InputError(`owner "${req.owner}" is not valid: 1 to 128 of letters, digits, . _ @ : / -`, [], { code: 'bad-owner' });
  checkTtl(req.ttlMs);
  const known = new Set(candidates);
  if (req.nodes?.length) {
    const unknown = req.nodes.filter((n) => !known.has(n));
    if (unknown.length) throw new InputError(`unknown node${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}: the site has ${candidates.join(', ') || 'none'}`, [], { code: 'unknown-node' });
    if (new Set(req.nodes).size !== req.nodes.length) throw new InputError('a node is named twice', [], { code: 'bad-input' });
    if (req.count !== undefined && req.count !== req.nodes.length) throw new InputError(`count ${req.count} does not match the ${req.nodes.length} nodes named`, [], { code: 'bad-count' });
    return;
  }
  const count = req.count ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new InputError(`count must be a whole number of at least 1`, [], { code: 'bad-count' });
  if (count > candidates.length) throw new InputError(`count ${count} is more than the ${candidates.length} nodes of the site`, [], { code: 'bad-count' });
}

function notFound(id: string): KseedError {
  return new KseedError(`no lease ${id} (\`kseed lease list --all\` lists them)`, { code: 'lease-not-found' });
}

/** Not enough free nodes now: says which are free and who holds the rest until when. */
function unavailable(what: string, candidates: readonly string[], held: Map<string, Row>): KseedError {
  const free = candidates.filter((n) => !held.has(n));
  const holders = [...held.entries()].map(([n, r]) => `${n}: ${r.owner} until ${iso(r.expires_at as number)}`);
  return new KseedError(`${what}; free now: ${free.join(', ') || 'none'}`, { code: 'lease-unavailable', detail: holders.join('\n') });
}
