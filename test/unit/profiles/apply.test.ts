import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bmcTarget } from '../../../src/engine/bmc-target.js';
import { bootModeOf, effectiveBmc, rootDeviceOf } from '../../../src/profiles/apply.js';
import { loadProfiles } from '../../../src/profiles/load.js';
import type { HardwareProfile } from '../../../src/profiles/schema.js';
import type { NodeSpec } from '../../../src/site/types.js';

const dir = mkdtempSync(path.join(tmpdir(), 'kseed-apply-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let byName: Map<string, HardwareProfile>;
beforeAll(async () => {
  byName = new Map((await loadProfiles()).map((p) => [p.name, p]));
});

const node = (bmc: Partial<NodeSpec['bmc']>, extra: Partial<NodeSpec> = {}): NodeSpec => ({
  name: 'n1',
  bmc: { type: 'ipmi', address: '127.0.0.1', port: 17001, username: 'admin', password: { env: 'KSEED_APPLY_PW' }, ...bmc },
  macs: ['52:54:00:00:00:01'],
  roles: [],
  ...extra,
});

describe('profile defaults under site settings', () => {
  it('fills BMC settings the site file leaves unset, and only those', () => {
    const q = byName.get('qemu-lab')!;
    expect(effectiveBmc(node({}), q)).toMatchObject({ cipher_suite: 3, timeout_ms: 5000, retries: 2, privilege: 'administrator' });
    expect(effectiveBmc(node({ cipher_suite: 17, retries: 0 }), q)).toMatchObject({ cipher_suite: 17, timeout_ms: 5000, retries: 0 });
    const dell = byName.get('dell-poweredge')!;
    const rf = effectiveBmc(node({ type: 'redfish', port: 443 }), dell);
    expect(rf).toMatchObject({ insecure_tls: true, timeout_ms: 20000 });
    expect(rf.cipher_suite).toBeUndefined(); // IPMI-only setting stays off a Redfish BMC
    expect(effectiveBmc(node({}))).toEqual(node({}).bmc);
  });

  it('builds a BMC target with the secrets resolved', async () => {
    process.env.KSEED_APPLY_PW = 'pw';
    try {
      const t = await bmcTarget(node({ kg: { value: '0x0102ff' } }), { dir }, byName.get('qemu-lab'));
      expect(t).toEqual({
        protocol: 'ipmi',
        address: '127.0.0.1',
        port: 17001,
        username: 'admin',
        password: 'pw',
        timeoutMs: 5000,
        retries: 2,
        privilege: 'administrator',
        cipherSuite: 3,
        kg: Buffer.from([1, 2, 255]),
      });
    } finally {
      delete process.env.KSEED_APPLY_PW;
    }
  });

  it('refuses a Kg that is not hex, without echoing it', async () => {
    process.env.KSEED_APPLY_PW = 'pw';
    try {
      const err = await bmcTarget(node({ kg: { value: 'not-hex-s3cret' } }), { dir }).catch((e: unknown) => e as Error);
      expect((err as Error).message).toBe('node n1: the BMC key kg must be 1 to 20 bytes of hexadecimal digits');
    } finally {
      delete process.env.KSEED_APPLY_PW;
    }
  });

  it('boot mode and root device: site file first, then the profile', () => {
    const q = byName.get('qemu-lab')!;
    expect(bootModeOf(node({}), q)).toBe('bios');
    expect(bootModeOf(node({}, { boot_mode: 'uefi' }), q)).toBe('uefi');
    expect(bootModeOf(node({}))).toBe('uefi');
    expect(rootDeviceOf(node({}), q)).toEqual({ name: '/dev/vda' });
    expect(rootDeviceOf(node({}, { root_device: { serial: 'X' } }), q)).toEqual({ serial: 'X' });
    expect(rootDeviceOf(node({}), byName.get('hpe-proliant'))).toEqual({ rotational: false, size_gb: { max: 512 } });
    expect(rootDeviceOf(node({}))).toBeUndefined();
  });
});
