import { describe, expect, it } from 'vitest';
import { chooseRootDevice, type Disk } from '../../../src/engine/rootdevice.js';

const GiB = 1024 ** 3;
const disks: Disk[] = [
  { name: 'sda', size_bytes: 480 * GiB, model: 'SAMSUNG MZ7LH480', serial: 'S1', wwn: '0x5002538e00000001', rotational: false },
  { name: 'sdb', size_bytes: 480 * GiB, model: 'SAMSUNG MZ7LH480', serial: 'S2', wwn: '0x5002538e00000002', rotational: false },
  { name: 'sdc', size_bytes: 8000 * GiB + 12345, model: 'ST8000NM', serial: 'Z1', rotational: true },
  { name: 'nvme0n1', size_bytes: 1600 * GiB, model: 'INTEL SSDPE2KE016T8', serial: 'N1', rotational: false },
];

describe('root-device hints', () => {
  it('selects the single disk matching every hint', () => {
    const r = chooseRootDevice(disks, { serial: 's2' });
    expect(r.ok && r.disk.name).toBe('sdb');
    const r2 = chooseRootDevice(disks, { rotational: true });
    expect(r2.ok && r2.disk.name).toBe('sdc');
    const r3 = chooseRootDevice(disks, { name: '/dev/nvme0n1' });
    expect(r3.ok && r3.disk.name).toBe('nvme0n1');
    const r4 = chooseRootDevice(disks, { size_gb: { min: 1000, max: 2000 } });
    expect(r4.ok && r4.disk.name).toBe('nvme0n1');
    // Whole GiB rounded down, as Ironic compares them.
    const r5 = chooseRootDevice(disks, { size_gb: 8000 });
    expect(r5.ok && r5.disk.name).toBe('sdc');
  });

  it('refuses when several disks match, naming them', () => {
    const r = chooseRootDevice(disks, { model: 'samsung mz7lh480' });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toMatch(/2 disks match .*\(sda, sdb\): add serial or wwn/);
      expect(r.candidates.map((d) => d.name)).toEqual(['sda', 'sdb']);
    }
  });

  it('refuses when no disk matches, saying why each failed', () => {
    const r = chooseRootDevice(disks, { size_gb: { min: 10_000 } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/no disk matches .*sda: size 480 GiB < 10000 GiB/);
    const empty = chooseRootDevice([], { size_gb: { min: 1 } });
    expect(!empty.ok && empty.reason).toMatch(/no disks found/);
  });

  it('never selects a disk without a hint', () => {
    const r = chooseRootDevice([disks[0] as Disk], undefined);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/no root-device hint/);
    expect(chooseRootDevice([disks[0] as Disk], {}).ok).toBe(false);
  });

  it('requires all hints at once', () => {
    expect(chooseRootDevice(disks, { model: 'ST8000NM', rotational: false }).ok).toBe(false);
    const r = chooseRootDevice(disks, { model: 'ST8000NM', rotational: true, serial: 'Z1' });
    expect(r.ok && r.disk.name).toBe('sdc');
  });
});
