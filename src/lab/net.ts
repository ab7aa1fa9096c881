/**
 * The lab network: one netns holding a bridge with the seed's address and one
 * tap per node. Everything lives inside the netns, so deleting the netns
 * removes the bridge and the taps with it, and nothing the lab does (DHCP
 * included) can reach the host's own networks. Every step is idempotent:
 * `lab up` after a crash or a second time converges instead of failing.
 */
import { existsSync } from 'node:fs';
import { KseedError } from '../errors.js';
import { IFNAME_MAX, type LabNetwork } from './names.js';
import { run, runQuiet } from '../util/tools.js';

export async function netnsExists(ip: string, ns: string): Promise<boolean> {
  // /run/netns/<ns> is what `ip netns add` creates; cheaper than parsing `ip netns list`
  if (existsSync(`/run/netns/${ns}`)) return true;
  const r = await runQuiet(ip, ['netns', 'list']);
  return r.stdout.split('\n').some((l) => l.split(' ')[0] === ns);
}

async function linkExists(ip: string, ns: string, dev: string): Promise<boolean> {
  const r = await runQuiet(ip, ['-n', ns, 'link', 'show', 'dev', dev]);
  return r.exitCode === 0;
}

function checkIfName(dev: string): void {
  if (dev.length > IFNAME_MAX) throw new KseedError(`interface name '${dev}' is longer than ${IFNAME_MAX} characters`);
}

export async function ensureNetns(ip: string, ns: string): Promise<void> {
  if (!(await netnsExists(ip, ns))) {
    const r = await runQuiet(ip, ['netns', 'add', ns]);
    // a concurrent `lab up` may have won the race
    if (r.exitCode !== 0 && !/exists/i.test(r.stderr)) {
      throw new KseedError(`ip netns add ${ns} failed`, { detail: r.stderr.trim(), code: 'tool-failed' });
    }
  }
  await run(ip, ['-n', ns, 'link', 'set', 'lo', 'up']);
}

async function addrs(ip: string, ns: string, dev: string): Promise<string[]> {
  const r = await runQuiet(ip, ['-n', ns, '-j', 'addr', 'show', 'dev', dev]);
  try {
    const j = JSON.parse(r.stdout) as { addr_info?: { local: string; prefixlen: number }[] }[];
    return j.flatMap((l) => (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
  } catch {
    return [];
  }
}

async function addAddr(ip: string, ns: string, dev: string, cidr: string, extra: string[] = []): Promise<void> {
  if ((await addrs(ip, ns, dev)).includes(cidr)) return;
  const r = await runQuiet(ip, ['-n', ns, 'addr', 'add', cidr, ...extra, 'dev', dev]);
  if (r.exitCode !== 0 && !(await addrs(ip, ns, dev)).includes(cidr)) {
    throw new KseedError(`ip addr add ${cidr} on ${dev} in ${ns} failed`, { detail: r.stderr.trim(), code: 'tool-failed' });
  }
}

export async function ensureBridge(ip: string, ns: string, bridge: string, net: LabNetwork): Promise<void> {
  checkIfName(bridge);
  if (!(await linkExists(ip, ns, bridge))) {
    // forward_delay 0: a port that appears when a VM starts forwards at once,
    // or the first DHCPDISCOVERs of the boot ROM would be dropped
    await run(ip, ['-n', ns, 'link', 'add', bridge, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
  }
  await addAddr(ip, ns, bridge, `${net.ipv4}/${net.prefix}`);
  // nodad: the address is usable at once for router advertisements
  await addAddr(ip, ns, bridge, `${net.ipv6}/${net.prefix6}`, ['nodad']);
  await run(ip, ['-n', ns, 'link', 'set', bridge, 'up']);
}

export async function ensureTap(ip: string, ns: string, bridge: string, tap: string): Promise<void> {
  checkIfName(tap);
  if (!(await linkExists(ip, ns, tap))) {
    const r = await runQuiet(ip, ['-n', ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    if (r.exitCode !== 0 && !(await linkExists(ip, ns, tap))) {
      throw new KseedError(`ip tuntap add ${tap} in ${ns} failed`, { detail: r.stderr.trim(), code: 'tool-failed' });
    }
  }
  await run(ip, ['-n', ns, 'link', 'set', tap, 'master', bridge]);
  await run(ip, ['-n', ns, 'link', 'set', tap, 'up']);
}

/**
 * A VLAN sub-interface of the bridge with its addresses (the seed's side of a
 * tagged network). False when this kernel has no 802.1Q support (no 8021q
 * module, as in some VMs and containers): the bridge still forwards the
 * nodes' tagged frames between them, only the seed is not on the VLAN.
 */
export async function ensureVlan(ip: string, ns: string, bridge: string, dev: string, id: number, cidrs: string[]): Promise<boolean> {
  checkIfName(dev);
  if (!(await linkExists(ip, ns, dev))) {
    const r = await runQuiet(ip, ['-n', ns, 'link', 'add', 'link', bridge, 'name', dev, 'type', 'vlan', 'id', String(id)]);
    if (r.exitCode !== 0 && /unknown device type|not supported/i.test(r.stderr)) return false;
    if (r.exitCode !== 0 && !(await linkExists(ip, ns, dev))) {
      throw new KseedError(`ip link add ${dev} type vlan in ${ns} failed`, { detail: r.stderr.trim(), code: 'tool-failed' });
    }
  }
  // nodad: usable at once, as the bridge's own IPv6 address
  for (const c of cidrs) await addAddr(ip, ns, dev, c, c.includes(':') ? ['nodad'] : []);
  await run(ip, ['-n', ns, 'link', 'set', dev, 'up']);
  return true;
}

export async function deleteLink(ip: string, ns: string, dev: string): Promise<void> {
  if (await linkExists(ip, ns, dev)) await run(ip, ['-n', ns, 'link', 'del', dev]);
}

export async function deleteTap(ip: string, ns: string, tap: string): Promise<void> {
  if (await linkExists(ip, ns, tap)) await run(ip, ['-n', ns, 'link', 'del', tap]);
}

/** PIDs of processes living in the netns (`ip netns pids`). */
export async function netnsPids(ip: string, ns: string): Promise<number[]> {
  if (!(await netnsExists(ip, ns))) return [];
  const r = await runQuiet(ip, ['netns', 'pids', ns]);
  return r.stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

export async function deleteNetns(ip: string, ns: string): Promise<void> {
  if (!(await netnsExists(ip, ns))) return;
  const r = await runQuiet(ip, ['netns', 'del', ns]);
  if (r.exitCode !== 0 && (await netnsExists(ip, ns))) {
    throw new KseedError(`ip netns del ${ns} failed`, { detail: r.stderr.trim(), code: 'tool-failed' });
  }
}

export interface LinkInfo {
  name: string;
  up: boolean;
  master?: string;
  /** Carrier: a tap has one only while QEMU holds it open. */
  lowerUp: boolean;
}

/** Links inside the netns, for `lab status`. */
export async function netnsLinks(ip: string, ns: string): Promise<LinkInfo[]> {
  if (!(await netnsExists(ip, ns))) return [];
  const r = await runQuiet(ip, ['-n', ns, '-j', 'link', 'show']);
  if (r.exitCode !== 0) return [];
  try {
    const arr = JSON.parse(r.stdout) as { ifname: string; flags?: string[]; master?: string; operstate?: string }[];
    return arr.map((l) => ({
      name: l.ifname,
      up: (l.flags ?? []).includes('UP'),
      lowerUp: (l.flags ?? []).includes('LOWER_UP'),
      ...(l.master ? { master: l.master } : {}),
    }));
  } catch {
    return [];
  }
}
