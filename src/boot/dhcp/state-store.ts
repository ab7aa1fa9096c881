/**
 * LeaseStore over the state store's `leases` table (src/engine/state.ts).
 *
 * boot/ must not import engine/ (dependencies point cli -> engine -> boot),
 * so this adapter takes the few StateStore methods it needs as a structural
 * type; `stateLeaseStore(openState(dir))` type-checks without an import.
 *
 * The table has one row per MAC (mac is the primary key, ip is unique),
 * while the DHCP handler keys by address and remembers declined addresses
 * apart from any client. A declined address is therefore stored under the
 * pseudo-MAC `declined@<ip>`, which can never collide with a real MAC.
 */
import { ipToInt } from './codec.js';
import type { Lease, LeaseState, LeaseStore } from './leases.js';

export interface LeaseRow {
  mac: string;
  ip: string;
  hostname: string | null;
  expires_at: number;
  state: LeaseState;
}

/** better-sqlite3's prepared statement, as far as used here. */
interface Statement {
  run(...params: unknown[]): unknown;
}

/** The subset of StateStore this adapter uses. */
export interface LeaseTableApi {
  /** StateStore's escape hatch (better-sqlite3); when present, writes use cached statements. */
  db?: { prepare(sql: string): Statement };
  leaseByIp(ip: string): LeaseRow | undefined;
  listLeases(opts?: { activeOnly?: boolean }): LeaseRow[];
  allocateLease(
    mac: string,
    pool: { start: string; end: string; fixed?: string; exclude?: Iterable<string> },
    opts: { ttlSeconds: number; hostname?: string; state?: LeaseState },
  ): LeaseRow | undefined;
  setLeaseState(mac: string, state: LeaseState, ttlSeconds?: number): LeaseRow | undefined;
  deleteLease(mac: string): boolean;
  /** One transaction around a save (StateStore.tx: BEGIN IMMEDIATE, savepoints when nested). */
  tx?<T>(fn: () => T): T;
}

const DECLINED = 'declined@';

export class StateLeaseStore implements LeaseStore {
  /** Writes since the last flush, by address; null = remove. */
  private pending = new Map<string, Lease | null>();
  private readonly fast?: { clearIp: Statement; upsert: Statement; removeIp: Statement };

  constructor(
    private readonly state: LeaseTableApi,
    private readonly now: () => number = Date.now,
  ) {
    // Fast path: StateStore's methods prepare their SQL on every call and do
    // read-back queries, ~8 statements per lease; at 1,000 clients/s that,
    // not the commit, became the limit (bench/dhcp). These three statements
    // write exactly what StateStore.putLease writes (schema v1 `leases`),
    // prepared once; the public methods stay the fallback.
    try {
      if (state.db && state.tx) {
        this.fast = {
          clearIp: state.db.prepare('DELETE FROM leases WHERE ip = ? AND mac != ?'),
          upsert: state.db.prepare(
            `INSERT INTO leases (mac, ip, ip_int, hostname, expires_at, state) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT(mac) DO UPDATE SET ip = excluded.ip, ip_int = excluded.ip_int, hostname = excluded.hostname,
               expires_at = excluded.expires_at, state = excluded.state`,
          ),
          removeIp: state.db.prepare('DELETE FROM leases WHERE ip = ?'),
        };
      }
    } catch {
      this.fast = undefined; // a schema this adapter does not know: use the public methods
    }
  }

  /**
   * One transaction per burst instead of one per packet: at hundreds of
   * clients per second the commit, not the work, is the cost.
   */
  flush(): void {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const fast = this.fast;
    const run = fast
      ? () => {
          for (const [ip, lease] of batch) {
            if (!lease) {
              fast.removeIp.run(ip);
              continue;
            }
            const key = lease.state === 'declined' ? `${DECLINED}${lease.ip}` : lease.mac;
            fast.clearIp.run(lease.ip, key);
            fast.upsert.run(key, lease.ip, ipToInt(lease.ip), lease.name ?? null, lease.expiresAt, lease.state);
          }
        }
      : () => {
          for (const [ip, lease] of batch) {
            if (lease) this.write(lease);
            else this.drop(ip);
          }
        };
    if (this.state.tx) this.state.tx(run);
    else run();
  }

  load(): Lease[] {
    return this.state.listLeases().map((r) => ({
      mac: r.mac.startsWith(DECLINED) ? '' : r.mac,
      ip: r.ip,
      state: r.state,
      expiresAt: r.expires_at,
      ...(r.hostname ? { name: r.hostname } : {}),
    }));
  }

  save(lease: Lease): void {
    // re-insert so the batch keeps the order of the last change per address
    this.pending.delete(lease.ip);
    this.pending.set(lease.ip, { ...lease });
  }

  private write(lease: Lease): void {
    const key = lease.state === 'declined' ? `${DECLINED}${lease.ip}` : lease.mac;
    // the handler's table is the truth: whoever else the row at this address names is stale
    const holder = this.state.leaseByIp(lease.ip);
    if (holder && holder.mac !== key) this.state.deleteLease(holder.mac);
    const ttlSeconds = Math.max(0, (lease.expiresAt - this.now()) / 1000);
    const row = this.state.allocateLease(
      key,
      { start: lease.ip, end: lease.ip, fixed: lease.ip },
      { ttlSeconds, ...(lease.name ? { hostname: lease.name } : {}), state: lease.state },
    );
    if (!row) throw new Error(`state store refused lease ${lease.ip} for ${key}`);
    if (lease.state === 'released') this.state.setLeaseState(key, 'released');
  }

  remove(ip: string): void {
    this.pending.delete(ip);
    this.pending.set(ip, null);
  }

  private drop(ip: string): void {
    const holder = this.state.leaseByIp(ip);
    if (holder) this.state.deleteLease(holder.mac);
  }
}

export function stateLeaseStore(state: LeaseTableApi): StateLeaseStore {
  return new StateLeaseStore(state);
}
