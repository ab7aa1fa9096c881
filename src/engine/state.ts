/**
 * `.kseed/state.db`: nodes and their lifecycle, lifecycle events, DHCP
 * leases, lab resources, claims of nodes by users/pipelines, per-node
 * callback tokens, and a small key-value table. SQLite in WAL mode through better-sqlite3.
 *
 * Why it is safe for several kseed processes and across crashes:
 * - every write runs in BEGIN IMMEDIATE, which takes the write lock up
 *   front, so a read-modify-write cannot interleave with another process
 *   (a deferred transaction would fail with SQLITE_BUSY on upgrade instead
 *   of waiting);
 * - busy_timeout makes a second writer wait instead of failing;
 * - WAL makes a commit atomic: a process killed mid-transaction leaves
 *   nothing behind, and the next open rolls the WAL back/forward.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { KseedError } from '../errors.js';
import { NODE_STATES, type NodeState } from './lifecycle.js';
import { Leases } from './state-leases.js';
import { NodeLeases } from './state-node-leases.js';
import { MIGRATIONS, SCHEMA_VERSION } from './state-schema.js';
import { ApiSessions } from './state-sessions.js';
import { ApiTokens } from './state-tokens.js';
import {
  type ClaimRecord,
  eventOf,
  type EventRecord,
  type LeaseRecord,
  type LeaseState,
  type NodeRecord,
  nodeOf,
  type PhaseTiming,
  type PowerStateRecord,
  type ResourceRecord,
  resourceOf,
  type Row,
  StateConflict,
  type StateSpan,
  type TransitionOptions,
} from './state-records.js';

// One list of states for the whole engine: the lifecycle owns it.
export { NODE_STATES, type NodeState } from './lifecycle.js';
export * from './state-records.js';
export { SCHEMA_VERSION } from './state-schema.js';
export type { ApiTokenRecord, TokenCheck } from './state-tokens.js';
export type { SessionCheck } from './state-sessions.js';
export type { AcquireRequest, NodeLeaseRecord } from './state-node-leases.js';

export interface OpenStateOptions {
  /** ms a writer waits for another process's lock; default 15 s. */
  busyTimeoutMs?: number;
  /**
   * FULL (default) survives power loss; NORMAL survives process crashes
   * only but is much faster for hot paths like DHCP lease writes.
   */
  synchronous?: 'full' | 'normal';
  /** Apply migrations up to this version only (tests of the migration path). */
  targetVersion?: number;
  /** Clock, for tests of expiry. */
  now?: () => number;
}

export class StateStore {
  readonly path: string;
  /** Escape hatch for reads the methods do not cover; write through tx(). */
  readonly db: Database.Database;
  private readonly now: () => number;
  private readonly leases: Leases;
  /** The seed service's users (state-tokens.ts). */
  readonly tokens: ApiTokens;
  /** The status page's login sessions (state-sessions.ts). */
  readonly sessions: ApiSessions;
  /** Nodes leased to users and pipelines (state-node-leases.ts); DHCP leases are the other `leases`. */
  readonly nodeLeases: NodeLeases;

  constructor(stateDir: string, opts: OpenStateOptions = {}) {
    // 0700: state and secrets are nobody else's business
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    try {
      if ((statSync(stateDir).mode & 0o077) !== 0) chmodSync(stateDir, 0o700);
    } catch {
      /* not ours to change: opening still works */
    }
    this.path = path.join(stateDir, 'state.db');
    this.now = opts.now ?? Date.now;
    let db: Database.Database;
    try {
      db = new Database(this.path, { timeout: opts.busyTimeoutMs ?? 15_000 });
    } catch (err) {
      throw new KseedError(`cannot open state store ${this.path}`, { detail: (err as Error).message, cause: err });
    }
    this.db = db;
    this.leases = new Leases(db, this.now, (fn) => this.tx(fn));
    this.tokens = new ApiTokens(db, this.now, (fn) => this.tx(fn));
    this.sessions = new ApiSessions(db, this.now, (fn) => this.tx(fn));
    this.nodeLeases = new NodeLeases(db, this.now, (fn) => this.tx(fn), (node, kind, detail) => void this.insertEvent(node, this.now(), kind, null, null, detail));
    try {
      chmodSync(this.path, 0o600);
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
      this.migrate(opts.targetVersion ?? SCHEMA_VERSION);
    } catch (err) {
      db.close();
      if (err instanceof KseedError) throw err;
      throw new KseedError(`cannot open state store ${this.path}`, { detail: (err as Error).message, cause: err });
    }
  }

  private migrate(target: number): void {
    this.tx(() => {
      this.db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
      const row = this.db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
      const current = row?.version ?? 0;
      if (current > SCHEMA_VERSION) {
        throw new KseedError(`${this.path} has schema version ${current}, newer than this kseed understands (${SCHEMA_VERSION}): upgrade kseed`, {
          code: 'state-too-new',
        });
      }
      for (let v = current; v < target; v++) this.db.exec(MIGRATIONS[v]!);
      if (!row) this.db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(Math.max(current, target));
      else if (target > current) this.db.prepare('UPDATE schema_version SET version = ?').run(target);
    });
  }

  schemaVersion(): number {
    return (this.db.prepare('SELECT version FROM schema_version').get() as { version: number }).version;
  }

  /** Runs fn in one BEGIN IMMEDIATE transaction (a savepoint when nested). */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // ------------------------------------------------------------------ nodes

  getNode(name: string): NodeRecord | undefined {
    const r = this.db.prepare('SELECT * FROM nodes WHERE name = ?').get(name) as Row | undefined;
    return r ? nodeOf(r) : undefined;
  }

  listNodes(): NodeRecord[] {
    return (this.db.prepare('SELECT * FROM nodes ORDER BY name').all() as Row[]).map(nodeOf);
  }

  /** Creates the node in `enroll` (with a `created` event) unless it exists; returns it. */
  ensureNode(name: string, init: { profile?: string; ip?: string; data?: Record<string, unknown>; phase?: string } = {}): NodeRecord {
    return this.tx(() => {
      const existing = this.getNode(name);
      if (existing) return existing;
      const ts = this.now();
      this.db
        .prepare('INSERT INTO nodes (name, state, ip, profile, updated_at, data) VALUES (?, ?, ?, ?, ?, ?)')
        .run(name, 'enroll', init.ip ?? null, init.profile ?? null, ts, JSON.stringify(init.data ?? {}));
      this.insertEvent(name, ts, 'created', null, 'enroll', init.phase ? { phase: init.phase } : {});
      return this.getNode(name)!;
    });
  }

  /** Moves a node to `to` and records the event, atomically. */
  transition(name: string, to: NodeState, opts: TransitionOptions = {}): NodeRecord {
    if (!NODE_STATES.includes(to)) throw new KseedError(`unknown node state "${to}"`, { code: 'bad-state' });
    return this.tx(() => {
      const cur = this.getNode(name);
      const expected = opts.from === undefined ? undefined : typeof opts.from === 'string' ? [opts.from] : [...opts.from];
      if (!cur) throw new StateConflict(name, undefined, expected ?? []);
      if (expected && !expected.includes(cur.state)) throw new StateConflict(name, cur.state, expected);
      const ts = Math.max(this.now(), cur.updated_at);
      this.db.prepare('UPDATE nodes SET state = ?, last_error = ?, updated_at = ? WHERE name = ?').run(to, opts.error ?? null, ts, name);
      const detail: Record<string, unknown> = { ...(opts.detail ?? {}) };
      if (opts.reason) detail.reason = opts.reason;
      if (opts.phase) detail.phase = opts.phase;
      if (opts.error) detail.error = opts.error;
      this.insertEvent(name, ts, 'transition', cur.state, to, detail);
      return this.getNode(name)!;
    });
  }

  /** Updates the non-state columns; `data` is merged shallowly. */
  updateNode(name: string, patch: { power?: PowerStateRecord | null; ip?: string | null; profile?: string | null; last_error?: string | null; data?: Record<string, unknown> }): NodeRecord {
    return this.tx(() => {
      const cur = this.getNode(name);
      if (!cur) throw new StateConflict(name, undefined, []);
      const next = {
        power: patch.power !== undefined ? patch.power : cur.power,
        ip: patch.ip !== undefined ? patch.ip : cur.ip,
        profile: patch.profile !== undefined ? patch.profile : cur.profile,
        last_error: patch.last_error !== undefined ? patch.last_error : cur.last_error,
        data: patch.data ? { ...cur.data, ...patch.data } : cur.data,
      };
      this.db
        .prepare('UPDATE nodes SET power = ?, ip = ?, profile = ?, last_error = ?, data = ?, updated_at = ? WHERE name = ?')
        .run(next.power, next.ip, next.profile, next.last_error, JSON.stringify(next.data), Math.max(this.now(), cur.updated_at), name);
      return this.getNode(name)!;
    });
  }

  /** Removes the node and its claim; its events stay as history. */
  removeNode(name: string, reason?: string): boolean {
    return this.tx(() => {
      const cur = this.getNode(name);
      if (!cur) return false;
      this.db.prepare('DELETE FROM nodes WHERE name = ?').run(name);
      this.db.prepare('DELETE FROM node_claims WHERE node = ?').run(name);
      this.insertEvent(name, this.now(), 'removed', cur.state, null, reason ? { reason } : {});
      return true;
    });
  }

  // ----------------------------------------------------------------- events

  /** Any event worth keeping (power actions, BMC errors, DHCP boots...). */
  recordEvent(node: string | null, kind: string, detail: Record<string, unknown> = {}): EventRecord {
    return this.tx(() => {
      const id = this.insertEvent(node, this.now(), kind, null, null, detail);
      return eventOf(this.db.prepare('SELECT * FROM events WHERE id = ?').get(id) as Row);
    });
  }

  private insertEvent(node: string | null, ts: number, kind: string, from: NodeState | null, to: NodeState | null, detail: Record<string, unknown>): number {
    const r = this.db
      .prepare('INSERT INTO events (node, ts, kind, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?, ?)')
      .run(node, ts, kind, from, to, JSON.stringify(detail));
    return Number(r.lastInsertRowid);
  }

  /** The newest event's id (0 without any): where a reader of new events starts. */
  lastEventId(): number {
    return (this.db.prepare('SELECT MAX(id) AS id FROM events').get() as { id: number | null }).id ?? 0;
  }

  /** Events in order; all nodes when node is undefined. */
  listEvents(node?: string, opts: { sinceId?: number; kind?: string; limit?: number } = {}): EventRecord[] {
    const where: string[] = ['id > ?'];
    const args: unknown[] = [opts.sinceId ?? 0];
    if (node !== undefined) {
      where.push('node = ?');
      args.push(node);
    }
    if (opts.kind) {
      where.push('kind = ?');
      args.push(opts.kind);
    }
    const sql = `SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY id${opts.limit ? ` LIMIT ${Math.floor(opts.limit)}` : ''}`;
    return (this.db.prepare(sql).all(...args) as Row[]).map(eventOf);
  }

  /** Time spent in each state the node entered, from its events. */
  stateSpans(node: string): StateSpan[] {
    const evs = this.listEvents(node).filter((e) => e.to_state !== null);
    return evs.map((e, i) => {
      const next = evs[i + 1];
      const span: StateSpan = { state: e.to_state!, phase: (e.detail.phase as string | undefined) ?? null, start: e.ts };
      if (next) {
        span.end = next.ts;
        span.ms = next.ts - e.ts;
      }
      return span;
    });
  }

  /**
   * Per-phase timings: a phase runs from its first tagged event to its last
   * (e.g. deploy: available->deploying ... deploying->active). Repeated
   * phases (a rebuild) are listed again.
   */
  phaseTimings(node: string): PhaseTiming[] {
    const out: PhaseTiming[] = [];
    let cur: PhaseTiming | undefined;
    for (const e of this.listEvents(node)) {
      const phase = e.detail.phase as string | undefined;
      if (!phase) continue;
      if (cur && cur.phase === phase) {
        cur.end = e.ts;
        cur.ms = e.ts - cur.start;
      } else {
        cur = { phase, start: e.ts, end: e.ts, ms: 0 };
        out.push(cur);
      }
    }
    return out;
  }

  // ----------------------------------------------------------------- leases (state-leases.ts)

  getLease(mac: string): LeaseRecord | undefined {
    return this.leases.get(mac);
  }

  leaseByIp(ip: string): LeaseRecord | undefined {
    return this.leases.byIp(ip);
  }

  listLeases(opts: { activeOnly?: boolean } = {}): LeaseRecord[] {
    return this.leases.list(opts);
  }

  /** See Leases.allocate: an address for `mac`, atomically; undefined when the range is exhausted. */
  allocateLease(
    mac: string,
    pool: { start: string; end: string; fixed?: string; exclude?: Iterable<string> },
    opts: { ttlSeconds: number; hostname?: string; state?: LeaseState },
  ): LeaseRecord | undefined {
    return this.leases.allocate(mac, pool, opts);
  }

  /** Sets a lease's state (e.g. offered -> bound on DHCPREQUEST) and optionally its expiry. */
  setLeaseState(mac: string, state: LeaseState, ttlSeconds?: number): LeaseRecord | undefined {
    return this.leases.setState(mac, state, ttlSeconds);
  }

  deleteLease(mac: string): boolean {
    return this.leases.delete(mac);
  }

  /** Deletes leases expired before `olderThanMs` ago; returns how many. */
  pruneLeases(olderThanMs = 0): number {
    return this.leases.prune(olderThanMs);
  }

  // -------------------------------------------------------------- resources

  /** Records something the lab created (netns, bridge, process) so it can be cleaned up. */
  putResource(kind: string, name: string, r: { pid?: number | null; data?: Record<string, unknown> } = {}): ResourceRecord {
    return this.tx(() => {
      this.db
        .prepare(
          `INSERT INTO resources (kind, name, pid, data, created_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(kind, name) DO UPDATE SET pid = excluded.pid, data = excluded.data`,
        )
        .run(kind, name, r.pid ?? null, JSON.stringify(r.data ?? {}), this.now());
      return this.getResource(kind, name)!;
    });
  }

  getResource(kind: string, name: string): ResourceRecord | undefined {
    const r = this.db.prepare('SELECT * FROM resources WHERE kind = ? AND name = ?').get(kind, name) as Row | undefined;
    return r ? resourceOf(r) : undefined;
  }

  listResources(kind?: string): ResourceRecord[] {
    const rows = kind
      ? (this.db.prepare('SELECT * FROM resources WHERE kind = ? ORDER BY created_at, name').all(kind) as Row[])
      : (this.db.prepare('SELECT * FROM resources ORDER BY created_at, kind, name').all() as Row[]);
    return rows.map(resourceOf);
  }

  removeResource(kind: string, name: string): boolean {
    return this.tx(() => this.db.prepare('DELETE FROM resources WHERE kind = ? AND name = ?').run(kind, name).changes > 0);
  }

  // --------------------------------------------------------------------- kv

  get<T = unknown>(key: string): T | undefined {
    const r = this.db.prepare('SELECT value FROM kv WHERE key = ?').get(key) as { value: string } | undefined;
    return r ? (JSON.parse(r.value) as T) : undefined;
  }

  set(key: string, value: unknown): void {
    this.tx(() => {
      this.db
        .prepare('INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at')
        .run(key, JSON.stringify(value), this.now());
    });
  }

  delete(key: string): boolean {
    return this.tx(() => this.db.prepare('DELETE FROM kv WHERE key = ?').run(key).changes > 0);
  }

  /** Atomic read-modify-write of one key across processes. */
  update<T>(key: string, fn: (old: T | undefined) => T): T {
    return this.tx(() => {
      const next = fn(this.get<T>(key));
      this.set(key, next);
      return next;
    });
  }

  // ----------------------------------------------------------------- claims

  /**
   * Leases a node to `owner` for ttlMs. Succeeds when the node is unclaimed,
   * its claim expired, or `owner` already holds it (renewal); else returns
   * the current claim's holder in `heldBy`.
   */
  claimNode(node: string, owner: string, ttlMs: number, note?: string): { ok: true; claim: ClaimRecord } | { ok: false; heldBy: ClaimRecord } {
    return this.tx(() => {
      const now = this.now();
      const cur = this.getClaim(node);
      if (cur && cur.owner !== owner && cur.expires_at > now) return { ok: false as const, heldBy: cur };
      this.db
        .prepare(
          `INSERT INTO node_claims (node, owner, expires_at, created_at, note) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(node) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at, note = excluded.note,
             created_at = CASE WHEN node_claims.owner = excluded.owner THEN node_claims.created_at ELSE excluded.created_at END`,
        )
        .run(node, owner, now + ttlMs, now, note ?? null);
      this.insertEvent(node, now, 'claimed', null, null, { owner, ttl_ms: ttlMs });
      return { ok: true as const, claim: this.getClaim(node)! };
    });
  }

  // ----------------------------------------------------------- node tokens

  /**
   * A fresh random token a node presents when it calls back (deploy ramdisk,
   * cloud-init). Returned once, stored hashed; valid for ttlMs.
   */
  issueNodeToken(node: string, purpose: string, ttlMs: number): string {
    const token = randomBytes(32).toString('base64url');
    const now = this.now();
    this.tx(() => {
      this.db.prepare('DELETE FROM node_tokens WHERE expires_at <= ?').run(now);
      this.db
        .prepare('INSERT INTO node_tokens (token_hash, node, purpose, expires_at, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(tokenHash(token), node, purpose, now + ttlMs, now);
    });
    return token;
  }

  /** The node a live token of this purpose belongs to, else undefined. */
  verifyNodeToken(token: string, purpose: string): string | undefined {
    if (!token) return undefined;
    const r = this.db.prepare('SELECT node, purpose, expires_at FROM node_tokens WHERE token_hash = ?').get(tokenHash(token)) as
      | { node: string; purpose: string; expires_at: number }
      | undefined;
    return r && r.purpose === purpose && r.expires_at > this.now() ? r.node : undefined;
  }

  /** Revokes a node's tokens (all, or of one purpose); returns how many. */
  revokeNodeTokens(node: string, purpose?: string): number {
    return this.tx(() =>
      purpose === undefined
        ? this.db.prepare('DELETE FROM node_tokens WHERE node = ?').run(node).changes
        : this.db.prepare('DELETE FROM node_tokens WHERE node = ? AND purpose = ?').run(node, purpose).changes,
    );
  }

  getClaim(node: string): ClaimRecord | undefined {
    return this.db.prepare('SELECT * FROM node_claims WHERE node = ?').get(node) as ClaimRecord | undefined;
  }

  listClaims(): ClaimRecord[] {
    return this.db.prepare('SELECT * FROM node_claims ORDER BY node').all() as ClaimRecord[];
  }

  /** Releases owner's claim; false when owner does not hold it. */
  releaseClaim(node: string, owner: string): boolean {
    return this.tx(() => {
      const n = this.db.prepare('DELETE FROM node_claims WHERE node = ? AND owner = ?').run(node, owner).changes;
      if (n) this.insertEvent(node, this.now(), 'released', null, null, { owner });
      return n > 0;
    });
  }
}

/** Only a hash is stored: a copied state.db does not hand out live tokens. */
const tokenHash = (token: string) => createHash('sha256').update(token).digest('hex');

/** Opens (creating and migrating as needed) `<stateDir>/state.db`. */
export function openState(stateDir: string, opts: OpenStateOptions = {}): StateStore {
  return new StateStore(stateDir, opts);
}
