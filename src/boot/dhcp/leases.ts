/**
 * Lease bookkeeping for the authoritative handler.
 *
 * The handler keeps every lease in memory (a DHCP exchange must not wait on
 * disk) and writes bound, released and declined leases through a LeaseStore,
 * so a restarted seed answers its old clients with their old addresses and
 * never NAKs them. Offers are not persisted: they live 60 s at most.
 */
import { intToIp, ipToInt } from './codec.js';

export type LeaseState = 'offered' | 'bound' | 'released' | 'declined';

export interface Lease {
  /** Lower-case `aa:bb:..`; for a declined address, the client that declined it. */
  mac: string;
  ip: string;
  state: LeaseState;
  /** Epoch milliseconds. */
  expiresAt: number;
  /** Inventory name, when known. */
  name?: string;
}

/** Persistence only: the handler owns the live view and calls these on change. */
export interface LeaseStore {
  load(): Lease[];
  save(lease: Lease): void;
  remove(ip: string): void;
  /**
   * Stores that buffer save/remove write them here. The server calls it once
   * per burst of packets, BEFORE sending the replies of that burst, so an
   * ACK never goes out for a lease that is not stored (RFC 2131 3.1 step 4:
   * commit the binding before the DHCPACK).
   */
  flush?(): void;
}

export class MemoryLeaseStore implements LeaseStore {
  private readonly leases = new Map<string, Lease>();
  load(): Lease[] {
    return [...this.leases.values()].map((l) => ({ ...l }));
  }
  save(lease: Lease): void {
    this.leases.set(lease.ip, { ...lease });
  }
  remove(ip: string): void {
    this.leases.delete(ip);
  }
}

export interface PoolConfig {
  /** Inclusive range the dynamic pool allocates from. */
  start: string;
  end: string;
  /** Addresses the pool must never hand out (seed, router, fixed addresses). */
  reserved: Iterable<string>;
}

/**
 * The live lease table: by address and by MAC, with a rotating cursor so
 * allocation does not rescan the start of the range for every client.
 */
export class LeaseTable {
  private readonly byIp = new Map<number, Lease>();
  private readonly byMac = new Map<string, Lease>();
  private readonly start: number;
  private readonly end: number;
  private reserved: Set<number>;
  private cursor: number;

  constructor(
    pool: PoolConfig | undefined,
    private readonly store: LeaseStore,
  ) {
    this.start = pool ? ipToInt(pool.start) : 1;
    this.end = pool ? ipToInt(pool.end) : 0;
    this.reserved = new Set([...(pool?.reserved ?? [])].map(ipToInt));
    this.cursor = this.start;
    for (const l of store.load()) this.index(l);
  }

  private index(l: Lease): void {
    let ip: number;
    try {
      ip = ipToInt(l.ip);
    } catch {
      return; // a corrupt row must not stop the server; it simply is not a lease
    }
    const old = this.byIp.get(ip);
    if (old && this.byMac.get(old.mac) === old) this.byMac.delete(old.mac);
    this.byIp.set(ip, l);
    if (l.state !== 'declined') {
      const prev = this.byMac.get(l.mac);
      if (prev && prev !== l && this.byIp.get(ipToInt(prev.ip)) === prev) {
        this.byIp.delete(ipToInt(prev.ip));
        if (prev.state !== 'offered') this.store.remove(prev.ip);
      }
      this.byMac.set(l.mac, l);
    }
  }

  /** Replace the never-hand-out set (the inventory's fixed addresses changed). */
  setReserved(ips: Iterable<string>): void {
    this.reserved = new Set([...ips].map(ipToInt));
  }

  inPool(ip: string): boolean {
    const n = ipToInt(ip);
    return n >= this.start && n <= this.end;
  }

  forMac(mac: string): Lease | undefined {
    return this.byMac.get(mac);
  }

  atIp(ip: string): Lease | undefined {
    return this.byIp.get(ipToInt(ip));
  }

  /** Whether `ip` may be given to `mac` now (ignores whether it is in the pool). */
  availableFor(ip: string, mac: string, now: number): boolean {
    const n = ipToInt(ip);
    if (this.reserved.has(n)) return false;
    const l = this.byIp.get(n);
    if (!l) return true;
    if (l.state === 'declined') return l.expiresAt <= now;
    if (l.mac === mac) return true;
    return l.state === 'released' || l.expiresAt <= now;
  }

  /**
   * An address from the pool for `mac`: its current one, else the requested
   * one (RFC 2131 4.3.1 lets the server honour option 50), else a never-used
   * one, else an expired or released one.
   */
  allocate(mac: string, requested: string | undefined, now: number): string | undefined {
    const mine = this.byMac.get(mac);
    if (mine && this.inPool(mine.ip) && this.availableFor(mine.ip, mac, now)) return mine.ip;
    if (requested && this.inPool(requested) && this.availableFor(requested, mac, now)) return requested;
    const size = this.end - this.start + 1;
    if (size <= 0) return undefined;
    let fallback: number | undefined;
    for (let i = 0; i < size; i++) {
      const n = this.cursor;
      this.cursor = n >= this.end ? this.start : n + 1;
      if (this.reserved.has(n)) continue;
      const l = this.byIp.get(n);
      if (!l) return intToIp(n);
      if (fallback === undefined && this.availableFor(intToIp(n), mac, now)) fallback = n;
    }
    return fallback === undefined ? undefined : intToIp(fallback);
  }

  /** Record a lease; offers stay in memory, the rest is persisted. */
  set(lease: Lease): void {
    const prev = this.byMac.get(lease.mac);
    if (prev && prev.ip !== lease.ip && this.byIp.get(ipToInt(prev.ip)) === prev) {
      this.byIp.delete(ipToInt(prev.ip));
      if (prev.state !== 'offered') this.store.remove(prev.ip);
    }
    const atIp = this.byIp.get(ipToInt(lease.ip));
    if (atIp && atIp.mac !== lease.mac && this.byMac.get(atIp.mac) === atIp) this.byMac.delete(atIp.mac);
    this.byIp.set(ipToInt(lease.ip), lease);
    if (lease.state === 'declined') {
      if (this.byMac.get(lease.mac)?.ip === lease.ip) this.byMac.delete(lease.mac);
    } else {
      this.byMac.set(lease.mac, lease);
    }
    if (lease.state !== 'offered') this.store.save(lease);
  }

  /** Forget an offer the client turned down (it chose another server). */
  dropOffer(mac: string): void {
    const l = this.byMac.get(mac);
    if (!l || l.state !== 'offered') return;
    this.byMac.delete(mac);
    if (this.byIp.get(ipToInt(l.ip)) === l) this.byIp.delete(ipToInt(l.ip));
  }

  all(): Lease[] {
    return [...this.byIp.values()].map((l) => ({ ...l }));
  }
}
