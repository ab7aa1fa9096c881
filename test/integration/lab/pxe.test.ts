/**
 * PXE smoke test of the lab network, end to end, without kseed's own boot
 * services: dnsmasq (DHCP + TFTP + router advertisements) runs INSIDE the lab
 * netns on the lab bridge, the BIOS node is powered on over IPMI, its iPXE
 * ROM gets an address and a script over TFTP, and the script's marker shows
 * on the node's serial console. Lab "px", BMC port 17010.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, destroyLab, readLabPassword, readSerial, vmPid, waitForSerial, type CreateLabResult } from '../../../src/lab/index.js';
import { needPeers, needRoot } from '../../helpers/peers.js';
import { ipmitool, until } from './helpers.js';

const LAB = 'px';
const PORT = 17010;
const ok = needRoot() && needPeers('ip', 'ipmi_sim', 'ipmitool', 'qemu-system-x86_64', 'qemu-img', 'dnsmasq');

describe.skipIf(!ok)('lab network: PXE with dnsmasq in the lab netns', () => {
  let root = '';
  let stateDir = '';
  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'ksl-px-'));
    // dnsmasq drops root for its own user, which must still reach its log and the TFTP root
    chmodSync(root, 0o755);
    stateDir = path.join(root, '.kseed');
  });
  let dnsmasq: ChildProcess | undefined;

  afterAll(async () => {
    try {
      if (dnsmasq?.pid && dnsmasq.exitCode === null) {
        dnsmasq.kill('SIGTERM');
        await new Promise((r) => dnsmasq!.once('exit', r));
      }
      await destroyLab({ stateDir, name: LAB });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('a BIOS node powered on over IPMI PXE-boots an iPXE script from the lab network', async () => {
    const lab: CreateLabResult = await createLab({ stateDir, name: LAB, nodes: 1, bmcPortBase: PORT, diskGb: 1 });
    const node = lab.nodes[0]!;
    const pw = readLabPassword(lab.passwordFile)!;

    const tftp = path.join(root, 'tftp');
    mkdirSync(tftp);
    writeFileSync(
      path.join(tftp, 'boot.ipxe'),
      // Debian's 2019 ROM is built without the poweroff command: then the BMC powers it off
      '#!ipxe\necho KSL-SMOKE mac=${net0/mac} ip=${net0/ip} platform=${platform}\npoweroff || echo KSL-SMOKE-END no poweroff in this iPXE\n',
    );
    const conf = path.join(root, 'dnsmasq.conf');
    // lab.md 3.1/3.5: no DNS, only the lab bridge; RAs + no-ping + no-pxedhcp keep iPXE from stalling
    writeFileSync(
      conf,
      [
        'port=0',
        `interface=${lab.bridge}`,
        'bind-interfaces',
        'except-interface=lo',
        `dhcp-leasefile=${path.join(root, 'leases')}`,
        `log-facility=${path.join(root, 'dnsmasq.log')}`,
        'log-dhcp',
        'dhcp-range=10.77.0.100,10.77.0.199,255.255.255.0,1h',
        'dhcp-authoritative',
        'dhcp-rapid-commit',
        'no-ping',
        'enable-tftp',
        `tftp-root=${tftp}`,
        'dhcp-userclass=set:ipxe,iPXE',
        'dhcp-boot=tag:ipxe,boot.ipxe,,10.77.0.1',
        'dhcp-option=tag:ipxe,encap:175,176,1',
        'enable-ra',
        'dhcp-range=fd77::,ra-only,64',
        `ra-param=${lab.bridge},0,0`,
        '',
      ].join('\n'),
    );
    dnsmasq = spawn('ip', ['netns', 'exec', lab.netns, 'dnsmasq', '--keep-in-foreground', `--conf-file=${conf}`, `--pid-file=${path.join(root, 'dnsmasq.pid')}`], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    await until('dnsmasq listening', () => readFileSync(path.join(root, 'dnsmasq.log'), { flag: 'a+', encoding: 'utf8' }).includes('TFTP root'), 10_000);

    const t0 = Date.now();
    ipmitool(PORT, pw, 'chassis', 'bootdev', 'pxe');
    ipmitool(PORT, pw, 'chassis', 'power', 'on');
    await waitForSerial(node, /iPXE/, { timeoutMs: 60_000 });
    const tBanner = Date.now() - t0;
    await waitForSerial(node, /Configuring \(net0 [0-9a-f:]+\)[. ]*ok/, { timeoutMs: 60_000 });
    const tDhcp = Date.now() - t0;
    const marker = await waitForSerial(node, /KSL-SMOKE mac=(\S+) ip=(\S+) platform=(\S+)/, { timeoutMs: 60_000 });
    console.log(`PXE smoke: ipmitool power on -> iPXE banner ${tBanner} ms, DHCP ok ${tDhcp} ms, script marker ${Date.now() - t0} ms`);
    expect(marker.match[1]).toBe(node.mac);
    expect(marker.match[2]).toMatch(/^10\.77\.0\.(1\d\d)$/);
    expect(marker.match[3]).toBe('pcbios');
    const leases = readFileSync(path.join(root, 'leases'), 'utf8');
    expect(leases).toContain(node.mac);

    // the script ends with `poweroff`; where the ROM lacks it, IPMI power off does the same
    await until('script end', () => vmPid(node) === undefined || readSerial(node).includes('KSL-SMOKE-END'), 30_000);
    ipmitool(PORT, pw, 'chassis', 'power', 'off');
    expect(vmPid(node)).toBeUndefined();
    expect(ipmitool(PORT, pw, 'chassis', 'power', 'status')).toContain('Chassis Power is off');
  }, 240_000);
});
