/**
 * The seed service's /metrics in the Prometheus text exposition format,
 * version 0.0.4 (prometheus.io/docs/instrumenting/exposition_formats/):
 * `# HELP` and `# TYPE` before each family, label values escaped (\\, \",
 * \n), histograms as cumulative `_bucket{le}` series ending in `+Inf`, then
 * `_sum` and `_count`. What the store knows (nodes by state, leases, phase
 * durations) is read at each scrape, so it survives a restart of the
 * service; the API's own request counters and latencies live in this
 * process and start from zero with it, as Prometheus expects of counters.
 */
import { LABELS, type Counts } from '../boot/counters.js';
import { readCountersFile } from '../engine/boot-counters.js';
import { NODE_STATES } from '../engine/lifecycle.js';
import type { StateStore } from '../engine/state.js';

export const METRICS_PATH = '/metrics';
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Request latency, seconds: the API answers from SQLite in milliseconds; the tail shows a busy store. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Phase durations, seconds: an enroll takes seconds, a deploy under TCG half an hour. */
const PHASE_BUCKETS = [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];
/** States in which a node's last phase is still running (its duration is not final yet). */
const BUSY = new Set(['enroll', 'inspecting', 'deploying', 'deleting']);

type Labels = Record<string, string>;

const esc = (v: string) => v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
const labelText = (l: Labels) => {
  const e = Object.entries(l);
  return e.length ? `{${e.map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}` : '';
};
/** Go's float formatting as Prometheus prints it: integers plainly, +Inf spelt so. */
const num = (n: number) => (n === Infinity ? '+Inf' : String(n));

class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly buckets: readonly number[]) {
    this.counts = buckets.map(() => 0);
  }
  observe(v: number): void {
    this.buckets.forEach((b, i) => {
      if (v <= b) this.counts[i]!++;
    });
    this.sum += v;
    this.count++;
  }
  lines(name: string, labels: Labels): string[] {
    return [
      ...this.buckets.map((b, i) => `${name}_bucket${labelText({ ...labels, le: num(b) })} ${this.counts[i]}`),
      `${name}_bucket${labelText({ ...labels, le: '+Inf' })} ${this.count}`,
      `${name}_sum${labelText(labels)} ${num(this.sum)}`,
      `${name}_count${labelText(labels)} ${this.count}`,
    ];
  }
}

function family(name: string, type: 'gauge' | 'counter' | 'histogram', help: string, body: string[]): string[] {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...body];
}

/** The API's own counters: requests by route pattern (never the raw path: bounded label values), method and status. */
export class ApiMetrics {
  private readonly requests = new Map<string, { labels: Labels; n: number }>();
  private readonly latency = new Map<string, Histogram>();

  /** `route` is the matched pattern (`/api/v1/leases/:id`), or `unmatched`. */
  observe(route: string, method: string, status: number, seconds: number): void {
    const labels = { route, method, status: String(status) };
    const key = JSON.stringify(labels);
    const r = this.requests.get(key) ?? { labels, n: 0 };
    r.n++;
    this.requests.set(key, r);
    const h = this.latency.get(route) ?? new Histogram(LATENCY_BUCKETS);
    h.observe(seconds);
    this.latency.set(route, h);
  }

  lines(): string[] {
    const byKey = <T>(m: Map<string, T>) => [...m.entries()].sort(([a], [b]) => a.localeCompare(b));
    return [
      ...family('kseed_api_requests_total', 'counter', 'API requests answered, by route pattern, method and HTTP status.', byKey(this.requests).map(([, r]) => `kseed_api_requests_total${labelText(r.labels)} ${r.n}`)),
      ...family('kseed_api_request_duration_seconds', 'histogram', 'Time from a request arriving to its answer being written, by route pattern.', byKey(this.latency).flatMap(([route, h]) => h.lines('kseed_api_request_duration_seconds', { route }))),
    ];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive, someone else's (the boot services may run as another user)
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The boot services' DHCP/TFTP/HTTP counters, from the snapshot file their
 * process writes (engine/boot-counters.ts): up to COUNTERS_EVERY_MS behind.
 * Every label value of a fixed set has a series, 0 until it happens.
 */
export function bootLines(stateDir: string | undefined): string[] {
  const f = stateDir ? readCountersFile(stateDir) : undefined;
  const up = family('kseed_boot_services_up', 'gauge', 'Whether the boot services (DHCP, TFTP, HTTP) whose counters follow are running (1) or stopped (0).', [`kseed_boot_services_up ${f && f.pid > 0 && alive(f.pid) ? 1 : 0}`]);
  if (!f) return up;
  const by = (name: string, label: string, keys: readonly string[], c: Counts) => [...new Set([...keys, ...Object.keys(c).sort()])].map((k) => `${name}${labelText({ [label]: k })} ${c[k] ?? 0}`);
  return [
    ...up,
    ...family('kseed_boot_services_start_time_seconds', 'gauge', 'When the boot services whose counters follow started (their counters count from there), Unix seconds.', [`kseed_boot_services_start_time_seconds ${Date.parse(f.started_at) / 1000}`]),
    ...family('kseed_dhcp_packets_received_total', 'counter', 'DHCP datagrams received, by message type (bootp: no option 53; malformed: not decodable).', by('kseed_dhcp_packets_received_total', 'type', LABELS.dhcpReceived, f.dhcp.received)),
    ...family('kseed_dhcp_packets_sent_total', 'counter', 'DHCP answers sent, by message type.', by('kseed_dhcp_packets_sent_total', 'type', LABELS.dhcpSent, f.dhcp.sent)),
    ...family('kseed_dhcp_packets_ignored_total', 'counter', 'DHCP requests left unanswered, by reason (unknown-mac: not in the inventory; not-ours: for another server).', by('kseed_dhcp_packets_ignored_total', 'reason', LABELS.dhcpIgnored, f.dhcp.ignored)),
    ...family('kseed_tftp_transfers_started_total', 'counter', 'TFTP transfers started.', [`kseed_tftp_transfers_started_total ${f.tftp.started}`]),
    ...family('kseed_tftp_transfers_completed_total', 'counter', 'TFTP transfers acknowledged to the last block.', [`kseed_tftp_transfers_completed_total ${f.tftp.completed}`]),
    ...family('kseed_tftp_transfers_failed_total', 'counter', 'TFTP transfers that did not complete, by reason.', by('kseed_tftp_transfers_failed_total', 'reason', LABELS.tftpFailed, f.tftp.failed)),
    ...family('kseed_tftp_requests_refused_total', 'counter', 'TFTP read requests refused before any transfer (no such file, outside the root, a write).', [`kseed_tftp_requests_refused_total ${f.tftp.refused}`]),
    ...family('kseed_tftp_sent_bytes_total', 'counter', 'File bytes sent over TFTP, failed transfers included.', [`kseed_tftp_sent_bytes_total ${f.tftp.bytes}`]),
    ...family('kseed_http_boot_requests_total', 'counter', 'Requests answered by the boot HTTP server (iPXE scripts, ramdisk, images, agent API), by status class.', by('kseed_http_boot_requests_total', 'class', LABELS.httpClass, f.http.requests)),
    ...family('kseed_http_boot_sent_bytes_total', 'counter', 'Bytes sent by the boot HTTP server (declared body lengths; headers included for bodies sent without one).', [`kseed_http_boot_sent_bytes_total ${f.http.bytes}`]),
  ];
}

/** The whole exposition: build info, nodes by state, leases, finished phase durations, the boot services' counters, then the API's. */
export function metricsText(o: { store: StateStore; nodes: readonly string[]; version: string; metrics: ApiMetrics; stateDir?: string | undefined }): string {
  const names = [...o.nodes, ...o.store.listNodes().map((n) => n.name).filter((n) => !o.nodes.includes(n))];
  const byState = new Map<string, number>(NODE_STATES.map((s) => [s, 0]));
  const phases = new Map<string, Histogram>();
  for (const name of names) {
    const rec = o.store.getNode(name);
    // a site node never touched is where enroll starts
    const state = rec?.state ?? 'enroll';
    byState.set(state, (byState.get(state) ?? 0) + 1);
    if (!rec) continue;
    const runs = o.store.phaseTimings(name);
    // the last run may still be going on: only final durations go into the histogram, so no bucket ever shrinks
    if (BUSY.has(state)) runs.pop();
    for (const t of runs) {
      const h = phases.get(t.phase) ?? new Histogram(PHASE_BUCKETS);
      h.observe(t.ms / 1000);
      phases.set(t.phase, h);
    }
  }
  const l = o.store.nodeLeases.stats();
  const lines = [
    ...family('kseed_build_info', 'gauge', 'The kseed version serving these metrics (always 1).', [`kseed_build_info${labelText({ version: o.version })} 1`]),
    ...family('kseed_nodes', 'gauge', 'Nodes of the site (and any other node in the state store) by lifecycle state.', [...byState].map(([state, n]) => `kseed_nodes${labelText({ state })} ${n}`)),
    ...family('kseed_leases_live', 'gauge', 'Leases held now (not yet released or expired).', [`kseed_leases_live ${l.live}`]),
    ...family('kseed_leased_nodes', 'gauge', 'Nodes in a live lease.', [`kseed_leased_nodes ${l.leased_nodes}`]),
    ...family('kseed_lease_wipe_failed_nodes', 'gauge', 'Nodes an ended lease still holds because their wipe failed: nobody can lease them until a release of that lease wipes them.', [`kseed_lease_wipe_failed_nodes ${l.wipe_failed_nodes}`]),
    ...family('kseed_leases_ended_total', 'counter', 'Leases ended since the state store was made, by how they ended.', [
      `kseed_leases_ended_total${labelText({ reason: 'released' })} ${l.released}`,
      `kseed_leases_ended_total${labelText({ reason: 'expired' })} ${l.expired}`,
    ]),
    ...family('kseed_phase_duration_seconds', 'histogram', 'Finished runs of each lifecycle phase (enroll, inspect, deploy, ...), first to last event, from the state store.', [...phases].sort(([a], [b]) => a.localeCompare(b)).flatMap(([phase, h]) => h.lines('kseed_phase_duration_seconds', { phase }))),
    ...bootLines(o.stateDir),
    ...o.metrics.lines(),
  ];
  return `${lines.join('\n')}\n`;
}
