/**
 * `kseed handoff`: Kolla-Ansible and cephadm inputs from the site file, the
 * hardware profiles and what the state store knows about the nodes, written
 * to `.kseed/handoff/`; active nodes then move to `handed-off`.
 */
import path from 'node:path';
import { StateConflict, type NodeState, type StateStore } from '../engine/state.js';
import type { HardwareProfile } from '../profiles/schema.js';
import type { Site } from '../site/types.js';
import { findCephadmDeb } from '../images/ceph/version.js';
import { findCephArchive } from '../images/ceph/archive.js';
import { buildCeph, type CephHost, type ImageDelivery, type OsdSpec } from './ceph.js';
import { loadImageScript } from './ceph-scripts.js';
import { ensureSshKey, registryPassword } from './credentials.js';
import { gatherFacts, type AddressSource, type Assumption } from './facts.js';
import { readIfExists, writeAll, type OutFile } from './files.js';
import { buildKolla, type NodeInterfaces } from './kolla.js';
import { buildPasswords } from './passwords.js';
import { cephScript, REMOTE_CEPH_DIR, shq } from './steps.js';

export interface HandoffOptions {
  kolla: boolean;
  ceph: boolean;
  /** default `<stateDir>/handoff` */
  outDir?: string;
  stateDir: string;
  profiles: readonly HardwareProfile[];
  /** Skip the lifecycle transitions (tests of file generation alone). */
  noTransition?: boolean;
  /** the directory the seed serves under /artifacts/ (default `<stateDir>/cache/ramdisk`): its cephadm .deb names the Ceph version */
  artifactsDir?: string;
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
    /** the image's name on the seed's Docker engine and in its archive */
    local_image: string;
    image_delivery: ImageDelivery;
    /** the archive the nodes load (archive delivery, once `kseed images ceph` made it) */
    archive?: { url: string; sha256: string; id: string; size: number };
    bootstrap_host: string | null;
    mon_ip: string | null;
    hosts: CephHost[];
    osds: OsdSpec[];
    bootstrap_command: string | null;
    bootstrap_argv: string[];
    script: string;
  };
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
    assumptions.push({ setting: 'docker_registry_password', value: '(empty)', reason: 'the seed registry has no password yet (run `kseed up` first, or set registry.password); docker_registry_password is left empty and ceph/registry.json is not written' });
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
    const artifacts = opts.artifactsDir ?? path.join(opts.stateDir, 'cache', 'ramdisk');
    const deb = findCephadmDeb(artifacts);
    ceph = buildCeph({ site, facts, registry, remoteDir: REMOTE_CEPH_DIR, cephadmVersion: deb?.version });
    assumptions.push(...ceph.assumptions);
    warnings.push(...ceph.warnings);
    const found = ceph.delivery === 'archive' ? findCephArchive(artifacts, ceph.localImage) : undefined;
    const archive = found && { url: `http://${site.seed.address}:${site.seed.ports.http}/artifacts/${encodeURIComponent(found.name)}`, sha256: found.sha256, id: found.id, size: found.size };
    const script = cephScript(site, ceph, key.file, knownHosts);
    files.push({ rel: 'ceph/cluster.yaml', content: ceph.spec, mode: 0o644 }, { rel: 'ceph/bootstrap.sh', content: script, mode: 0o755 });
    if (ceph.delivery === 'archive') {
      if (archive) files.push({ rel: 'ceph/load-image.sh', content: loadImageScript({ ...archive, ref: ceph.image }) + '\n', mode: 0o644 });
      else warnings.push(`ceph/load-image.sh not written: the seed serves no archive of ${ceph.localImage} yet (\`kseed images ceph\` makes it; \`handoff --ceph --run\` also makes it from the seed's Docker engine)`);
    } else if (regPass !== undefined) {
      // an empty password fails cephadm's registry login: no file until there is one
      const regJson = JSON.stringify({ url: registry.address, username: registry.username, password: regPass }, null, 2) + '\n';
      files.push({ rel: 'ceph/registry.json', content: regJson, mode: 0o600 });
    } else warnings.push('ceph/registry.json not written: the seed registry has no password yet (run `kseed up`, then `kseed handoff` again)');
    result.ceph = {
      image: ceph.image,
      local_image: ceph.localImage,
      image_delivery: ceph.delivery,
      ...(archive ? { archive } : {}),
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
