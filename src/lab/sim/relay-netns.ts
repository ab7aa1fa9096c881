/**
 * The lossy relays of a fleet fault run (relay.ts) in a network namespace of
 * their own, `<lab netns>-lossy`, as the bad link sits between a seed and
 * its BMCs: the seed reaches them across a veth pair (its end
 * `kslz<lab>` with the /30's first address, the namespace's end the
 * second), so the relays' datagrams cross a real link and an interface that
 * can be watched, not the seed's loopback. Each relay's front socket is made
 * inside the namespace (netns-socket.ts); its upstream sockets stay in the
 * caller's namespace, where the lab's ipmi_sim BMCs listen on 127.0.0.1.
 * Everything is found by name: `lab down` deletes the namespace (and the
 * veth pair with it) even after a crashed run.
 */
import { InputError } from '../../errors.js';
import { run, runQuiet } from '../../util/tools.js';
import { IFNAME_MAX } from '../names.js';
import { udpSocketIn } from './netns-socket.js';
import { type LossyRelay, type LossyRelayOptions, lossyRelay } from './relay.js';

export function lossyNetnsName(labNs: string): string {
  return `${labNs}-lossy`;
}

/** The seed's end of the veth, in the caller's namespace; the lab netns is `ksl-<lab>`. */
export function lossyHostIface(labNs: string): string {
  const n = `kslz${labNs.replace(/^ksl-/, '')}`;
  if (n.length > IFNAME_MAX) throw new InputError(`interface name ${n} too long: a shorter lab name`);
  return n;
}

export interface LossyNet {
  netns: string;
  /** Where the seed sends: the namespace's end of the veth. */
  relayIp: string;
}

/**
 * Creates (or recreates) the namespace and its veth; `net` is a free /30
 * given as its network address, e.g. 10.79.23.0: .1 is the seed's end, .2
 * the relays'.
 */
export async function ensureLossyNetns(ip: string, labNs: string, net: string): Promise<LossyNet> {
  const o = net.split('.').map(Number);
  if (o.length !== 4 || o.some((x) => !(Number.isInteger(x) && x >= 0 && x <= 255)) || o[3]! % 4 !== 0) throw new InputError(`${net}: not the network address of a /30`);
  const at = (k: number) => `${o[0]}.${o[1]}.${o[2]}.${o[3]! + k}`;
  const ns = lossyNetnsName(labNs);
  const host = lossyHostIface(labNs);
  await deleteLossyNetns(ip, labNs);
  await run(ip, ['netns', 'add', ns]);
  await run(ip, ['link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await run(ip, ['addr', 'add', `${at(1)}/30`, 'dev', host]);
  await run(ip, ['link', 'set', host, 'up']);
  await run(ip, ['-n', ns, 'addr', 'add', `${at(2)}/30`, 'dev', 'eth0']);
  await run(ip, ['-n', ns, 'link', 'set', 'eth0', 'up']);
  await run(ip, ['-n', ns, 'link', 'set', 'lo', 'up']);
  return { netns: ns, relayIp: at(2) };
}

/** Deletes the namespace (its veth goes with it) and a seed end left without its peer; true when there was one. */
export async function deleteLossyNetns(ip: string, labNs: string): Promise<boolean> {
  const had = (await runQuiet(ip, ['netns', 'del', lossyNetnsName(labNs)])).exitCode === 0;
  await runQuiet(ip, ['link', 'del', lossyHostIface(labNs)]);
  return had;
}

/** A lossy relay listening on `net.relayIp:port` inside the namespace, forwarding to `o.target`. */
export async function lossyRelayIn(net: LossyNet, port: number, o: Omit<LossyRelayOptions, 'front' | 'port'>): Promise<LossyRelay> {
  const front = await udpSocketIn(net.netns, { ip: net.relayIp, port });
  return lossyRelay({ ...o, front });
}
