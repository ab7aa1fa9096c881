/**
 * The view the stack templates see: everything derived from the site file
 * (network address, netmask, per-node DHCP hosts, image names) is computed
 * here in code, so templates stay free of logic and rendering stays
 * deterministic (node order is the site file's, everything else sorted).
 */
import type { NodeSpec, Site } from '../site/types.js';
import type { StackSecrets } from './secrets.js';

export const IMAGE_REPOS = {
  ironic: 'kseed/ironic',
  dnsmasq: 'kseed/dnsmasq',
  http: 'kseed/http',
  registry: 'kseed/registry',
  inspector: 'kseed/ironic-inspector',
  mariadb: 'kseed/mariadb',
} as const;
export type StackService = keyof typeof IMAGE_REPOS;

export function ipv4ToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`not an IPv4 address: ${ip}`);
  }
  return (((parts[0] as number) << 24) | ((parts[1] as number) << 16) | ((parts[2] as number) << 8) | (parts[3] as number)) >>> 0;
}

export function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

export function netmaskOf(prefix: number): string {
  return intToIpv4(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
}

export function networkOf(address: string, prefix: number): string {
  return intToIpv4((ipv4ToInt(address) & ipv4ToInt(netmaskOf(prefix))) >>> 0);
}

/** Compose project names allow [a-z0-9_-]; the site name may be anything the schema allows. */
export function projectName(site: Pick<Site, 'site'>): string {
  const slug = site.site.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^[-_]+|[-_]+$/g, '');
  return `kseed-${slug || 'site'}`;
}

export interface StackModel {
  project: string;
  site: string;
  seed: {
    interface: string;
    address: string;
    prefix: number;
    netmask: string;
    network: string;
    ports: Site['seed']['ports'];
    /** The network namespace holding the seed interface (the virtual lab); see stackPlacement. */
    netns?: string;
  };
  /** Where each part listens: see stackPlacement below. */
  placement: StackPlacement;
  /** kseed's deploy ramdisk, handed to Ironic as file:// URLs of a read-only bind mount. */
  boot: BootArtifacts;
  dhcp: {
    mode: Site['seed']['dhcp']['mode'];
    authoritative: boolean;
    proxy: boolean;
    off: boolean;
    range?: { start: string; end: string };
    leaseSeconds: number;
    router?: string;
    dns: string[];
    /** Authoritative: unknown MACs may lease an address but never get a boot file. */
    discoveryPool: boolean;
  };
  hosts: { name: string; macs: string[]; ip?: string }[];
  ironic: {
    user: string;
    deployInterface: Site['ironic']['deploy_interface'];
    minCommandInterval: number;
    inspector: boolean;
    bootMode: 'uefi' | 'bios';
    hardwareTypes: string[];
    /** ironic.conductors >= 2: ironic-api plus these conductors over JSON-RPC, MariaDB for all. */
    multi: boolean;
    conductors: IronicConductor[];
    jsonRpcPort: number;
    database: { address: string; port: number };
  };
  registry: { enabled: boolean; user: string; upstream?: string };
  images: Record<StackService, string>;
  services: StackService[];
  /** Paths from the stack directory to the secrets directory's files. */
  secrets: Record<string, string>;
  urls: { http: string; ironic: string; inspector: string; ipxeScript: string };
}

/**
 * Where the stack's parts run, and why.
 *
 * Without seed.netns every service uses host networking and binds the seed
 * address. With seed.netns (the virtual lab: the seed address lives on a
 * bridge inside a network namespace, the BMCs on 127.0.0.1 of the host, and
 * DHCP may only ever answer inside a namespace) the stack is split:
 * - dnsmasq, http (nginx) and registry face the provisioning network: their
 *   container keeps host networking (Docker cannot join an existing named
 *   namespace) but PID 1 enters the namespace with `nsenter --net` before it
 *   execs the service, then drops CAP_SYS_ADMIN (needed for setns only) from
 *   its bounding set. Healthchecks read /proc/1/net/*, i.e. PID 1's namespace.
 * - Ironic stays in the host namespace: it must reach the BMCs on 127.0.0.1.
 *   With the ramdisk deploy interface no node ever calls Ironic's API, so it
 *   listens on 127.0.0.1 only. It reads kseed's ramdisk through file:// URLs
 *   of a read-only bind mount, and its iPXE configs land in the ironic-data
 *   volume that nginx serves on the seed address.
 * - kseed's own HTTP boot service (per-node iPXE scripts by kseed lifecycle
 *   state, the deploy agent API, /artifacts) runs as a managed process in the
 *   namespace on 127.0.0.1:<seed.ports.http> (same port, other address than
 *   nginx), and nginx proxies its paths, so nodes see one HTTP server.
 */
export interface IronicConductor {
  /** Compose service name. */
  service: string;
  /**
   * [DEFAULT]host and [json_rpc]host_ip at once: Ironic's JSON-RPC client
   * dials http://<conductor host>:<[json_rpc]port> with one port for all
   * (ironic_lib/json_rpc/client.py), and every conductor shares the host's
   * network, so each needs an address of its own. Loopback: JSON-RPC never
   * faces the provisioning network, and the whole stack runs on one seed.
   */
  host: string;
}

/** Loopback addresses of the conductors (127.0.89.<i>) and MariaDB, with host networking. */
export const CONDUCTOR_NET = '127.0.89';
export const JSON_RPC_PORT = 8089;
export const MARIADB_ADDRESS = '127.0.89.254';
export const MARIADB_PORT = 3306;

export function conductorsOf(site: Site): IronicConductor[] {
  const n = site.ironic.conductors;
  if (n < 2) return [];
  return Array.from({ length: n }, (_, i) => ({ service: `ironic-conductor-${i + 1}`, host: `${CONDUCTOR_NET}.${i + 1}` }));
}

export interface StackPlacement {
  /** Address of Ironic's API ([api] host_ip). */
  ironicApiHost: string;
  /** Services whose PID 1 enters seed.netns. */
  inNetns: StackService[];
  /** kseed's HTTP boot service, behind nginx. */
  agent: { address: string; port: number };
}

export interface BootArtifacts {
  /**
   * Host directory holding the deploy kernel and initramfs (and images served
   * under /artifacts/), relative to the stack directory (./ or ../), so a
   * stack renders byte-identically wherever the site lives.
   */
  artifactsDir: string;
  /** Where Ironic's container sees it. */
  mountPoint: string;
  kernel: string;
  initrd: string;
}

/** Where the artifacts directory is mounted in the Ironic container ([conductor] file_url_allowed_paths). */
export const ARTIFACTS_MOUNT = '/kseed/artifacts';

export function stackPlacement(site: Site): StackPlacement {
  const netns = site.seed.netns;
  return {
    ironicApiHost: netns ? '127.0.0.1' : site.seed.address,
    inNetns: netns ? ['dnsmasq', 'http', 'registry'] : [],
    agent: { address: '127.0.0.1', port: site.seed.ports.http },
  };
}

/** Where the Ironic API answers for kseed itself (always the host namespace). */
export function ironicApiUrl(site: Site): string {
  return `http://${stackPlacement(site).ironicApiHost}:${site.seed.ports.ironic_api}`;
}

function hostOf(node: NodeSpec, withIp: boolean): { name: string; macs: string[]; ip?: string } {
  return { name: node.name, macs: node.macs.map((m) => m.toLowerCase()), ...(withIp && node.ip ? { ip: node.ip } : {}) };
}

export function buildModel(
  site: Site,
  secrets: StackSecrets,
  opts: { imageTag: string; secretsRel: string; boot?: Omit<BootArtifacts, 'mountPoint'> },
): StackModel {
  // renderStack always passes it; other callers only want URLs and names
  const boot = opts.boot ?? { artifactsDir: '../cache/ramdisk', kernel: 'vmlinuz', initrd: 'initramfs.gz' };
  const seed = site.seed;
  const mode = seed.dhcp.mode;
  const services: StackService[] = ['ironic', 'dnsmasq', 'http'];
  if (site.registry.enabled) services.push('registry');
  if (site.ironic.inspector) services.push('inspector');
  const conductors = conductorsOf(site);
  if (conductors.length) services.push('mariadb');
  const images = Object.fromEntries(
    (Object.keys(IMAGE_REPOS) as StackService[]).map((s) => [s, `${IMAGE_REPOS[s]}:${opts.imageTag}`]),
  ) as Record<StackService, string>;
  const hardwareTypes = ['ipmi', 'redfish', 'fake-hardware'];
  const secretPaths: Record<string, string> = {};
  for (const [name, file] of Object.entries(secrets.files).sort(([a], [b]) => a.localeCompare(b))) {
    secretPaths[name] = `${opts.secretsRel}/${file}`;
  }
  const base = `http://${seed.address}`;
  return {
    project: projectName(site),
    site: site.site,
    seed: {
      interface: seed.interface,
      address: seed.address,
      prefix: seed.prefix,
      netmask: netmaskOf(seed.prefix),
      network: networkOf(seed.address, seed.prefix),
      ports: seed.ports,
      ...(seed.netns ? { netns: seed.netns } : {}),
    },
    placement: stackPlacement(site),
    boot: { ...boot, mountPoint: ARTIFACTS_MOUNT },
    dhcp: {
      mode,
      authoritative: mode === 'authoritative',
      proxy: mode === 'proxy',
      off: mode === 'off',
      ...(seed.dhcp.range ? { range: seed.dhcp.range } : {}),
      leaseSeconds: seed.dhcp.lease_seconds,
      ...(seed.dhcp.router ? { router: seed.dhcp.router } : {}),
      dns: seed.dhcp.dns ?? [],
      discoveryPool: mode === 'authoritative' && Boolean(seed.dhcp.discovery_pool),
    },
    hosts: site.nodes.map((n) => hostOf(n, mode === 'authoritative')),
    ironic: {
      user: secrets.ironicUser,
      deployInterface: site.ironic.deploy_interface,
      minCommandInterval: site.ironic.min_command_interval,
      inspector: site.ironic.inspector,
      bootMode: site.defaults.boot_mode ?? 'uefi',
      hardwareTypes,
      multi: conductors.length > 0,
      conductors,
      jsonRpcPort: JSON_RPC_PORT,
      database: { address: MARIADB_ADDRESS, port: MARIADB_PORT },
    },
    registry: {
      enabled: site.registry.enabled,
      user: site.registry.username,
      ...(site.registry.upstream ? { upstream: site.registry.upstream } : {}),
    },
    images,
    services,
    secrets: secretPaths,
    urls: {
      http: `${base}:${seed.ports.http}`,
      ironic: ironicApiUrl(site),
      inspector: `${base}:${seed.ports.inspector}`,
      ipxeScript: `${base}:${seed.ports.http}/boot.ipxe`,
    },
  };
}
