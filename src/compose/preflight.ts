/**
 * Checks before `up`: every service uses host networking and binds the seed
 * address, so a missing interface or address would surface as services that
 * crash-loop on bind(). Say it plainly instead, with the fix.
 */
import os from 'node:os';
import { KseedError } from '../errors.js';

type Interfaces = ReturnType<typeof os.networkInterfaces>;

export function checkSeedAddress(
  seed: { interface: string; address: string; prefix: number; netns?: string },
  interfaces: Interfaces = os.networkInterfaces(),
): void {
  const where = seed.netns ? ` (the site puts it in network namespace ${seed.netns}; the Compose stack runs in the host namespace)` : '';
  const addrs = interfaces[seed.interface];
  if (!addrs) {
    throw new KseedError(`seed interface ${seed.interface} not found on this host${where}`, {
      code: 'seed-interface-missing',
      detail: `interfaces here: ${Object.keys(interfaces).sort().join(', ')}`,
    });
  }
  if (!addrs.some((a) => a.family === 'IPv4' && a.address === seed.address)) {
    const have = addrs.filter((a) => a.family === 'IPv4').map((a) => a.cidr ?? a.address);
    throw new KseedError(
      `seed address ${seed.address} is not on ${seed.interface} (add it: ip addr add ${seed.address}/${seed.prefix} dev ${seed.interface})`,
      { code: 'seed-address-missing', detail: `IPv4 addresses on ${seed.interface}: ${have.join(', ') || 'none'}` },
    );
  }
}
