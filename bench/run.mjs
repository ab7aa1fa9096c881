#!/usr/bin/env node
/**
 * `npm run bench`: lists the benchmarks; `npm run bench -- NAME... [-- ARGS]`
 * runs the named ones one after the other (ARGS go to each), `--all` runs
 * every one. Each benchmark measures kseed and a reference tool in the same
 * run and prints the ratio; build first (`npm run build`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);

export const BENCHMARKS = [
  { name: 'startup', compares: '`kseed --help` and `kseed validate` start-up vs `node -e 0`', needs: 'nothing' },
  { name: 'ipmi-fleet', compares: "kseed's IPMI fleet vs ipmitool, sequential and 8-way", needs: 'ipmi_sim, ipmitool' },
  { name: 'dhcp', compares: "kseed's DHCP vs dnsmasq under perfdhcp", needs: 'root, dnsmasq, kea perfdhcp' },
  { name: 'tftp', compares: "kseed's TFTP vs tftpd-hpa and dnsmasq", needs: 'root, tftpd-hpa, dnsmasq, tftp-hpa' },
  { name: 'http', compares: "kseed's HTTP artifacts vs nginx", needs: 'nginx, curl' },
  { name: 'images', compares: 'initramfs assembly vs `cpio | gzip`; image build times', needs: 'root, QEMU, image build tools' },
  { name: 'e2e', compares: '`kseed provision --all` vs the same ramdisk booted directly by QEMU (`-- --nodes 4`)', needs: 'root, the lab (QEMU, ipmi_sim)' },
  { name: 'fleet', compares: '`kseed provision --all` of N simulated nodes (`lab up --sim`), per phase, at several sizes (`-- --nodes 10,100`)', needs: 'root, ipmi_sim, ipmitool' },
  { name: 'ironic', compares: 'the Ironic engine vs the embedded engine on the same lab, per phase', needs: 'root, the lab, the seed images, dockerd' },
  { name: 'vmedia', compares: 'one Redfish lab node provisioned by virtual media (DHCP off) vs by PXE', needs: 'root, the lab (QEMU), genisoimage, isolinux' },
  { name: 'api', compares: "the seed service's node list (100 nodes, provisioning under way) under autocannon vs a minimal node:http server with the same body; the page's first-load bytes", needs: 'nothing' },
  { name: 'os-deploy', compares: 'one node deploying the Debian image as qcow2 vs the same image as raw (`-- --formats qcow2,raw,raw.zst`)', needs: 'root, the lab, the Debian image build tools' },
];

function list() {
  const w = Math.max(...BENCHMARKS.map((b) => b.name.length));
  console.log('benchmarks (npm run bench -- NAME... [-- ARGS], or --all):');
  for (const b of BENCHMARKS) console.log(`  ${b.name.padEnd(w)}  ${b.compares}  [needs: ${b.needs}]`);
  const unlisted = readdirSync(here, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(here, d.name, 'run.mjs')) && !BENCHMARKS.some((b) => b.name === d.name))
    .map((d) => d.name);
  if (unlisted.length) console.log(`not in this list yet: ${unlisted.join(', ')}`);
}

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const names = dash < 0 ? argv : argv.slice(0, dash);
const extra = dash < 0 ? [] : argv.slice(dash + 1);
const all = names.includes('--all');
const wanted = all ? BENCHMARKS.map((b) => b.name) : names.filter((n) => n !== '--all');
if (!wanted.length) {
  list();
} else {
  const unknown = wanted.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length) {
    console.error(`unknown benchmark${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
    list();
    process.exit(2);
  }
  if (!existsSync(path.join(here, '../dist/cli/main.js'))) {
    console.error('dist/ is missing: run `npm run build` first');
    process.exit(2);
  }
  let failed = 0;
  for (const n of wanted) {
    console.log(`== bench/${n}`);
    const r = spawnSync(process.execPath, [path.join(here, n, 'run.mjs'), ...extra], { stdio: 'inherit' });
    if (r.status !== 0) {
      failed++;
      console.error(`bench/${n} exited ${r.status ?? r.signal}`);
    }
  }
  process.exitCode = failed ? 1 : 0;
}
