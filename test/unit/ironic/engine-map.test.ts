import { describe, expect, it } from 'vitest';
import { ironicRootDevice, kseedStateOf } from '../../../src/engine/ironic-map.js';

describe('Ironic states in kseed\'s words', () => {
  it('maps every stable and busy Ironic state', () => {
    expect(kseedStateOf('enroll')).toBe('enroll');
    expect(kseedStateOf('verifying')).toBe('enroll');
    expect(kseedStateOf('manageable')).toBe('manageable');
    expect(kseedStateOf('clean failed')).toBe('manageable');
    expect(kseedStateOf('inspect wait')).toBe('inspecting');
    expect(kseedStateOf('inspect failed')).toBe('inspect failed');
    expect(kseedStateOf('available')).toBe('available');
    expect(kseedStateOf(null)).toBe('available');
    expect(kseedStateOf('wait call-back')).toBe('deploying');
    expect(kseedStateOf('active')).toBe('active');
    expect(kseedStateOf('deleting')).toBe('deleting');
    expect(kseedStateOf('deploy failed')).toBe('deploy failed');
    expect(kseedStateOf('error')).toBe('deploy failed');
  });
});

describe('root device hints for Ironic', () => {
  it('keeps the hint keys ironic-lib accepts, size in GiB', () => {
    expect(ironicRootDevice({ name: '/dev/vda', serial: 'S1', rotational: false, size_gb: 100 })).toEqual({
      hint: { name: '/dev/vda', serial: 'S1', rotational: false, size: 100 },
      partial: false,
    });
    expect(ironicRootDevice(undefined)).toBeUndefined();
  });
  it('turns bounds into specs_matcher operators; a range loses its upper bound and says so', () => {
    expect(ironicRootDevice({ size_gb: { min: 50 } })).toEqual({ hint: { size: '>= 50' }, partial: false });
    expect(ironicRootDevice({ size_gb: { max: 900 } })).toEqual({ hint: { size: '<= 900' }, partial: false });
    expect(ironicRootDevice({ size_gb: { min: 50, max: 900 } })).toEqual({ hint: { size: '>= 50' }, partial: true });
  });
});
