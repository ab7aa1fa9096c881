/**
 * Which local ports a process holds, from /proc alone (proc(5)): the socket
 * inodes behind /proc/PID/fd, matched with the `inode` column of
 * /proc/PID/net/{udp,udp6,tcp,tcp6}. Reading the process's own net/ files
 * gives its network namespace's sockets, whatever namespace the reader is in.
 * Used to tell kseed's own services from a foreign one on a busy port.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface HeldPorts {
  udp: Set<number>;
  /** listening TCP ports only */
  tcp: Set<number>;
}

/** proc(5): st 0A is TCP_LISTEN. */
const TCP_LISTEN = '0A';

function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      /* closed while we read */
    }
  }
  return inodes;
}

/**
 * Ports of one /proc/net table held by `inodes`. A row is
 * `sl local_address rem_address st ... uid timeout inode`, local_address
 * being hex `ADDR:PORT`.
 */
export function portsInTable(text: string, inodes: Set<string>, listenOnly: boolean): number[] {
  const ports: number[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !inodes.has(f[9]!)) continue;
    if (listenOnly && f[3] !== TCP_LISTEN) continue;
    const port = parseInt(f[1]!.split(':')[1] ?? '', 16);
    if (Number.isInteger(port)) ports.push(port);
  }
  return ports;
}

/** The UDP ports and listening TCP ports process `pid` holds (empty when it is gone or unreadable). */
export function portsHeldBy(pid: number): HeldPorts {
  const inodes = socketInodes(pid);
  const held: HeldPorts = { udp: new Set(), tcp: new Set() };
  if (!inodes.size) return held;
  for (const [table, set, listenOnly] of [
    ['udp', held.udp, false],
    ['udp6', held.udp, false],
    ['tcp', held.tcp, true],
    ['tcp6', held.tcp, true],
  ] as const) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const p of portsInTable(text, inodes, listenOnly)) set.add(p);
  }
  return held;
}

/**
 * `pid` and every process below it, by the parent PID of each /proc/N/stat
 * (proc(5): field 4, after the parenthesised command name, which may itself
 * hold spaces and parentheses).
 */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue;
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
  }
  const out: number[] = [];
  for (const queue = [pid]; queue.length; ) {
    const p = queue.shift()!;
    out.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return out;
}

/** The ports `pid` and the processes below it hold: a daemon's workers or a wrapper's child hold a service's sockets too. */
export function portsHeldByTree(pid: number): HeldPorts {
  const held: HeldPorts = { udp: new Set(), tcp: new Set() };
  for (const p of processTree(pid)) {
    const h = portsHeldBy(p);
    for (const x of h.udp) held.udp.add(x);
    for (const x of h.tcp) held.tcp.add(x);
  }
  return held;
}
