/** The simulator's pure parts: its reading of kseed's own iPXE scripts, its inventory, its names. */
import { describe, expect, it } from 'vitest';
import { parseInventory } from '../../../src/boot/http/types.js';
import { chainScript, chainToScript, localBootScript, noBootScript, ramdiskScript } from '../../../src/boot/ipxe.js';
import { interpretScript } from '../../../src/lab/sim/boot.js';
import { renderSimChassisScript } from '../../../src/lab/sim/chassis.js';
import { simArch, simInventory, type SimNodeSpec } from '../../../src/lab/sim/hardware.js';
import { simNetnsName, simPortName } from '../../../src/lab/sim/net.js';

const spec: SimNodeSpec = {
  name: 'node03',
  index: 2,
  dir: '/s/lab/x/nodes/node03',
  mac: '52:54:00:77:AB:03',
  firmware: 'uefi',
  netns: 'ksl-x-n2',
  diskSerial: 'KSL-X-03',
  diskBytes: 10 * 2 ** 30,
  diskFile: '/s/lab/x/nodes/node03/disk.img',
};
const bios = { platform: 'pcbios' as const, macHyp: '52-54-00-77-ab-03' };
const efi = { platform: 'efi' as const, macHyp: '52-54-00-77-ab-03' };

describe('interpretScript: what a simulated iPXE does with the seed scripts', () => {
  it('boots the ramdisk with the kernel command line of docs/AGENT-API.md', () => {
    const s = ramdiskScript({
      seedUrl: 'http://10.77.0.1:8080',
      node: 'node03',
      token: 'tok_abc',
      mac: '52:54:00:77:ab:03',
      kernelUrl: 'http://10.77.0.1:8080/artifacts/vmlinuz',
      initrdUrl: 'http://10.77.0.1:8080/artifacts/initramfs.gz',
    });
    expect(interpretScript(s, bios)).toEqual({
      kind: 'ramdisk',
      kernel: 'http://10.77.0.1:8080/artifacts/vmlinuz',
      initrd: 'http://10.77.0.1:8080/artifacts/initramfs.gz',
      args: ['kseed.url=http://10.77.0.1:8080', 'kseed.node=node03', 'kseed.token=tok_abc', 'kseed.mac=52:54:00:77:ab:03', 'console=ttyS0', 'initrd=initramfs.gz'],
    });
  });

  it('local boot: BIOS sanboots the disk, UEFI exits to the firmware', () => {
    expect(interpretScript(localBootScript('node03'), bios)).toEqual({ kind: 'disk' });
    expect(interpretScript(localBootScript('node03'), efi)).toEqual({ kind: 'exit' });
  });

  it('an unknown node or one with nothing to do exits; chains are followed with the MAC filled in', () => {
    expect(interpretScript(noBootScript('unknown MAC'), bios)).toEqual({ kind: 'exit' });
    expect(interpretScript(chainScript('http://10.77.0.1:8080'), bios)).toEqual({ kind: 'chain', url: 'http://10.77.0.1:8080/boot/52-54-00-77-ab-03.ipxe' });
    expect(interpretScript(chainToScript('node03', 'http://10.77.0.1:8088/pxelinux.cfg/x'), efi)).toEqual({ kind: 'chain', url: 'http://10.77.0.1:8088/pxelinux.cfg/x' });
  });

  it("Ironic's per-node config (ipxe_config.template of Ironic 21.4, its ramdisk deploy): goto boot_ramdisk, kernel options and `|| goto` fallbacks", () => {
    // as Ironic renders it for the ramdisk deploy interface: the first goto switched to boot_ramdisk
    const cfg = [
      '#!ipxe',
      '',
      'set attempts:int32 10',
      'set i:int32 0',
      '',
      'goto boot_ramdisk',
      '',
      ':deploy',
      'imgfree',
      'kernel --timeout 60000 http://10.77.0.1:8080/u1/deploy_kernel selinux=0 troubleshoot=0 text BOOTIF=${mac} initrd=deploy_ramdisk || goto retry',
      'initrd --timeout 60000 http://10.77.0.1:8080/u1/deploy_ramdisk || goto retry',
      'boot',
      '',
      ':retry',
      'iseq ${i} ${attempts} && goto fail ||',
      'inc i',
      'echo No response, retrying in ${i} seconds.',
      'sleep ${i}',
      'goto deploy',
      '',
      ':fail',
      'poweroff',
      '',
      ':boot_ramdisk',
      'imgfree',
      'kernel --timeout 60000 http://10.77.0.1:8080/u1/kernel root=/dev/ram0 text kseed.url=http://10.77.0.1:8080 kseed.node=node03 kseed.token=tok_abc initrd=ramdisk || goto boot_ramdisk',
      'initrd --timeout 60000 http://10.77.0.1:8080/u1/ramdisk || goto boot_ramdisk',
      'boot',
      '',
      ':boot_whole_disk',
      'sanboot --no-describe || exit 0',
    ].join('\n');
    expect(interpretScript(cfg, bios)).toEqual({
      kind: 'ramdisk',
      kernel: 'http://10.77.0.1:8080/u1/kernel',
      initrd: 'http://10.77.0.1:8080/u1/ramdisk',
      args: ['root=/dev/ram0', 'text', 'kseed.url=http://10.77.0.1:8080', 'kseed.node=node03', 'kseed.token=tok_abc', 'initrd=ramdisk'],
    });
    expect(interpretScript(cfg.replace('goto boot_ramdisk\n', 'goto boot_whole_disk\n'), bios)).toEqual({ kind: 'disk' });
    // a goto to no label ends the script; a script that only loops ends too
    expect(interpretScript('#!ipxe\ngoto nowhere\nsanboot --no-describe\n', bios)).toEqual({ kind: 'exit' });
    expect(interpretScript('#!ipxe\n:a\ngoto a\n', bios)).toEqual({ kind: 'exit' });
  });

  it('a kernel without boot, or garbage, never reads as a ramdisk boot', () => {
    expect(interpretScript('#!ipxe\nkernel http://x/vmlinuz\n', bios)).toEqual({ kind: 'exit' });
    expect(interpretScript('<html>not a script</html>', bios)).toEqual({ kind: 'exit' });
  });
});

describe('the simulated hardware', () => {
  it('reports an inventory the seed accepts, with the disk the lab hint selects', () => {
    const inv = parseInventory(JSON.parse(JSON.stringify(simInventory(spec))));
    expect(inv.boot_mode).toBe('uefi');
    expect(inv.nics).toEqual([{ name: 'eth0', mac: '52:54:00:77:ab:03', link: true }]);
    expect(inv.disks.map((d) => [d.name, d.serial, d.size_bytes])).toEqual([
      ['vda', 'KSL-X-03', 10 * 2 ** 30],
      ['vdb', 'KSL-X-03D', 4 * 2 ** 30],
    ]);
  });

  it('asks for the first stage of its architecture (RFC 4578 2.1)', () => {
    expect(simArch({ firmware: 'bios' })).toBe(0);
    expect(simArch({ firmware: 'uefi' })).toBe(7);
  });

  it('names its namespace and bridge port within the kernel limits', () => {
    expect(simNetnsName('ksl-abcdefghijk', 253)).toBe('ksl-abcdefghijk-n253');
    expect(simPortName(253)).toBe('ksl-s253');
  });

  it('chassis program: power is the power file while the simulator runs; quotes its paths', () => {
    const s = renderSimChassisScript("/s/it's/nodes/node03", '/s/lab/x');
    expect(s).toContain(`d='/s/it'\\''s/nodes/node03'`);
    expect(s).toContain('put "1 $n"');
    expect(s).toContain('if [ "$s" = 1 ] && sim_alive; then echo 1; else echo 0; fi');
  });
});
