/**
 * DHCP leases in the state store: one row per MAC, allocated atomically
 * (BEGIN IMMEDIATE through the store's tx) so two seeds sharing a state
 * directory never hand out one address twice.
 */
import type Database from 'better-sqlite3';
import { intToIp, ipToInt } from '../site/net.js';
import { type LeaseRecord, type LeaseState, leaseOf, type Row } from './state-records.js';

export class Leases {
  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
    private readonly tx: <T>(fn: () => T) => T,
  ) {}

  get(mac: string): LeaseRecord | undefined {
    const r = this.db.prepare('SELECT * FROM leases WHERE mac = ?').get(mac) as Row | undefined;
    return r ? leaseOf(r) : undefined;
  }

  byIp(ip: string): LeaseRecord | undefined {
    const r = this.db.prepare('SELECT * FROM leases WHERE ip = ?').get(ip) as Row | undefined;
    return r ? leaseOf(r) : undefined;
  }

  list(opts: { activeOnly?: boolean } = {}): LeaseRecord[] {
    const rows = opts.activeOnly
      ? (this.db.prepare("SELECT * FROM leases WHERE expires_at > ? AND state IN ('offered','bound') ORDER BY ip_int").all(this.now()) as Row[])
      : (this.db.prepare('SELECT * FROM leases ORDER BY ip_int').all() as Row[]);
    return rows.map(leaseOf);
  }

  /**
   * Gives `mac` an address atomically: its current lease (renewed), else a
   * fixed address, else the lowest free one in the range. Expired, released
   * and declined leases are reused; `exclude` (seed address, other nodes'
   * fixed addresses) never is. Undefined when the range is exhausted.
   */
  allocate(
    mac: string,
    pool: { start: string; end: string; fixed?: string; exclude?: Iterable<string> },
    opts: { ttlSeconds: number; hostname?: string; state?: LeaseState },
  ): LeaseRecord | undefined {
    return this.tx(() => {
      const now = this.now();
      const expires = now + opts.ttlSeconds * 1000;
      const state = opts.state ?? 'offered';
      const mine = this.get(mac);
      const want = pool.fixed ?? (mine && mine.state !== 'declined' ? mine.ip : undefined);
      if (want) {
        const holder = this.byIp(want);
        if (!holder || holder.mac === mac || this.reusable(holder, now)) {
          if (holder && holder.mac !== mac) this.db.prepare('DELETE FROM leases WHERE mac = ?').run(holder.mac);
          this.putLease(mac, want, opts.hostname ?? mine?.hostname ?? null, expires, state);
          return this.get(mac);
        }
        if (pool.fixed) return undefined; // someone else holds this node's fixed address
      }
      const lo = ipToInt(pool.start);
      const hi = ipToInt(pool.end);
      const excluded = new Set([...(pool.exclude ?? [])].map(ipToInt));
      const held = new Set(
        (this.db.prepare('SELECT ip_int, mac, expires_at, state FROM leases WHERE ip_int BETWEEN ? AND ?').all(lo, hi) as Row[])
          .filter((r) => r.mac !== mac && !this.reusable(leaseOf({ ...r, ip: '', hostname: null }), now))
          .map((r) => r.ip_int as number),
      );
      for (let n = lo; n <= hi; n++) {
        if (held.has(n) || excluded.has(n)) continue;
        const ip = intToIp(n);
        this.db.prepare('DELETE FROM leases WHERE ip = ? AND mac != ?').run(ip, mac);
        this.putLease(mac, ip, opts.hostname ?? mine?.hostname ?? null, expires, state);
        return this.get(mac);
      }
      return undefined;
    });
  }

  private reusable(l: LeaseRecord, now: number): boolean {
    return l.expires_at <= now || l.state === 'released' || l.state === 'declined';
  }

  private putLease(mac: string, ip: string, hostname: string | null, expires: number, state: LeaseState): void {
    this.db
      .prepare(
        `INSERT INTO leases (mac, ip, ip_int, hostname, expires_at, state) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(mac) DO UPDATE SET ip = excluded.ip, ip_int = excluded.ip_int, hostname = excluded.hostname,
           expires_at = excluded.expires_at, state = excluded.state`,
      )
      .run(mac, ip, ipToInt(ip), hostname, expires, state);
  }

  /** Sets a lease's state (e.g. offered -> bound on DHCPREQUEST) and optionally its expiry. */
  setState(mac: string, state: LeaseState, ttlSeconds?: number): LeaseRecord | undefined {
    return this.tx(() => {
      const now = this.now();
      const sets = ttlSeconds !== undefined ? 'state = ?, expires_at = ?' : 'state = ?';
      const args: unknown[] = ttlSeconds !== undefined ? [state, now + ttlSeconds * 1000] : [state];
      if (state === 'released') {
        this.db.prepare('UPDATE leases SET state = ?, expires_at = ? WHERE mac = ?').run(state, now, mac);
      } else {
        this.db.prepare(`UPDATE leases SET ${sets} WHERE mac = ?`).run(...args, mac);
      }
      return this.get(mac);
    });
  }

  delete(mac: string): boolean {
    return this.tx(() => this.db.prepare('DELETE FROM leases WHERE mac = ?').run(mac).changes > 0);
  }

  /** Deletes leases expired before `olderThanMs` ago; returns how many. */
  prune(olderThanMs = 0): number {
    return this.tx(() => this.db.prepare('DELETE FROM leases WHERE expires_at <= ?').run(this.now() - olderThanMs).changes);
  }
}
