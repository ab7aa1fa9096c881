/**
 * One node's boot trace and serial console tail, for the status page: where
 * a node that is stuck stopped. The trace joins two records that the boot
 * path already writes and nothing else reads together:
 *  - the boot services' log (.kseed/logs/boot-serve.log, one JSON line per
 *    DHCP/TFTP/HTTP event, `kseed boot serve --json`): DHCP seen and offered,
 *    first stages fetched over TFTP, iPXE scripts and ramdisk files over HTTP;
 *  - the state store's events the agent API and the engine record (task
 *    handed out, inventory, agent progress and result, the OS's callback).
 * A DHCP line names its MAC (and the node when known); TFTP and HTTP lines
 * only the client's address, matched through the node's DHCP leases.
 * The console is the lab's serial log of the node (QEMU's -serial file,
 * lab/manifest.ts); real hardware has none here (`kseed console` is SOL).
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import type { EventRecord, StateStore } from '../engine/state.js';
import { logFileOf } from '../engine/service.js';
import { listLabs, readManifest } from '../lab/manifest.js';

/** How much of the end of the boot log is read per request: a fleet's log grows by megabytes. */
const LOG_TAIL_BYTES = 4 * 1024 * 1024;
const CONSOLE_TAIL_BYTES = 16 * 1024;
const TRACE_MAX = 400;

/** The store's events that are steps of a boot (agent API and engine), by kind. */
const BOOT_KINDS = new Set(['boot-script', 'task', 'inventory', 'agent-progress', 'agent-result', 'result-refused', 'token-refused', 'callback', 'vmedia-fetched', 'boot-wait', 'booted', 'boot-wait-failed']);

export interface TraceEntry {
  ts: string;
  source: 'dhcp' | 'tftp' | 'http' | 'agent' | 'engine';
  what: string;
  /** The step failed or was refused. */
  bad?: boolean;
}

function tailOf(file: string, bytes: number): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const n = Math.min(size, bytes);
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, size - n);
    const text = buf.toString('utf8');
    // a tail that starts inside a line drops that partial line
    return n < size ? text.slice(text.indexOf('\n') + 1) : text;
  } finally {
    closeSync(fd);
  }
}

const clip = (s: unknown, n = 160) => String(s ?? '').slice(0, n);

/** A boot-services log line as a trace entry, or undefined when it is not this node's. */
function fromLogLine(e: Record<string, unknown>, macs: ReadonlySet<string>, ips: ReadonlySet<string>, node: string): TraceEntry | undefined {
  const ts = typeof e.ts === 'string' ? e.ts : '';
  if (e.service === 'dhcp') {
    const mac = String(e.mac ?? '').toLowerCase();
    if (!macs.has(mac) && e.name !== node) return undefined;
    const what = [`${e.type}`, e.ip ? `ip ${e.ip}` : '', e.bootFile ? `boot file ${e.bootFile}` : '', e.reason ? `(${clip(e.reason)})` : ''].filter(Boolean).join(' ');
    return { ts, source: 'dhcp', what, ...(/nak|ignored|declin|refus|error/i.test(String(e.type)) ? { bad: true } : {}) };
  }
  const client = String(e.client ?? '').replace(/:\d+$/, '');
  if (e.service === 'tftp') {
    if (!ips.has(client) || e.type === 'error') return undefined;
    const what = e.type === 'start' ? `fetching ${e.file} (${e.size} bytes)` : e.type === 'end' ? `sent ${e.file}${e.error ? `: ${clip(e.error)}` : ''}` : `refused ${e.file ?? ''}: ${clip(e.message)}`;
    return { ts, source: 'tftp', what, ...(e.type === 'refused' || e.error ? { bad: true } : {}) };
  }
  if (e.service === 'http') {
    if (e.node !== node && !ips.has(client)) return undefined;
    const status = Number(e.status);
    return { ts, source: 'http', what: `${e.method} ${clip(e.path)} ${status}${e.error ? `: ${clip(e.error)}` : ''}`, ...(status >= 400 ? { bad: true } : {}) };
  }
  return undefined;
}

function fromEvent(e: EventRecord): TraceEntry {
  const d = e.detail;
  const ts = new Date(e.ts).toISOString();
  switch (e.kind) {
    case 'agent-progress':
      return { ts, source: 'agent', what: `${d.stage}${d.pct !== undefined ? ` ${d.pct}%` : ''}${d.msg ? `: ${clip(d.msg)}` : ''}` };
    case 'agent-result':
      return { ts, source: 'agent', what: `${d.stage} ${d.status}${d.msg ? `: ${clip(d.msg)}` : ''}`, ...(d.status !== 'ok' ? { bad: true } : {}) };
    case 'task':
      return { ts, source: 'agent', what: `task ${d.task}${d.waiting ? ` (waiting: ${clip(d.waiting)})` : ''}` };
    case 'callback':
      return { ts, source: 'agent', what: `callback ${d.stage}${d.hostname ? ` from ${d.hostname}` : ''}` };
    case 'boot-script':
      return { ts, source: 'agent', what: `boot script ${d.purpose ?? ''}`.trim() };
    default:
      return { ts, source: e.kind.startsWith('boot') || e.kind === 'booted' ? 'engine' : 'agent', what: `${e.kind}${d.error || d.reason ? `: ${clip(d.error ?? d.reason)}` : ''}`, ...(/refused|failed/.test(e.kind) ? { bad: true } : {}) };
  }
}

/** The node's boot trace, oldest first (the last TRACE_MAX entries). */
export function bootTrace(stateDir: string, store: StateStore, node: string, siteMacs: readonly string[]): TraceEntry[] {
  const macs = new Set(siteMacs.map((m) => m.toLowerCase()));
  const ips = new Set<string>();
  for (const l of store.listLeases()) if (macs.has(l.mac.toLowerCase())) ips.add(l.ip);
  const rec = store.getNode(node);
  if (rec?.ip) ips.add(rec.ip);
  const out: TraceEntry[] = [];
  for (const line of (tailOf(logFileOf(stateDir), LOG_TAIL_BYTES) ?? '').split('\n')) {
    if (!line.startsWith('{')) continue;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const t = fromLogLine(e, macs, ips, node);
    if (t) out.push(t);
  }
  for (const e of store.listEvents(node)) if (BOOT_KINDS.has(e.kind)) out.push(fromEvent(e));
  // ISO stamps of one clock sort as text; the sort is stable for one millisecond's lines
  out.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  return out.slice(-TRACE_MAX);
}

/** How much new log one poll reads at most: a flood is skipped past, the page needs the latest lines. */
const FOLLOW_MAX_BYTES = 1024 * 1024;

export interface LiveBootLine extends TraceEntry {
  node: string;
}

/**
 * Follows the boot services' log as it grows, for the page's live stream:
 * each new line that is a node's boot step (by MAC for DHCP, by the node's
 * leased address or named node for TFTP and HTTP, as bootTrace matches
 * them), so that a node stuck before its first store event (no DHCP
 * answer, a first stage never fetched) shows where it stopped while the
 * page is open. Starts at the log's end: what came before is in the trace.
 * A log that shrank was rotated or truncated: it is read from its start.
 */
export class BootLogFollower {
  private offset: number;
  private rest = '';
  private readonly file: string;
  private readonly byMac = new Map<string, string>();

  constructor(
    stateDir: string,
    private readonly store: StateStore,
    macs: ReadonlyMap<string, readonly string[]>,
  ) {
    this.file = logFileOf(stateDir);
    this.offset = this.size();
    for (const [node, list] of macs) for (const m of list) this.byMac.set(m.toLowerCase(), node);
  }

  /** Starts over at the log's end (a stream opens after none was: older lines are in the trace). */
  skipToEnd(): void {
    this.offset = this.size();
    this.rest = '';
  }

  private size(): number {
    try {
      return statSync(this.file).size;
    } catch {
      return 0;
    }
  }

  /** The node boot lines written since the last call. */
  read(): LiveBootLine[] {
    const size = this.size();
    if (size < this.offset) {
      this.offset = 0;
      this.rest = '';
    }
    if (size === this.offset) return [];
    if (size - this.offset > FOLLOW_MAX_BYTES) {
      this.offset = size - FOLLOW_MAX_BYTES;
      this.rest = '';
    }
    let text = '';
    let fd: number | undefined;
    try {
      fd = openSync(this.file, 'r');
      const buf = Buffer.alloc(size - this.offset);
      const n = readSync(fd, buf, 0, buf.length, this.offset);
      this.offset += n;
      text = this.rest + buf.subarray(0, n).toString('utf8');
    } catch {
      return [];
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    const lines = text.split('\n');
    // a line still being written waits for its end
    this.rest = lines.pop() ?? '';
    const out: LiveBootLine[] = [];
    let byIp: Map<string, string> | undefined;
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (e.service !== 'dhcp' && e.service !== 'tftp' && e.service !== 'http') continue;
      let node: string | undefined;
      if (e.service === 'dhcp') node = this.byMac.get(String(e.mac ?? '').toLowerCase());
      else {
        // read once per batch: a lease given a moment ago is in the store by now
        byIp ??= this.addresses();
        node = typeof e.node === 'string' && [...this.byMac.values()].includes(e.node) ? e.node : byIp.get(String(e.client ?? '').replace(/:\d+$/, ''));
      }
      if (!node) continue;
      const ips = new Set(byIp ? [...byIp].filter(([, n]) => n === node).map(([ip]) => ip) : []);
      const macs = new Set([...this.byMac].filter(([, n]) => n === node).map(([m]) => m));
      const t = fromLogLine(e, macs, ips, node);
      if (t) out.push({ node, ...t });
    }
    return out;
  }

  /** Client address -> node: the site MACs' DHCP leases and the nodes' recorded addresses. */
  private addresses(): Map<string, string> {
    const m = new Map<string, string>();
    for (const l of this.store.listLeases()) {
      const node = this.byMac.get(l.mac.toLowerCase());
      if (node) m.set(l.ip, node);
    }
    for (const n of new Set(this.byMac.values())) {
      const ip = this.store.getNode(n)?.ip;
      if (ip) m.set(ip, n);
    }
    return m;
  }
}

/** The end of the node's serial log in a lab of this seed, printable characters only; undefined without one. */
export function consoleTail(stateDir: string, node: string): { file: string; text: string } | undefined {
  for (const lab of listLabs(stateDir)) {
    let m;
    try {
      m = readManifest(stateDir, lab);
    } catch {
      continue;
    }
    const n = m?.nodes.find((x) => x.name === node);
    if (!n || n.sim || !existsSync(n.serialLog)) continue;
    const raw = tailOf(n.serialLog, CONSOLE_TAIL_BYTES) ?? '';
    // ANSI sequences and other control bytes of a firmware's screen are noise in a <pre>
    const text = raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/[^\n\t\x20-\x7e\u00a0-\uffff]/g, '');
    return { file: n.serialLog, text };
  }
  return undefined;
}
