/**
 * Kolla-Ansible inputs: the multinode inventory and globals.yml, from the
 * site file and the node facts. Pure: returns file contents, writes nothing.
 */
import { InputError, type Problem } from '../errors.js';
import { pxeInterface } from '../site/network.js';
import type { Role, Site } from '../site/types.js';
import type { Assumption, NodeFacts } from './facts.js';
import { KOLLA_CHILD_GROUPS, ROLE_GROUPS } from './kolla-groups.js';
import { switchKey } from './kolla-globals-keys.js';
import { render } from './templates.js';

export const DEFAULT_NETWORK_INTERFACE = 'eth0';
export const DEFAULT_EXTERNAL_INTERFACE = 'eth1';
/** Kolla's own image namespace since 2023.1 (quay.io/openstack.kolla/...): the mirror keeps that path. */
export const KOLLA_NAMESPACE = 'openstack.kolla';

export interface NodeInterfaces {
  network_interface: string;
  neutron_external_interface: string;
  from: 'inspection' | 'site' | 'default';
}

export interface KollaInput {
  site: Site;
  facts: NodeFacts[];
  sshKeyFile: string;
  /** The known_hosts file the hand-off pins the nodes' host keys in (see generateHandoff). */
  knownHostsFile?: string;
  registry: { address: string; username: string };
  ceph: boolean;
}

export interface KollaOutput {
  inventory: string;
  globals: string;
  /** node -> role groups it is in */
  groups: Record<string, Role[]>;
  interfaces: Record<string, NodeInterfaces>;
  globalInterfaces: { network_interface: string; neutron_external_interface: string };
  assumptions: Assumption[];
  warnings: string[];
}

/** INI values: Ansible's INI parser splits on whitespace and treats '#'/';' as comments. */
/**
 * Host keys of freshly provisioned nodes: trust on first use, kept in the
 * hand-off's own known_hosts (never the operator's ~/.ssh/known_hosts,
 * where a reprovisioned node's new key would be refused as an attack).
 */
export function sshHostKeyArgs(knownHostsFile: string): string[] {
  return ['-o', `UserKnownHostsFile=${knownHostsFile}`, '-o', 'StrictHostKeyChecking=accept-new'];
}

function iniValue(v: string): string {
  return /^[A-Za-z0-9_./:@+=-]+$/.test(v) ? v : JSON.stringify(v);
}

/**
 * With a `network` in the site file the installed OS names its interfaces
 * from it (NICs renamed by MAC, bonds, VLANs): those names, not the deploy
 * ramdisk's that inspection saw. The API network is the interface carrying
 * the PXE NIC (ansible_host's network) unless the site names another.
 */
function interfacesFromNetwork(f: NodeFacts, site: Site, warnings: string[]): NodeInterfaces | undefined {
  const n = f.spec.network;
  if (!n) return undefined;
  const k = site.handoff.kolla;
  const members = new Set(Object.values(n.bonds).flatMap((b) => b.members));
  const names = [...Object.keys(n.ethernets), ...Object.keys(n.bonds), ...Object.keys(n.vlans)].filter((x) => !members.has(x));
  const pxe = pxeInterface(n, f.spec.macs[0]);
  const usable = (x?: string): x is string => x !== undefined && names.includes(x);
  const net = usable(k?.network_interface) ? k.network_interface : (pxe ?? names[0]!);
  if (k?.network_interface && !usable(k.network_interface)) warnings.push(`${f.spec.name}: site handoff.kolla.network_interface ${k.network_interface} is not an interface of this node's network (${names.join(', ')}); using ${net}`);
  // only network hosts plug Neutron's external network (no DVR here): elsewhere the site's name stands
  if (!f.spec.roles.includes('network')) return { network_interface: net, neutron_external_interface: k?.neutron_external_interface ?? DEFAULT_EXTERNAL_INTERFACE, from: 'site' };
  let ext = usable(k?.neutron_external_interface) && k.neutron_external_interface !== net ? k.neutron_external_interface : names.find((x) => x !== net);
  if (k?.neutron_external_interface && ext !== k.neutron_external_interface) warnings.push(`${f.spec.name}: site handoff.kolla.neutron_external_interface ${k.neutron_external_interface} is not a usable interface of this node's network (${names.join(', ')})${ext ? `; using ${ext}` : ''}`);
  if (!ext) {
    ext = k?.neutron_external_interface ?? DEFAULT_EXTERNAL_INTERFACE;
    warnings.push(`${f.spec.name}: its network has one interface (${net}); Neutron needs a second one for its external network`);
  }
  return { network_interface: net, neutron_external_interface: ext, from: 'site' };
}

/** The NICs Kolla should use on one node, and why. */
export function chooseInterfaces(f: NodeFacts, site: Site, assumptions: Assumption[], warnings: string[]): NodeInterfaces {
  const fromNetwork = interfacesFromNetwork(f, site, warnings);
  if (fromNetwork) return fromNetwork;
  const k = site.handoff.kolla;
  const name = f.spec.name;
  const inv = f.inventory;
  if (!inv || inv.nics.length === 0) {
    const net = k?.network_interface ?? DEFAULT_NETWORK_INTERFACE;
    const ext = k?.neutron_external_interface ?? DEFAULT_EXTERNAL_INTERFACE;
    const from = k?.network_interface ? 'site file handoff.kolla.network_interface' : `kseed default ${DEFAULT_NETWORK_INTERFACE}`;
    const fromExt = k?.neutron_external_interface ? 'site file handoff.kolla.neutron_external_interface' : `kseed default ${DEFAULT_EXTERNAL_INTERFACE}`;
    assumptions.push({ node: name, setting: 'network_interface', value: net, reason: `no inspection data: ${from}` });
    assumptions.push({ node: name, setting: 'neutron_external_interface', value: ext, reason: `no inspection data: ${fromExt}` });
    return { network_interface: net, neutron_external_interface: ext, from: k?.network_interface ? 'site' : 'default' };
  }
  const nics = [...inv.nics].sort((a, b) => a.name.localeCompare(b.name));
  const has = (n?: string) => n !== undefined && nics.some((x) => x.name === n);
  // The PXE NIC carries the provisioning network, which is where ansible_host
  // lives: the API/management network is that one unless the site names another.
  const pxe = nics.find((n) => n.mac === f.spec.macs[0]?.toLowerCase());
  let net: string;
  if (has(k?.network_interface)) net = k!.network_interface!;
  else {
    net = pxe?.name ?? nics.find((n) => n.link)?.name ?? nics[0]!.name;
    if (k?.network_interface) warnings.push(`${name}: site handoff.kolla.network_interface ${k.network_interface} is not a NIC of this node (${nics.map((n) => n.name).join(', ')}); using ${net} from inspection`);
  }
  let ext: string;
  if (has(k?.neutron_external_interface) && k!.neutron_external_interface !== net) ext = k!.neutron_external_interface!;
  else {
    const others = nics.filter((n) => n.name !== net);
    const pick = others.find((n) => n.link) ?? others[0];
    if (pick) {
      ext = pick.name;
      if (k?.neutron_external_interface) warnings.push(`${name}: site handoff.kolla.neutron_external_interface ${k.neutron_external_interface} is not a usable NIC of this node; using ${ext} from inspection`);
    } else {
      ext = k?.neutron_external_interface ?? DEFAULT_EXTERNAL_INTERFACE;
      warnings.push(`${name}: only one NIC (${net}); Neutron needs a second one for its external network`);
      assumptions.push({ node: name, setting: 'neutron_external_interface', value: ext, reason: 'the node reported a single NIC' });
    }
  }
  return { network_interface: net, neutron_external_interface: ext, from: 'inspection' };
}

function mostCommon(values: string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: string | undefined;
  for (const [v, n] of counts) if (best === undefined || n > counts.get(best)!) best = v;
  return best;
}

export function buildKolla(input: KollaInput): KollaOutput {
  const { site, facts } = input;
  const k = site.handoff.kolla ?? { release: '2024.1', base_distro: 'debian' };
  const assumptions: Assumption[] = [];
  const warnings: string[] = [];
  const problems: Problem[] = [];

  if (!k.vip) {
    problems.push({ file: site.file, path: 'handoff.kolla.vip', message: 'Kolla-Ansible needs kolla_internal_vip_address: an unused address on the provisioning network' });
  }
  const switches: { key: string; value: boolean }[] = [];
  for (const [name, value] of Object.entries(k.enable ?? {})) {
    const key = switchKey(name);
    if (!key) problems.push({ file: site.file, path: `handoff.kolla.enable.${name}`, message: `not a switch in Kolla-Ansible's globals.yml (enable_${name} or ${name})` });
    else switches.push({ key, value });
  }
  if (problems.length) throw new InputError(`cannot write the Kolla-Ansible hand-off: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the site file`, problems, { code: 'invalid-site' });

  const members = facts.filter((f) => f.spec.roles.length > 0);
  for (const f of facts) if (f.spec.roles.length === 0) warnings.push(`${f.spec.name}: no roles in the site file; left out of the Kolla inventory`);

  const interfaces: Record<string, NodeInterfaces> = {};
  for (const f of members) interfaces[f.spec.name] = chooseInterfaces(f, site, assumptions, warnings);
  const globalNet = mostCommon(members.map((f) => interfaces[f.spec.name]!.network_interface)) ?? k.network_interface ?? DEFAULT_NETWORK_INTERFACE;
  const globalExt = mostCommon(members.map((f) => interfaces[f.spec.name]!.neutron_external_interface)) ?? k.neutron_external_interface ?? DEFAULT_EXTERNAL_INTERFACE;

  const hostLine = (f: NodeFacts): string => {
    const vars: [string, string][] = [];
    if (f.address) vars.push(['ansible_host', f.address]);
    vars.push(['ansible_user', site.handoff.ssh_user], ['ansible_ssh_private_key_file', input.sshKeyFile]);
    if (input.knownHostsFile) vars.push(['ansible_ssh_common_args', sshHostKeyArgs(input.knownHostsFile).join(' ')]);
    if (site.handoff.ssh_user !== 'root') vars.push(['ansible_become', 'True']); // INI values go through literal_eval: True is a boolean, true a string
    const i = interfaces[f.spec.name]!;
    // per-host overrides where a node's NIC names differ from the global ones
    if (i.network_interface !== globalNet) vars.push(['network_interface', i.network_interface]);
    if (i.neutron_external_interface !== globalExt) vars.push(['neutron_external_interface', i.neutron_external_interface]);
    return [f.spec.name, ...vars.map(([a, b]) => `${a}=${iniValue(b)}`)].join(' ');
  };

  const groups: Record<string, Role[]> = {};
  for (const f of members) groups[f.spec.name] = [...f.spec.roles];
  const roleGroups = ROLE_GROUPS.map((role) => {
    if (role === 'deployment') {
      // Kolla's sample runs the deployment group on the machine running kolla-ansible
      const lines = ['localhost ansible_connection=local', ...members.filter((f) => f.spec.roles.includes('deployment')).map(hostLine)];
      return { name: role, lines };
    }
    return { name: role, lines: members.filter((f) => f.spec.roles.includes(role)).map(hostLine) };
  });
  for (const f of members) if (!f.address) {
    assumptions.push({ node: f.spec.name, setting: 'ansible_host', value: f.spec.name, reason: 'no address in the state store, no lease, no ip in the site file: the name must resolve on the deployment host' });
  }
  for (const role of ['control', 'network', 'compute'] as const) {
    if (!members.some((f) => f.spec.roles.includes(role))) warnings.push(`no node has the ${role} role: Kolla-Ansible's ${role} services have nowhere to run`);
  }

  const inventory = render('multinode.ini.hbs', { site: site.site, roleGroups, childGroups: KOLLA_CHILD_GROUPS });

  const cephUsers = input.ceph
    ? {
        glance_user: 'glance',
        glance_pool: 'images',
        cinder_user: 'cinder',
        cinder_pool: 'volumes',
        cinder_backup_user: 'cinder-backup',
        cinder_backup_pool: 'backups',
        nova_user: 'cinder',
        nova_pool: 'vms',
      }
    : null;
  // the external-Ceph block sets these; a site switch for the same key would be a duplicate YAML key
  const cephKeys = new Set(['glance_backend_ceph', 'glance_backend_file', 'cinder_backend_ceph', 'nova_backend_ceph']);
  if (cephUsers) {
    // only a site value that disagrees with the Ceph block is worth a word
    const cephValue = (key: string) => key !== 'glance_backend_file';
    for (const s of switches) if (cephKeys.has(s.key) && s.value !== cephValue(s.key)) warnings.push(`handoff.kolla.enable: ${s.key} is set by the Ceph hand-off (Glance, Cinder and Nova on Ceph); the site's ${s.value ? 'yes' : 'no'} is not written`);
  }
  const globals = render('globals.yml.hbs', {
    site: site.site,
    assumptions: assumptions.filter((a) => a.setting.endsWith('_interface')).map((a) => `${a.node}: ${a.setting}=${a.value} (${a.reason})`),
    base_distro: k.base_distro,
    release: k.release,
    vip: k.vip,
    network_interface: globalNet,
    neutron_external_interface: globalExt,
    docker_registry: input.registry.address,
    docker_registry_username: input.registry.username,
    docker_namespace: KOLLA_NAMESPACE,
    switches: cephUsers ? switches.filter((s) => !cephKeys.has(s.key)) : switches,
    ceph: cephUsers,
  });
  return { inventory, globals, groups, interfaces, globalInterfaces: { network_interface: globalNet, neutron_external_interface: globalExt }, assumptions, warnings };
}
