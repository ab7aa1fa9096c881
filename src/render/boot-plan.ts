/**
 * What the Ironic engine needs to deploy through the rendered stack: where
 * Ironic's API answers for kseed, its credentials, kseed's deploy ramdisk as
 * Ironic sees it (file:// URLs inside the Ironic container) and the URL the
 * ramdisk reaches kseed's agent API at (kseed.url). Read from the stack `kseed
 * up` rendered, so a provision run uses what the running stack was started
 * with, not what the site file says now.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Site } from '../site/types.js';
import { ARTIFACTS_MOUNT, ironicApiUrl, type BootArtifacts } from './model.js';
import { IRONIC_USER } from './secrets.js';
import { DEFAULT_INITRD, DEFAULT_KERNEL, STACK_MANIFEST, type StackManifest } from './stack.js';

export interface IronicBootPlan {
  /** Ironic's API as kseed reaches it (host namespace). */
  ironicUrl: string;
  username: string;
  /** 0600 file holding the password (read it, never log it). */
  passwordFile: string;
  /** instance_info.kernel / instance_info.ramdisk. */
  kernel: string;
  ramdisk: string;
  /** kseed.url on the ramdisk's command line: kseed's HTTP service as the nodes see it. */
  agentUrl: string;
  /** Put into ramdisk_kernel_arguments before the kseed.* ones. */
  kernelArgs: string[];
  /** Host directory mounted read-only at /kseed/artifacts in the Ironic container. */
  artifactsDir: string;
}

function readManifest(stackDir: string): StackManifest | undefined {
  try {
    return JSON.parse(readFileSync(path.join(stackDir, STACK_MANIFEST), 'utf8')) as StackManifest;
  } catch {
    return undefined;
  }
}

/** `stackDir` defaults to `<stateDir>/stack` (where `kseed up` renders). */
export function ironicBootPlan(site: Site, stateDir: string, stackDir = path.join(stateDir, 'stack')): IronicBootPlan {
  const boot: BootArtifacts = readManifest(stackDir)?.boot ?? {
    artifactsDir: path.relative(stackDir, path.join(stateDir, 'cache', 'ramdisk')),
    mountPoint: ARTIFACTS_MOUNT,
    kernel: DEFAULT_KERNEL,
    initrd: DEFAULT_INITRD,
  };
  return {
    ironicUrl: ironicApiUrl(site),
    username: IRONIC_USER,
    passwordFile: path.join(stateDir, 'secrets', 'ironic-password'),
    kernel: `file://${boot.mountPoint}/${boot.kernel}`,
    ramdisk: `file://${boot.mountPoint}/${boot.initrd}`,
    agentUrl: `http://${site.seed.address}:${site.seed.ports.http}`,
    // the lab's (and most servers') console is the first serial port; kseed's own ramdisk script passes the same
    kernelArgs: ['console=ttyS0'],
    artifactsDir: path.resolve(stackDir, boot.artifactsDir),
  };
}
