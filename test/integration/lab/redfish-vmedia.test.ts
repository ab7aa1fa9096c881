/**
 * Virtual-media deploy on the lab, embedded engine, with the seed's DHCP
 * off: a BIOS lab VM behind the lab's Redfish BMC, whose site entry says
 * `boot: virtual-media` and has a fixed `ip`. `kseed provision` builds the
 * node's boot CD (ISOLINUX, its token and `ip=` on the command line), the
 * lab BMC fetches it from the seed's boot HTTP and mounts it (QMP), boots
 * it once from Cd; the ramdisk sets its static address, posts its inventory
 * and writes the test OS; then the CD is ejected and the node boots its disk.
 * Every kseed command runs as its own process from dist/. Lab "rfv", BMC
 * port 18170. Boots a VM: run under /work/.heavy.lock.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../../src/engine/state.js';
import { buildRamdisk } from '../../../src/images/ramdisk.js';
import { buildTestOs } from '../../../src/images/osimage.js';
import { createLab, readLabPassword, readManifest, readSerial, type CreateLabResult } from '../../../src/lab/index.js';
import { labCertPaths } from '../../../src/lab/redfish/cert.js';
import { labNodeAddresses } from '../../../src/lab/static-net.js';
import { stageArtifacts } from '../../helpers/artifacts.js';
import { ensureBuilt, REPO, startKseed } from '../../helpers/cli.js';
import { tearDownLabSeed } from '../../helpers/lab-seed.js';
import { needPeers, needRoot } from '../../helpers/peers.js';
import { sushy, SUSHY_MODULE } from './redfish-peers.js';

const LAB = 'rfv';
const PORT = 18170;
const CACHE = process.env.KSEED_CACHE ?? path.join(REPO, 'cache');
/** BIOS (ISOLINUX) in CI; KSEED_RFV_FIRMWARE=uefi boots the CD's GRUB EFI entry on OVMF instead. */
const FIRMWARE = process.env.KSEED_RFV_FIRMWARE === 'uefi' ? 'uefi' : 'bios';
const ok =
  needRoot() &&
  needPeers('ip', 'qemu-system-x86_64', 'qemu-img', 'openssl', 'busybox', 'apt-get', 'dpkg-deb', 'mkfs.fat', 'mcopy', 'syslinux', 'zstd', 'genisoimage', 'grub-mkimage', '/usr/lib/ISOLINUX/isolinux.bin', '/usr/bin/python3', SUSHY_MODULE);

const kseed = (args: string[]) => startKseed(args).done;

describe.skipIf(!ok)(`virtual-media deploy on the lab Redfish BMC, seed DHCP off (embedded engine, ${FIRMWARE})`, () => {
  let root = '';
  let stateDir = '';
  let site = '';
  let lab: CreateLabResult;
  let ip = '';
  const cfg = () => ['--config', site];

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'ksl-rfv-'));
    stateDir = path.join(root, '.kseed');
    ensureBuilt();
    const ramdisk = await buildRamdisk({ cacheDir: CACHE });
    const testos = await buildTestOs({ cacheDir: CACHE });
    const artifacts = path.join(root, 'artifacts');
    stageArtifacts(artifacts, { vmlinuz: ramdisk.kernel, 'initramfs.gz': ramdisk.initramfs, 'testos.raw.zst': testos.zst });
    const labSite = path.join(root, 'lab.yaml');
    lab = await createLab({ stateDir, name: LAB, nodes: 1, uefiNodes: FIRMWARE === 'uefi' ? 1 : 0, diskGb: 1, bmcPortBase: PORT, bmc: 'redfish', siteFile: labSite, image: { url: 'http://SEED/artifacts/testos.raw.zst', checksum: `sha256:${testos.sha256.zst}`, format: 'raw', compression: 'zstd' } });
    const net = readManifest(stateDir, LAB)!.network;
    const seedIp = net.ipv4;
    ip = labNodeAddresses(net, 0).bond.split('/')[0]!;
    // the lab's site, with the seed's DHCP off, virtual media for every node, and the node's fixed address
    const text = readFileSync(labSite, 'utf8')
      .replace('http://SEED/', `http://${seedIp}:8080/`)
      .replace(/    mode: authoritative\n    range: .*\n/, '    mode: off\n')
      .replace('  profile: qemu-lab-redfish\n', '  profile: qemu-lab-redfish\n  boot: virtual-media\n')
      .replace(`    boot_mode: ${FIRMWARE}\n`, `    boot_mode: ${FIRMWARE}\n    ip: ${ip}\n`);
    expect(text).toMatch(/mode: off\n[^]*boot: virtual-media\n[^]*ip: /);
    site = path.join(root, 'kseed.yaml');
    writeFileSync(site, text);
    const up = await kseed([...cfg(), '--json', 'up', '--artifacts', artifacts]);
    expect(up.code, up.stderr).toBe(0);
  }, 900_000);

  afterAll(() => tearDownLabSeed({ root, site, stateDir, lab: LAB }), 120_000);

  it('provision: the node boots the CD the seed built for it, with no DHCP anywhere, reports, is deployed, and the CD is ejected', async () => {
    const node = lab.nodes[0]!;
    const t0 = Date.now();
    const r = await kseed([...cfg(), '--json', '--verbose', 'provision', '--all', '--wait', '--timeout', '900']);
    const ms = Date.now() - t0;
    expect(r.code, `${r.stderr}\n${r.stdout}\n${readSerial(node).slice(-3000)}`).toBe(0);
    expect(r.json.nodes[0]).toMatchObject({ node: 'node01', ok: true, state: 'active', verbs: ['enroll', 'inspect', 'provide', 'deploy'] });
    const st = openState(stateDir);
    let inventoryAt = 0;
    let insertedAt = 0;
    try {
      const steps = st.listEvents('node01', { kind: 'step' }).map((e) => `${e.detail.step}:${e.detail.status}`);
      // one CD boot for inspection and deploy (fast track), then the disk
      expect(steps).toEqual(['identify:start', 'identify:done', 'vmedia-boot:start', 'vmedia-boot:done', 'fast-track:done', 'boot-disk:start', 'boot-disk:done']);
      expect(st.listEvents('node01', { kind: 'boot-script' }).map((e) => e.detail.purpose)).toEqual(['virtual-media']);
      expect(st.listEvents('node01', { kind: 'agent-result' }).map((e) => `${e.detail.stage}:${e.detail.status}`)).toEqual(['inspect:ok', 'deploy:ok']);
      // the seed saw its CD fetched, once
      expect(st.listEvents('node01', { kind: 'vmedia-fetched' }).map((e) => e.detail.status)).toEqual([200]);
      // no lease was ever given: the seed's DHCP is off, the address came from the CD
      expect(st.listLeases()).toEqual([]);
      insertedAt = st.listEvents('node01', { kind: 'step' }).find((e) => e.detail.step === 'vmedia-boot' && e.detail.status === 'done')!.ts;
      inventoryAt = st.listEvents('node01', { kind: 'inventory' })[0]!.ts;
    } finally {
      st.close();
    }
    const serial = readSerial(node);
    expect(serial).toMatch(/=== kseed-lab power-on #1 .* bootdev=cdrom/);
    // ISOLINUX's SAY line (GRUB's echo on UEFI), then the agent on the static address of the kernel's ip=
    expect(serial).toContain('kseed: node01: deploy ramdisk virtual media');
    expect(serial).toMatch(new RegExp(`kseed-agent: .*network up on \\S+ ip=${ip.replace(/\./g, '\\.')}/24 static`));
    // from power-on to the deploy's result nothing asked DHCP: not iPXE (the CD booted first), not the ramdisk
    const cdBoot = serial.slice(serial.indexOf('=== kseed-lab power-on #1'), serial.indexOf('result ok deploy'));
    expect(cdBoot).toContain('kseed-agent:');
    expect(cdBoot).not.toMatch(/udhcpc|DHCP \(net0|no DHCP lease/);
    // the BMC fetched the CD from the seed's boot HTTP
    const log = readFileSync(path.join(stateDir, 'logs', 'boot-serve.log'), 'utf8');
    expect(log).toMatch(/"method":"GET","path":"\/artifacts\/vmedia\/node01-[0-9a-f]{32}\.iso","status":200/);
    // ejected, and the file with the token is gone; the BMC boots the disk from now on
    const pw = readLabPassword(lab.passwordFile)!;
    const view = await sushy(PORT, labCertPaths(stateDir, LAB).cert, pw, 'read');
    expect(view.media.inserted).toBe(false);
    expect(view).toMatchObject({ target: 'Hdd', enabled: 'Continuous' });
    expect(readdirSync(path.join(root, 'artifacts', 'vmedia'))).toEqual([]);
    console.log(`virtual-media provision (enroll, inspect + deploy in one CD boot, disk boot): ${ms} ms; CD inserted -> inventory: ${inventoryAt - insertedAt} ms`);
  }, 1_200_000);
});
