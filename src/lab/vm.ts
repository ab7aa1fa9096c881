/**
 * The QEMU machine of a lab node: vm.sh (run detached by the BMC's
 * chassis_control program on power on), its disk and its UEFI variable store.
 * QEMU runs INSIDE the lab netns (`ip netns exec`) because a tap created in a
 * netns can only be opened from there (lab.md gotcha 9), and so that all of
 * its traffic stays on the lab bridge.
 */
import { copyFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { KseedError } from '../errors.js';
import { run, runQuiet } from '../util/tools.js';

export type Firmware = 'bios' | 'uefi';

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

export interface VmInput {
  name: string;
  nodeDir: string;
  netns: string;
  tap: string;
  mac: string;
  /** NICs after the first: no bootindex and no option ROM, so only the first NIC network-boots. */
  extraNics?: { mac: string; tap: string }[];
  firmware: Firmware;
  memoryMb: number;
  /** vCPUs; unset = 1. Under TCG each is a host thread (MTTCG): more only where the guest runs work in parallel (a Ceph mon, mgr and CLI). */
  cpus?: number;
  diskSerial: string;
  /** Extra disks: file name inside the node dir and serial. */
  dataDisks?: { file: string; serial: string }[];
  /** Per-node copy of the OVMF variable store (UEFI only). */
  varsPath?: string;
  ovmfCode?: string;
  ipPath: string;
  qemuPath: string;
  /**
   * UEFI only: the first NIC boots with OVMF's own virtio-net driver and
   * NetworkPkg HTTP boot (no iPXE option ROM), its PXE turned off, as a
   * server whose firmware does UEFI HTTP boot.
   */
  httpBoot?: boolean;
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * vm.sh: picks the boot order from the device the BMC last set (IPMI
 * `bootdev disk` / Redfish Hdd -> disk first; cdrom / Cd -> the CD first;
 * anything else -> network first, as racks are usually set),
 * stamps a power-on line into the serial log (tests and timings key on it),
 * wires the serial port to the node's SOL relay when it runs (sol-relay.ts),
 * then execs QEMU, keeping the PID chassis.sh recorded.
 */
/** sun_path holds 108 bytes: a deeper node dir gets no QMP socket (soft off becomes hard off). */
export function qmpUsable(nodeDir: string): boolean {
  return `${nodeDir}/qmp.sock`.length < 100;
}

// -cpu max: a Debian node OS boots ~30% faster under TCG than with the default qemu64, and
// Ceph's erasure-code plugins need its instructions (node-os-and-ceph.md)
export function renderVmScript(v: VmInput): string {
  const httpBoot = v.httpBoot === true && v.firmware === 'uefi';
  const args = [
    `-name ${shq(v.name)} -machine ${v.firmware === 'uefi' ? 'q35' : 'pc'} -accel tcg -cpu max -smp ${v.cpus ?? 1} -m ${v.memoryMb}`,
    '-nographic -nodefaults -no-user-config -monitor none -pidfile "$d/qemu.pid"',
    '-chardev "$SER" -serial chardev:ser0',
    '-device virtio-rng-pci',
    `-netdev ${shq(`tap,id=n0,ifname=${v.tap},script=no,downscript=no`)}`,
    `-device "virtio-net-pci,netdev=n0,mac=${v.mac},bootindex=$NET${httpBoot ? ',romfile=' : ''}"`,
    ...(v.extraNics ?? []).flatMap((x, k) => [`-netdev ${shq(`tap,id=n${k + 1},ifname=${x.tap},script=no,downscript=no`)}`, `-device "virtio-net-pci,netdev=n${k + 1},mac=${x.mac},romfile="`]),
    '-drive "file=$d/disk.qcow2,format=qcow2,if=none,id=d0,discard=unmap"',
    `-device "virtio-blk-pci,drive=d0,serial=${v.diskSerial},bootindex=$DISK"`,
    // the virtual CD of a Redfish BMC (InsertMedia); empty unless cd.img is there, changed live over QMP
    '-drive "if=none,id=cdrom0,media=cdrom,readonly=on$CDFILE"',
    '-device "ide-cd,drive=cdrom0,id=cd0,bootindex=$CD"',
  ];
  (v.dataDisks ?? []).forEach((dd, i) => {
    args.push(
      `-drive "file=$d/${dd.file},format=qcow2,if=none,id=d${i + 1},discard=unmap"`,
      `-device "virtio-blk-pci,drive=d${i + 1},serial=${dd.serial}"`,
    );
  });
  if (qmpUsable(v.nodeDir)) args.push('-qmp "unix:$d/qmp.sock,server=on,wait=off"');
  if (v.firmware === 'uefi') {
    args.push(
      `-drive ${shq(`if=pflash,format=raw,unit=0,readonly=on,file=${v.ovmfCode ?? OVMF_CODE}`)}`,
      '-drive "if=pflash,format=raw,unit=1,file=$d/OVMF_VARS.fd"',
    );
  }
  // OVMF's fw_cfg knobs (OvmfPkg/RUNTIME_CONFIG.md, PxeBcPcdProducerLib): no PXE and no IPv6
  // boot options, so the NIC's only boot option is "UEFI HTTPv4" and nothing asks for TFTP
  if (httpBoot) {
    for (const k of ['IPv4PXESupport', 'IPv6PXESupport', 'IPv6Support']) args.push(`-fw_cfg name=opt/org.tianocore/${k},string=no`);
  }
  return `#!/bin/sh
# kseed lab node ${v.name} (${v.firmware}), generated. Started detached by chassis.sh on IPMI power on.
d=${shq(v.nodeDir)}
# rename, not truncate+write: a reader must never see an empty PID file
echo $$ > "$d/vm.pid.$$" && mv -f "$d/vm.pid.$$" "$d/vm.pid"
boot=$(cat "$d/boot" 2>/dev/null || echo none)
# a one-time override (Redfish BootSourceOverrideEnabled Once) wins and is used up by this power-on
if [ -f "$d/boot.once" ]; then boot=$(cat "$d/boot.once"); rm -f "$d/boot.once"; fi
case "$boot" in default) NET=2; DISK=1; CD=3;; cdrom) NET=2; DISK=3; CD=1;; *) NET=1; DISK=2; CD=3;; esac
CDFILE=""; [ -f "$d/cd.img" ] && CDFILE=",file=$d/cd.img"
n=$(( $(cat "$d/boots" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$d/boots"
# the serial port: to the node's SOL relay when it runs (it appends every byte to serial.log and
# serves the BMC's SOL; QEMU connects as a client, once, before the guest runs), else QEMU logs it
SER="file,id=ser0,path=$d/serial.log,append=on"
r=$(cat "$d/sol-relay.pid" 2>/dev/null)
if [ -n "$r" ] && [ -S "$d/serial.sock" ] && grep -aqF -- "$d/serial.sock" "/proc/$r/cmdline" 2>/dev/null &&
  grep -aqF -- sol-relay-main.js "/proc/$r/cmdline" 2>/dev/null; then SER="socket,id=ser0,path=$d/serial.sock"; fi
printf "\\n" >> "$d/serial.log"
echo "=== kseed-lab power-on #$n $(date +%s.%N) node=${v.name} firmware=${v.firmware} bootdev=$boot" >> "$d/serial.log"
exec ${shq(v.ipPath)} netns exec ${shq(v.netns)} ${shq(v.qemuPath)} \\
  ${args.join(' \\\n  ')}
`;
}

export async function createDisk(qemuImg: string, path: string, sizeGb: number): Promise<'created' | 'kept'> {
  if (existsSync(path)) return 'kept';
  await run(qemuImg, ['create', '-q', '-f', 'qcow2', path, `${sizeGb}G`]);
  return 'created';
}

export interface DiskInfo {
  virtualSizeBytes: number;
  actualSizeBytes: number;
}

export async function diskInfo(qemuImg: string, path: string): Promise<DiskInfo | undefined> {
  if (!existsSync(path)) return undefined;
  // -U: the VM may hold the image's write lock
  const r = await runQuiet(qemuImg, ['info', '-U', '--output=json', path]);
  if (r.exitCode !== 0) return undefined;
  try {
    const j = JSON.parse(r.stdout) as { 'virtual-size': number; 'actual-size': number };
    return { virtualSizeBytes: j['virtual-size'], actualSizeBytes: j['actual-size'] };
  } catch {
    return undefined;
  }
}

export async function createUefiVars(varsPath: string, template = OVMF_VARS): Promise<'created' | 'kept'> {
  if (existsSync(varsPath)) return 'kept';
  try {
    await stat(template);
  } catch {
    throw new KseedError(`OVMF variable store ${template} not found (install the Debian package ovmf)`, { code: 'missing-tool' });
  }
  await copyFile(template, varsPath);
  return 'created';
}

export function checkUefiFirmware(code = OVMF_CODE): void {
  if (!existsSync(code)) throw new KseedError(`OVMF firmware ${code} not found (install the Debian package ovmf)`, { code: 'missing-tool' });
}

export interface DirectBootInput extends VmInput {
  kernel: string;
  initrd: string;
  append: string;
}

/**
 * QEMU argv for booting a node's kernel + initrd directly (-kernel/-initrd),
 * no PXE, no BMC: the same machine (NIC, MAC, disks, firmware) as vm.sh, for
 * the floor of the end-to-end benchmark.
 */
export function directBootArgv(v: DirectBootInput): string[] {
  const d = v.nodeDir;
  const argv = [
    'netns', 'exec', v.netns, v.qemuPath,
    '-name', v.name, '-machine', v.firmware === 'uefi' ? 'q35' : 'pc', '-accel', 'tcg', '-cpu', 'max', '-smp', String(v.cpus ?? 1), '-m', String(v.memoryMb),
    '-nographic', '-nodefaults', '-no-user-config', '-monitor', 'none', '-pidfile', `${d}/qemu.pid`,
    '-chardev', `file,id=ser0,path=${d}/serial.log,append=on`, '-serial', 'chardev:ser0',
    '-device', 'virtio-rng-pci',
    '-netdev', `tap,id=n0,ifname=${v.tap},script=no,downscript=no`,
    '-device', `virtio-net-pci,netdev=n0,mac=${v.mac}`,
    ...(v.extraNics ?? []).flatMap((x, k) => ['-netdev', `tap,id=n${k + 1},ifname=${x.tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n${k + 1},mac=${x.mac},romfile=`]),
    '-drive', `file=${d}/disk.qcow2,format=qcow2,if=none,id=d0,discard=unmap`,
    '-device', `virtio-blk-pci,drive=d0,serial=${v.diskSerial}`,
  ];
  (v.dataDisks ?? []).forEach((dd, i) => {
    argv.push('-drive', `file=${d}/${dd.file},format=qcow2,if=none,id=d${i + 1},discard=unmap`, '-device', `virtio-blk-pci,drive=d${i + 1},serial=${dd.serial}`);
  });
  if (qmpUsable(d)) argv.push('-qmp', `unix:${d}/qmp.sock,server=on,wait=off`);
  if (v.firmware === 'uefi') {
    argv.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${v.ovmfCode ?? OVMF_CODE}`, '-drive', `if=pflash,format=raw,unit=1,file=${d}/OVMF_VARS.fd`);
  }
  argv.push('-kernel', v.kernel, '-initrd', v.initrd, '-append', v.append);
  return argv;
}
