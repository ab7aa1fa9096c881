/**
 * The real clients: QEMU (-accel tcg) network-boots against kseed's
 * authoritative DHCP in namespace ksd-ipxe-s, with SeaBIOS and its iPXE NIC
 * ROM, then with OVMF's own UEFI PXE (arch 7 -> snponly.efi over TFTP). iPXE
 * identifies itself (option 77 "iPXE"), so kseed must hand it the HTTP URL
 * of its own script; the test's HTTP listener sees that GET. With the RA
 * responder on, iPXE does not stall 16 s on IPv6 (lab.md 3.5), so the GET
 * arrives well within the timeout below (a generous bound, not a benchmark).
 */
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../../helpers/netns.js';
import { needPeers, needRoot } from '../../../helpers/peers.js';
import { KseedProcess, repoRoot, tmpDir, waitFor } from '../../../helpers/dhcp-services.js';

const ok = needRoot() && needPeers('qemu-system-x86_64', path.join(repoRoot, 'dist/boot/dhcp/index.js'));
const VM_MAC = '52:54:00:97:00:01';
const UEFI_MAC = '52:54:00:97:00:02';
const OVMF = ['/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/share/OVMF/OVMF_CODE.fd'].find((f) => existsSync(f));

describe.skipIf(!ok)('iPXE (QEMU BIOS) boots through kseed DHCP', () => {
  let lab: Lab;
  let kseed: KseedProcess;
  let dir: string;
  let http: ChildProcess | undefined;
  let qemu: ChildProcess | undefined;
  let httpLog = '';

  beforeAll(async () => {
    dir = tmpDir('ipxe');
    lab = await Lab.create('ksd-ipxe');
    await lab.bridge('br0', '10.97.0.1/24');
    await lab.server.ip('tuntap', 'add', 'dev', 'tap0', 'mode', 'tap');
    await lab.server.ip('link', 'set', 'tap0', 'master', 'br0');
    await lab.server.ip('link', 'set', 'tap0', 'up');
    kseed = await KseedProcess.start(lab.server, dir, {
      interface: 'br0', seedAddress: '10.97.0.1', prefix: 24, mode: 'authoritative',
      range: { start: '10.97.0.100', end: '10.97.0.110' },
      nodes: [{ mac: VM_MAC, name: 'vm01' }, { mac: UEFI_MAC, name: 'vm02' }], httpBase: 'http://10.97.0.1:8080',
    });
    // stands in for kseed's HTTP and TFTP services (another area): logs each
    // HTTP request and each TFTP read request's file name, serves nothing real
    const server = path.join(dir, 'http.mjs');
    writeFileSync(
      server,
      `import http from 'node:http';
import dgram from 'node:dgram';
const t = dgram.createSocket('udp4');
t.on('message', (m) => { if (m.readUInt16BE(0) === 1) console.log('RRQ ' + m.subarray(2, m.indexOf(0, 2)).toString()); });
t.bind(69, '10.97.0.1');
http.createServer((req, res) => { console.log('GET ' + req.url); res.end('#!ipxe\\necho KSEED-SCRIPT\\nshell\\n'); })
  .listen(8080, '10.97.0.1', () => console.log('LISTENING'));`,
    );
    http = lab.server.spawn(process.execPath, [server]);
    http.stdout?.on('data', (d: Buffer) => (httpLog += d.toString()));
    await waitFor(() => httpLog.includes('LISTENING'));
  });

  afterAll(async () => {
    qemu?.kill('SIGKILL');
    http?.kill('SIGTERM');
    await kseed?.stop();
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('gets an address, then its per-node script URL (no chainload loop)', async () => {
    qemu = lab.server.spawn('qemu-system-x86_64', [
      '-accel', 'tcg', '-m', '256', '-nographic', '-nodefaults', '-no-user-config', '-monitor', 'none',
      '-serial', `file:${path.join(dir, 'serial.log')}`,
      '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no',
      '-device', `virtio-net-pci,netdev=n0,mac=${VM_MAC}`,
      '-boot', 'n',
    ]);
    let qerr = '';
    qemu.stderr?.on('data', (d: Buffer) => (qerr += d.toString()));
    await waitFor(() => httpLog.includes('GET /boot/'), 50_000).catch(() => {
      throw new Error(`no HTTP request from iPXE; qemu: ${qerr}; kseed events: ${JSON.stringify(kseed.events)}`);
    });
    expect(httpLog).toContain('GET /boot/52-54-00-97-00-01.ipxe');
    const ack = kseed.events.find((e) => e.type === 'ack' && e.mac === VM_MAC);
    expect(ack).toMatchObject({ ip: '10.97.0.100', name: 'vm01', bootFile: 'http://10.97.0.1:8080/boot/52-54-00-97-00-01.ipxe' });
    // the UEFI test below opens the same tap
    const gone = new Promise((r) => qemu!.once('exit', r));
    qemu.kill('SIGKILL');
    await gone;
  }, 60_000);

  it.skipIf(!OVMF)('UEFI firmware PXE (OVMF, no iPXE ROM) says arch 7 and is sent snponly.efi over TFTP', async () => {
    const vars = path.join(dir, 'OVMF_VARS.fd');
    copyFileSync(OVMF!.replace('CODE', 'VARS'), vars);
    qemu = lab.server.spawn('qemu-system-x86_64', [
      '-accel', 'tcg', '-m', '256', '-nographic', '-nodefaults', '-no-user-config', '-monitor', 'none',
      '-drive', `if=pflash,format=raw,readonly=on,file=${OVMF}`,
      '-drive', `if=pflash,format=raw,file=${vars}`,
      '-serial', `file:${path.join(dir, 'serial-uefi.log')}`,
      '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no',
      // romfile= (empty): OVMF's own virtio-net driver and PXE, not iPXE
      '-device', `virtio-net-pci,netdev=n0,mac=${UEFI_MAC},romfile=`,
      '-boot', 'n',
    ]);
    let qerr = '';
    qemu.stderr?.on('data', (d: Buffer) => (qerr += d.toString()));
    await waitFor(() => httpLog.includes('RRQ '), 110_000).catch(() => {
      throw new Error(`no TFTP request from OVMF; qemu: ${qerr}; kseed events: ${JSON.stringify(kseed.events.filter((e) => e.mac === UEFI_MAC))}`);
    });
    expect(httpLog).toContain('RRQ snponly.efi');
    expect(kseed.events.find((e) => e.type === 'ack' && e.mac === UEFI_MAC)).toMatchObject({ name: 'vm02', bootFile: 'snponly.efi' });
  }, 120_000);
});
