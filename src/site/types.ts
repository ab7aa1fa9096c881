/**
 * The loaded, validated and defaulted site file: the contract between the
 * site loader (src/site/) and everything that reads it. Keys keep the
 * YAML spelling (snake_case) so error paths and code name the same thing.
 * The zod schema in src/site/schema.ts must produce exactly these types.
 */

/** A secret is a reference, resolved only when used (src/site/secrets.ts). */
export type SecretRef = { env: string } | { file: string } | { value: string };

export type Role = 'control' | 'network' | 'compute' | 'storage' | 'monitoring' | 'deployment';
export const ROLES: readonly Role[] = ['control', 'network', 'compute', 'storage', 'monitoring', 'deployment'];

export type BmcType = 'ipmi' | 'redfish';

export interface BmcSpec {
  type: BmcType;
  address: string;
  /** IPMI default 623, Redfish default 443. */
  port: number;
  username: string;
  password: SecretRef;
  /** IPMI: pin one cipher suite (3 or 17); unset = negotiate. */
  cipher_suite?: 3 | 17;
  /** IPMI: BMC key Kg, hex. */
  kg?: SecretRef;
  privilege?: 'operator' | 'administrator';
  /** Redfish: accept a self-signed certificate for this BMC. */
  insecure_tls?: boolean;
  /** Redfish: http instead of https (simulators). */
  scheme?: 'http' | 'https';
  timeout_ms?: number;
  retries?: number;
}

/** Ironic's root device hints; size in GiB, exact or a range. */
export interface RootDeviceHint {
  name?: string;
  model?: string;
  vendor?: string;
  serial?: string;
  wwn?: string;
  hctl?: string;
  by_path?: string;
  rotational?: boolean;
  size_gb?: number | { min?: number; max?: number };
}

export interface ImageSpec {
  url: string;
  /** `sha256:<hex>` or `sha512:<hex>`. */
  checksum: string;
  format: 'raw' | 'qcow2';
  compression?: 'none' | 'gzip' | 'zstd' | 'xz';
}

export interface NodeSpec {
  name: string;
  bmc: BmcSpec;
  /** Lower-case, colon-separated. The first is the PXE NIC. */
  macs: string[];
  roles: Role[];
  /** Hardware profile name; unset = matched at enrollment. */
  profile?: string;
  root_device?: RootDeviceHint;
  image?: ImageSpec;
  boot_mode?: 'uefi' | 'bios';
  /**
   * How the deploy ramdisk reaches the node: `pxe` (the default: DHCP, iPXE) or
   * `virtual-media` (a Redfish BMC mounts a boot CD the seed serves; no DHCP or
   * TFTP needed), Ironic's boot_interface `ipxe` / `redfish-virtual-media`.
   */
  boot?: BootVia;
  /** Fixed address on the provisioning network (authoritative DHCP). */
  ip?: string;
  /** The installed OS's network configuration, defaults merged (src/site/network.ts). */
  network?: NodeNetwork;
  /** Line:column of the node in the site file, for error messages. */
  source?: { line: number; col: number };
}

export type BootVia = 'pxe' | 'virtual-media';
export type DhcpMode = 'authoritative' | 'proxy' | 'off';

export interface SeedSpec {
  interface: string;
  /** The seed's own address on the provisioning network. */
  address: string;
  prefix: number;
  /** Network namespace the interface lives in (the virtual lab); unset = host. */
  netns?: string;
  dhcp: {
    mode: DhcpMode;
    range?: { start: string; end: string };
    lease_seconds: number;
    router?: string;
    dns?: string[];
    /** Authoritative mode: lease addresses to unknown MACs too (never a boot file). */
    discovery_pool?: boolean;
  };
  ports: { http: number; tftp: number; ironic_api: number; registry: number; inspector: number; api: number };
  /**
   * `enabled: false`: the embedded engine runs no TFTP server and no DHCP answer names a
   * TFTP boot file; nodes boot by UEFI HTTP boot (or virtual media). Unset = on.
   */
  tftp?: { enabled: boolean };
}

export interface RegistrySpec {
  enabled: boolean;
  username: string;
  /** Generated into .kseed/secrets/ when unset. */
  password?: SecretRef;
  /** Pull-through cache upstream, where reachable. */
  upstream?: string;
}

export interface IronicSpec {
  /** Production `direct` deploys: the IPA kernel and ramdisk the user supplies. */
  deploy_kernel?: string;
  deploy_ramdisk?: string;
  deploy_interface: 'direct' | 'ramdisk';
  inspector: boolean;
  min_command_interval: number;
  /** 1: the all-in-one `ironic` on sqlite; 2+: ironic-api, that many ironic-conductors, MariaDB. */
  conductors: number;
}

export interface HandoffSpec {
  ssh_user: string;
  ssh_key?: string;
  kolla?: {
    release: string;
    base_distro: string;
    vip?: string;
    network_interface?: string;
    neutron_external_interface?: string;
    enable?: Record<string, boolean>;
  };
  ceph?: {
    image?: string;
    /**
     * How the nodes get the Ceph image. `archive` (the default for kseed's own image): the
     * `docker save` archive from the seed's boot HTTP, uncompressed, loaded with `docker load`;
     * `registry`: `docker pull` from the seed registry (gzip layers: 1610 s for 587 MB in a
     * TCG VM, where gunzip ran at about 1.2 MB/s). A site's own `image` needs `registry`.
     */
    image_delivery?: 'archive' | 'registry';
    osd?: { data_devices?: { rotational?: boolean; size?: string; model?: string; all?: boolean } };
  };
}

export interface Site {
  /** Absolute path of the site file. */
  file: string;
  /** Directory holding the site file; state is `${dir}/.kseed`. */
  dir: string;
  site: string;
  engine: 'embedded' | 'ironic';
  seed: SeedSpec;
  defaults: {
    bmc?: Partial<Omit<BmcSpec, 'address'>>;
    image?: ImageSpec;
    root_device?: RootDeviceHint;
    boot_mode?: 'uefi' | 'bios';
    boot?: BootVia;
    profile?: string;
    network?: NetworkDefaults;
  };
  registry: RegistrySpec;
  ironic: IronicSpec;
  /** Defaults already merged in. */
  nodes: NodeSpec[];
  handoff: HandoffSpec;
}

/** Linux bonding modes (kernel Documentation/networking/bonding.rst), as netplan spells them. */
export const BOND_MODES = ['balance-rr', 'active-backup', 'balance-xor', 'broadcast', '802.3ad', 'balance-tlb', 'balance-alb'] as const;
export type BondMode = (typeof BOND_MODES)[number];

/** Bond parameters; the names are netplan's with underscores (netplan: mii-monitor-interval). */
export interface BondParameters {
  mode?: BondMode;
  lacp_rate?: 'slow' | 'fast';
  /** Milliseconds. */
  mii_monitor_interval?: number;
  min_links?: number;
  transmit_hash_policy?: 'layer2' | 'layer3+4' | 'layer2+3' | 'encap2+3' | 'encap3+4';
  ad_select?: 'stable' | 'bandwidth' | 'count';
  up_delay?: number;
  down_delay?: number;
  primary_reselect_policy?: 'always' | 'better' | 'failure';
  fail_over_mac_policy?: 'none' | 'active' | 'follow';
  gratuitous_arp?: number;
}

export interface RouteSpec {
  to: string;
  via: string;
  metric?: number;
}

export interface DnsSpec {
  servers?: string[];
  search?: string[];
}

/** What every interface kind carries: layer 3 and MTU. */
export interface IfaceConfig {
  /** CIDR, IPv4 or IPv6. */
  addresses?: string[];
  gateway4?: string;
  gateway6?: string;
  dhcp4?: boolean;
  dhcp6?: boolean;
  mtu?: number;
  routes?: RouteSpec[];
  dns?: DnsSpec;
}

export interface EthernetSpec extends IfaceConfig {
  mac: string;
}

export interface BondSpec extends IfaceConfig {
  /** Interface names (keys of ethernets) once resolved; MACs in the site file. */
  members: string[];
  /** The member that is active when up (active-backup, balance-tlb/alb): an interface name once resolved. */
  primary?: string;
  parameters: BondParameters;
}

export interface VlanSpec extends IfaceConfig {
  id: number;
  /** An interface name (ethernet or bond) once resolved; a name or a MAC in the site file. */
  link: string;
}

/**
 * A node's network, resolved: every NIC it uses is in `ethernets` under the
 * name it gets (set-name), bond members and VLAN links are those names,
 * and what the defaults' subnets give (gateway, MTU, routes) is filled in.
 */
export interface NodeNetwork {
  ethernets: Record<string, EthernetSpec>;
  bonds: Record<string, BondSpec>;
  vlans: Record<string, VlanSpec>;
  dns?: DnsSpec;
}

/** A subnet of the site: addresses inside it get its gateway, MTU and routes unless they set their own. */
export interface SubnetSpec {
  name?: string;
  cidr: string;
  /** The VLAN it is on: an address on that VLAN must be inside one of its subnets. */
  vlan?: number;
  gateway?: string;
  mtu?: number;
  routes?: RouteSpec[];
}

export interface NetworkDefaults {
  dns?: DnsSpec;
  /** Parameters every bond gets unless it sets its own. */
  bond?: BondParameters;
  subnets?: SubnetSpec[];
}
