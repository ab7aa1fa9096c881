/**
 * Loads the site file: YAML with positions -> schema -> cross-field rules
 * -> defaults merged. Every problem of the file is reported in one
 * InputError (exit 2), each as `file:line:col path: message`.
 */
import path from 'node:path';
import { InputError, type Problem } from '../errors.js';
import { profileDirs, profileFiles } from './profile-dirs.js';
import { crossCheck } from './check.js';
import { parseCidr } from './net.js';
import { resolveNetwork } from './network.js';
import {
  DEFAULT_BMC_PORT,
  DEFAULT_HANDOFF,
  DEFAULT_IRONIC,
  DEFAULT_KOLLA,
  DEFAULT_LEASE_SECONDS,
  DEFAULT_PORTS,
  DEFAULT_REGISTRY,
  SiteFile,
  type SiteFileInput,
} from './schema.js';
import type { BmcSpec, NodeSpec, Site } from './types.js';
import { positionOf, problemAt, readYaml, zodProblems, type YamlFile } from './yaml.js';

export interface LoadOptions {
  /** Known hardware profile names; default: shipped ones plus `hardware-profiles/` beside the site file. */
  profiles?: string[];
}

export interface SiteCheck {
  /** Set when there are no problems. */
  site?: Site;
  problems: Problem[];
  warnings: Problem[];
  shown: string;
  /** The parsed file, for callers that add positioned problems of their own. */
  yaml?: YamlFile;
}

/** Checks a site file without throwing: what `kseed validate` prints. */
export async function checkSite(file: string, opts: LoadOptions = {}): Promise<SiteCheck> {
  const { y, problems } = await readYaml(file, 'site file');
  if (problems.length) return { problems, warnings: [], shown: y.shown };
  if (!y.data || typeof y.data !== 'object' || Array.isArray(y.data)) {
    return {
      problems: [problemAt(y, [], 'the site file must be a mapping with site, engine, seed and nodes at the top level')],
      warnings: [],
      shown: y.shown,
    };
  }
  const parsed = SiteFile.safeParse(y.data);
  const schemaProblems = parsed.success ? [] : zodProblems(y, SiteFile, parsed.error.issues);
  const profiles = opts.profiles ?? [...profileFiles(profileDirs(path.dirname(y.file))).keys()];
  const cross = crossCheck(y, profiles);
  const all = sortProblems(dedupe([...schemaProblems, ...cross.problems]));
  const warnings = sortProblems(cross.warnings);
  if (all.length || !parsed.success) return { problems: all, warnings, shown: y.shown, yaml: y };
  return { site: resolve(y, parsed.data), problems: [], warnings, shown: y.shown, yaml: y };
}

/** Loads the site file or throws an InputError listing every problem. */
export async function loadSiteWithWarnings(file: string, opts: LoadOptions = {}): Promise<{ site: Site; warnings: Problem[] }> {
  const r = await checkSite(file, opts);
  if (!r.site) {
    const n = r.problems.length;
    throw new InputError(`site file ${r.shown} has ${n} problem${n === 1 ? '' : 's'}`, r.problems, { code: 'invalid-site' });
  }
  return { site: r.site, warnings: r.warnings };
}

export async function loadSite(file: string, opts: LoadOptions = {}): Promise<Site> {
  return (await loadSiteWithWarnings(file, opts)).site;
}

function dedupe(ps: Problem[]): Problem[] {
  const seen = new Set<string>();
  return ps.filter((p) => {
    const k = `${p.line}:${p.col}:${p.path}:${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** File order, so the output reads top to bottom like the file. */
export function sortProblems(ps: Problem[]): Problem[] {
  return [...ps].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
}

/** Drops undefined members so the result serialises and compares cleanly. */
function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function resolve(y: YamlFile, f: SiteFileInput): Site {
  const cidr = parseCidr(f.seed.address)!;
  const d = compact(f.defaults ?? {});
  const dbmc = compact(d.bmc ?? {});
  const nodes: NodeSpec[] = f.nodes.map((n, i) => {
    const type = n.bmc.type ?? dbmc.type ?? 'ipmi';
    const bmc = compact({
      ...dbmc,
      ...compact(n.bmc),
      type,
      port: n.bmc.port ?? dbmc.port ?? DEFAULT_BMC_PORT[type],
    }) as BmcSpec;
    // hints, images: a node's own replaces the default whole; merging a default
    // serial into a node's size hint would select a disk nobody asked for
    return compact({
      name: n.name,
      bmc,
      macs: n.macs,
      roles: n.roles ?? [],
      profile: n.profile ?? d.profile,
      root_device: n.root_device ?? d.root_device,
      image: n.image ?? d.image,
      boot_mode: n.boot_mode ?? d.boot_mode,
      boot: n.boot ?? d.boot,
      ip: n.ip,
      network: resolveNetwork(n.network, n.macs, d.network),
      source: positionOf(y, ['nodes', i]),
    });
  });
  const dhcp = f.seed.dhcp;
  const kolla = f.handoff?.kolla;
  return {
    file: y.file,
    dir: path.dirname(y.file),
    site: f.site,
    engine: f.engine,
    seed: compact({
      interface: f.seed.interface,
      address: cidr.address,
      prefix: cidr.prefix,
      netns: f.seed.netns,
      dhcp: compact({
        mode: dhcp.mode,
        range: dhcp.mode === 'authoritative' ? dhcp.range : undefined,
        lease_seconds: dhcp.lease_seconds ?? DEFAULT_LEASE_SECONDS,
        router: dhcp.router,
        dns: dhcp.dns,
        discovery_pool: dhcp.discovery_pool,
      }),
      ports: { ...DEFAULT_PORTS, ...compact(f.seed.ports ?? {}) },
      tftp: f.seed.tftp ? { enabled: f.seed.tftp.enabled } : undefined,
    }),
    defaults: d,
    registry: { ...DEFAULT_REGISTRY, ...compact(f.registry ?? {}) },
    ironic: { ...DEFAULT_IRONIC, ...compact(f.ironic ?? {}) },
    nodes,
    handoff: compact({
      ...DEFAULT_HANDOFF,
      ...compact(f.handoff ?? {}),
      kolla: kolla ? compact({ ...DEFAULT_KOLLA, ...compact(kolla) }) : undefined,
    }),
  };
}
