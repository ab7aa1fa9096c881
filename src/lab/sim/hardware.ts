/**
 * What a simulated node is made of, and the inventory its ramdisk reports
 * (docs/AGENT-API.md, `POST /v1/agent/<node>/inventory`). Synthetic but
 * varied per node, so matching and root-device hints see different machines.
 */
import type { Inventory } from '../../boot/http/types.js';

export interface SimNodeSpec {
  name: string;
  index: number;
  /** Node directory: BMC files, power file, disk image, status. */
  dir: string;
  mac: string;
  firmware: 'bios' | 'uefi';
  netns: string;
  /** The root disk's serial (what the lab site's root-device hint selects). */
  diskSerial: string;
  diskBytes: number;
  /** Sparse file standing for the root disk (/dev/vda). */
  diskFile: string;
}

export const SIM_DISK_DEVICE = 'vda';

/** A second, smaller disk a root-device hint must not select. */
const DATA_DISK = { name: 'vdb', size_bytes: 4 * 2 ** 30 };

export function simInventory(n: SimNodeSpec): Inventory {
  return {
    cpus: 2 + (n.index % 3) * 2,
    memory_mib: 4096 * (1 + (n.index % 2)),
    disks: [
      // virtio-blk, as the lab's VMs: no WWN, no SCSI address
      { name: SIM_DISK_DEVICE, size_bytes: n.diskBytes, model: 'KSL sim disk', serial: n.diskSerial, wwn: '', rotational: false, hctl: '', by_path: 'pci-0000:00:04.0' },
      { ...DATA_DISK, model: 'KSL sim data', serial: `${n.diskSerial}D`, wwn: '', rotational: true, hctl: '', by_path: 'pci-0000:00:05.0' },
    ],
    nics: [{ name: 'eth0', mac: n.mac.toLowerCase(), link: true }],
    boot_mode: n.firmware,
  };
}

/** RFC 4578 2.5 machine identifier: stable per node. */
export function simUuid(n: Pick<SimNodeSpec, 'mac'>): Buffer {
  const b = Buffer.alloc(16);
  Buffer.from(n.mac.replace(/:/g, ''), 'hex').copy(b, 10);
  b.write('kssim', 0, 'latin1');
  return b;
}

/** RFC 4578 2.1: 0 x86 BIOS, 7 x64 UEFI. */
export function simArch(n: Pick<SimNodeSpec, 'firmware'>): number {
  return n.firmware === 'uefi' ? 7 : 0;
}
