/**
 * What the boot services know of the seed and its nodes: their own small
 * types, so protocol code never reads the site file (DESIGN: imports point
 * one way). The site file's NodeSpec and SeedSpec satisfy them as they are.
 */

export type DhcpMode = 'authoritative' | 'proxy' | 'off';

/** The image a deploying node writes to its disk. */
export interface BootImage {
  url: string;
  /** `sha256:<hex>` or `sha512:<hex>`. */
  checksum: string;
  format: 'raw' | 'qcow2';
  compression?: 'none' | 'gzip' | 'zstd' | 'xz';
}

/** Which disk may be written (the root-device hint): no hint, no disk. */
export interface DiskHint {
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

/** A node the boot services may boot. */
export interface BootNodeSpec {
  name: string;
  /** Lower-case, colon-separated. The first is the PXE NIC. */
  macs: string[];
  /** Fixed address (authoritative DHCP). */
  ip?: string;
  root_device?: DiskHint;
  image?: BootImage;
}

/** The seed's side of the provisioning network. */
export interface BootSeed {
  interface: string;
  address: string;
  prefix: number;
  netns?: string;
  dhcp: {
    mode: DhcpMode;
    range?: { start: string; end: string };
    lease_seconds: number;
    router?: string;
    dns?: string[];
    discovery_pool?: boolean;
  };
  ports: { http: number; tftp: number };
  /** `enabled: false`: no TFTP server; nodes boot by UEFI HTTP boot (or virtual media). Default on. */
  tftp?: { enabled: boolean };
}

/** The seed and its nodes, as the boot services serve them. */
export interface BootSite {
  seed: BootSeed;
  nodes: readonly BootNodeSpec[];
}
