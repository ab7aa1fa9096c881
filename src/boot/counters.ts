/**
 * The boot services' traffic counters, for the seed service's /metrics:
 * DHCP datagrams by message type (received, sent) and the ones left
 * unanswered by reason; TFTP transfers started, completed and failed, and
 * the bytes sent; HTTP requests by status class and the bytes sent.
 *
 * They are counted here, in the process that serves, from every event,
 * before the noise limit (log-limit.ts) drops lines: the log is for people
 * and leaves out most of a flood, a counter must not. The boot services
 * often run in another process and another network namespace than the
 * API, so `kseed boot serve` writes a snapshot of these counters to a file
 * of the state directory (engine/service.ts countersFileOf) now and then,
 * and the API reads the newest snapshot at each scrape.
 *
 * Every label value comes from a fixed set (a reason code, a message type,
 * a status class), never from what a client sent: a stranger cannot grow
 * the number of series.
 */
import type { DhcpEvent } from './dhcp/handlers.js';
import type { HttpEvent } from './http/server.js';
import type { TftpEvent } from './tftp/server.js';

export type Counts = Record<string, number>;

export interface BootCounterSnapshot {
  dhcp: { received: Counts; sent: Counts; ignored: Counts };
  tftp: { started: number; completed: number; failed: Counts; refused: number; bytes: number };
  http: { requests: Counts; bytes: number };
}

export const bump = (c: Counts, key: string, n = 1): void => {
  c[key] = (c[key] ?? 0) + n;
};

/** DHCP message types (RFC 2132 9.6) as label values; a datagram without option 53 is plain BOOTP. */
export function dhcpTypeLabel(name: string | undefined): string {
  return name ? name.toLowerCase() : 'bootp';
}

/**
 * Why a request got no answer, as a code, from the handler's event for it
 * (its reason text names addresses: not a label value). No event: the
 * request was not this server's to answer (another server's REQUEST, a
 * ProxyDHCP request from a client that is not PXE), counted as `not-ours`.
 */
export function ignoredReason(events: readonly DhcpEvent[]): string {
  for (const e of events) {
    if (e.type === 'decline-ignored') return 'decline-ignored';
    if (e.type !== 'ignored') continue;
    const r = e.reason ?? '';
    if (/not in inventory/.test(r)) return 'unknown-mac';
    if (/^relayed from/.test(r)) return 'foreign-relay';
    if (/pool exhausted/.test(r)) return 'pool-exhausted';
    if (/no message type/.test(r)) return 'bootp';
    return 'other';
  }
  return 'not-ours';
}

/** The label values each counter can take, so that every series exists from the start (at 0). */
export const LABELS = {
  dhcpReceived: ['discover', 'request', 'decline', 'release', 'inform', 'bootp', 'malformed'],
  dhcpSent: ['offer', 'ack', 'nak'],
  dhcpIgnored: ['unknown-mac', 'foreign-relay', 'pool-exhausted', 'bootp', 'malformed', 'decline-ignored', 'not-ours', 'other'],
  tftpFailed: ['timeout', 'peer-error', 'illegal-op', 'read-error', 'aborted', 'other'],
  httpClass: ['1xx', '2xx', '3xx', '4xx', '5xx'],
} as const;

/** TFTP failure reasons of TransferOutcome (transfer.ts); anything else is `other`. */
const TFTP_REASONS: ReadonlySet<string> = new Set(LABELS.tftpFailed);

export class BootCounters {
  readonly tftp = { started: 0, completed: 0, failed: {} as Counts, refused: 0, bytes: 0 };
  readonly http = { requests: {} as Counts, bytes: 0 };

  tftpEvent(e: TftpEvent): void {
    switch (e.type) {
      case 'start':
        this.tftp.started++;
        return;
      case 'end':
        // a failed transfer sent some blocks too: they went over the wire
        this.tftp.bytes += e.bytes;
        if (e.ok) this.tftp.completed++;
        else bump(this.tftp.failed, TFTP_REASONS.has(e.reason) ? e.reason : 'other');
        return;
      case 'refused':
        this.tftp.refused++;
        return;
      default:
        return;
    }
  }

  httpEvent(e: HttpEvent): void {
    const cls = e.status >= 100 && e.status < 600 ? `${Math.floor(e.status / 100)}xx` : 'other';
    bump(this.http.requests, cls);
    this.http.bytes += e.bytes ?? 0;
  }
}
