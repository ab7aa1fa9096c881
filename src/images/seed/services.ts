/**
 * What each seed image installs, from Debian packages only. The stack's
 * entrypoints (templates/stack/<service>/entrypoint.sh.hbs) run these
 * binaries: ironic + ironic-dbsync, ironic-inspector(-dbsync), dnsmasq with
 * /usr/lib/ipxe/*, nginx, docker-registry; runuser and install come with the
 * base (util-linux, coreutils are Essential).
 */
import { IMAGE_REPOS, type StackService } from '../../render/model.js';

export interface SeedService {
  service: StackService;
  /** Template file under templates/images/ (without .Dockerfile.hbs). */
  template: string;
  packages: string[];
  /** debconf-set-selections lines, answered before install. */
  debconf: string[];
}

/**
 * ironic-common alone ships the all-in-one `ironic` (ironic-api and
 * ironic-conductor only add uwsgi, init units, tftpd/xinetd). Its postinst
 * configures a database/rabbit/keystone only when these keys are true; they
 * default to false but are pinned here so a changed default cannot prompt or
 * write a config. enabled_drivers empty: otherwise the postinst writes the
 * obsolete `enabled_drivers=pxe_ipmitool`.
 */
const IRONIC_DEBCONF = [
  'ironic-common ironic/configure_db boolean false',
  'ironic-common ironic/configure_rabbit boolean false',
  'ironic-common ironic/configure_ksat boolean false',
  'ironic-common ironic/enabled_drivers multiselect ',
];

export const SEED_SERVICES: Record<StackService, SeedService> = {
  ironic: {
    service: 'ironic',
    template: 'ironic',
    // ipxe: Ironic's ipxe boot interface copies its binaries for UEFI/BIOS chainloading.
    // genisoimage (mkisofs), isolinux, syslinux-common (ldlinux.c32): the redfish-virtual-media
    // boot interface builds each node's BIOS boot ISO itself (ironic/common/images.py).
    packages: ['ironic-common', 'ipmitool', 'ipxe', 'genisoimage', 'isolinux', 'syslinux-common'],
    debconf: IRONIC_DEBCONF,
  },
  inspector: {
    service: 'inspector',
    template: 'ironic-inspector',
    packages: ['ironic-inspector'],
    debconf: [
      'ironic-inspector ironic-inspector/configure_db boolean false',
      'ironic-inspector ironic-inspector/configure_ksat boolean false',
      'ironic-inspector ironic-inspector/configure_api-endpoint boolean false',
    ],
  },
  dnsmasq: {
    service: 'dnsmasq',
    template: 'dnsmasq',
    // dnsmasq-base, not dnsmasq: the latter adds an init script and a default config.
    packages: ['dnsmasq-base', 'ipxe'],
    debconf: [],
  },
  http: {
    service: 'http',
    template: 'http',
    packages: ['nginx-light'],
    debconf: [],
  },
  registry: {
    service: 'registry',
    template: 'registry',
    packages: ['docker-registry'],
    debconf: [],
  },
  mariadb: {
    service: 'mariadb',
    template: 'mariadb',
    // mariadb-server's own server binary and mariadb-install-db live in mariadb-server-core;
    // the mariadb-server package adds galera, perl, rsync, socat and init scripts (54 MB) that
    // one local database for Ironic's conductors does not use. client-core: my_print_defaults,
    // which mariadb-install-db calls.
    packages: ['mariadb-server-core', 'mariadb-client-core'],
    debconf: [],
  },
};

/** Build order: the default stack first, the optional inspector and MariaDB (ironic.conductors >= 2) last. */
export const SERVICE_ORDER: StackService[] = ['ironic', 'dnsmasq', 'http', 'registry', 'inspector', 'mariadb'];

export function repoOf(s: StackService): string {
  return IMAGE_REPOS[s];
}

/** Accepts service names and image names (`inspector` or `ironic-inspector`). */
export function parseServices(list: string): StackService[] {
  const out: StackService[] = [];
  for (const raw of list.split(',').map((x) => x.trim()).filter(Boolean)) {
    const hit = SERVICE_ORDER.find((s) => s === raw || SEED_SERVICES[s].template === raw || IMAGE_REPOS[s] === raw);
    if (!hit) throw new Error(`unknown service "${raw}" (one of: ${SERVICE_ORDER.join(', ')})`);
    if (!out.includes(hit)) out.push(hit);
  }
  return SERVICE_ORDER.filter((s) => out.includes(s));
}
