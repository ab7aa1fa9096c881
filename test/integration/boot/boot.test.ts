/**
 * End to end through kseed's OWN boot services (src/boot/serve.ts composed
 * from a site file and the state store): QEMU guests in namespace kst-bs-s
 * PXE-boot the deploy ramdisk (src/images, built from Debian packages into
 * <repo>/cache) which inspects the machine and reports back with the token
 * its iPXE script gave it.
 *
 *   BIOS: SeaBIOS + QEMU's iPXE NIC ROM -> kseed DHCP -> HTTP script -> kernel+initramfs
 *   UEFI: OVMF's own PXE (no NIC ROM) -> kseed DHCP -> TFTP snponly.efi -> iPXE
 *         -> kseed DHCP again (user class iPXE) -> HTTP script -> kernel+initramfs
 *
 * Boot times are printed (power-on to the inventory report), never asserted.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../helpers/netns.js';
import { needPeers, needRoot } from '../../helpers/peers.js';
import { bootVm, dist, OVMF_CODE, ServeProcess, startServeWithRamdisk, tearDownBootLab, tmpDir, udhcpcOnce } from '../../helpers/boot-services.js';

const ok =
  needRoot() &&
  needPeers('qemu-system-x86_64', 'udhcpc', 'curl', 'apt-get', 'dpkg-deb', OVMF_CODE, '/usr/lib/ipxe/snponly.efi', dist('boot/serve.js'), dist('images/ramdisk.js'));

const BIOS_MAC = '52:54:00:bb:00:01';
const UEFI_MAC = '52:54:00:bb:00:02';
const OTHER_MAC = '52:54:00:bb:00:03'; // in the inventory, but plugged into the wrong bridge
const IDLE_MAC = '52:54:00:bb:00:04'; // in the inventory, nothing to do
const STRANGER_MAC = '52:54:00:bb:00:66'; // not in the inventory
const HTTP_PORT = 18580;

const SITE = `
site: kstboot
engine: embedded
seed:
  interface: br0
  address: 10.188.0.1/24
  dhcp:
    mode: authoritative
    range: 10.188.0.100-10.188.0.150
  ports: { http: ${HTTP_PORT} }
defaults:
  bmc: { type: ipmi, username: admin, password: { env: KST_UNUSED_PASSWORD } }
  root_device: { name: /dev/vda }
nodes:
  - { name: bios01, bmc: { address: 127.0.0.1, port: 18501 }, macs: ["${BIOS_MAC}"], boot_mode: bios }
  - { name: uefi01, bmc: { address: 127.0.0.1, port: 18502 }, macs: ["${UEFI_MAC}"], boot_mode: uefi }
  - { name: other01, bmc: { address: 127.0.0.1, port: 18503 }, macs: ["${OTHER_MAC}"] }
  - { name: idle01, bmc: { address: 127.0.0.1, port: 18504 }, macs: ["${IDLE_MAC}"] }
`;

interface StateApi {
  ensureNode(n: string): unknown;
  transition(n: string, s: string): unknown;
  listEvents(node?: string, o?: { kind?: string }): { ts: number; kind: string; detail: Record<string, unknown> }[];
  getLease(mac: string): { ip: string; hostname: string | null; state: string } | undefined;
  db: { prepare(sql: string): { all(...a: unknown[]): unknown[] } };
  close(): void;
}

describe.skipIf(!ok)('kseed boot services PXE-boot QEMU (BIOS and UEFI) to the deploy ramdisk', () => {
  let lab: Lab;
  let dir: string;
  let serve: ServeProcess;
  let state: StateApi;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    dir = tmpDir('boot');
    writeFileSync(path.join(dir, 'kseed.yaml'), SITE);
    const { openState } = (await import(dist('engine/state.js'))) as typeof import('../../../src/engine/state.js');
    state = openState(path.join(dir, '.kseed')) as unknown as StateApi;
    for (const n of ['bios01', 'uefi01', 'other01']) {
      state.ensureNode(n);
      state.transition(n, 'inspecting');
    }
    state.ensureNode('idle01');
    state.transition('idle01', 'available');

    lab = await Lab.create('kst-bs');
    await lab.bridge('br0', '10.188.0.1/24');
    for (const tap of ['tap0', 'tap1', 'tap2']) {
      await lab.server.ip('tuntap', 'add', 'dev', tap, 'mode', 'tap');
      await lab.server.ip('link', 'set', tap, 'master', 'br0');
      await lab.server.ip('link', 'set', tap, 'up');
    }
    serve = await startServeWithRamdisk(lab.server, dir);
  }, 600_000);

  afterAll(async () => {
    if (timings.bios || timings.uefi) console.log(`boot times, power-on to inventory report: ${JSON.stringify(timings)}`);
    await tearDownBootLab({ serve, state, lab, dir });
  });

  /** The node's reports in the state store carry the id of the token its own boot script handed out. */
  function expectReportedWithItsToken(node: string, mac: string, bootMode: string, serial: string): { inventoryTs: number } {
    const script = state.listEvents(node, { kind: 'boot-script' });
    const inv = state.listEvents(node, { kind: 'inventory' });
    const res = state.listEvents(node, { kind: 'agent-result' });
    expect(script.length).toBeGreaterThanOrEqual(1);
    expect(inv).toHaveLength(1);
    expect(res).toHaveLength(1);
    const issued = script.at(-1)!.detail.token_id as string;
    // the guest's kernel command line (printed on its console) carried the node's token and PXE MAC
    const cmdline = /Command line: (.*)/.exec(serial)?.[1] ?? '';
    const token = /kseed\.token=(\S+)/.exec(cmdline)?.[1] ?? '';
    expect(cmdline).toContain(`kseed.node=${node} `);
    expect(cmdline).toContain(`kseed.mac=${mac} `);
    expect(createHash('sha256').update(token).digest('hex').slice(0, 12)).toBe(issued);
    // and it never reached the services' log
    expect(token.length).toBeGreaterThanOrEqual(22);
    expect(JSON.stringify(serve.events)).not.toContain(token);
    // the one live agent token of this node is the one the script carried
    const rows = state.db.prepare("SELECT token_hash FROM node_tokens WHERE node = ? AND purpose = 'agent'").all(node) as { token_hash: string }[];
    expect(rows.map((r) => r.token_hash.slice(0, 12))).toEqual([issued]);
    expect(inv[0]!.detail).toMatchObject({ token_id: issued, boot_mode: bootMode, macs: [mac] });
    expect(res[0]!.detail).toMatchObject({ token_id: issued, status: 'ok', stage: 'inspect' });
    // and the DHCP lease it booted with is recorded against the node
    expect(state.getLease(mac)).toMatchObject({ hostname: node, state: 'bound' });
    return { inventoryTs: inv[0]!.ts };
  }

  it('BIOS: iPXE NIC ROM -> kseed DHCP -> HTTP script -> ramdisk reports with its token and MAC', async () => {
    const vm = await bootVm({ ns: lab.server, dir, name: 'bios01', tap: 'tap0', mac: BIOS_MAC, timeoutMs: 240_000 });
    // the agent powers off after inspection: QEMU exits by itself
    expect(vm.killed, vm.serial.slice(-3000)).toBe(false);
    expect(vm.serial).toContain('kseed: bios01: inspect ramdisk');
    expect(vm.serial).toMatch(/kseed-agent: .*result ok inspect/);
    const { inventoryTs } = expectReportedWithItsToken('bios01', BIOS_MAC, 'bios', vm.serial);
    timings.bios = (inventoryTs - vm.t0) / 1000;

    const ev = serve.of(BIOS_MAC);
    expect(ev.find((e) => e.service === 'dhcp' && e.type === 'ack')).toMatchObject({ name: 'bios01', bootFile: `http://10.188.0.1:${HTTP_PORT}/boot/52-54-00-bb-00-01.ipxe` });
    const http = serve.events.filter((e) => e.service === 'http' && e.node === 'bios01').map((e) => `${e.method} ${e.path} ${e.status}`);
    expect(http).toEqual(
      expect.arrayContaining([
        'GET /boot/52-54-00-bb-00-01.ipxe 200',
        'POST /v1/agent/bios01/inventory 200',
        'GET /v1/agent/bios01/task 200',
        'POST /v1/agent/bios01/result 204',
      ]),
    );
  }, 300_000);

  it('UEFI: OVMF PXE -> kseed DHCP -> TFTP snponly.efi -> iPXE -> HTTP script -> ramdisk reports', async () => {
    const vm = await bootVm({ ns: lab.server, dir, name: 'uefi01', tap: 'tap1', mac: UEFI_MAC, uefi: true, nicRom: false, timeoutMs: 300_000 });
    expect(vm.killed, vm.serial.slice(-3000)).toBe(false);
    expect(vm.serial).toContain('kseed: uefi01: inspect ramdisk');
    // the EFI stub found the initrd through initrd=<name> (lab.md 3.7)
    expect(vm.serial).toMatch(/kseed-agent: .*result ok inspect/);
    const { inventoryTs } = expectReportedWithItsToken('uefi01', UEFI_MAC, 'uefi', vm.serial);
    timings.uefi = (inventoryTs - vm.t0) / 1000;

    const ev = serve.of(UEFI_MAC);
    // first stage over TFTP, chosen by option 93 (x86-64 UEFI)
    expect(ev.find((e) => e.service === 'dhcp' && e.type === 'ack')).toMatchObject({ bootFile: 'snponly.efi' });
    const tftp = serve.events.filter((e) => e.service === 'tftp' && e.type === 'end' && e.file === 'snponly.efi' && e.ok === true);
    expect(tftp.length).toBeGreaterThanOrEqual(1);
    // then iPXE asks again and gets its script over HTTP
    expect(ev.filter((e) => e.service === 'dhcp' && e.type === 'ack').map((e) => e.bootFile)).toContain(`http://10.188.0.1:${HTTP_PORT}/boot/52-54-00-bb-00-02.ipxe`);
  }, 360_000);

  it('a MAC not in the inventory gets no lease, no boot file, and no deploying script', async () => {
    const vm = await bootVm({
      ns: lab.server,
      dir,
      name: 'stranger',
      tap: 'tap2',
      mac: STRANGER_MAC,
      timeoutMs: 120_000,
      // iPXE gives up on DHCP, SeaBIOS moves on and finds nothing
      until: (s) => s.includes('No bootable device'),
    });
    expect(vm.serial).toContain('No bootable device');
    expect(vm.serial).not.toContain('kseed:');
    const ev = serve.of(STRANGER_MAC);
    expect(ev.length).toBeGreaterThanOrEqual(1);
    expect(ev.every((e) => e.service === 'dhcp' && e.type === 'ignored' && e.reason === 'MAC not in inventory')).toBe(true);
    expect(serve.events.filter((e) => e.service === 'http' && String(e.path).includes('52-54-00-bb-00-66'))).toEqual([]);
    // only the UEFI guest ever used TFTP
    const uefiIp = state.getLease(UEFI_MAC)!.ip;
    expect(serve.events.filter((e) => e.service === 'tftp' && !String(e.client).startsWith(`${uefiIp}:`))).toEqual([]);

    // Asking the HTTP service directly does not help a stranger, nor a known node with nothing to do.
    for (const mac of [STRANGER_MAC, IDLE_MAC]) {
      const r = await lab.server.exec('curl', ['-sS', '--max-time', '10', `http://10.188.0.1:${HTTP_PORT}/boot/${mac.replace(/:/g, '-')}.ipxe`]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^#!ipxe\n/);
      expect(r.stdout).toMatch(/\nexit\n/);
      expect(r.stdout).not.toMatch(/kernel|initrd|kseed\.token/);
    }
    expect(state.listEvents('idle01', { kind: 'boot-script' })).toEqual([]);
  }, 180_000);

  it('a client on a second bridge in another namespace gets nothing from kseed', async () => {
    await lab.bridge('br1', '10.189.0.1/24');
    const c = await lab.client('x', 'br1', OTHER_MAC);
    const lease = await udhcpcOnce(c, c.ifname, dir);
    expect(lease).toBeNull();
    // SO_BINDTODEVICE: kseed never even saw its packets
    expect(serve.of(OTHER_MAC)).toEqual([]);
    expect(state.getLease(OTHER_MAC)).toBeUndefined();
    // the same client moved onto kseed's bridge is served: the test can tell the difference
    await lab.server.ip('link', 'set', 'vx', 'nomaster');
    await lab.server.ip('link', 'set', 'vx', 'master', 'br0');
    const served = await udhcpcOnce(c, c.ifname, dir);
    expect(served).toMatchObject({ boot_file: 'undionly.kpxe', siaddr: '10.188.0.1' });
  }, 120_000);
});
