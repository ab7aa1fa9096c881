/**
 * The Ironic engine's boot traffic, counted from what the Compose stack's
 * services already log (templates/stack/): dnsmasq with `log-dhcp` and
 * `log-facility=-` (one line per DHCP message received and answered, one
 * per TFTP transfer ended or refused) and nginx's access log in its default
 * `combined` format (one line per request, subrequests not logged). The
 * counts go into the same snapshot shape as the embedded boot services'
 * (boot/counters.ts), so /metrics has the same names and labels on both
 * engines.
 *
 * What the logs cannot say is left out rather than guessed: dnsmasq logs a
 * TFTP transfer once, when it ends (so `started` counts transfers that
 * ended, sent or failed) and never its size (no TFTP byte count); it logs
 * no line for a datagram it cannot decode, for a REQUEST meant for another
 * server, or for a proxyDHCP request of an unknown MAC, so those are not
 * counted. Label values come from fixed sets, never from a log's text.
 */
import { bump, type BootCounterSnapshot } from '../boot/counters.js';

/** A snapshot whose TFTP bytes may be unknown (undefined: the series is left out). */
export type StackCounterSnapshot = Omit<BootCounterSnapshot, 'tftp'> & { tftp: Omit<BootCounterSnapshot['tftp'], 'bytes'> & { bytes?: number } };

export const emptyStackSnapshot = (): StackCounterSnapshot => ({
  dhcp: { received: {}, sent: {}, ignored: {} },
  tftp: { started: 0, completed: 0, failed: {}, refused: 0 },
  http: { requests: {}, bytes: 0 },
});

/**
 * dnsmasq's own prefix: `dnsmasq-dhcp[PID]: ` (and a syslog-style time when
 * it logs to a file); with log-dhcp a DHCP line then has the transaction id.
 */
const DNSMASQ = /(?:^|\s)dnsmasq-(dhcp|tftp)(?:\[\d+\])?: (.*)$/;
/** rfc2131.c log_packet(): `TYPE(interface) [address] mac [text]`. */
const DHCP_PACKET = /^(?:\d+ )?(DHCP[A-Z]+|BOOTP|PXE)\(([^)]*)\) (.*)$/;
const RECEIVED: Readonly<Record<string, string>> = { DHCPDISCOVER: 'discover', DHCPREQUEST: 'request', DHCPDECLINE: 'decline', DHCPRELEASE: 'release', DHCPINFORM: 'inform' };
const SENT: Readonly<Record<string, string>> = { DHCPOFFER: 'offer', DHCPACK: 'ack', DHCPNAK: 'nak' };

/** Why dnsmasq left a request unanswered, from the text it logs after the MAC. */
function ignoredReason(text: string): string | undefined {
  // dhcp-ignore=tag:!known is the stack's only dhcp-ignore: a MAC not in the inventory
  if (/\bignored\b/.test(text)) return 'unknown-mac';
  if (/no address available/.test(text)) return 'pool-exhausted';
  if (/wrong server-ID/.test(text)) return 'not-ours';
  return undefined;
}

function dhcpLine(c: StackCounterSnapshot, body: string): void {
  const m = DHCP_PACKET.exec(body);
  if (!m) return;
  const [, type, , text] = m as unknown as [string, string, string, string];
  if (RECEIVED[type]) {
    bump(c.dhcp.received, RECEIVED[type]);
    const why = ignoredReason(text);
    if (why) bump(c.dhcp.ignored, why);
  } else if (SENT[type]) {
    bump(c.dhcp.sent, SENT[type]);
  } else if (type === 'BOOTP') {
    // a BOOTP request is logged once, with the address it got or "ignored"
    bump(c.dhcp.received, 'bootp');
    if (/\bignored\b/.test(text)) bump(c.dhcp.ignored, 'bootp');
  } else if (type === 'PXE') {
    // proxyDHCP (RFC 4578 / PXE 2.1): "proxy" answers a DISCOVER with an offer; a line with an address and
    // boot file answers a REQUEST on port 4011 with an ack
    const discover = /\bproxy\s*$/.test(text);
    bump(c.dhcp.received, discover ? 'discover' : 'request');
    bump(c.dhcp.sent, discover ? 'offer' : 'ack');
  }
}

/** tftp.c's lines: one when a transfer ends (sent, or failed) or a request is refused. */
function tftpLine(c: StackCounterSnapshot, body: string): void {
  if (/^sent \S.* to \S+$/.test(body)) {
    c.tftp.started++;
    c.tftp.completed++;
  } else if (/^failed sending \S.* to \S+$/.test(body)) {
    // dnsmasq gave up after its retransmissions
    c.tftp.started++;
    bump(c.tftp.failed, 'timeout');
  } else if (/^error -?\d+ .* received from \S+$/.test(body)) {
    // an ERROR packet from the client (RFC 1350 5), e.g. a PXE ROM ending its tsize probe
    c.tftp.started++;
    bump(c.tftp.failed, 'peer-error');
  } else if (/^(file \S.* not found|cannot access |cannot read |unsupported request from |refused access to )/.test(body)) {
    c.tftp.refused++;
  }
}

/** One line of the dnsmasq container's log (its stdout or stderr). */
export function countDnsmasqLine(c: StackCounterSnapshot, line: string): void {
  const m = DNSMASQ.exec(line);
  if (!m) return;
  if (m[1] === 'dhcp') dhcpLine(c, m[2]!);
  else tftpLine(c, m[2]!);
}

/**
 * nginx's `combined` format: `$remote_addr - $remote_user [$time_local]
 * "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`
 * (nginx escapes a `"` inside a field as \x22, so a field never holds one).
 */
const NGINX_COMBINED = /^\S+ \S+ \S+ \[[^\]]*\] "[^"]*" (\d{3}) (\d+) "/;

/** One line of the http container's log: an access-log line counts, anything else (its error log) does not. */
export function countNginxLine(c: StackCounterSnapshot, line: string): void {
  const m = NGINX_COMBINED.exec(line);
  if (!m) return;
  const status = Number(m[1]);
  bump(c.http.requests, status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other');
  c.http.bytes += Number(m[2]);
}
