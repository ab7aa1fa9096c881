/**
 * UEFI HTTP boot on the lab, embedded engine, with the seed's TFTP off: one
 * UEFI lab VM whose NIC has no iPXE option ROM, so OVMF's own virtio-net
 * driver and NetworkPkg HTTP boot run it (PXE turned off by OVMF's fw_cfg
 * knobs, src/lab/vm.ts). Its DHCP DISCOVER says HTTPClient, arch 16 (UEFI
 * 2.5 24.7; RFC 4578 / IANA); the seed answers HTTPClient with the URL of
 * its iPXE EFI loader, which fetches its script and the deploy ramdisk over
 * HTTP; the node posts its inventory and is deployed. Nothing listens on
 * UDP 69 and no answer names a TFTP file. Every kseed command runs as its
 * own process from dist/. Lab "uh", BMC port 18470. Boots a VM: run under
 * /work/.heavy.lock.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Arch } from '../../../src/boot/dhcp/bootfile.js';
import { openState } from '../../../src/engine/state.js';
import { buildRamdisk } from '../../../src/images/ramdisk.js';
import { buildTestOs } from '../../../src/images/osimage.js';
import { createLab, readManifest, readSerial, type CreateLabResult } from '../../../src/lab/index.js';
import { stageArtifacts } from '../../helpers/artifacts.js';
import { ensureBuilt, REPO, startKseed } from '../../helpers/cli.js';
import { tearDownLabSeed } from '../../helpers/lab-seed.js';
import { needPeers, needRoot } from '../../helpers/peers.js';

const LAB = 'uh';
const PORT = 18470;
const CACHE = process.env.KSEED_CACHE ?? path.join(REPO, 'cache');
const ok =
  needRoot() &&
  needPeers('ip', 'ss', 'ipmi_sim', 'ipmitool', 'qemu-system-x86_64', 'qemu-img', 'busybox', 'apt-get', 'dpkg-deb', 'zstd', '/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/lib/ipxe/snponly.efi');

const kseed = (args: string[]) => startKseed(args).done;

interface LogLine {
  service: string;
  type: string;
  [k: string]: unknown;
}

describe.skipIf(!ok)('UEFI HTTP boot on the lab with the seed TFTP off (embedded engine, OVMF HTTP boot)', () => {
  let root = '';
  let stateDir = '';
  let site = '';
  let lab: CreateLabResult;
  const cfg = () => ['--config', site];

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'ksl-uh-'));
    stateDir = path.join(root, '.kseed');
    ensureBuilt();
    const ramdisk = await buildRamdisk({ cacheDir: CACHE });
    const testos = await buildTestOs({ cacheDir: CACHE });
    const artifacts = path.join(root, 'artifacts');
    stageArtifacts(artifacts, { vmlinuz: ramdisk.kernel, 'initramfs.gz': ramdisk.initramfs, 'testos.raw.zst': testos.zst });
    const labSite = path.join(root, 'lab.yaml');
    lab = await createLab({
      stateDir,
      name: LAB,
      nodes: 1,
      uefiNodes: 1,
      uefiHttpBoot: true,
      diskGb: 1,
      bmcPortBase: PORT,
      siteFile: labSite,
      image: { url: 'http://SEED/artifacts/testos.raw.zst', checksum: `sha256:${testos.sha256.zst}`, format: 'raw', compression: 'zstd' },
    });
    const seedIp = readManifest(stateDir, LAB)!.network.ipv4;
    // a lab of UEFI HTTP boot nodes only: its site file has the seed's TFTP off
    const text = readFileSync(labSite, 'utf8').replace('http://SEED/', `http://${seedIp}:8080/`);
    expect(text).toMatch(/\n  tftp: \{ enabled: false \}\n[^]*boot_mode: uefi\n/);
    site = path.join(root, 'kseed.yaml');
    writeFileSync(site, text);
    const up = await kseed([...cfg(), '--json', 'up', '--artifacts', artifacts]);
    expect(up.code, up.stderr).toBe(0);
  }, 900_000);

  afterAll(() => tearDownLabSeed({ root, site, stateDir, lab: LAB }), 120_000);

  it('a BIOS node with TFTP off is refused by name before anything starts', async () => {
    const bad = path.join(root, 'bios.yaml');
    writeFileSync(bad, readFileSync(site, 'utf8').replace('    boot_mode: uefi\n', '    boot_mode: bios\n'));
    const r = await kseed(['--config', bad, 'validate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bios\.yaml:\d+:\d+ nodes\[0\]\.boot_mode: node "node01": boot_mode bios cannot network-boot with seed\.tftp\.enabled false/);
  });

  it('provision: OVMF HTTP-boots the iPXE loader, iPXE fetches its script and the ramdisk over HTTP, the node is deployed; no TFTP anywhere', async () => {
    const node = lab.nodes[0]!;
    const netns = readManifest(stateDir, LAB)!.netns;
    // the boot services run in the lab netns: nothing there listens on UDP 69
    const udp = execFileSync('ip', ['netns', 'exec', netns, 'ss', '-Hnlu'], { encoding: 'utf8' });
    expect(udp).toMatch(/:67\b/);
    expect(udp).not.toMatch(/:69\b/);

    const t0 = Date.now();
    const r = await kseed([...cfg(), '--json', '--verbose', 'provision', '--all', '--wait', '--timeout', '900']);
    const ms = Date.now() - t0;
    expect(r.code, `${r.stderr}\n${r.stdout}\n${readSerial(node).slice(-3000)}`).toBe(0);
    expect(r.json.nodes[0]).toMatchObject({ node: 'node01', ok: true, state: 'active' });

    const log = readFileSync(path.join(stateDir, 'logs', 'boot-serve.log'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);
    const mac = node.mac.toLowerCase();
    const answers = log.filter((e) => e.service === 'dhcp' && (e.type === 'offer' || e.type === 'ack') && e.mac === mac && e.bootFile);
    // the firmware's own DHCP: HTTPClient, x64 UEFI HTTP (16), answered with the loader's URL
    const firmware = answers.filter((e) => e.vendorClass === 'HTTPClient' && e.arch === Arch.X64_UEFI_HTTP);
    expect(firmware.map((e) => e.type)).toEqual(expect.arrayContaining(['offer', 'ack']));
    for (const e of firmware) expect(e.bootFile).toMatch(/^http:\/\/[0-9.]+:8080\/ipxe\/snponly\.efi$/);
    // every answer named an HTTP URL: no TFTP boot file was ever handed out
    expect(answers.length).toBeGreaterThan(firmware.length);
    for (const e of answers) expect(e.bootFile).toMatch(/^http:\/\//);
    expect(log.filter((e) => e.service === 'tftp')).toEqual([]);

    const gets = log.filter((e) => e.service === 'http' && e.status === 200).map((e) => String(e.path));
    const first = (p: string | RegExp) => gets.findIndex((g) => (typeof p === 'string' ? g === p : p.test(g)));
    const loader = first('/ipxe/snponly.efi');
    const script = first(`/boot/${mac.replace(/:/g, '-')}.ipxe`);
    const kernel = first(/^\/artifacts\/vmlinuz$/);
    const initrd = first(/^\/artifacts\/initramfs\.gz$/);
    expect([loader, script, kernel, initrd].every((i) => i >= 0), gets.join('\n')).toBe(true);
    // in the order of the chain: loader, its script, then the ramdisk
    expect(loader).toBeLessThan(script);
    expect(script).toBeLessThan(kernel);

    const serial = readSerial(node);
    expect(serial).toContain('Start HTTP Boot over IPv4');
    expect(serial).not.toMatch(/PXE over IPv4|Start PXE/);

    const st = openState(stateDir);
    try {
      expect(st.listEvents('node01', { kind: 'agent-result' }).map((e) => `${e.detail.stage}:${e.detail.status}`)).toEqual(['inspect:ok', 'deploy:ok']);
      expect(st.listEvents('node01', { kind: 'inventory' })[0]!.detail).toMatchObject({ boot_mode: 'uefi' });
    } finally {
      st.close();
    }
    console.log(`UEFI HTTP boot provision (enroll, inspect, deploy, disk boot): ${ms} ms`);
  }, 1_200_000);
});
