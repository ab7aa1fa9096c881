/**
 * A site file's text for tests that need no network of their own: the
 * embedded engine's seed on the loopback interface with DHCP off, so it
 * serves nothing, and BMCs reached on 127.0.0.1.
 */
export function loopbackSite(site: string, opts: { bmc?: string; nodes: string[]; tail?: string[] }): string {
  return [
    `site: ${site}`,
    'engine: embedded',
    'seed:',
    '  interface: lo',
    '  address: 10.77.0.1/24',
    '  dhcp: { mode: off }',
    ...(opts.bmc ? ['defaults:', `  bmc: ${opts.bmc}`] : []),
    'nodes:',
    ...opts.nodes,
    ...(opts.tail ?? []),
    '',
  ].join('\n');
}
