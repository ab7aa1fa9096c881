import { describe, expect, it } from 'vitest';
import { loadOrder, moduleName, parseModulesDep } from '../../../src/images/modules.js';

// Lines as depmod writes them for the Debian cloud kernel (6.1), trimmed to what the tests need.
const DEP = `kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/net/core/failover.ko:
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/fs/fat/fat.ko:
kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko
kernel/drivers/net/ethernet/x-y.ko.xz: kernel/drivers/virtio/virtio.ko
`;
const BUILTIN = 'kernel/drivers/nvme/host/nvme.ko\nkernel/drivers/nvme/host/nvme-core.ko\n';

describe('modules.dep resolution', () => {
  const idx = parseModulesDep(DEP, BUILTIN);

  it('orders every dependency before its user, each module once', () => {
    const order = loadOrder(idx, ['virtio_pci', 'virtio_net', 'virtio_blk']);
    expect(new Set(order).size).toBe(order.length);
    expect(order).toEqual([
      'virtio_pci_legacy_dev',
      'virtio_pci_modern_dev',
      'virtio_ring',
      'virtio',
      'virtio_pci',
      'failover',
      'net_failover',
      'virtio_net',
      'virtio_blk',
    ]);
    for (const m of order) for (const d of idx.deps.get(m)!) expect(order.indexOf(d)).toBeLessThan(order.indexOf(m));
  });

  it('skips built-in modules and normalises dashes and compressed names', () => {
    expect(moduleName('kernel/drivers/net/ethernet/x-y.ko.xz')).toBe('x_y');
    expect(loadOrder(idx, ['nvme', 'nvme-core', 'x-y'])).toEqual(['virtio_ring', 'virtio', 'x_y']);
  });

  it('names the missing module and who needed it', () => {
    expect(() => loadOrder(idx, ['e1000e'])).toThrow('kernel module e1000e not found in modules.dep');
    const broken = parseModulesDep('a.ko: b.ko\n');
    expect(() => loadOrder(broken, ['a'])).toThrow('kernel module b not found in modules.dep (needed by a)');
  });

  it('detects a dependency cycle instead of looping', () => {
    const cyc = parseModulesDep('a.ko: b.ko\nb.ko: a.ko\n');
    expect(() => loadOrder(cyc, ['a'])).toThrow(/cycle: a -> b -> a/);
  });
});
