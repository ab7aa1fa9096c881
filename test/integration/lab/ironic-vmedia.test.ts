/**
 * Virtual-media deploy through Ironic: the seed Compose stack (Debian's
 * Ironic from `kseed images build`) and one BIOS lab VM behind the lab's
 * Redfish BMC, whose site entry says `boot: virtual-media` and has a fixed
 * `ip`. kseed enrolls it with boot_interface redfish-virtual-media; Ironic's
 * ramdisk deploy builds the boot ISO itself (kseed's deploy kernel and
 * initramfs, mkisofs + ISOLINUX in the conductor image, kseed's arguments
 * with the token and `ip=`), publishes it under http_root/redfish/, and has
 * the BMC insert it (sushy, HTTPS, redfish_verify_ca false for the lab's
 * self-signed certificate) and boot it from Cd. kseed's ramdisk writes the
 * test OS; the node then boots its disk. The seed's DHCP stays on (only the
 * embedded engine's vmedia test turns it off), but nothing PXE-boots.
 * Every kseed command runs as its own process from dist/. Lab "irv"
 * (netns ksl-irv), BMC port 18177 (HTTPS; bench/vmedia's is 18180), Ironic API 127.0.0.1:21730,
 * Compose project kseed-kseedtest-irv. Boots a VM and the stack: run under
 * /work/.heavy.lock.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../../src/engine/state.js';
import { buildRamdisk } from '../../../src/images/ramdisk.js';
import { buildTestOs } from '../../../src/images/osimage.js';
import { createLab, destroyLab, readLabPassword, readManifest, readSerial, type CreateLabResult } from '../../../src/lab/index.js';
import { labCertPaths } from '../../../src/lab/redfish/cert.js';
import { labNodeAddresses } from '../../../src/lab/static-net.js';
import { stageArtifacts } from '../../helpers/artifacts.js';
import { ensureBuilt, REPO, startKseed } from '../../helpers/cli.js';
import { needDocker, needPeers, needRoot } from '../../helpers/peers.js';
import { sushy, SUSHY_MODULE } from './redfish-peers.js';

const LAB = 'irv';
const SITE_NAME = 'kseedtest-irv';
const PROJECT = `kseed-${SITE_NAME}`;
const PORT = 18177;
const IRONIC_PORT = 21730;
/** The seed service's own port, so this file always provisions through the service (the default 9480 may be another lane's). */
const API_PORT = 18378;
const CACHE = process.env.KSEED_CACHE ?? path.join(REPO, 'cache');
const ok =
  needRoot() &&
  needDocker() &&
  needPeers('ip', 'qemu-system-x86_64', 'qemu-img', 'openssl', 'busybox', 'apt-get', 'dpkg-deb', 'mkfs.fat', 'mcopy', 'syslinux', 'zstd', 'curl', '/usr/bin/python3', SUSHY_MODULE);

const kseed = (args: string[]) => startKseed(args).done;

/** The access log of the stack's nginx (the http service): every file the BMC and the node fetched from the seed. */
function httpLog(): string {
  const id = execFileSync('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', 'label=com.docker.compose.service=http'], { encoding: 'utf8' }).trim();
  return execFileSync('docker', ['logs', id], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

describe.skipIf(!ok)('virtual-media deploy through Ironic redfish-virtual-media on the lab Redfish BMC', () => {
  let root = '';
  let stateDir = '';
  let site = '';
  let lab: CreateLabResult;
  let ip = '';
  let seedIp = '';
  let iso = '';
  const cfg = () => ['--config', site];
  const timings: Record<string, number | string> = {};

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'ksl-irv-'));
    // the stack's containers read the artifacts through a bind mount
    chmodSync(root, 0o755);
    stateDir = path.join(root, '.kseed');
    ensureBuilt();
    // the seed images: a no-op where they exist (CI builds them before the lanes)
    const build = await kseed(['--json', 'images', 'build']);
    expect(build.code, build.stderr).toBe(0);
    const ramdisk = await buildRamdisk({ cacheDir: CACHE });
    const testos = await buildTestOs({ cacheDir: CACHE });
    const artifacts = path.join(root, 'artifacts');
    stageArtifacts(artifacts, { vmlinuz: ramdisk.kernel, 'initramfs.gz': ramdisk.initramfs, 'testos.raw.zst': testos.zst });
    site = path.join(root, 'kseed.yaml');
    lab = await createLab({ stateDir, name: LAB, nodes: 1, uefiNodes: 0, diskGb: 1, bmcPortBase: PORT, bmc: 'redfish', engine: 'ironic', siteFile: site, image: { url: 'http://SEED/artifacts/testos.raw.zst', checksum: `sha256:${testos.sha256.zst}`, format: 'raw', compression: 'zstd' } });
    const net = readManifest(stateDir, LAB)!.network;
    seedIp = net.ipv4;
    ip = labNodeAddresses(net, 0).bond.split('/')[0]!;
    // this test's site name and API port, virtual media for the node, and its fixed address (on the ISO's command line)
    const text = readFileSync(site, 'utf8')
      .replace(/^site: .*$/m, `site: "${SITE_NAME}"`)
      .replace(/^(\s+range: .*)$/m, `$1\n  ports: { ironic_api: ${IRONIC_PORT}, api: ${API_PORT} }`)
      .replace('http://SEED/', `http://${seedIp}:8080/`)
      .replace('  profile: qemu-lab-redfish\n', '  profile: qemu-lab-redfish\n  boot: virtual-media\n')
      .replace('    boot_mode: bios\n', `    boot_mode: bios\n    ip: ${ip}\n`);
    expect(text).toMatch(/^engine: ironic\n[^]*ironic_api: 21730, api: 18378 }\n[^]*boot: virtual-media\n[^]*ip: /m);
    writeFileSync(site, text);
    const t0 = Date.now();
    const up = await kseed([...cfg(), '--json', 'up', '--artifacts', artifacts]);
    expect(up.code, `${up.stderr}\n${up.stdout}`).toBe(0);
    timings.up_ms = Date.now() - t0;
  }, 1_500_000);

  afterAll(async () => {
    try {
      if (site && existsSync(site)) await kseed([...cfg(), 'down', '--volumes']);
      if (stateDir) await destroyLab({ stateDir, name: LAB });
    } finally {
      // eslint-disable-next-line no-console
      console.log(`ironic vmedia timings: ${JSON.stringify(timings)}`);
      if (root && !process.env.E2E_KEEP) rmSync(root, { recursive: true, force: true });
    }
  }, 180_000);

  it('provision: Ironic builds the node\'s ISO, the BMC fetches and boots it, kseed\'s ramdisk deploys; nothing PXE-boots; the node then boots its disk', async () => {
    const node = lab.nodes[0]!;
    const t0 = Date.now();
    const r = await kseed([...cfg(), '--json', '--verbose', 'provision', '--all', '--wait', '--timeout', '1200']);
    timings.provision_ms = Date.now() - t0;
    expect(r.code, `${r.stderr}\n${r.stdout}\n${readSerial(node).slice(-3000)}`).toBe(0);
    expect(r.json.nodes[0]).toMatchObject({ node: 'node01', ok: true, state: 'active', verbs: ['enroll', 'provide', 'deploy'] });

    // Ironic's own record: the redfish hardware type with its virtual-media boot interface, the ramdisk deploy
    const pw = readFileSync(path.join(stateDir, 'secrets', 'ironic-password'), 'utf8').trim();
    const res = await fetch(`http://127.0.0.1:${IRONIC_PORT}/v1/nodes/node01`, {
      headers: { 'X-OpenStack-Ironic-API-Version': '1.82', Authorization: `Basic ${Buffer.from(`kseed:${pw}`).toString('base64')}` },
    });
    expect(res.status).toBe(200);
    const n = (await res.json()) as Record<string, any>;
    expect(n).toMatchObject({ driver: 'redfish', boot_interface: 'redfish-virtual-media', deploy_interface: 'ramdisk', provision_state: 'active', power_state: 'power on', last_error: null });
    expect(n.driver_info).toMatchObject({ redfish_verify_ca: false, deploy_kernel: expect.stringMatching(/^file:\/\/.*vmlinuz$/), deploy_ramdisk: expect.stringMatching(/^file:\/\/.*initramfs\.gz$/) });
    iso = `http://${seedIp}:8080/redfish/boot-${n.uuid}.iso`;

    const st = openState(stateDir);
    try {
      // kseed's ramdisk wrote the disk the hint selected, once
      // the seed service ran the deploy (its own API port): the CLI posted a job and followed it
      expect(st.listEvents('node01', { kind: 'job-started' }).map((e) => e.detail.kind)).toEqual(['provision']);
      const results = st.listEvents('node01', { kind: 'agent-result' }).filter((e) => e.detail.status === 'ok');
      expect(results.map((e) => e.detail.stage)).toEqual(['deploy']);
      expect(String(results[0]!.detail.msg)).toContain('/dev/vda');
    } finally {
      st.close();
    }

    // the BMC fetched the ISO Ironic published from the seed's HTTP service (nginx), and nothing asked for a network boot file
    const log = httpLog();
    const fetched = new RegExp(`"GET /redfish/boot-${n.uuid}\\.iso HTTP/1\\.1" 200 (\\d+) `).exec(log);
    expect(fetched, log.slice(-3000)).not.toBeNull();
    // the ISO's size as the BMC received it (kernel, initramfs, ISOLINUX), for the run's record
    timings.iso_bytes = Number(fetched![1]);
    expect(timings.iso_bytes).toBeGreaterThan(1 << 20);
    expect(log).not.toMatch(/GET \/(boot\.ipxe|boot\/|pxelinux\.cfg\/|[0-9a-f-]{36}\/(kernel|ramdisk|config))/);
    const bootLog = readFileSync(path.join(stateDir, 'logs', 'boot-serve.log'), 'utf8');
    expect(bootLog).not.toMatch(/"path":"\/(boot\.ipxe|boot\/)/);

    const serial = readSerial(node);
    // the deploy boot was from the CD Ironic set (persistent), the next one from the disk kseed set through Ironic
    expect(serial).toMatch(/=== kseed-lab power-on #\d+ .* bootdev=cdrom/);
    const cdBoot = serial.slice(serial.search(/=== kseed-lab power-on #\d+ .* bootdev=cdrom/), serial.indexOf('result ok deploy'));
    // kseed's arguments reached the kernel through Ironic's ISOLINUX config, with the static address
    expect(cdBoot).toMatch(new RegExp(`kseed-agent: .*network up on \\S+ ip=${ip.replace(/\./g, '\\.')}/24 static`));
    // no iPXE DHCP, no kseed chain script, no udhcpc: neither PXE nor DHCP was used
    expect(cdBoot).not.toMatch(/DHCP \(net0|chaining to|udhcpc|no DHCP lease/);
    const after = serial.slice(serial.indexOf('result ok deploy'));
    expect(after).toMatch(/=== kseed-lab power-on #\d+ .* bootdev=default/);

    // the lab BMC as sushy sees it: the ISO is still inserted (Ironic ejects it at undeploy), boot override on the disk
    const bmcPw = readLabPassword(lab.passwordFile)!;
    const view = await sushy(PORT, labCertPaths(stateDir, LAB).cert, bmcPw, 'read');
    expect(view.media).toMatchObject({ image: iso, inserted: true });
    expect(view).toMatchObject({ target: 'Hdd', enabled: 'Continuous' });
  }, 1_500_000);

  it('undeploy: Ironic tears down, ejects the CD and deletes the ISO', async () => {
    const t0 = Date.now();
    const r = await kseed([...cfg(), '--json', 'undeploy', 'node01']);
    timings.undeploy_ms = Date.now() - t0;
    expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
    const bmcPw = readLabPassword(lab.passwordFile)!;
    const view = await sushy(PORT, labCertPaths(stateDir, LAB).cert, bmcPw, 'read');
    expect(view.media.inserted).toBe(false);
    // the ISO with the (revoked) token is no longer served
    const got = execFileSync('ip', ['netns', 'exec', `ksl-${LAB}`, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', iso], { encoding: 'utf8' });
    expect(got).toBe('404');
  }, 600_000);
});
