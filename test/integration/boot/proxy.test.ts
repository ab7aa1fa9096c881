/**
 * Proxy mode end to end: dnsmasq plays the site's existing DHCP server (in
 * its own namespace on the bridge, addresses only, no boot information) and
 * kseed's composed services run with `dhcpMode: 'proxy'` (what
 * `kseed boot serve --dhcp proxy` does). A QEMU BIOS guest gets its address
 * from dnsmasq, its boot script from kseed's ProxyDHCP answer, and boots the
 * deploy ramdisk, which reports back to kseed with its token.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../helpers/netns.js';
import { needPeers, needRoot } from '../../helpers/peers.js';
import { bootVm, dist, ServeProcess, startServeWithRamdisk, tearDownBootLab, tmpDir } from '../../helpers/boot-services.js';

const ok = needRoot() && needPeers('qemu-system-x86_64', 'dnsmasq', 'apt-get', 'dpkg-deb', dist('boot/serve.js'), dist('images/ramdisk.js'));
const MAC = '52:54:00:bd:00:01';
const HTTP_PORT = 18581;

const SITE = `
site: kstproxy
engine: embedded
seed:
  interface: br0
  address: 10.191.0.1/24
  dhcp: { mode: proxy }
  ports: { http: ${HTTP_PORT} }
defaults:
  bmc: { type: ipmi, username: admin, password: { env: KST_UNUSED_PASSWORD } }
nodes:
  - { name: px01, bmc: { address: 127.0.0.1, port: 18505 }, macs: ["${MAC}"] }
`;

describe.skipIf(!ok)('proxy mode beside dnsmasq: QEMU BIOS boots the ramdisk through kseed ProxyDHCP + HTTP', () => {
  let lab: Lab;
  let dir: string;
  let serve: ServeProcess;
  let state: import('../../../src/engine/state.js').StateStore;

  beforeAll(async () => {
    dir = tmpDir('proxy');
    writeFileSync(path.join(dir, 'kseed.yaml'), SITE);
    const { openState } = (await import(dist('engine/state.js'))) as typeof import('../../../src/engine/state.js');
    state = openState(path.join(dir, '.kseed'));
    state.ensureNode('px01');
    state.transition('px01', 'inspecting');

    lab = await Lab.create('kst-bp');
    await lab.bridge('br0', '10.191.0.1/24');
    await lab.server.ip('tuntap', 'add', 'dev', 'tap0', 'mode', 'tap');
    await lab.server.ip('link', 'set', 'tap0', 'master', 'br0');
    await lab.server.ip('link', 'set', 'tap0', 'up');
    const site = await lab.client('dn', 'br0', '52:54:00:bd:ff:01', { cidr: '10.191.0.2/24' });
    const conf = path.join(dir, 'dnsmasq.conf');
    writeFileSync(
      conf,
      ['port=0', 'interface=eth0', 'bind-interfaces', `dhcp-leasefile=${dir}/dnsmasq.leases`, `pid-file=${dir}/dnsmasq.pid`, 'dhcp-range=10.191.0.100,10.191.0.150,255.255.255.0,1h', 'dhcp-authoritative', 'no-ping', 'log-dhcp', ''].join('\n'),
    );
    const r = await site.exec('dnsmasq', [`--conf-file=${conf}`, `--log-facility=${dir}/dnsmasq.log`]);
    if (r.code !== 0) throw new Error(`dnsmasq: ${r.stderr}`);
    serve = await startServeWithRamdisk(lab.server, dir, { dhcpMode: 'proxy' });
  }, 600_000);

  // dnsmasq and QEMU run inside the namespaces: the lab's destroy() kills them by namespace
  afterAll(() => tearDownBootLab({ serve, state, lab, dir }));

  it('address from dnsmasq, boot script from kseed, ramdisk reports with its token', async () => {
    const vm = await bootVm({ ns: lab.server, dir, name: 'px01', tap: 'tap0', mac: MAC, timeoutMs: 240_000 });
    expect(vm.killed, vm.serial.slice(-3000)).toBe(false);
    expect(vm.serial).toContain('kseed: px01: inspect ramdisk');
    // the lease is dnsmasq's; kseed only answered as ProxyDHCP (no address)
    expect(readFileSync(path.join(dir, 'dnsmasq.leases'), 'utf8')).toContain(MAC);
    const dhcp = serve.of(MAC).filter((e) => e.service === 'dhcp');
    expect(dhcp.some((e) => e.type === 'proxy-offer' || e.type === 'proxy-ack')).toBe(true);
    expect(dhcp.filter((e) => e.type === 'offer' || e.type === 'ack')).toEqual([]);
    const script = state.listEvents('px01', { kind: 'boot-script' }).at(-1)!;
    const inv = state.listEvents('px01', { kind: 'inventory' });
    expect(inv).toHaveLength(1);
    expect(inv[0]!.detail).toMatchObject({ token_id: script.detail.token_id, macs: [MAC], boot_mode: 'bios' });
    expect(state.listEvents('px01', { kind: 'agent-result' })[0]!.detail).toMatchObject({ status: 'ok', stage: 'inspect' });
    console.log(`proxy-mode BIOS boot, power-on to inventory report: ${(inv[0]!.ts - vm.t0) / 1000} s`);
  }, 300_000);
});
