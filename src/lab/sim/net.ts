/**
 * The wire of a simulated node: its own network namespace holding `eth0`
 * with the node's MAC, the other end of a veth pair whose lab end is a port
 * of the lab bridge, like a VM's tap. A namespace of its own, not an address
 * in the lab's: an address of the lab namespace would be local to the seed,
 * so its traffic would skip the bridge (and ARP, which the agent token's
 * binding reads, docs/AGENT-API.md) and its DHCP broadcasts would arrive with
 * a local source address, which the kernel drops as martian.
 */
import { run, runQuiet } from '../../util/tools.js';
import { KseedError } from '../../errors.js';
import { IFNAME_MAX } from '../names.js';

/** The node side of the wire, inside the node's namespace. */
export const SIM_IFACE = 'eth0';

/** Namespace of simulated node `index` of lab netns `labNs` (`ksl-<lab>`). */
export function simNetnsName(labNs: string, index: number): string {
  return `${labNs}-n${index}`;
}

/** Bridge-side end of the node's veth, in the lab namespace. */
export function simPortName(index: number): string {
  const n = `ksl-s${index}`;
  if (n.length > IFNAME_MAX) throw new Error(`interface name ${n} too long`);
  return n;
}

async function exists(ip: string, ns: string, dev: string): Promise<boolean> {
  return (await runQuiet(ip, ['-n', ns, 'link', 'show', 'dev', dev])).exitCode === 0;
}

/**
 * Creates (or converges) the node's namespace and veth; idempotent, so a
 * second `lab up` after a crash finishes what the first began.
 */
export async function ensureSimWire(ip: string, labNs: string, bridge: string, index: number, mac: string): Promise<{ netns: string; port: string }> {
  const ns = simNetnsName(labNs, index);
  const port = simPortName(index);
  const nsList = (await runQuiet(ip, ['netns', 'list'])).stdout;
  if (!nsList.split('\n').some((l) => l.split(' ')[0] === ns)) {
    const r = await runQuiet(ip, ['netns', 'add', ns]);
    if (r.exitCode !== 0 && !/exists/i.test(r.stderr)) throw new KseedError(`ip netns add ${ns} failed`, { detail: r.stderr.trim(), code: 'tool-failed' });
  }
  if (!(await exists(ip, labNs, port))) {
    // a half-made pair (crash between the two steps) leaves eth0 in the node namespace
    await runQuiet(ip, ['-n', ns, 'link', 'del', SIM_IFACE]);
    await run(ip, ['-n', labNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', SIM_IFACE, 'netns', ns]);
  }
  await run(ip, ['-n', labNs, 'link', 'set', port, 'master', bridge, 'up']);
  await run(ip, ['-n', ns, 'link', 'set', SIM_IFACE, 'address', mac, 'up']);
  await run(ip, ['-n', ns, 'link', 'set', 'lo', 'up']);
  return { netns: ns, port };
}

export async function deleteSimWire(ip: string, labNs: string, index: number): Promise<void> {
  const ns = simNetnsName(labNs, index);
  await runQuiet(ip, ['-n', labNs, 'link', 'del', simPortName(index)]);
  await runQuiet(ip, ['netns', 'del', ns]);
}

/** The node's leased address on its eth0 (a boot stage's DHCP); the previous one goes. */
export async function setSimAddress(ip: string, ns: string, cidr: string | undefined): Promise<void> {
  await runQuiet(ip, ['-n', ns, 'addr', 'flush', 'dev', SIM_IFACE]);
  if (cidr) await run(ip, ['-n', ns, 'addr', 'add', cidr, 'dev', SIM_IFACE]);
}
