/**
 * The site file `kseed lab up` writes for its lab (examples/lab.yaml shape),
 * so `kseed up` / `kseed provision` work on the lab with no editing. The
 * first line marks it as the lab's own: `lab up` rewrites only such a file,
 * and `lab down` removes only such a file.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { InputError } from '../errors.js';
import type { Role } from '../site/types.js';
import type { LabManifest } from './manifest.js';
import { labNetworkDefaultLines, labNodeNetworkLines } from './static-net.js';

export function siteMarker(lab: string): string {
  return `# kseed-lab: ${lab}`;
}

/** Node 1 runs the control plane; the others are compute + storage; a single node does everything. */
export function labRoles(index: number, count: number): Role[] {
  if (count === 1) return ['control', 'network', 'compute', 'storage', 'monitoring'];
  return index === 0 ? ['control', 'network', 'monitoring'] : ['compute', 'storage'];
}

const q = (s: string) => JSON.stringify(s);

export function renderLabSite(m: LabManifest): string {
  const n = m.network;
  const lines = [
    siteMarker(m.name),
    `# Written by \`kseed lab up\` for the virtual lab "${m.name}"; \`kseed lab down\` removes it.`,
    '# Edits are lost on the next `kseed lab up`.',
    `site: ${q(m.name)}`,
    `engine: ${m.engine ?? 'embedded'}`,
    'seed:',
    `  interface: ${m.bridge}`,
    `  netns: ${m.netns}`,
    `  address: ${n.ipv4}/${n.prefix}`,
    // nodes that all boot by UEFI HTTP boot need no TFTP: the lab shows the seed without it
    ...(m.uefiHttpBoot && m.engine !== 'ironic' && m.nodes.every((x) => x.listed === false || x.firmware === 'uefi') ? ['  tftp: { enabled: false }'] : []),
    '  dhcp:',
    '    mode: authoritative',
    `    range: ${n.dhcpRange.start}-${n.dhcpRange.end}`,
    // The lab has no IPA: Ironic boots kseed's own deploy ramdisk (deploy interface
    // ramdisk), and ipmi_sim keeps up with one IPMI command a second.
    ...(m.engine === 'ironic' ? ['ironic:', '  deploy_interface: ramdisk', '  min_command_interval: 1'] : []),
    'defaults:',
    '  bmc:',
    `    type: ${m.bmcKind === 'redfish' ? 'redfish' : 'ipmi'}`,
    `    username: ${q(m.nodes[0]?.bmc.username ?? 'admin')}`,
    `    password: { file: ${q(m.passwordFile)} }`,
    ...(m.bmcKind === 'redfish'
      ? // the lab's own self-signed certificate for 127.0.0.1 (src/lab/redfish/cert.ts)
        ['    scheme: https', '    insecure_tls: true']
      : // ipmi_sim answers suite 3 but not "Get Channel Cipher Suites"
        ['    cipher_suite: 3']),
    `  profile: ${m.bmcKind === 'redfish' ? 'qemu-lab-redfish' : 'qemu-lab'}`,
    ...(m.staticNetwork ? labNetworkDefaultLines() : []),
  ];
  if (m.image) {
    lines.push(
      '  image:',
      `    url: ${q(m.image.url)}`,
      `    checksum: ${q(m.image.checksum)}`,
      `    format: ${m.image.format}`,
      ...(m.image.compression && m.image.compression !== 'none' ? [`    compression: ${m.image.compression}`] : []),
    );
  }
  lines.push('nodes:');
  // unlisted machines are on the lab network but deliberately unknown to the seed
  const listed = m.nodes.filter((n) => n.listed !== false);
  for (const node of listed) {
    const macs = [node.mac, ...(node.extraNics ?? []).map((x) => x.mac)];
    lines.push(
      `  - name: ${node.name}`,
      `    bmc: { address: ${node.bmc.address}, port: ${node.bmc.port} }`,
      `    macs: [${macs.map(q).join(', ')}]`,
      `    roles: [${labRoles(node.index, listed.length).join(', ')}]`,
      `    boot_mode: ${node.firmware}`,
      // the disk's virtio serial: selects exactly this disk, nothing else is ever written
      `    root_device: { serial: ${q(node.disk.serial)} }`,
      ...(m.staticNetwork && node.addresses ? labNodeNetworkLines(macs, node.addresses) : []),
    );
  }
  return `${lines.join('\n')}\n`;
}

export function isLabSite(file: string, lab: string): boolean {
  try {
    return readFileSync(file, 'utf8').split('\n', 1)[0] === siteMarker(lab);
  } catch {
    return false;
  }
}

/** Refuses to overwrite a site file that is not this lab's: it is the user's. */
export function checkSiteWritable(file: string, lab: string): void {
  if (existsSync(file) && !isLabSite(file, lab)) {
    throw new InputError(`${file} exists and was not written by \`kseed lab up\` for lab "${lab}"`, [
      { file, line: 1, col: 1, message: `not a lab site file (first line is not "${siteMarker(lab)}"); pass --config <new file> for the lab` },
    ]);
  }
}

export function writeLabSite(file: string, m: LabManifest): void {
  checkSiteWritable(file, m.name);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, renderLabSite(m), { mode: 0o644 });
  renameSync(tmp, file);
}

export function removeLabSite(file: string, lab: string): boolean {
  if (!isLabSite(file, lab)) return false;
  rmSync(file, { force: true });
  return true;
}

/**
 * The lab a site file belongs to: the name on its `kseed lab up` marker line,
 * else the lab of its `seed.netns` (`ksl-<name>`, a hand-written lab file).
 * Undefined for a site file of no lab. Read as text: a lab verb needs only
 * the name, not a valid site.
 */
export function labNameOfSite(file: string): string | undefined {
  const text = readFileSync(file, 'utf8');
  const marker = /^# kseed-lab: (\S+)\s*$/m.exec(text.split('\n', 1)[0] ?? '');
  if (marker) return marker[1];
  const ns = /^\s+netns:\s*["']?ksl-([a-z0-9][a-z0-9-]*)["']?\s*(#.*)?$/m.exec(text);
  return ns?.[1];
}
