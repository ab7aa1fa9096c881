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
import type { Lease, LeaseState, LeaseStore } from './leases.js';

export interface LeaseRow {
  mac: string;
  ip: string;
  hostname: string | null;
  expires_at: number;
  state: LeaseState;
}

/** The subset of StateStore this adapter uses. */
export interface LeaseTableApi {
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

  constructor(
    private readonly state: LeaseTableApi,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * One transaction per burst instead of one per packet: at hundreds of
   * clients per second the commit, not the work, is the cost.
   */
  flush(): void {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const run = () => {
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
