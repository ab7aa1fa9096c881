/**
 * kseed's native RMCP+ client against OpenIPMI ipmi_sim, cross-checked with
 * ipmitool against the same BMC. Ports 16200-16209 on 127.0.0.1.
 */
import { rmSync } from 'node:fs';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needPeers } from '../../../helpers/peers.js';
import { BmcError } from '../../../../src/bmc/errors.js';
import { IpmiBmc } from '../../../../src/bmc/ipmi/client.js';
import { IpmiSession } from '../../../../src/bmc/ipmi/session.js';
import type { BmcTarget } from '../../../../src/bmc/types.js';
import { answersWith, blackHole, field, garbage, ipmitool, startBmc, tempRoot, writeBmc, type SimBmc } from './helpers.js';

const ok = needPeers('ipmi_sim', 'ipmitool');
const PASSWORD = 'password';

describe.skipIf(!ok)('IPMI client against ipmi_sim', () => {
  let root: string;
  let a: SimBmc;
  const target = (over: Partial<BmcTarget> = {}): BmcTarget => ({
    protocol: 'ipmi',
    address: a.address,
    port: a.port,
    username: 'admin',
    password: PASSWORD,
    cipherSuite: 3,
    timeoutMs: 5000,
    ...over,
  });

  beforeAll(async () => {
    root = tempRoot('kseed-ipmi-it-');
    a = (await startBmc(
      writeBmc(root, { name: 'ita', port: 16200, mac: '52:54:00:12:34:56', ip: '192.0.2.77', serial: 'SN-ITA-1', product: 'KSLab Virtual Server' }),
    )) as SimBmc;
  });
  afterAll(async () => {
    await a?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('negotiates suite 3 when the BMC does not list its suites (17 refused, then 3)', async () => {
    const b = new IpmiBmc(target({ cipherSuite: undefined }));
    try {
      await b.connect();
      expect(b.cipherSuite).toBe(3);
      expect(await b.powerStatus()).toMatch(/^(on|off)$/);
    } finally {
      await b.close();
    }
  });

  it('a pinned suite 17 fails as "cipher", naming the suite', async () => {
    const b = new IpmiBmc(target({ cipherSuite: 17 }));
    const err = (await b.connect().catch((e: unknown) => e)) as BmcError;
    expect(err).toBeInstanceOf(BmcError);
    expect(err.kind).toBe('cipher');
    expect(err.message).toMatch(/cipher suite 17 not offered \(invalid authentication algorithm\)/);
    await b.close();
  });

  it('Get Device ID matches ipmitool mc info', async () => {
    const b = new IpmiBmc(target());
    const d = await b.deviceId();
    await b.close();
    const t = await ipmitool(a, 'mc', 'info');
    expect(String(d.manufacturerId)).toBe(field(t, 'Manufacturer ID'));
    expect(field(t, 'Product ID')).toContain(`(0x${d.productId.toString(16).padStart(4, '0')})`);
    expect(d.firmware).toBe(field(t, 'Firmware Revision'));
    expect(d.ipmiVersion).toBe(field(t, 'IPMI Version'));
    expect(String(d.deviceId)).toBe(field(t, 'Device ID'));
  });

  it('System GUID matches ipmitool mc guid in SMBIOS byte order (what the host itself reports)', async () => {
    const b = new IpmiBmc(target());
    const g = await b.systemGuid();
    // identity takes the GUID from the authenticated RAKP 2 (13.21) instead of asking: the same value
    const fromHandshake = (await b.identity()).guid;
    await b.close();
    expect(fromHandshake).toBe(g);
    // plain `mc guid` guesses the encoding per GUID; kseed always uses the SMBIOS order
    expect(g).toBe(field(await ipmitool(a, 'mc', 'guid', 'smbios'), 'System GUID'));
    // and the raw bytes are those of the lan.conf `guid` line
    expect(field(await ipmitool(a, 'mc', 'guid', 'dump'), 'System GUID')!.toLowerCase()).toBe(a.guid);
  });

  it('chassis control on/off/cycle/reset/soft, cross-checked with ipmitool and the BMC state', async () => {
    const b = new IpmiBmc(target());
    try {
      await b.power('on');
      expect(await b.powerStatus()).toBe('on');
      expect(a.power()).toBe('1');
      expect(await ipmitool(a, 'chassis', 'power', 'status')).toMatch(/Chassis Power is on/);
      await b.power('off');
      expect(await b.powerStatus()).toBe('off');
      expect(await ipmitool(a, 'chassis', 'power', 'status')).toMatch(/Chassis Power is off/);
      await ipmitool(a, 'chassis', 'power', 'on');
      expect(await b.powerStatus()).toBe('on');
      // ipmi_sim: cycle = off now, on again 1 s later
      await b.power('cycle');
      expect(await b.powerStatus()).toBe('off');
      await new Promise((r) => setTimeout(r, 1500));
      expect(await b.powerStatus()).toBe('on');
      await b.power('reset');
      await b.power('soft');
      expect(await b.powerStatus()).toBe('off');
      const { readFileSync } = await import('node:fs');
      const log = readFileSync(`${a.dir}/chassis.log`, 'utf8');
      // the chassis_control program saw exactly what kseed asked for
      expect(log).toMatch(/set reset 1/);
      expect(log).toMatch(/set shutdown 1/);
    } finally {
      await b.close();
    }
  });

  it('boot device: kseed sets, ipmitool reads; ipmitool sets, kseed reads', async () => {
    const b = new IpmiBmc(target());
    try {
      await b.setBootDevice({ device: 'pxe', uefi: true, persistent: true });
      expect(a.bootFile()).toBe('pxe');
      expect(await ipmitool(a, 'chassis', 'bootparam', 'get', '5')).toMatch(/Boot Device Selector : Force PXE/);
      await b.setBootDevice({ device: 'disk' });
      expect(await ipmitool(a, 'chassis', 'bootparam', 'get', '5')).toMatch(/Force Boot from default Hard-Drive/);
      expect((await b.getBootDevice()).device).toBe('disk');
      await ipmitool(a, 'chassis', 'bootdev', 'bios');
      expect((await b.getBootDevice()).device).toBe('bios');
      // ipmi_sim keeps only the device selector: it drops the valid, UEFI and persistent bits
      const f = await b.bootFlags();
      expect(f).toMatchObject({ device: 'bios', valid: false });
    } finally {
      await b.close();
    }
  });

  it('identity: FRU and LAN parameters match ipmitool fru print / lan print', async () => {
    const b = new IpmiBmc(target());
    const id = await b.identity();
    await b.close();
    const fru = await ipmitool(a, 'fru', 'print', '0');
    expect(id.serial).toBe(field(fru, 'Product Serial'));
    expect(id.model).toBe(field(fru, 'Product Name'));
    expect(id.manufacturer).toBe(field(fru, 'Product Manufacturer'));
    expect(id.boardProduct).toBe(field(fru, 'Board Product'));
    expect(id.serial).toBe('SN-ITA-1');
    const lan = await ipmitool(a, 'lan', 'print', '1');
    expect(id.bmcMac).toBe(field(lan, 'MAC Address'));
    expect(id.bmcIp).toBe(field(lan, 'IP Address'));
    expect(id.bmcMac).toBe('52:54:00:12:34:56');
    expect(id).toMatchObject({ protocol: 'ipmi', manufacturerId: 4753, productId: 0x0f02 });
  });

  it('wrong password: "auth" error, fast, and the password appears nowhere', async () => {
    const secret = 'Sup3rS3cretPw';
    const b = new IpmiBmc(target({ password: secret }));
    const t0 = Date.now();
    const err = (await b.powerStatus().catch((e: unknown) => e)) as BmcError;
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(err.kind).toBe('auth');
    expect(err.message).toBe(`127.0.0.1:16200: wrong password (RAKP 2 HMAC is invalid)`);
    const everything = `${err.message} ${err.detail ?? ''} ${JSON.stringify(err.toJSON())} ${err.stack} ${JSON.stringify(b)} ${inspect(b, { depth: 5, showHidden: true })} ${inspect(err, { depth: 5 })}`;
    expect(everything).not.toContain(secret);
    await b.close();
  });

  it('unknown user: "auth" error with the RAKP status in words', async () => {
    const b = new IpmiBmc(target({ username: 'nobody' }));
    const err = (await b.powerStatus().catch((e: unknown) => e)) as BmcError;
    expect(err.kind).toBe('auth');
    expect(err.message).toMatch(/wrong user name \(BMC: unauthorized name\)/);
    await b.close();
  });

  it('a User-level session is refused chassis control: "privilege" error with the completion code name', async () => {
    const s = await IpmiSession.open({ address: a.address, port: a.port, username: 'admin', password: PASSWORD, cipherSuite: 3, privilege: 'user' });
    try {
      expect(s.privilege).toBe('user');
      const err = (await s.request(0x00, 0x02, Buffer.from([0x01])).catch((e: unknown) => e)) as BmcError;
      expect(err.kind).toBe('privilege');
      expect(err.message).toMatch(/Chassis Control: insufficient privilege level \(0xd4\)/);
      // read-only commands still work in that session
      expect((await s.request(0x00, 0x01)).completionCode).toBe(0);
    } finally {
      await s.close();
    }
  });

  it('an operator can control power; the session raises itself to operator only when needed', async () => {
    const s = await IpmiSession.open({ address: a.address, port: a.port, username: 'operator', password: 'oppass', cipherSuite: 3, privilege: 'operator' });
    try {
      await s.request(0x00, 0x01);
      expect(s.privilege).toBe('user');
      await s.request(0x00, 0x02, Buffer.from([0x01]));
      expect(s.privilege).toBe('operator');
      expect(a.power()).toBe('1');
    } finally {
      await s.close();
    }
  });

  it('an unknown completion code is a "completion" error with its name', async () => {
    const s = await IpmiSession.open({ address: a.address, port: a.port, username: 'admin', password: PASSWORD, cipherSuite: 3 });
    try {
      // Get System Boot Options for parameter 0x7f (not supported / out of range)
      const err = (await s.request(0x00, 0x09, Buffer.from([0x7f, 0, 0])).catch((e: unknown) => e)) as BmcError;
      expect(err).toBeInstanceOf(BmcError);
      expect(err.kind).toBe('completion');
      expect(err.message).toMatch(/Get System Boot Options: .+ \(0x[0-9a-f]{2}\)/);
    } finally {
      await s.close();
    }
  });

  it('a BMC that never answers is a "timeout" within the budget', async () => {
    const hole = await blackHole('127.0.0.1', 16205);
    try {
      const b = new IpmiBmc({ ...target(), port: 16205, timeoutMs: 1500 });
      const t0 = Date.now();
      const err = (await b.powerStatus().catch((e: unknown) => e)) as BmcError;
      const took = Date.now() - t0;
      expect(err.kind).toBe('timeout');
      expect(err.message).toMatch(/^127\.0\.0\.1:16205: no answer to RMCP\+ Open Session Request after \d tries$/);
      expect(took).toBeGreaterThanOrEqual(1400);
      expect(took).toBeLessThan(3000);
      expect(hole.received()).toBeGreaterThanOrEqual(2);
      await b.close();
    } finally {
      hole.close();
    }
  });

  it('a BMC that answers garbage fails within the budget, without crashing', async () => {
    const stop = await garbage('127.0.0.1', 16206);
    try {
      const b = new IpmiBmc({ ...target({ cipherSuite: undefined }), port: 16206, timeoutMs: 1500 });
      const t0 = Date.now();
      const err = (await b.powerStatus().catch((e: unknown) => e)) as BmcError;
      expect(err).toBeInstanceOf(BmcError);
      // garbage is an answer, and is named as one: never "no answer"
      expect(err.kind).toBe('protocol');
      expect(err.message).toMatch(/^127\.0\.0\.1:16206: Get Channel Authentication Capabilities: the BMC answered \d+ bytes that are /);
      expect(Date.now() - t0).toBeLessThan(3000);
      await b.close();
    } finally {
      stop();
    }
  });

  it('a "BMC" that answers bytes that are not RMCP is named for what it sent, not reported silent', async () => {
    const stop = await answersWith('127.0.0.1', 16207, Buffer.from('HTTP/1.1 400', 'latin1'));
    try {
      const b = new IpmiBmc({ ...target(), port: 16207, timeoutMs: 1500 });
      const t0 = Date.now();
      const err = (await b.powerStatus().catch((e: unknown) => e)) as BmcError;
      expect(err).toBeInstanceOf(BmcError);
      expect(err.kind).toBe('protocol');
      expect(err.message).toBe(
        '127.0.0.1:16207: RMCP+ Open Session Request: the BMC answered 12 bytes that are not RMCP (first bytes 0x48 0x54 0x54 0x50 0x2f 0x31 0x2e 0x31 ...)',
      );
      expect(Date.now() - t0).toBeLessThan(3000);
      await b.close();
    } finally {
      stop();
    }
  });

  it('reuses one session for many calls and reopens after close', async () => {
    const b = new IpmiBmc(target());
    for (let i = 0; i < 5; i++) await b.powerStatus();
    await b.close();
    expect(await b.powerStatus()).toMatch(/^(on|off)$/);
    await b.close();
  });
});
