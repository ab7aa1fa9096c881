/**
 * A lab of nodes that get the Debian cloud image (`kseed images os`, qcow2)
 * with the site's static network: two NICs per node in a bond with a VLAN on
 * it, each listed node's `ip` set to its bond address (so the DHCP lease, the
 * state and the hand-off inventory name the address the OS configures), and
 * Kolla's VIP (the hand-off refuses without it). The one helper for e2e tests
 * that need a real OS on disk; the test starts the seed itself (`kseed up`),
 * so it can edit the site first (bad images, an engine's ports).
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { buildOsImage, type OsImageResult } from '../../src/images/nodeos.js';
import { buildRamdisk } from '../../src/images/ramdisk.js';
import { createLab, destroyLab, type CreateLabOptions, type CreateLabResult } from '../../src/lab/index.js';
import { stageArtifacts } from './artifacts.js';
import { ensureBuilt, REPO, jsonOf, runKseed, type CliRun } from './cli.js';

/** Where the seed serves the staged artifacts (the lab's seed address). */
export const SEED_ARTIFACTS = 'http://10.77.0.1:8080/artifacts';
/** Peers the lab and the image build need (for needPeers). */
export const DEBIAN_LAB_PEERS = ['ip', 'ipmi_sim', 'ipmitool', 'qemu-system-x86_64', 'qemu-img', 'debootstrap', 'sgdisk', 'mkfs.ext4', 'mkfs.fat', 'mcopy', 'zstd', 'ssh'];

export interface DebianLabOptions extends Pick<CreateLabOptions, 'nodes' | 'uefiNodes' | 'diskGb' | 'memoryMb' | 'nodeSize' | 'dataDisks' | 'dataDiskGb' | 'engine' | 'bmcPortBase'> {
  name: string;
  /** Image cache (default: $KSEED_CACHE or the repo's cache/). */
  cacheDir?: string;
  /** Kolla's VIP on the provisioning network. */
  kollaVip?: string;
}

export interface DebianLab {
  root: string;
  stateDir: string;
  site: string;
  artifacts: string;
  lab: CreateLabResult;
  os: OsImageResult;
  /** the hand-off SSH key kseed generates (exists once the seed is up) */
  key: string;
  /** kseed --config <site> ARGS, run from the lab's directory; `json` parsed when --json was given */
  kseed(args: string[], timeoutMs?: number): Promise<CliRun & { json?: any }>;
  /** the node's bond address (its `ip`) */
  address(node: string): string;
  /** `ssh root@<node>` from the lab namespace with the hand-off key */
  ssh(node: string, cmd: string, timeoutMs?: number): SpawnSyncReturns<string>;
  /** Edits the site file as a YAML document (comments and order kept). */
  editSite(edit: (doc: YAML.Document.Parsed, nodes: YAML.YAMLMap[]) => void): void;
  /** kseed down, the lab destroyed, the directory removed (kept with E2E_KEEP) */
  destroy(): Promise<void>;
}

export async function debianLab(o: DebianLabOptions): Promise<DebianLab> {
  const cacheDir = o.cacheDir ?? process.env.KSEED_CACHE ?? path.join(REPO, 'cache');
  const root = mkdtempSync(path.join(tmpdir(), `ksl-${o.name}-`));
  chmodSync(root, 0o755);
  const stateDir = path.join(root, '.kseed');
  const site = path.join(root, 'kseed.yaml');
  ensureBuilt();
  const ramdisk = await buildRamdisk({ cacheDir });
  const os = await buildOsImage({ cacheDir });
  const artifacts = path.join(root, 'artifacts');
  stageArtifacts(artifacts, { vmlinuz: ramdisk.kernel, 'initramfs.gz': ramdisk.initramfs, 'debian.qcow2': os.path });
  const { name, cacheDir: _c, kollaVip, ...labOpts } = o;
  const lab = await createLab({
    stateDir,
    name,
    memoryMb: 1024,
    ...labOpts,
    nics: 2,
    staticNetwork: true,
    image: { url: `${SEED_ARTIFACTS}/debian.qcow2`, checksum: os.checksum, format: 'qcow2' },
    siteFile: site,
  });
  const address = (node: string) => {
    const n = lab.nodes.find((x) => x.name === node);
    if (!n?.addresses) throw new Error(`${node}: not a listed node of lab ${name}`);
    return n.addresses.bond.split('/')[0]!;
  };
  const editSite: DebianLab['editSite'] = (edit) => {
    const doc = YAML.parseDocument(readFileSync(site, 'utf8'));
    edit(doc, (doc.get('nodes') as YAML.YAMLSeq).items as YAML.YAMLMap[]);
    writeFileSync(site, doc.toString());
  };
  editSite((doc, nodes) => {
    for (const n of nodes) n.set('ip', address(String(n.get('name'))));
    doc.set('handoff', doc.createNode({ kolla: { vip: kollaVip ?? '10.77.0.250' } }));
  });
  const key = path.join(stateDir, 'secrets', 'handoff-ssh-key');
  const kseed: DebianLab['kseed'] = async (args, timeoutMs = 2_400_000) => {
    const r = await runKseed(['--config', site, ...args], { cwd: root, timeoutMs });
    return { ...r, json: jsonOf(args, r.stdout) };
  };
  const ssh: DebianLab['ssh'] = (node, cmd, timeoutMs = 120_000) =>
    spawnSync(
      'ip',
      ['netns', 'exec', lab.netns, 'ssh', '-i', key, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=10', '-o', 'BatchMode=yes', `root@${address(node)}`, cmd],
      { encoding: 'utf8', timeout: timeoutMs },
    );
  const destroy = async () => {
    try {
      if (existsSync(site)) await kseed(['down'], 180_000);
      await destroyLab({ stateDir, name });
    } finally {
      if (!process.env.E2E_KEEP) rmSync(root, { recursive: true, force: true });
    }
  };
  return { root, stateDir, site, artifacts, lab, os, key, kseed, address, ssh, editSite, destroy };
}
