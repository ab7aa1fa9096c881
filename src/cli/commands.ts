import type { Command } from 'commander';

/**
 * Every command, with what top-level `--help` shows and how to load it.
 * Loading a command file pulls in its engines and their packages (execa,
 * undici, better-sqlite3, koffi...), so a run loads only the one it
 * dispatches to; each file keeps its own `register` builder. Adding a
 * command is one entry here.
 */
export type Register = (program: Command) => void;

export interface CommandEntry {
  name: string;
  /** Options and arguments as the top-level help lists them, e.g. `[options] [nodes...]`. */
  usage?: string;
  summary: string;
  load: () => Promise<{ register: Register }>;
}

export const commands: readonly CommandEntry[] = [
  { name: 'init', usage: '[options]', summary: 'write a commented starter site file', load: () => import('./init.js') },
  { name: 'validate', usage: '[options]', summary: 'check the site file and the hardware profiles', load: () => import('./validate.js') },
  { name: 'render', usage: '[options]', summary: 'render the seed Compose stack into .kseed/stack/', load: () => import('./render.js') },
  { name: 'up', usage: '[options]', summary: 'start the seed (the Compose stack, or the embedded boot services)', load: () => import('./up.js') },
  { name: 'down', usage: '[options]', summary: 'stop the seed', load: () => import('./down.js') },
  { name: 'status', usage: '[options]', summary: 'the seed\'s services and every node\'s state', load: () => import('./status.js') },
  { name: 'logs', usage: '[options] [service]', summary: 'logs of the seed\'s services', load: () => import('./logs.js') },
  { name: 'lab', summary: 'a virtual rack on this machine: QEMU VMs behind ipmi_sim BMCs', load: () => import('./lab.js') },
  { name: 'images', summary: 'build the deploy ramdisk, the test OS image and the seed images', load: () => import('./images.js') },
  { name: 'enroll', usage: '[options] [nodes...]', summary: 'check every BMC and record nodes as manageable', load: () => import('./enroll.js') },
  { name: 'bmc', summary: 'drive BMCs directly: power, bootdev, info', load: () => import('./bmc.js') },
  { name: 'provision', usage: '[options] [nodes...]', summary: 'enroll, inspect and deploy nodes until they are active', load: () => import('./provision.js') },
  { name: 'rebuild', usage: '[options] <nodes...>', summary: 'write the image again on active nodes', load: () => import('./rebuild.js') },
  { name: 'undeploy', usage: '[options] <nodes...>', summary: 'wipe deployed nodes and return them to available', load: () => import('./undeploy.js') },
  { name: 'handoff', usage: '[options]', summary: 'Kolla-Ansible and cephadm inputs, and their runs', load: () => import('./handoff.js') },
  { name: 'mirror', summary: 'the seed registry as an image mirror', load: () => import('./handoff.js') },
  { name: 'discover', usage: '[options]', summary: 'find BMCs on a network range', load: () => import('./discover.js') },
  { name: 'doctor', usage: '[options]', summary: 'check this machine and the provisioning network', load: () => import('./doctor.js') },
  { name: 'boot', summary: 'the embedded boot services in the foreground', load: () => import('./boot.js') },
];
