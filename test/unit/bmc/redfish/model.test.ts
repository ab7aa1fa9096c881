/** Redfish mappings and error text, without sockets. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allowedFromActionInfo,
  bootOptionsOf,
  bootPatch,
  checkBootAllowed,
  macOf,
  members,
  normalizeMac,
  pickResetType,
  powerStateOf,
} from '../../../../src/bmc/redfish/model.js';
import { RedfishHttp, errorCode, redfishErrorMessage } from '../../../../src/bmc/redfish/http.js';
import type { BootDevice } from '../../../../src/bmc/types.js';

describe('Redfish model mappings', () => {
  it('maps PowerState, counting transitions as their destination', () => {
    expect(powerStateOf({ PowerState: 'On' })).toBe('on');
    expect(powerStateOf({ PowerState: 'PoweringOn' })).toBe('on');
    expect(powerStateOf({ PowerState: 'Off' })).toBe('off');
    expect(powerStateOf({ PowerState: 'PoweringOff' })).toBe('off');
    expect(powerStateOf({ PowerState: 'Unknown' })).toBeUndefined();
    expect(powerStateOf({})).toBeUndefined();
  });

  it('picks the ResetType from the allowable values', () => {
    expect(pickResetType('cycle', undefined)).toBe('PowerCycle');
    expect(pickResetType('cycle', ['On', 'ForceOff'])).toBeUndefined();
    expect(pickResetType('on', ['ForceOn', 'ForceOff'])).toBe('ForceOn');
    expect(pickResetType('on', ['PushPowerButton'])).toBe('PushPowerButton');
    expect(pickResetType('off', ['On', 'ForceOff'])).toBe('ForceOff');
    expect(pickResetType('soft', ['On', 'ForceOff'])).toBeUndefined();
    expect(pickResetType('reset', ['ForceRestart'])).toBe('ForceRestart');
  });

  it('builds Boot PATCH bodies', () => {
    expect(bootPatch({ device: 'pxe' })).toEqual({ Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' } });
    expect(bootPatch({ device: 'disk', uefi: false, persistent: true })).toEqual({
      Boot: { BootSourceOverrideTarget: 'Hdd', BootSourceOverrideEnabled: 'Continuous', BootSourceOverrideMode: 'Legacy' },
    });
    expect(bootPatch({ device: 'bios', uefi: true })).toEqual({
      Boot: { BootSourceOverrideTarget: 'BiosSetup', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'UEFI' },
    });
    expect(bootPatch({ device: 'none', persistent: true })).toEqual({ Boot: { BootSourceOverrideEnabled: 'Disabled' } });
  });

  it('reads back what it writes (property)', () => {
    const devices: BootDevice[] = ['pxe', 'disk', 'bios', 'cdrom'];
    fc.assert(
      fc.property(fc.constantFrom(...devices), fc.boolean(), fc.boolean(), (device, uefi, persistent) => {
        const boot = bootPatch({ device, uefi, persistent }).Boot;
        expect(bootOptionsOf(boot)).toEqual({ device, uefi, persistent });
      }),
    );
    expect(bootOptionsOf(undefined)).toEqual({ device: 'none' });
    expect(bootOptionsOf({ BootSourceOverrideEnabled: 'Disabled', BootSourceOverrideTarget: 'Pxe' }).device).toBe('none');
    expect(bootOptionsOf({ BootSourceOverrideEnabled: 'Once', BootSourceOverrideTarget: 'Usb' }).device).toBe('none');
  });

  it('checks Boot values against @Redfish.AllowableValues where listed', () => {
    const boot = {
      'BootSourceOverrideTarget@Redfish.AllowableValues': ['Pxe', 'Hdd'],
      'BootSourceOverrideMode@Redfish.AllowableValues': ['UEFI'],
    };
    expect(checkBootAllowed(boot, { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' })).toEqual([]);
    expect(checkBootAllowed(boot, { BootSourceOverrideTarget: 'Cd', BootSourceOverrideMode: 'Legacy' })).toEqual([
      'BootSourceOverrideTarget=Cd is not supported by this BMC (allowed: Pxe, Hdd)',
      'BootSourceOverrideMode=Legacy is not supported by this BMC (allowed: UEFI)',
    ]);
  });

  it('normalizes MAC addresses and rejects non-MACs', () => {
    expect(normalizeMac('52-54-00-A1-00-02')).toBe('52:54:00:a1:00:02');
    expect(normalizeMac('5254.00a1.0002')).toBe('52:54:00:a1:00:02');
    expect(normalizeMac('00:00:00:00:00:00')).toBeUndefined();
    expect(normalizeMac('52:54:00:a1:00')).toBeUndefined();
    expect(normalizeMac(42)).toBeUndefined();
    expect(macOf({ MACAddress: '', PermanentMACAddress: 'AA:BB:CC:DD:EE:FF' })).toBe('aa:bb:cc:dd:ee:ff');
  });

  it('reads collections and ActionInfo defensively', () => {
    expect(members({ Members: [{ '@odata.id': '/redfish/v1/Systems/1' }, { bogus: 1 }, 'x'] })).toEqual(['/redfish/v1/Systems/1']);
    expect(members({ Members: 'nope' })).toBeUndefined();
    expect(allowedFromActionInfo({ Parameters: [{ Name: 'ResetType', AllowableValues: ['On', 3, 'ForceOff'] }] })).toEqual(['On', 'ForceOff']);
    expect(allowedFromActionInfo({ Parameters: [{ Name: 'Other', AllowableValues: ['x'] }] })).toBeUndefined();
    expect(allowedFromActionInfo('junk')).toBeUndefined();
  });
});

describe('Redfish error text', () => {
  it('joins error.message and @Message.ExtendedInfo messages (DSP0266 error responses)', () => {
    const body = {
      error: {
        code: 'Base.1.15.GeneralError',
        message: 'A general error has occurred. See ExtendedInfo for more information.',
        '@Message.ExtendedInfo': [
          { MessageId: 'Base.1.15.PropertyValueNotInList', Message: 'The value "Cd" for the property BootSourceOverrideTarget is not in the list of acceptable values.' },
        ],
      },
    };
    expect(redfishErrorMessage(body)).toBe(
      'A general error has occurred. See ExtendedInfo for more information.; The value "Cd" for the property BootSourceOverrideTarget is not in the list of acceptable values.',
    );
    expect(redfishErrorMessage('<html>502</html>')).toBe('<html>502</html>');
    expect(redfishErrorMessage(null)).toBeUndefined();
    expect(redfishErrorMessage({ error: 'x' })).toBeUndefined();
  });

  it('never crashes on arbitrary error bodies (property)', () => {
    fc.assert(
      fc.property(fc.anything(), (body) => {
        const m = redfishErrorMessage(body);
        expect(m === undefined || typeof m === 'string').toBe(true);
      }),
    );
  });

  it('finds the socket error code along the cause chain', () => {
    const inner = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    const outer = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET', cause: inner });
    expect(errorCode(outer)).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(errorCode(new Error('plain'))).toBeUndefined();
  });

  it('scrubs the password and the Basic token from error text', async () => {
    const basic = Buffer.from('admin:s3cret').toString('base64');
    const http = new RedfishHttp({
      origin: 'https://127.0.0.1:1',
      label: '127.0.0.1:1',
      insecureTls: false,
      requestTimeoutMs: 1000,
      retries: 0,
      secrets: ['s3cret', basic],
    });
    const err = http.fail('auth', 'login as admin with s3cret refused', `Authorization: Basic ${basic}`);
    expect(err.message).toBe('127.0.0.1:1: login as admin with *** refused');
    expect(err.detail).toBe('Authorization: Basic ***');
    expect(err.kind).toBe('auth');
    await http.close();
  });
});

describe('connectBmc', () => {
  it('rejects an unknown protocol before touching the network', async () => {
    const { connectBmc } = await import('../../../../src/bmc/index.js');
    await expect(
      connectBmc({ protocol: 'snmp' as never, address: '127.0.0.1', username: 'u', password: 'p' }),
    ).rejects.toThrow(/unknown BMC protocol snmp/);
  });
});
