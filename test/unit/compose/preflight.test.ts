import type os from 'node:os';
import { describe, expect, it } from 'vitest';
import { checkSeedAddress } from '../../../src/compose/preflight.js';

type Interfaces = ReturnType<typeof os.networkInterfaces>;
const v4 = (address: string, prefix: number) => ({
  address,
  netmask: '255.255.255.0',
  family: 'IPv4' as const,
  mac: '52:54:00:00:00:01',
  internal: false,
  cidr: `${address}/${prefix}`,
});
const ifaces: Interfaces = { lo: [{ ...v4('127.0.0.1', 8), internal: true }], 'br-prov': [v4('10.77.0.1', 24)], eno1: [v4('192.0.2.5', 24)] };
const seed = { interface: 'br-prov', address: '10.77.0.1', prefix: 24 };

describe('checkSeedAddress', () => {
  it('passes when the interface holds the seed address', () => {
    expect(() => checkSeedAddress(seed, ifaces)).not.toThrow();
  });

  it('names the missing interface and lists the ones present', () => {
    expect(() => checkSeedAddress({ ...seed, interface: 'br-nope' }, ifaces)).toThrow('seed interface br-nope not found on this host');
    try {
      checkSeedAddress({ ...seed, interface: 'br-nope' }, ifaces);
    } catch (e) {
      expect((e as { detail: string }).detail).toBe('interfaces here: br-prov, eno1, lo');
    }
  });

  it('explains a seed interface that lives in a network namespace', () => {
    expect(() => checkSeedAddress({ ...seed, interface: 'kslabbr0', netns: 'kslab0' }, ifaces)).toThrow(/network namespace kslab0/);
  });

  it('gives the command that adds a missing address', () => {
    expect(() => checkSeedAddress({ ...seed, interface: 'eno1' }, ifaces)).toThrow(
      'seed address 10.77.0.1 is not on eno1 (add it: ip addr add 10.77.0.1/24 dev eno1)',
    );
  });
});
