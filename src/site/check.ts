/**
 * Cross-field rules of the site file. They read the raw parsed data (not
 * zod's output) and skip whatever is malformed, so they still run, and
 * still report, when other parts of the file have schema errors.
 */
import type { Problem } from '../errors.js';
import { ROLES } from './types.js';
import { DEFAULT_BMC_PORT, DEFAULT_PORTS, suggest } from './schema.js';
import { formatSubnet, intToIp, ipToInt, isHostIn, isIPv4, normalizeMac, parseCidr, subnetOf, type Subnet } from './net.js';
import { positionOf, problemAt, type Path, type YamlFile } from './yaml.js';
import { parseIp, parseIpCidr, formatIp } from './ip.js';
import { checkNodeNetwork, checkSubnets, type NetworkCheckContext } from './network-check.js';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const strv = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export interface CheckResult {
  problems: Problem[];
  warnings: Problem[];
}

export function crossCheck(y: YamlFile, profileNames: string[]): CheckResult {
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  const err = (p: Path, m: string) => problems.push(problemAt(y, p, m));
  const warn = (p: Path, m: string) => warnings.push(problemAt(y, p, m));
  const lineOf = (p: Path) => positionOf(y, p).line;

  const root = obj(y.data) ?? {};
  const seed = obj(root.seed);
  const dhcp = obj(seed?.dhcp);
  const defaults = obj(root.defaults) ?? {};
  const dbmc = obj(defaults.bmc) ?? {};
  const nodes = arr(root.nodes);

  // --- the seed subnet and its DHCP range
  let subnet: Subnet | undefined;
  let seedIp: string | undefined;
  const cidr = typeof seed?.address === 'string' ? parseCidr(seed.address) : undefined;
  if (cidr) {
    if (cidr.prefix < 8 || cidr.prefix > 30) {
      err(['seed', 'address'], `prefix /${cidr.prefix} is not a provisioning subnet: use /8 to /30`);
    } else {
      subnet = subnetOf(cidr.address, cidr.prefix);
      seedIp = cidr.address;
      if (!isHostIn(cidr.address, subnet)) {
        err(['seed', 'address'], `${cidr.address} is the ${ipToInt(cidr.address) === subnet.network ? 'network' : 'broadcast'} address of ${formatSubnet(subnet)}, not a host address`);
      }
    }
  }
  const mode = strv(dhcp?.mode);
  const range = parseRange(dhcp?.range);
  let rangeInts: [number, number] | undefined;
  if (dhcp && mode === 'authoritative' && dhcp.range === undefined) {
    err(['seed', 'dhcp'], 'authoritative mode needs a range, e.g. range: 10.77.0.100-10.77.0.199');
  }
  if (dhcp && (mode === 'proxy' || mode === 'off') && dhcp.range !== undefined) {
    warn(['seed', 'dhcp', 'range'], `range is ignored in ${mode} mode: kseed hands out no addresses`);
  }
  if (range) {
    const where = ['seed', 'dhcp', 'range'];
    const [s, e] = [ipToInt(range.start), ipToInt(range.end)];
    if (s > e) err(where, `range start ${range.start} is after its end ${range.end}`);
    if (subnet) {
      const outside = [range.start, range.end].filter((a) => !isHostIn(a, subnet!));
      if (outside.length) {
        err(where, `range ${range.start}-${range.end} is outside the seed subnet ${formatSubnet(subnet)} (${outside.join(', ')})`);
      } else if (seedIp && s <= e && ipToInt(seedIp) >= s && ipToInt(seedIp) <= e) {
        err(where, `range ${range.start}-${range.end} contains the seed's own address ${seedIp}`);
      }
      if (!outside.length && s <= e) rangeInts = [s, e];
    }
  }
  for (const key of ['router'] as const) {
    const v = strv(dhcp?.[key]);
    if (v && isIPv4(v) && subnet && !isHostIn(v, subnet)) err(['seed', 'dhcp', key], `${v} is outside the seed subnet ${formatSubnet(subnet)}`);
  }

  // --- seed ports: the TCP services must not share a port
  const ports = obj(seed?.ports) ?? {};
  const tcpSeen = new Map<number, string>();
  for (const k of ['http', 'ironic_api', 'registry', 'inspector', 'api'] as const) {
    const v = typeof ports[k] === 'number' ? (ports[k] as number) : DEFAULT_PORTS[k];
    const other = tcpSeen.get(v);
    if (other) err(ports[k] !== undefined ? ['seed', 'ports', k] : ['seed', 'ports'], `${k}${ports[k] === undefined ? ' (default)' : ''} port ${v} is also used by ${other}`);
    else tcpSeen.set(v, k);
  }

  // --- TFTP off: only the embedded engine's boot services have the switch
  const tftpOff = obj(seed?.tftp)?.enabled === false;
  if (tftpOff && strv(root.engine) === 'ironic') {
    err(['seed', 'tftp', 'enabled'], 'TFTP can only be turned off in the embedded engine (Ironic boots its nodes by iPXE over TFTP); use engine: embedded');
  }

  // --- profiles
  const checkProfile = (p: Path, name: unknown) => {
    if (typeof name !== 'string' || name === '' || profileNames.includes(name)) return;
    const guess = suggest(name, profileNames);
    err(p, `unknown hardware profile "${name}"${guess ? ` (did you mean "${guess}"?)` : ''}; known: ${profileNames.join(', ') || 'none'}`);
  };
  checkProfile(['defaults', 'profile'], defaults.profile);

  // --- secrets given inline
  const inlineSecret = (p: Path, v: unknown) => {
    const o = obj(v);
    if (o && Object.keys(o).length === 1 && typeof o.value === 'string') {
      warn(p, 'inline secret: anyone who can read this file has it; prefer { env: NAME } or { file: PATH }');
    }
  };
  inlineSecret(['defaults', 'bmc', 'password'], dbmc.password);
  inlineSecret(['defaults', 'bmc', 'kg'], dbmc.kg);
  inlineSecret(['registry', 'password'], obj(root.registry)?.password);

  // --- node networks: addresses are unique across the seed, the nodes' fixed ip and their networks
  const net: NetworkCheckContext = { err, warn, defaults: obj(defaults.network), taken: new Map() };
  if (cidr && subnet) {
    net.seedNet = parseIpCidr(`${cidr.address}/${cidr.prefix}`);
    net.taken.set(cidr.address, { node: -1, label: 'the seed', where: 'seed.address' });
  }
  nodes.forEach((raw, i) => {
    const ip = parseIp(strv(obj(raw)?.ip) ?? '');
    if (ip && !net.taken.has(formatIp(ip))) net.taken.set(formatIp(ip), { node: i, label: nodeLabel(nodes, i), where: 'ip' });
  });
  if (rangeInts && mode === 'authoritative') net.dhcpRange = rangeInts;
  const subnets = checkSubnets(net);

  // --- nodes
  const names = new Map<string, number>();
  const macs = new Map<string, [number, number]>();
  const bmcs = new Map<string, number>();
  const ips = new Map<string, number>();
  nodes.forEach((raw, i) => {
    const n = obj(raw);
    if (!n) return;
    const np = ['nodes', i];
    const name = strv(n.name);
    if (name) {
      const j = names.get(name);
      if (j !== undefined) err([...np, 'name'], `duplicate node name "${name}" (first at nodes[${j}], line ${lineOf(['nodes', j])})`);
      else names.set(name, i);
    }
    const label = name ? `"${name}"` : `nodes[${i}]`;

    arr(n.macs).forEach((m, k) => {
      const mac = typeof m === 'string' ? normalizeMac(m) : undefined;
      if (!mac) return;
      const p = [...np, 'macs', k];
      if (mac === 'ff:ff:ff:ff:ff:ff' || (parseInt(mac.slice(0, 2), 16) & 1) === 1) err(p, `${mac} is a multicast/broadcast address, not a NIC's MAC`);
      else if (mac === '00:00:00:00:00:00') err(p, `${mac} is not a NIC's MAC`);
      const prev = macs.get(mac);
      if (prev) {
        const [pi, pk] = prev;
        const owner = pi === i ? 'this node' : `node ${strv(obj(nodes[pi])?.name) ? `"${strv(obj(nodes[pi])?.name)}"` : `nodes[${pi}]`}`;
        err(p, `duplicate MAC ${mac}: already used by ${owner} (nodes[${pi}].macs[${pk}])`);
      } else {
        macs.set(mac, [i, k]);
      }
    });

    const roles = arr(n.roles).filter((r): r is string => typeof r === 'string');
    const seenRoles = new Set<string>();
    roles.forEach((r, k) => {
      if (seenRoles.has(r) && (ROLES as readonly string[]).includes(r)) warn([...np, 'roles', k], `role "${r}" is listed twice`);
      seenRoles.add(r);
    });

    checkProfile([...np, 'profile'], n.profile);

    // --- the BMC, with defaults merged the way load.ts merges them
    const bmc = obj(n.bmc);
    if (bmc) {
      const type = strv(bmc.type) ?? strv(dbmc.type) ?? 'ipmi';
      const bp = [...np, 'bmc'];
      for (const req of ['username', 'password'] as const) {
        if (bmc[req] === undefined && dbmc[req] === undefined) err(bp, `${req} is required (set it here or in defaults.bmc)`);
      }
      inlineSecret([...bp, 'password'], bmc.password);
      inlineSecret([...bp, 'kg'], bmc.kg);
      if (type === 'ipmi') {
        for (const k of ['scheme', 'insecure_tls'] as const) if (bmc[k] !== undefined) warn([...bp, k], `${k} applies to redfish BMCs only; ignored for ipmi`);
      } else if (type === 'redfish') {
        for (const k of ['cipher_suite', 'kg'] as const) if (bmc[k] !== undefined) warn([...bp, k], `${k} applies to ipmi BMCs only; ignored for redfish`);
      }
      const addr = strv(bmc.address);
      const port = typeof bmc.port === 'number' ? bmc.port : typeof dbmc.port === 'number' ? dbmc.port : type === 'redfish' ? DEFAULT_BMC_PORT.redfish : DEFAULT_BMC_PORT.ipmi;
      if (addr) {
        const key = `${addr.toLowerCase()}:${port}`;
        const j = bmcs.get(key);
        if (j !== undefined) {
          const other = strv(obj(nodes[j])?.name);
          err([...bp, 'address'], `BMC ${key} is already node ${other ? `"${other}"` : `nodes[${j}]`}'s BMC (nodes[${j}])`);
        } else {
          bmcs.set(key, i);
        }
      }
    }

    // --- virtual-media boot: only a Redfish BMC mounts a CD (embedded: kseed's; ironic: redfish-virtual-media's)
    const boot = strv(n.boot) ?? strv(defaults.boot);
    const vmedia = boot === 'virtual-media';
    if (vmedia) {
      const where = n.boot !== undefined ? [...np, 'boot'] : ['defaults', 'boot'];
      const type = strv(bmc?.type) ?? strv(dbmc.type) ?? 'ipmi';
      if (type !== 'redfish') err(where, `node ${label}: virtual-media boot needs a Redfish BMC (VirtualMedia InsertMedia); this node's BMC is ${type}`);
      // Ironic builds a UEFI ISO only around an EFI system partition image ([DEFAULT]esp_image), which kseed does not give it yet
      if (strv(root.engine) === 'ironic' && (strv(n.boot_mode) ?? strv(defaults.boot_mode)) === 'uefi') {
        err(n.boot_mode !== undefined ? [...np, 'boot_mode'] : ['defaults', 'boot_mode'], `node ${label}: virtual-media boot through Ironic is BIOS-only in kseed (Ironic's UEFI ISO needs an EFI system partition image); use boot_mode bios, or engine: embedded`);
      }
    }

    // --- TFTP off: BIOS has no HTTP boot (UEFI 2.5 24.7), its PXE ROM would get no boot file
    const bootMode = strv(n.boot_mode) ?? strv(defaults.boot_mode);
    if (tftpOff && !vmedia && bootMode === 'bios') {
      err(n.boot_mode !== undefined ? [...np, 'boot_mode'] : ['defaults', 'boot_mode'], `node ${label}: boot_mode bios cannot network-boot with seed.tftp.enabled false (BIOS has no UEFI HTTP boot); use boot_mode uefi, boot: virtual-media, or turn TFTP on`);
    }

    // --- fixed address on the provisioning network
    const ip = strv(n.ip);
    if (ip && isIPv4(ip)) {
      const p = [...np, 'ip'];
      if (subnet && !isHostIn(ip, subnet)) err(p, `${ip} is outside the seed subnet ${formatSubnet(subnet)}`);
      else if (ip === seedIp) err(p, `${ip} is the seed's own address`);
      else if (rangeInts && ipToInt(ip) >= rangeInts[0] && ipToInt(ip) <= rangeInts[1]) {
        warn(p, `${ip} is inside the dynamic range ${intToIp(rangeInts[0])}-${intToIp(rangeInts[1])}; a fixed address outside it avoids surprises`);
      }
      const j = ips.get(ip);
      if (j !== undefined) err(p, `address ${ip} is already used by node "${strv(obj(nodes[j])?.name) ?? j}"`);
      else ips.set(ip, i);
      // a virtual-media boot CD carries it as the ramdisk's static address
      if ((mode === 'proxy' || mode === 'off') && !vmedia) warn(p, `ignored in ${mode} DHCP mode: another DHCP server assigns addresses`);
    }

    const nodeMacs = arr(n.macs).flatMap((m) => (typeof m === 'string' && normalizeMac(m) ? [normalizeMac(m)!] : []));
    checkNodeNetwork(net, subnets, i, nodeLabel(nodes, i), nodeMacs, n.network);

    // deploys refuse to write a disk no hint selected (DESIGN, safety)
    if (n.root_device === undefined && defaults.root_device === undefined) {
      warn(np, `node ${label} has no root_device hint (here or in defaults): deploys will refuse to choose a disk`);
    }
    if (n.image === undefined && defaults.image === undefined) {
      warn(np, `node ${label} has no image (here or in defaults): it can be enrolled but not deployed`);
    }
  });

  if (Array.isArray(root.nodes) && nodes.length === 0) warn(['nodes'], 'no nodes: nothing to provision');
  return { problems, warnings };
}

function nodeLabel(nodes: unknown[], i: number): string {
  const name = strv(obj(nodes[i])?.name);
  return name ? `node "${name}"` : `nodes[${i}]`;
}

function parseRange(v: unknown): { start: string; end: string } | undefined {
  if (typeof v === 'string') {
    const m = /^\s*([0-9.]+)\s*-\s*([0-9.]+)\s*$/.exec(v);
    return m && isIPv4(m[1]!) && isIPv4(m[2]!) ? { start: m[1]!, end: m[2]! } : undefined;
  }
  const o = obj(v);
  const s = strv(o?.start);
  const e = strv(o?.end);
  return s && e && isIPv4(s) && isIPv4(e) ? { start: s, end: e } : undefined;
}
