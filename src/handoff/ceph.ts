/**
 * cephadm inputs: a multi-document service spec (hosts, mon, mgr, OSDs) and
 * the bootstrap command. Pure: returns contents, writes nothing.
 *
 * Labels: control nodes carry mon+mgr (Ceph's control plane beside
 * OpenStack's); with no control node, the storage nodes do. Storage nodes
 * carry osd. The bootstrap host also gets `_admin`, cephadm's label for
 * hosts that keep ceph.conf and the admin keyring.
 */
import type { Disk } from '../engine/rootdevice.js';
import { archiveNameOf } from '../images/ceph/archive.js';
import { upstreamVersion } from '../images/ceph/version.js';
import type { Site } from '../site/types.js';
import type { Assumption, NodeFacts } from './facts.js';
import { render } from './templates.js';

/** What `kseed images ceph` builds: Debian 12's Ceph, tagged with its version. */
export const CEPH_IMAGE_REPO = 'kseed/ceph';
/** Debian 12's Ceph when the seed has no build yet to tell (bookworm and its security updates). */
export const DEBIAN_CEPH_VERSION = '16.2.15';
/** Ceph refuses OSDs on devices smaller than 5 GB (ceph-volume's minimum). */
const MIN_OSD_BYTES = 5 * 1024 ** 3;

type DataDevices = NonNullable<NonNullable<NonNullable<Site['handoff']['ceph']>['osd']>['data_devices']>;

export interface CephInput {
  site: Site;
  facts: NodeFacts[];
  registry: { address: string; username: string };
  /** Where the files are on the bootstrap host when the command runs there. */
  remoteDir: string;
  /** Debian version of the cephadm .deb the seed serves (its image has the same), if built. */
  cephadmVersion?: string;
}

export interface CephHost {
  name: string;
  addr: string;
  labels: string[];
}

export interface OsdSpec {
  id: string;
  hosts: string[] | null;
  data_devices: Record<string, unknown>;
}

export interface CephOutput {
  spec: string;
  hosts: CephHost[];
  osds: OsdSpec[];
  /** the name cephadm runs, under the seed registry (a pull, if one ever happens, goes to the seed) */
  image: string;
  /** the same image by the name it has on the seed's Docker engine and in its archive */
  localImage: string;
  delivery: ImageDelivery;
  bootstrapHost?: string;
  monIp?: string;
  /** argv, run on the bootstrap host as root */
  bootstrap: string[];
  assumptions: Assumption[];
  warnings: string[];
}

/**
 * How the nodes get the image: kseed's own image comes as the seed's
 * uncompressed `docker save` archive unless the site asks for the registry;
 * an image the site names can only come from the registry.
 */
export type ImageDelivery = 'archive' | 'registry';

export function imageDelivery(site: Site): ImageDelivery {
  return site.handoff.ceph?.image_delivery ?? (site.handoff.ceph?.image ? 'registry' : 'archive');
}

/** The seed-registry name of an upstream image: the same path under the seed. */
export function mirroredImage(image: string, registry: string): string {
  const first = image.split('/')[0]!;
  // a first component with '.' or ':' (or localhost) is a registry host (Docker's rule)
  const hasHost = image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  const path = hasHost ? image.slice(first.length + 1) : image.includes('/') ? image : `library/${image}`;
  return `${registry}/${path}`;
}

/** ceph's size filter: "10G", "10G:", ":2T", "10G:2T" (drive_group.py SizeMatcher units). */
export function sizeMatches(bytes: number, filter: string): boolean {
  const unit: Record<string, number> = { '': 1, B: 1, K: 1e3, KB: 1e3, M: 1e6, MB: 1e6, G: 1e9, GB: 1e9, T: 1e12, TB: 1e12 };
  const parse = (s: string): number | undefined => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?B?)\s*$/i.exec(s);
    return m ? Number(m[1]) * unit[m[2]!.toUpperCase()]! : undefined;
  };
  if (filter.includes(':')) {
    const [lo, hi] = filter.split(':') as [string, string];
    const l = lo.trim() ? parse(lo) : 0;
    const h = hi.trim() ? parse(hi) : Infinity;
    return l !== undefined && h !== undefined && bytes >= l && bytes <= h;
  }
  const exact = parse(filter);
  // ceph compares an exact size after rounding to the unit given; one percent is close enough here
  return exact !== undefined && Math.abs(bytes - exact) <= exact * 0.01;
}

export function osdCandidates(disks: Disk[], root: Disk | undefined, dd: DataDevices | undefined): Disk[] {
  return disks.filter((d) => {
    if (root && d.name === root.name) return false;
    if (d.size_bytes < MIN_OSD_BYTES) return false;
    if (!dd || dd.all) return true;
    if (dd.rotational !== undefined && d.rotational !== dd.rotational) return false;
    if (dd.model !== undefined && !(d.model ?? '').includes(dd.model)) return false;
    if (dd.size !== undefined && !sizeMatches(d.size_bytes, dd.size)) return false;
    return true;
  });
}

/** The site's filter as a DriveGroup data_devices; `all` alone, as ceph refuses it with other filters. */
function filterSpec(dd: DataDevices | undefined): Record<string, unknown> {
  if (!dd || dd.all || (dd.rotational === undefined && dd.model === undefined && dd.size === undefined)) return { all: true };
  const out: Record<string, unknown> = {};
  if (dd.rotational !== undefined) out.rotational = dd.rotational ? 1 : 0;
  if (dd.model !== undefined) out.model = dd.model;
  if (dd.size !== undefined) out.size = dd.size;
  return out;
}

export function buildCeph(input: CephInput): CephOutput {
  const { site, facts } = input;
  const assumptions: Assumption[] = [];
  const warnings: string[] = [];
  const dd = site.handoff.ceph?.osd?.data_devices;
  const storage = facts.filter((f) => f.spec.roles.includes('storage'));
  const control = facts.filter((f) => f.spec.roles.includes('control'));
  const monNodes = control.length ? control : storage;
  const members = facts.filter((f) => monNodes.includes(f) || storage.includes(f));
  if (!storage.length) warnings.push('no node has the storage role: the Ceph cluster gets no OSDs');

  const hosts: CephHost[] = [];
  for (const f of members) {
    if (!f.address) {
      warnings.push(`${f.spec.name}: no address known; left out of the Ceph spec (cephadm needs addr)`);
      continue;
    }
    const labels: string[] = [];
    if (monNodes.includes(f)) labels.push('mon', 'mgr');
    if (storage.includes(f)) labels.push('osd');
    hosts.push({ name: f.spec.name, addr: f.address, labels });
  }
  const first = hosts.find((h) => h.labels.includes('mon'));
  if (first) first.labels.push('_admin');

  // OSDs: with inspection data, the exact devices per host (root disk never
  // among them); hosts with the same devices share one spec.
  const osds: OsdSpec[] = [];
  const byPaths = new Map<string, string[]>();
  const uninspected: string[] = [];
  for (const f of storage) {
    if (!hosts.some((h) => h.name === f.spec.name)) continue;
    if (!f.inventory) {
      uninspected.push(f.spec.name);
      continue;
    }
    if (!f.rootDisk) {
      // without a known root disk any device might be the OS: list none
      warnings.push(`${f.spec.name}: no OSD devices listed, the root disk is unknown (${f.rootProblem ?? 'no root-device hint'})`);
      continue;
    }
    const paths = osdCandidates(f.inventory.disks, f.rootDisk, dd).map((d) => `/dev/${d.name}`).sort();
    if (!paths.length) {
      warnings.push(`${f.spec.name}: no disk besides the root disk ${f.rootDisk.name} matches the OSD filter`);
      continue;
    }
    const key = paths.join(' ');
    byPaths.set(key, [...(byPaths.get(key) ?? []), f.spec.name]);
  }
  let n = 0;
  for (const [key, names] of byPaths) {
    osds.push({ id: byPaths.size === 1 ? 'kseed' : `kseed-${++n}`, hosts: names, data_devices: { paths: key.split(' ') } });
  }
  if (uninspected.length) {
    const spec = filterSpec(dd);
    osds.push({ id: uninspected.length === storage.length ? 'kseed' : 'kseed-uninspected', hosts: uninspected, data_devices: spec });
    for (const name of uninspected) {
      assumptions.push({ node: name, setting: 'osd_devices', value: JSON.stringify(spec), reason: 'no inspection data: every unused disk matching the site filter becomes an OSD (cephadm only takes disks without partitions or filesystems)' });
    }
  }

  let name = site.handoff.ceph?.image;
  if (!name) {
    name = `${CEPH_IMAGE_REPO}:${input.cephadmVersion ? upstreamVersion(input.cephadmVersion) : DEBIAN_CEPH_VERSION}`;
    if (!input.cephadmVersion) {
      assumptions.push({ setting: 'ceph image', value: name, reason: "no cephadm .deb among the seed's artifacts yet: `kseed images ceph` builds the image and the cephadm of one Ceph version" });
    }
  }
  const image = mirroredImage(name, input.registry.address);
  const delivery = imageDelivery(site);
  if (delivery === 'archive' && site.handoff.ceph?.image) {
    warnings.push(`handoff.ceph.image_delivery: archive: the seed makes an archive of kseed's own image only; ${name} must be among the seed's artifacts as ${archiveNameOf(name)} with its record, or use image_delivery: registry`);
  }
  const spec = render('cluster.yaml.hbs', {
    site: site.site,
    // one colon per line for cephadm's line reader (see the template)
    assumptions: assumptions.map((a) => `${a.node ? `${a.node} ` : ''}${a.setting}=${a.value} (${a.reason})`.replace(/:/g, ' ')),
    hosts,
    osds,
  });
  const dir = input.remoteDir;
  // No --apply-spec: bootstrap would copy its key to the other hosts with ssh-copy-id,
  // which needs a password login; kseed hands the key out itself, then applies the spec.
  const bootstrap = first
    ? [
        'cephadm',
        '--image',
        image,
        'bootstrap',
        '--mon-ip',
        first.addr,
        ...(delivery === 'archive'
          ? // the hand-off loaded the image on every host before: no registry, no pull
            ['--skip-pull']
          : // the password stays in a 0600 file, off the command line and out of `ps`
            ['--registry-json', `${dir}/registry.json`]),
        '--ssh-user',
        site.handoff.ssh_user,
        // Grafana, Prometheus and friends are upstream images the seed does not carry
        '--skip-monitoring-stack',
        // Debian packages the dashboard apart (ceph-mgr-dashboard): the image leaves it out
        '--skip-dashboard',
        // one host cannot hold the default 3 replicas (nor 2): pools of size 1 there
        ...(hosts.length === 1 ? ['--single-host-defaults'] : []),
      ]
    : [];
  if (!first) warnings.push('no host for the first Ceph monitor: no bootstrap command');
  return { spec, hosts, osds, image, localImage: name, delivery, bootstrapHost: first?.name, monIp: first?.addr, bootstrap, assumptions, warnings };
}
