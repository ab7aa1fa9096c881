/**
 * Kolla-Ansible's external Ceph: the pools and cephx clients Glance, Cinder
 * and Nova use, made on the cluster kseed just brought up, and the files
 * Kolla reads from its config directory (Kolla-Ansible 2024.1
 * doc/source/reference/storage/external-ceph-guide.rst: ceph.conf and
 * `ceph.<ceph_*_keyring>` under config/glance, config/cinder/cinder-volume,
 * config/cinder/cinder-backup and config/nova). Caps follow Ceph's
 * "Block Devices and OpenStack" guide (rbd-openstack: profile rbd).
 */
import { shq } from './steps.js';
import type { OutFile } from './files.js';

/** The pool and user names globals.yml names (kolla.ts writes the same ones). */
export const KOLLA_CEPH = {
  pools: ['images', 'volumes', 'backups', 'vms'],
  clients: {
    glance: { mon: 'profile rbd', osd: 'profile rbd pool=images', mgr: 'profile rbd pool=images' },
    cinder: { mon: 'profile rbd', osd: 'profile rbd pool=volumes, profile rbd pool=vms, profile rbd-read-only pool=images', mgr: 'profile rbd pool=volumes, profile rbd pool=vms' },
    'cinder-backup': { mon: 'profile rbd', osd: 'profile rbd pool=backups', mgr: 'profile rbd pool=backups' },
  },
} as const;

const MARK = '----kseed-file----';

/**
 * One `cephadm shell` that makes the pools and clients (both idempotent in
 * Ceph: an existing pool or client is kept as it is) and prints the minimal
 * ceph.conf and each client's keyring between markers.
 */
export function kollaCephScript(image: string): string {
  // The mon refuses a pool that would put more than mon_max_pg_per_osd (250) PG copies on an
  // OSD: four pools at the default 32 PGs and 2 copies exceed that below 3 OSDs. There they
  // start at 8 PGs; the pg autoscaler (on by default since Ceph 16) grows them with the data.
  const cmds: string[] = ['set -e', 'pgs=32', 'if [ "$(ceph osd ls | wc -l)" -lt 3 ]; then pgs=8; fi'];
  for (const p of KOLLA_CEPH.pools) cmds.push(`ceph osd pool create ${p} "$pgs" >/dev/null`, `ceph osd pool application enable ${p} rbd >/dev/null`);
  for (const [name, caps] of Object.entries(KOLLA_CEPH.clients)) {
    cmds.push(`ceph auth get-or-create client.${name} mon ${shq(caps.mon)} osd ${shq(caps.osd)} mgr ${shq(caps.mgr)} >/dev/null`);
  }
  cmds.push(`echo ${MARK} ceph.conf`, 'ceph config generate-minimal-conf');
  for (const name of Object.keys(KOLLA_CEPH.clients)) cmds.push(`echo ${MARK} ceph.client.${name}.keyring`, `ceph auth get client.${name}`);
  return ['cephadm', '--image', image, 'shell', '--', 'sh', '-c', cmds.join('\n')].map(shq).join(' ');
}

/** The files under Kolla's config directory (`<configdir>/config/...`) from the script's output. */
export function kollaCephFiles(output: string): OutFile[] {
  const parts = new Map<string, string>();
  for (const chunk of output.split(`${MARK} `).slice(1)) {
    const nl = chunk.indexOf('\n');
    parts.set(chunk.slice(0, nl).trim(), chunk.slice(nl + 1));
  }
  const conf = parts.get('ceph.conf');
  if (!conf || !/\[global\]/.test(conf) || !/mon_host/.test(conf)) throw new Error('no ceph.conf with [global] and mon_host in the output of ceph config generate-minimal-conf');
  // Kolla's INI parser breaks on the leading tabs generate-minimal-conf writes (external-ceph-guide.rst)
  const cephConf = conf.split('\n').map((l) => l.replace(/^\t+/, '')).join('\n').trim() + '\n';
  const key = (name: string) => {
    const k = parts.get(`ceph.client.${name}.keyring`);
    if (!k || !new RegExp(`\\[client\\.${name}\\]`).test(k) || !/key = \S+/.test(k)) throw new Error(`no keyring for client.${name} in the output`);
    return k.split('\n').map((l) => l.replace(/^\t+/, '\t')).join('\n').trim() + '\n';
  };
  const secret = 0o600;
  return [
    { rel: 'config/glance/ceph.conf', content: cephConf, mode: 0o644 },
    { rel: 'config/glance/ceph.client.glance.keyring', content: key('glance'), mode: secret },
    { rel: 'config/cinder/ceph.conf', content: cephConf, mode: 0o644 },
    { rel: 'config/cinder/cinder-volume/ceph.client.cinder.keyring', content: key('cinder'), mode: secret },
    { rel: 'config/cinder/cinder-backup/ceph.client.cinder.keyring', content: key('cinder'), mode: secret },
    { rel: 'config/cinder/cinder-backup/ceph.client.cinder-backup.keyring', content: key('cinder-backup'), mode: secret },
    { rel: 'config/nova/ceph.conf', content: cephConf, mode: 0o644 },
    // ceph_nova_user defaults to ceph_cinder_user: nova reads the cinder keyring
    { rel: 'config/nova/ceph.client.cinder.keyring', content: key('cinder'), mode: secret },
  ];
}
