/**
 * The installers' steps as commands: Kolla-Ansible's three actions, and
 * cephadm on the first monitor over the hand-off's SSH login.
 */
import path from 'node:path';
import type { Site } from '../site/types.js';
import type { buildCeph, CephHost, ImageDelivery } from './ceph.js';
import { sshHostKeyArgs } from './kolla.js';

export const REMOTE_CEPH_DIR = '/root/kseed-ceph';

/** Shell-quotes one argument (POSIX sh). */
export function shq(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The exact commands that bootstrap Ceph from the seed, as a script the user can read and run. */
export function cephScript(site: Site, ceph: ReturnType<typeof buildCeph>, keyFile: string, knownHosts: string): string {
  const host = ceph.hosts.find((h) => h.name === ceph.bootstrapHost);
  const lines = ['#!/bin/sh', `# Bootstrap Ceph for site ${site.site} from the seed; written by \`kseed handoff\`.`, '# Run it from this directory. `kseed handoff --run` runs the same steps and can resume them.', 'set -eu'];
  if (!host) return [...lines, 'echo "no monitor host: give a node the control or storage role and an address" >&2', 'exit 1', ''].join('\n');
  for (const step of cephSteps(site, ceph, keyFile, '.', knownHosts)) lines.push(`# ${step.name}`, (step.shell ?? step.argv.map(shq).join(' ')) + (step.stdinFile ? ` < ${shq(step.stdinFile)}` : ''));
  return lines.join('\n') + '\n';
}

export interface Step {
  name: string;
  argv: string[];
  /** a local file fed to the command's stdin */
  stdinFile?: string;
  /** the local tool the step needs */
  tool: string;
  /** the same command as one shell line (a pipe), for the script a person reads */
  shell?: string;
}

/**
 * The same sequence `kseed handoff --ceph --run` runs, as commands a person can
 * read and run: cephadm on the first monitor, the cluster's key handed to the
 * other hosts over the hand-off login (bootstrap's own ssh-copy-id would need
 * a password login), then the spec. The run itself also installs cephadm from
 * the seed and has docker trust the seed registry; see README.
 */
export function cephSteps(site: Site, ceph: ReturnType<typeof buildCeph> | { hosts: CephHost[]; bootstrapHost?: string; bootstrap: string[]; delivery?: ImageDelivery }, keyFile: string, localDir: string, knownHosts: string): Step[] {
  const host = ceph.hosts.find((h) => h.name === ceph.bootstrapHost);
  if (!host) return [];
  const user = site.handoff.ssh_user;
  const sudo = user === 'root' ? [] : ['sudo'];
  const sshTo = (addr: string, remote: string) => ['ssh', '-i', keyFile, '-o', 'BatchMode=yes', ...sshHostKeyArgs(knownHosts), `${user}@${addr}`, remote];
  const ssh = (remote: string) => sshTo(host.addr, remote);
  const remote = (argv: string[]) => [...sudo, ...argv].map(shq).join(' ');
  const d = REMOTE_CEPH_DIR;
  const archive = ceph.delivery !== 'registry';
  const steps: Step[] = [
    { name: 'ceph-check', tool: 'ssh', argv: ssh(remote(['sh', '-c', 'command -v cephadm >/dev/null || { echo "cephadm is not installed on this host" >&2; exit 127; }'])) },
    // the image from the seed's archive into every host's Docker (bootstrap then runs with --skip-pull)
    ...(archive ? ceph.hosts.map((h) => ({ name: `ceph-load-${h.name}`, tool: 'ssh', argv: sshTo(h.addr, remote(['sh', '-s'])), stdinFile: path.join(localDir, 'load-image.sh') })) : []),
    { name: 'ceph-copy-spec', tool: 'ssh', argv: ssh(`${remote(['install', '-d', '-m', '0700', d])} && ${remote(['sh', '-c', `umask 077; cat > ${d}/cluster.yaml`])}`), stdinFile: path.join(localDir, 'cluster.yaml') },
    ...(archive ? [] : [{ name: 'ceph-copy-registry', tool: 'ssh', argv: ssh(remote(['sh', '-c', `umask 077; cat > ${d}/registry.json`])), stdinFile: path.join(localDir, 'registry.json') }]),
    { name: 'ceph-bootstrap', tool: 'ssh', argv: ssh(remote(ceph.bootstrap)) },
  ];
  for (const other of ceph.hosts.filter((h) => h !== host)) {
    const pipe = `${sshTo(host.addr, remote(['cat', '/etc/ceph/ceph.pub'])).map(shq).join(' ')} | ${sshTo(other.addr, 'umask 077; mkdir -p ~/.ssh; cat >> ~/.ssh/authorized_keys').map(shq).join(' ')}`;
    steps.push({ name: `ceph-key-${other.name}`, tool: 'ssh', argv: ['sh', '-c', pipe], shell: pipe });
  }
  const image = ceph.bootstrap[ceph.bootstrap.indexOf('--image') + 1]!;
  steps.push({ name: 'ceph-apply', tool: 'ssh', argv: ssh(remote(['cephadm', '--image', image, 'shell', '--mount', `${d}/cluster.yaml:/mnt/cluster.yaml`, '--', 'ceph', 'orch', 'apply', '-i', '/mnt/cluster.yaml'])) });
  return steps;
}

export function kollaSteps(inventory: string, configdir: string): Step[] {
  return (['bootstrap-servers', 'prechecks', 'deploy'] as const).map((action) => ({
    name: `kolla-${action}`,
    tool: 'kolla-ansible',
    argv: ['kolla-ansible', action, '-i', inventory, '--configdir', configdir, '--passwords', path.join(configdir, 'passwords.yml')],
  }));
}
