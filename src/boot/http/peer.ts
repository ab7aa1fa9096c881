/**
 * Who is at the other end of a TCP connection on the provisioning network:
 * the kernel's IPv4 neighbour table (/proc/net/arp, of the network namespace
 * the server runs in) maps the peer's address to the hardware address that
 * answered for it. The TCP handshake needed that entry to reply, so it is
 * there, complete, by the time a request arrives. It binds an address to a
 * MAC on the local segment; it cannot tell a host that spoofs ARP (see
 * docs/AGENT-API.md, "Agent token").
 */
import { readFileSync } from 'node:fs';

/** ATF_COM (include/uapi/linux/if_arp.h): the entry is complete. */
const ATF_COM = 0x02;

/** The MAC (lower case) the neighbour table holds for `address`, else undefined. */
export function neighbourMac(address: string, table = '/proc/net/arp'): string | undefined {
  const ip = address.startsWith('::ffff:') ? address.slice(7) : address;
  let text: string;
  try {
    text = readFileSync(table, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || f[0] !== ip) continue;
    if ((Number(f[2]) & ATF_COM) === 0) continue;
    return f[3]!.toLowerCase();
  }
  return undefined;
}
