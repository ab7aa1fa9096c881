/**
 * Virtual-media boot of the deploy ramdisk (site `boot: virtual-media`,
 * Ironic's redfish-virtual-media boot interface): no DHCP, TFTP or iPXE. Each
 * boot gets a fresh agent token and its own CD image (images/iso.ts) whose
 * kernel command line carries the token, the node's fixed address (`ip`, as
 * the kernel's `ip=`) and the seed's URL, as Ironic puts a node's settings on
 * its per-node boot ISO. The CD is served by the boot services under
 * /artifacts/vmedia/<node>-<128 random bits>.iso: the BMC fetches it without
 * credentials (a BMC cannot send the seed's), so the unguessable name is the
 * credential, and the file is deleted when the CD is ejected.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { AGENT_TOKEN, tokenId } from '../boot/backend.js';
import { ramdiskArgs } from '../boot/ipxe.js';
import { buildBootIso } from '../images/iso.js';
import type { NodeSpec, Site } from '../site/types.js';
import type { StateStore } from './state.js';

/** Where the boot services serve what the BMCs fetch. */
export interface VirtualMediaSeed {
  /** The directory served under /artifacts/ (engine/service.ts servedArtifactsDir). */
  artifactsDir: string;
  /** The boot HTTP's base URL, as the nodes and their BMCs reach it. */
  seedUrl: string;
  /** Deploy kernel and initramfs files. */
  kernel: string;
  initrd: string;
  /** Kernel arguments besides the kseed.* ones; default console=ttyS0. */
  args?: string[];
}

/** As the boot services' tokens (boot/backend.ts): a slow image write must not outlive it. */
const TOKEN_TTL_MS = 4 * 3600_000;
const DIR = 'vmedia';

export function virtualMediaSeed(site: Site, artifactsDir: string): VirtualMediaSeed {
  return {
    artifactsDir,
    seedUrl: `http://${site.seed.address}:${site.seed.ports.http}`,
    kernel: path.join(artifactsDir, 'vmlinuz'),
    initrd: path.join(artifactsDir, 'initramfs.gz'),
  };
}

function netmask(prefix: number): string {
  const n = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/**
 * For a node with a fixed `ip`, the kernel's `ip=<addr>::<gw>:<netmask>:<host>::off`
 * (Documentation/admin-guide/nfs/nfsroot.rst) on the seed's subnet, which the
 * ramdisk takes instead of asking DHCP; none without one. Both engines' boot
 * CDs carry it (Ironic's in ramdisk_kernel_arguments).
 */
export function staticIpArgs(site: Site, spec: NodeSpec): string[] {
  return spec.ip ? [`ip=${spec.ip}::${site.seed.dhcp.router ?? ''}:${netmask(site.seed.prefix)}:${spec.name}::off`] : [];
}

/** The CD's kernel command line: the agent's arguments and staticIpArgs. */
export function virtualMediaCmdline(site: Site, spec: NodeSpec, seed: Pick<VirtualMediaSeed, 'seedUrl' | 'args'>, token: string): string[] {
  const mac = spec.macs[0];
  if (!mac) throw new Error('node has no MAC in the site file: the ramdisk cannot tell its NIC');
  return [...ramdiskArgs({ seedUrl: seed.seedUrl, node: spec.name, token, mac, ...(seed.args ? { args: seed.args } : {}) }), ...staticIpArgs(site, spec)];
}

/** This node's CD images on the seed (older boots' included). */
function isosOf(seed: VirtualMediaSeed, node: string): string[] {
  const dir = path.join(seed.artifactsDir, DIR);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((f) => f.startsWith(`${node}-`) && f.endsWith('.iso')).map((f) => path.join(dir, f));
}

/** Deletes the node's CD images: the tokens in them must not stay fetchable. */
export function removeVirtualMedia(seed: VirtualMediaSeed, node: string): void {
  for (const f of isosOf(seed, node)) rmSync(f, { force: true });
}

/**
 * A new boot: revokes the node's earlier agent tokens (an older ramdisk can
 * no longer report), issues one, and writes the CD carrying it. Returns the
 * URL the BMC inserts.
 */
export async function prepareVirtualMedia(store: StateStore, site: Site, spec: NodeSpec, seed: VirtualMediaSeed): Promise<{ url: string; file: string; bytes: number }> {
  removeVirtualMedia(seed, spec.name);
  store.revokeNodeTokens(spec.name, AGENT_TOKEN);
  const token = store.issueNodeToken(spec.name, AGENT_TOKEN, TOKEN_TTL_MS);
  const dir = path.join(seed.artifactsDir, DIR);
  // only the seed's own user reaches the tokens inside
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const name = `${spec.name}-${randomBytes(16).toString('hex')}.iso`;
  const file = path.join(dir, name);
  const iso = await buildBootIso({ kernel: seed.kernel, initrd: seed.initrd, cmdline: virtualMediaCmdline(site, spec, seed, token), out: file, title: `kseed: ${spec.name}: deploy ramdisk (virtual media)` });
  chmodSync(file, 0o600);
  store.recordEvent(spec.name, 'boot-script', { purpose: 'virtual-media', token_id: tokenId(token), bytes: iso.bytes });
  return { url: `${seed.seedUrl}/artifacts/${DIR}/${name}`, file, bytes: iso.bytes };
}
