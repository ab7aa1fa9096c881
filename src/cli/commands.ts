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
  /** Shown under the command's own --help (the command file may add more of its own). */
  examples?: readonly string[];
  load: () => Promise<{ register: Register }>;
}

export const commands: readonly CommandEntry[] = [
  { name: 'init', usage: '[options]', summary: 'write a commented starter site file', examples: ['kseed init                       # the lab starter, ./kseed.yaml', 'kseed --config rack.yaml init --rack'], load: () => import('./init.js') },
  { name: 'validate', usage: '[options]', summary: 'check the site file and the hardware profiles', load: () => import('./validate.js') },
  { name: 'render', usage: '[options]', summary: 'render the seed Compose stack into .kseed/stack/', examples: ['kseed render', 'kseed render --out /tmp/stack'], load: () => import('./render.js') },
  { name: 'up', usage: '[options]', summary: 'start the seed (the Compose stack, or the embedded boot services)', examples: ['kseed up', 'kseed up --artifacts /tmp/kseed-try/artifacts   # embedded: serve the ramdisk and images from here'], load: () => import('./up.js') },
  { name: 'down', usage: '[options]', summary: 'stop the seed', examples: ['kseed down', 'kseed down --volumes            # engine ironic: also delete the enrolled nodes and leases'], load: () => import('./down.js') },
  { name: 'status', usage: '[options]', summary: 'the seed\'s services and every node\'s state', examples: ['kseed status', "kseed --json status | jq '.nodes[] | {node, state}'"], load: () => import('./status.js') },
  { name: 'logs', usage: '[options] [service]', summary: 'logs of the seed\'s services', load: () => import('./logs.js') },
  { name: 'lab', summary: 'a virtual rack on this machine: QEMU VMs behind ipmi_sim BMCs', examples: ['kseed lab up --nodes 2 --uefi-nodes 1', 'kseed lab status', 'kseed lab console node01 -f', 'kseed lab down'], load: () => import('./lab.js') },
  { name: 'images', summary: 'build the deploy ramdisk, the test OS image and the seed images', examples: ['kseed images ramdisk --lab-only', 'kseed images testos', 'kseed images build             # the seed images of engine ironic'], load: () => import('./images.js') },
  { name: 'enroll', usage: '[options] [nodes...]', summary: 'check every BMC and record nodes as manageable', examples: ['kseed enroll --all', 'kseed enroll node01 node02'], load: () => import('./enroll.js') },
  { name: 'bmc', summary: 'drive BMCs directly: power, bootdev, info', examples: ['kseed bmc power node01 status', 'kseed bmc bootdev node01 pxe --uefi', 'kseed bmc info node01'], load: () => import('./bmc.js') },
  { name: 'console', usage: '[options] <node>', summary: "a node's serial console over IPMI Serial-over-LAN (~. detaches)", examples: ['kseed console node01', 'kseed console node01 --log node01.log --force'], load: () => import('./console.js') },
  { name: 'provision', usage: '[options] [nodes...]', summary: 'enroll, inspect and deploy nodes until they are active', examples: ['kseed provision --all --wait', 'kseed provision node01 node02 --wait-booted'], load: () => import('./provision.js') },
  { name: 'rebuild', usage: '[options] <nodes...>', summary: 'write the image again on active nodes', load: () => import('./rebuild.js') },
  { name: 'undeploy', usage: '[options] <nodes...>', summary: 'wipe deployed nodes and return them to available', load: () => import('./undeploy.js') },
  { name: 'handoff', usage: '[options]', summary: 'Kolla-Ansible and cephadm inputs, and their runs', examples: ['kseed handoff                    # write the Kolla-Ansible and cephadm inputs', 'kseed handoff --run', 'kseed handoff --ceph --status'], load: () => import('./handoff.js') },
  { name: 'mirror', summary: 'the seed registry as an image mirror', examples: ['kseed mirror up', 'kseed mirror sync --ceph'], load: () => import('./handoff.js') },
  { name: 'bundle', summary: 'air-gap bundles: create on a connected machine, load on the seed', examples: ['kseed bundle create --out site.tar --with os', 'kseed bundle show site.tar', 'kseed bundle load site.tar'], load: () => import('./bundle.js') },
  { name: 'discover', usage: '[options]', summary: 'find BMCs on a network range', examples: ['kseed discover --range 10.0.0.0/24', 'kseed discover --range 10.0.0.0/24 --redfish --write bmcs.yaml'], load: () => import('./discover.js') },
  { name: 'doctor', usage: '[options]', summary: 'check this machine and the provisioning network', examples: ['kseed doctor', 'kseed doctor --interface eth1 --address 10.0.0.1/24'], load: () => import('./doctor.js') },
  { name: 'completion', usage: '<shell>', summary: 'shell completion: bash, zsh or fish', examples: ['kseed completion bash > /etc/bash_completion.d/kseed', 'eval "$(kseed completion zsh)"           # in ~/.zshrc, after compinit', 'kseed completion fish > ~/.config/fish/completions/kseed.fish'], load: () => import('./completion.js') },
  { name: 'serve', usage: '[options]', summary: 'the seed service: JSON API under /api/v1 on 127.0.0.1, node leases', examples: ['kseed serve --port 9480          # foreground, Ctrl-C stops', 'curl -H "Authorization: Bearer $KSEED_TOKEN" http://127.0.0.1:9480/api/v1/nodes'], load: () => import('./serve.js') },
  { name: 'token', summary: 'API tokens of the seed service: create, list, revoke', examples: ['kseed token create ci-runner-1   # prints the secret once', 'kseed token list', 'kseed token revoke ci-runner-1'], load: () => import('./token.js') },
  { name: 'lease', summary: 'lease nodes to a person or a CI pipeline: acquire, list, renew, release', examples: ['kseed lease acquire --owner ci-42 --count 2 --ttl 2h', 'kseed lease release ls-0123456789 --keep', 'KSEED_URL=http://127.0.0.1:9480 KSEED_TOKEN=... kseed lease list'], load: () => import('./lease.js') },
  { name: 'boot', summary: 'the embedded boot services in the foreground', examples: ['kseed boot serve                 # foreground, Ctrl-C stops (kseed up runs it in the background)'], load: () => import('./boot.js') },
];
