/**
 * Checks before `up`: the services facing the provisioning network bind the
 * seed address, so a missing interface or address would surface as services
 * that crash-loop on bind(). Say it plainly instead, with the fix. With
 * seed.netns the address is looked for inside that namespace, where those
 * services run (see stackPlacement in src/render/model.ts).
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import { KseedError } from '../errors.js';
import { runQuiet } from '../util/tools.js';

type Interfaces = ReturnType<typeof os.networkInterfaces>;

export function checkSeedAddress(
  seed: { interface: string; address: string; prefix: number; netns?: string },
  interfaces: Interfaces = os.networkInterfaces(),
): void {
  const where = seed.netns ? ` in network namespace ${seed.netns}` : ' on this host';
  const addrs = interfaces[seed.interface];
  if (!addrs) {
    throw new KseedError(`seed interface ${seed.interface} not found${where}`, {
      code: 'seed-interface-missing',
      detail: `interfaces here: ${Object.keys(interfaces).sort().join(', ')}`,
    });
  }
  if (!addrs.some((a) => a.family === 'IPv4' && a.address === seed.address)) {
    const have = addrs.filter((a) => a.family === 'IPv4').map((a) => a.cidr ?? a.address);
    const ipn = seed.netns ? `ip -n ${seed.netns}` : 'ip';
    throw new KseedError(
      `seed address ${seed.address} is not on ${seed.interface}${seed.netns ? where : ''} (add it: ${ipn} addr add ${seed.address}/${seed.prefix} dev ${seed.interface})`,
      { code: 'seed-address-missing', detail: `IPv4 addresses on ${seed.interface}: ${have.join(', ') || 'none'}` },
    );
  }
}

/** The interfaces of a named network namespace, in os.networkInterfaces() form (IPv4 and IPv6 addresses). */
export async function interfacesIn(netns: string): Promise<Interfaces> {
  if (!existsSync(`/run/netns/${netns}`)) {
    throw new KseedError(`network namespace "${netns}" (seed.netns) does not exist: create the lab with \`kseed lab up\`, or remove seed.netns`, { code: 'no-netns' });
  }
  const r = await runQuiet('ip', ['-n', netns, '-j', 'addr', 'show'], { timeoutMs: 10_000 });
  if (r.exitCode !== 0) throw new KseedError(`cannot list the interfaces of network namespace ${netns}`, { code: 'no-netns', detail: r.stderr });
  const links = JSON.parse(r.stdout || '[]') as { ifname: string; address?: string; addr_info?: { family: string; local: string; prefixlen: number }[] }[];
  const out: Interfaces = {};
  for (const l of links) {
    out[l.ifname] = (l.addr_info ?? []).map((a) => ({
      address: a.local,
      netmask: '',
      family: a.family === 'inet6' ? ('IPv6' as const) : ('IPv4' as const),
      mac: l.address ?? '',
      internal: l.ifname === 'lo',
      cidr: `${a.local}/${a.prefixlen}`,
      scopeid: 0,
    })) as NonNullable<Interfaces[string]>;
  }
  return out;
}

/** checkSeedAddress where the seed address must be: the host, or seed.netns. */
export async function checkSeed(seed: { interface: string; address: string; prefix: number; netns?: string }): Promise<void> {
  checkSeedAddress(seed, seed.netns ? await interfacesIn(seed.netns) : os.networkInterfaces());
}
