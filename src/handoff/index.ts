/**
 * `kseed handoff`: Kolla-Ansible and cephadm inputs from the site file, the
 * hardware profiles and what the state store knows about the nodes, written
 * to `.kseed/handoff/`; active nodes then move to `handed-off`.
 */
import { access, link, rm } from 'node:fs/promises';
import path from 'node:path';
import { KseedError } from '../errors.js';
import { StateConflict, type NodeState, type StateStore } from '../engine/state.js';
import type { HardwareProfile } from '../profiles/schema.js';
import { resolveSecret } from '../site/secrets.js';
import type { Site } from '../site/types.js';
import { buildCeph, type CephHost, type OsdSpec } from './ceph.js';
import { gatherFacts, type AddressSource, type Assumption } from './facts.js';
import { readIfExists, writeAll, writeAtomic, type OutFile } from './files.js';
import { buildKolla, sshHostKeyArgs, type NodeInterfaces } from './kolla.js';
import { buildPasswords, sshKeyPair } from './passwords.js';

export const REMOTE_CEPH_DIR = '/root/kseed-ceph';

export interface HandoffOptions {
  kolla: boolean;
  ceph: boolean;
  /** default `<stateDir>/handoff` */
  outDir?: string;
  stateDir: string;
  profiles: readonly HardwareProfile[];
  /** Skip the lifecycle transitions (tests of file generation alone). */
  noTransition?: boolean;
}

export interface NodeReport {
  name: string;
  roles: string[];
  address: string | null;
  address_source: AddressSource;
  state: NodeState | null;
  inspected: boolean;
  root_disk: string | null;
  interfaces?: NodeInterfaces;
  osd_devices?: string[] | 'by-filter';
  /** what the hand-off did to its lifecycle state */
  lifecycle: 'handed-off' | 'already handed-off' | 'not moved' | 'not in state store';
  reason?: string;
}

export interface HandoffResult {
  out: string;
  /** the private key file the installers log in with (a path, never its content) */
  ssh_key_file: string;
  files: { path: string; mode: string; secret: boolean }[];
  nodes: NodeReport[];
  assumptions: Assumption[];
  warnings: string[];
  kolla?: {
    release: string;
    inventory: string;
    configdir: string;
    network_interface: string;
    neutron_external_interface: string;
    docker_registry: string;
    generated_values: number;
    kept_values: number;
  };
  ceph?: {
    image: string;
    bootstrap_host: string | null;
    mon_ip: string | null;
    hosts: CephHost[];
    osds: OsdSpec[];
    bootstrap_command: string | null;
    bootstrap_argv: string[];
    script: string;
  };
}

/** Shell-quotes one argument (POSIX sh). */
export function shq(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/** The SSH key the installers log in with: the site's, or one kseed generates once. */
export async function ensureSshKey(site: Site, stateDir: string): Promise<{ file: string; generated: boolean }> {
  if (site.handoff.ssh_key) {
    const file = path.resolve(site.dir, site.handoff.ssh_key);
    if (!(await exists(file))) throw new KseedError(`handoff.ssh_key ${file} does not exist`, { exitCode: 2, code: 'bad-input' });
    return { file, generated: false };
  }
  const file = path.join(stateDir, 'secrets', 'handoff-ssh-key');
  if (await exists(file)) return { file, generated: false };
  // RSA in PKCS#8 PEM: what node:crypto writes and every OpenSSH reads
  const pair = await sshKeyPair(`kseed-handoff@${site.site}`, 3072);
  // The boot services (NoCloud user-data) and `kseed handoff` may both get here first:
  // link() publishes the private key only if no other process did, so both use one key.
  const tmp = `${file}.new-${process.pid}`;
  await writeAtomic(tmp, pair.private_key, 0o600);
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { file, generated: false };
  } finally {
    await rm(tmp, { force: true });
  }
  await writeAtomic(`${file}.pub`, `${pair.public_key}\n`, 0o644);
  return { file, generated: true };
}

/** The seed registry's password: the site's reference, else the one `kseed up` generated. */
export async function registryPassword(site: Site, stateDir: string): Promise<string | undefined> {
  if (site.registry.password) return resolveSecret(site.registry.password, site);
  const v = await readIfExists(path.join(stateDir, 'secrets', 'registry-password'));
  return v?.trim() || undefined;
}

export async function generateHandoff(site: Site, state: StateStore | undefined, opts: HandoffOptions): Promise<HandoffResult> {
  const out = path.resolve(opts.outDir ?? path.join(opts.stateDir, 'handoff'));
  const facts = gatherFacts(site, state, opts.profiles);
  const registry = { address: `${site.seed.address}:${site.seed.ports.registry}`, username: site.registry.username };
  const assumptions: Assumption[] = [];
  const warnings: string[] = [];
  const files: OutFile[] = [];
  const regPass = await registryPassword(site, opts.stateDir);
  if (regPass === undefined) {
    assumptions.push({ setting: 'docker_registry_password', value: '(empty)', reason: 'the seed registry has no password yet (run `kseed up` first, or set registry.password); docker_registry_password and ceph/registry.json are left empty' });
  }
  const key = await ensureSshKey(site, opts.stateDir);
  // Each hand-off follows a provisioning, whose first boots made new host keys:
  // it starts a fresh known_hosts that the installers then fill and hold to.
  const knownHosts = path.join(out, 'known_hosts');
  files.push({ rel: 'known_hosts', content: '', mode: 0o644 });
  const result: HandoffResult = { out, ssh_key_file: key.file, files: [], nodes: [], assumptions, warnings };
  const cephWanted = opts.ceph;
  // Kolla's external-Ceph settings follow the site's plan, even when this run writes the Kolla files only
  const cephBackend = opts.ceph || site.handoff.ceph !== undefined;

  let kolla: ReturnType<typeof buildKolla> | undefined;
  if (opts.kolla) {
    kolla = buildKolla({ site, facts, sshKeyFile: key.file, knownHostsFile: knownHosts, registry, ceph: cephBackend });
    const pwFile = path.join(out, 'kolla', 'passwords.yml');
    // another --out still keeps the passwords the default hand-off already holds
    const fallback = path.join(opts.stateDir, 'handoff', 'kolla', 'passwords.yml');
    const existing = (await readIfExists(pwFile)) ?? (fallback !== pwFile ? await readIfExists(fallback) : undefined);
    const pw = await buildPasswords(existing, { registryPassword: regPass, file: pwFile });
    files.push(
      { rel: 'kolla/multinode', content: kolla.inventory, mode: 0o644 },
      { rel: 'kolla/globals.yml', content: kolla.globals, mode: 0o644 },
      { rel: 'kolla/passwords.yml', content: pw.text, mode: 0o600 },
    );
    assumptions.push(...kolla.assumptions);
    warnings.push(...kolla.warnings);
    const k = site.handoff.kolla;
    result.kolla = {
      release: k?.release ?? '2024.1',
      inventory: path.join(out, 'kolla', 'multinode'),
      configdir: path.join(out, 'kolla'),
      ...kolla.globalInterfaces,
      docker_registry: registry.address,
      generated_values: pw.generated.length,
      kept_values: pw.kept.length,
    };
  }

  let ceph: ReturnType<typeof buildCeph> | undefined;
  if (cephWanted) {
    ceph = buildCeph({ site, facts, registry, remoteDir: REMOTE_CEPH_DIR });
    assumptions.push(...ceph.assumptions);
    warnings.push(...ceph.warnings);
    const regJson = JSON.stringify({ url: registry.address, username: registry.username, password: regPass ?? '' }, null, 2) + '\n';
    const script = cephScript(site, ceph, key.file, knownHosts);
    files.push(
      { rel: 'ceph/cluster.yaml', content: ceph.spec, mode: 0o644 },
      { rel: 'ceph/registry.json', content: regJson, mode: 0o600 },
      { rel: 'ceph/bootstrap.sh', content: script, mode: 0o755 },
    );
    result.ceph = {
      image: ceph.image,
      bootstrap_host: ceph.bootstrapHost ?? null,
      mon_ip: ceph.monIp ?? null,
      hosts: ceph.hosts,
      osds: ceph.osds,
      bootstrap_command: ceph.bootstrap.length ? ceph.bootstrap.map(shq).join(' ') : null,
      bootstrap_argv: ceph.bootstrap,
      script: path.join(out, 'ceph', 'bootstrap.sh'),
    };
  }

  await writeAll(out, files);
  result.files = files.map((f) => ({ path: path.join(out, f.rel), mode: f.mode.toString(8).padStart(4, '0'), secret: f.mode === 0o600 }));

  for (const f of facts) {
    const r: NodeReport = {
      name: f.spec.name,
      roles: f.spec.roles,
      address: f.address ?? null,
      address_source: f.addressSource,
      state: f.record?.state ?? null,
      inspected: f.inventory !== undefined,
      root_disk: f.rootDisk ? `/dev/${f.rootDisk.name}` : null,
      lifecycle: 'not in state store',
    };
    if (kolla?.interfaces[f.spec.name]) r.interfaces = kolla.interfaces[f.spec.name];
    if (ceph && f.spec.roles.includes('storage')) {
      const spec = ceph.osds.find((o) => o.hosts?.includes(f.spec.name));
      r.osd_devices = spec ? (Array.isArray(spec.data_devices.paths) ? (spec.data_devices.paths as string[]) : 'by-filter') : [];
    }
    if (state && f.record && !opts.noTransition) {
      if (f.record.state === 'active') {
        try {
          const rec = state.transition(f.spec.name, 'handed-off', { from: 'active', phase: 'handoff', reason: `hand-off written to ${out}` });
          r.state = rec.state;
          r.lifecycle = 'handed-off';
        } catch (err) {
          // another process moved it meanwhile: report, do not fight
          if (!(err instanceof StateConflict)) throw err;
          r.lifecycle = 'not moved';
          r.reason = err.message;
        }
      } else if (f.record.state === 'handed-off') {
        r.lifecycle = 'already handed-off';
      } else {
        r.lifecycle = 'not moved';
        r.reason = `state is ${f.record.state}, not active: provision it first`;
      }
    } else if (f.record) {
      r.lifecycle = 'not moved';
      r.reason = 'transitions skipped';
    }
    result.nodes.push(r);
  }
  return result;
}

/** The exact commands that bootstrap Ceph from the seed, as a script the user can read and run. */
function cephScript(site: Site, ceph: ReturnType<typeof buildCeph>, keyFile: string, knownHosts: string): string {
  const host = ceph.hosts.find((h) => h.name === ceph.bootstrapHost);
  const lines = ['#!/bin/sh', `# Bootstrap Ceph for site ${site.site} from the seed; written by \`kseed handoff\`.`, '# Run it from this directory. `kseed handoff --run` runs the same steps and can resume them.', 'set -eu'];
  if (!host) return [...lines, 'echo "no monitor host: give a node the control or storage role and an address" >&2', 'exit 1', ''].join('\n');
  for (const step of cephSteps(site, ceph, keyFile, '.', knownHosts)) lines.push(`# ${step.name}`, step.argv.map(shq).join(' ') + (step.stdinFile ? ` < ${shq(step.stdinFile)}` : ''));
  return lines.join('\n') + '\n';
}

export interface Step {
  name: string;
  argv: string[];
  /** a local file fed to the command's stdin */
  stdinFile?: string;
  /** the local tool the step needs */
  tool: string;
}

/** cephadm runs on the first monitor; the files travel over the same SSH login. */
export function cephSteps(site: Site, ceph: ReturnType<typeof buildCeph> | { hosts: CephHost[]; bootstrapHost?: string; bootstrap: string[] }, keyFile: string, localDir: string, knownHosts: string): Step[] {
  const host = ceph.hosts.find((h) => h.name === ceph.bootstrapHost);
  if (!host) return [];
  const user = site.handoff.ssh_user;
  const sudo = user === 'root' ? [] : ['sudo'];
  const ssh = (remote: string) => ['ssh', '-i', keyFile, '-o', 'BatchMode=yes', ...sshHostKeyArgs(knownHosts), `${user}@${host.addr}`, remote];
  const remote = (argv: string[]) => [...sudo, ...argv].map(shq).join(' ');
  const d = REMOTE_CEPH_DIR;
  return [
    { name: 'ceph-check', tool: 'ssh', argv: ssh(remote(['sh', '-c', 'command -v cephadm >/dev/null || { echo "cephadm is not installed on this host" >&2; exit 127; }'])) },
    { name: 'ceph-copy-spec', tool: 'ssh', argv: ssh(`${remote(['install', '-d', '-m', '0700', d])} && ${remote(['sh', '-c', `umask 077; cat > ${d}/cluster.yaml`])}`), stdinFile: path.join(localDir, 'cluster.yaml') },
    { name: 'ceph-copy-registry', tool: 'ssh', argv: ssh(remote(['sh', '-c', `umask 077; cat > ${d}/registry.json`])), stdinFile: path.join(localDir, 'registry.json') },
    { name: 'ceph-bootstrap', tool: 'ssh', argv: ssh(remote(ceph.bootstrap)) },
    { name: 'ceph-apply', tool: 'ssh', argv: ssh(remote(['cephadm', 'shell', '--mount', `${d}/cluster.yaml:/mnt/cluster.yaml`, '--', 'ceph', 'orch', 'apply', '-i', '/mnt/cluster.yaml'])) },
  ];
}

export function kollaSteps(inventory: string, configdir: string): Step[] {
  return (['bootstrap-servers', 'prechecks', 'deploy'] as const).map((action) => ({
    name: `kolla-${action}`,
    tool: 'kolla-ansible',
    argv: ['kolla-ansible', action, '-i', inventory, '--configdir', configdir, '--passwords', path.join(configdir, 'passwords.yml')],
  }));
}
