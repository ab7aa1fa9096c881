#!/usr/bin/env node
/**
 * bench/vmedia: the same lab node (BIOS, the lab's Redfish BMC) provisioned
 * by virtual media (`boot: virtual-media`, a fixed `ip`, the seed's DHCP off:
 * the BMC mounts the CD kseed builds) and by PXE (the reference path: kseed's
 * authoritative DHCP, the NIC's iPXE ROM, TFTP and HTTP), each on a fresh lab,
 * one after the other so they never share the 2 cores. Per run it prints
 * `provision --all --wait` (enroll, inspect and deploy of the test OS in one
 * ramdisk boot, then the disk boot), the boot to the ramdisk's inventory
 * (the BMC step that boots it -> inventory posted), the inspect and deploy
 * phases, and the CD's size; then the ratio virtual media / PXE.
 * `--engine ironic`: the same through the seed Compose stack (images from
 * `kseed images build`): Ironic's redfish-virtual-media (the ISO Ironic
 * builds; the stack's DHCP stays on, the node's fixed `ip` is on the ISO's
 * command line) against Ironic's ipxe boot; no inspection there, so no
 * boot->inventory; the ISO's size is what nginx sent the BMC.
 *
 *   npm run build && node bench/vmedia/run.mjs [--runs 1] [--cache DIR] [--engine embedded|ironic]
 * Needs root, qemu-system-x86_64, openssl, genisoimage, isolinux and the image build tools.
 * Lab "vmb" (netns ksl-vmb), BMC port 18180.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kseed } from '../lib/kseed.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const dist = (p) => import(path.join(root, 'dist', p));
const { buildRamdisk } = await dist('images/ramdisk.js');
const { buildTestOs } = await dist('images/osimage.js');
const { createLab, destroyLab, readManifest } = await dist('lab/index.js');
const { labNodeAddresses } = await dist('lab/static-net.js');
const { openState } = await dist('engine/state.js');

const arg = (k, d) => {
  const i = process.argv.indexOf(k);
  return i > 0 ? process.argv[i + 1] : d;
};
const RUNS = Number(arg('--runs', '1'));
const cache = path.resolve(arg('--cache', process.env.KSEED_CACHE ?? path.join(root, 'cache')));
const LAB = 'vmb';
const PORT = 18180;
const ENGINE = arg('--engine', 'embedded');
if (ENGINE !== 'embedded' && ENGINE !== 'ironic') throw new Error(`--engine ${ENGINE}: embedded or ironic`);
const IRONIC_PORT = 21740;

/** Bytes of the ISO Ironic published, as the stack's nginx sent them to the BMC (its access log). */
function ironicIsoBytes() {
  const id = execFileSync('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=kseed-${LAB}`, '--filter', 'label=com.docker.compose.service=http'], { encoding: 'utf8' }).trim();
  const m = /"GET \/redfish\/boot-[0-9a-f-]{36}\.iso HTTP\/1\.1" 200 (\d+) /.exec(execFileSync('docker', ['logs', id], { encoding: 'utf8', maxBuffer: 64 << 20 }));
  return m ? Number(m[1]) : null;
}

const ramdisk = await buildRamdisk({ cacheDir: cache });
const testos = await buildTestOs({ cacheDir: cache });

async function once(mode) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `ksb-vmb-${mode}-`));
  const stateDir = path.join(dir, '.kseed');
  const site = path.join(dir, 'kseed.yaml');
  const art = path.join(dir, 'artifacts');
  mkdirSync(art, { recursive: true });
  for (const [name, from] of Object.entries({ vmlinuz: ramdisk.kernel, 'initramfs.gz': ramdisk.initramfs, 'testos.raw.zst': testos.zst })) {
    try {
      linkSync(from, path.join(art, name));
    } catch {
      copyFileSync(from, path.join(art, name));
    }
  }
  try {
    await createLab({ stateDir, name: LAB, nodes: 1, diskGb: 1, bmcPortBase: PORT, bmc: 'redfish', ...(ENGINE === 'ironic' ? { engine: 'ironic' } : {}), siteFile: site, image: { url: 'http://SEED/artifacts/testos.raw.zst', checksum: `sha256:${testos.sha256.zst}`, format: 'raw', compression: 'zstd' } });
    const net = readManifest(stateDir, LAB).network;
    let text = readFileSync(site, 'utf8').replace('http://SEED/', `http://${net.ipv4}:8080/`);
    if (ENGINE === 'ironic') text = text.replace(/^(\s+range: .*)$/m, `$1\n  ports: { ironic_api: ${IRONIC_PORT} }`);
    if (mode === 'vmedia') {
      const ip = labNodeAddresses(net, 0).bond.split('/')[0];
      // the embedded engine's CD needs no DHCP; Ironic's stack keeps its dnsmasq
      if (ENGINE === 'embedded') text = text.replace(/    mode: authoritative\n    range: .*\n/, '    mode: off\n');
      text = text
        .replace('  profile: qemu-lab-redfish\n', '  profile: qemu-lab-redfish\n  boot: virtual-media\n')
        .replace('    boot_mode: bios\n', `    boot_mode: bios\n    ip: ${ip}\n`);
    }
    writeFileSync(site, text);
    const up = await kseed(['--config', site, '--json', 'up', '--artifacts', art]);
    if (up.code !== 0) throw new Error(`kseed up (${mode}) failed: ${up.out}`);
    const t0 = Date.now();
    const r = await kseed(['--config', site, '--json', 'provision', '--all', '--wait', '--timeout', '900']);
    const ms = Date.now() - t0;
    const st = openState(stateDir);
    try {
      const step = st.listEvents('node01', { kind: 'step' }).find((e) => (e.detail.step === 'vmedia-boot' || e.detail.step === 'netboot') && e.detail.status === 'done');
      const inv = st.listEvents('node01', { kind: 'inventory' })[0];
      const cd = st.listEvents('node01', { kind: 'boot-script' }).find((e) => e.detail.purpose === 'virtual-media');
      const phases = Object.fromEntries(st.phaseTimings('node01').map((p) => [p.phase, p.ms]));
      const cdBytes = ENGINE === 'ironic' ? (mode === 'vmedia' ? ironicIsoBytes() : null) : (cd?.detail.bytes ?? null);
      return { engine: ENGINE, mode, ok: r.code === 0, ms, toInventory: step && inv ? inv.ts - step.ts : null, inspect: phases.inspect ?? null, deploy: phases.deploy ?? null, cdBytes };
    } finally {
      st.close();
    }
  } finally {
    // Ironic's database goes with the lab: the next run's fresh lab enrolls node01 anew
    await kseed(['--config', site, 'down', ...(ENGINE === 'ironic' ? ['--volumes'] : [])]);
    await destroyLab({ stateDir, name: LAB });
    rmSync(dir, { recursive: true, force: true });
  }
}

const load = () => os.loadavg()[0].toFixed(1);
const rows = [];
for (let i = 0; i < RUNS; i++) {
  for (const mode of ['vmedia', 'pxe']) {
    const l0 = load();
    const r = await once(mode);
    rows.push({ ...r, load: `${l0}-${load()}` });
    console.log(JSON.stringify(rows.at(-1)));
  }
}
const s = (v) => (v === null ? '-' : `${(v / 1000).toFixed(1)} s`);
console.log('\nmode    ok  provision  boot->inventory  inspect  deploy  CD bytes    load');
for (const r of rows) console.log(`${r.mode.padEnd(7)} ${String(r.ok).padEnd(3)} ${s(r.ms).padStart(9)}  ${s(r.toInventory).padStart(15)}  ${s(r.inspect).padStart(7)}  ${s(r.deploy).padStart(6)}  ${String(r.cdBytes ?? '-').padStart(9)}  ${r.load}`);
const mean = (mode, k) => {
  const v = rows.filter((r) => r.mode === mode && r.ok && r[k] !== null).map((r) => r[k]);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
};
// Ironic runs no inspection here: its deploy phase (power-on through the ramdisk's result) instead of boot -> inventory
const [k, what] = ENGINE === 'ironic' ? ['deploy', 'deploy phase'] : ['toInventory', 'boot -> inventory'];
console.log(`\nvirtual media / PXE (${ENGINE}): provision ${(mean('vmedia', 'ms') / mean('pxe', 'ms')).toFixed(2)}, ${what} ${(mean('vmedia', k) / mean('pxe', k)).toFixed(2)}`);
process.exitCode = rows.every((r) => r.ok) ? 0 : 3;
