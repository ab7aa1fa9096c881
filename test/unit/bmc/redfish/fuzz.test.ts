/**
 * Seeded fuzzing of the Redfish JSON readers (model.ts, links.ts, the error
 * text reader of http.ts): 50,000 random JSON documents each, shaped like
 * Redfish resources (its property names, links, odd values). A reader
 * returns a value, or for links throws its own BadField; nothing else.
 * Valid values round-trip.
 */
import { describe, expect, it } from 'vitest';
import { Rand } from '../../../helpers/fuzz.js';
import * as model from '../../../../src/bmc/redfish/model.js';
import { BadField, linkAt, memberLinks, servicePath } from '../../../../src/bmc/redfish/links.js';
import { redfishErrorMessage } from '../../../../src/bmc/redfish/http.js';
import type { BootOptions } from '../../../../src/bmc/types.js';

const SEED = 20261206;
const CASES = 50_000;
const ORIGIN = 'https://10.0.0.5:443';

const KEYS = [
  '@odata.id', '@odata.type', 'Members', 'PowerState', 'Boot', 'BootSourceOverrideTarget', 'BootSourceOverrideEnabled', 'BootSourceOverrideMode',
  'BootSourceOverrideTarget@Redfish.AllowableValues', 'MACAddress', 'PermanentMACAddress', 'IPv4Addresses', 'Address', 'Parameters', 'Name',
  'AllowableValues', 'Links', 'ManagedBy', 'Actions', '#ComputerSystem.Reset', 'target', 'error', 'message', '@Message.ExtendedInfo', 'Message',
  'EthernetInterfaces', 'Systems', '__proto__', 'constructor', '',
];
const STRINGS = [
  '/redfish/v1/Systems/1', 'http://[bad', '//evil.example/x', 'https://10.0.0.5/redfish/v1/Managers/1', 'On', 'Off', 'PoweringOn', 'Pxe', 'Hdd', 'UEFI',
  'Once', 'Continuous', 'Disabled', 'ResetType', 'ForceOff', '52:54:00:12:34:56', '52-54-00-12-34-56', '5254.0012.3456', '000000000000', '10.0.0.9',
  '0.0.0.0', '', ' ', '\u0000', '%zz', 'javascript:alert(1)', 'x'.repeat(300),
];

function value(r: Rand, depth: number): unknown {
  switch (r.int(depth > 3 ? 5 : 8)) {
    case 0: return null;
    case 1: return r.int(2) === 1;
    case 2: return r.pick([0, -1, 1.5, 2 ** 53, Number.NaN, 42]);
    case 3:
    case 4: return r.int(4) === 0 ? r.bytes(r.int(12)).toString('latin1') : r.pick(STRINGS);
    case 5:
    case 6: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(6); i > 0; i--) Object.defineProperty(o, r.pick(KEYS), { value: value(r, depth + 1), enumerable: true, configurable: true, writable: true });
      return o;
    }
    default: return Array.from({ length: r.int(5) }, () => value(r, depth + 1));
  }
}

/** Runs `read` on CASES random documents; only `allowed` throws pass. Returns how many were read without a throw. */
function fuzzJson(seed: number, read: (v: unknown, r: Rand) => unknown, allowed: (err: unknown) => boolean = () => false): number {
  const r = new Rand(seed);
  let ok = 0;
  for (let i = 0; i < CASES; i++) {
    const v = value(r, 0);
    try {
      read(v, r);
      ok += 1;
    } catch (err) {
      if (!allowed(err)) throw new Error(`case ${i} (seed ${seed}) ${JSON.stringify(v)?.slice(0, 300)}: ${(err as Error)?.stack ?? String(err)}`);
    }
  }
  return ok;
}

const obj = (v: unknown) => (model.isObject(v) ? v : { Boot: v, Members: v, '@odata.id': v });
const bad = (err: unknown) => err instanceof BadField;

describe(`Redfish JSON readers, ${CASES} seeded documents each`, () => {
  const readers: [string, (v: unknown, r: Rand) => unknown, ((err: unknown) => boolean)?][] = [
    ['powerStateOf', (v) => model.powerStateOf(obj(v))],
    ['bootOptionsOf', (v) => model.bootOptionsOf(v)],
    ['checkBootAllowed', (v, r) => model.checkBootAllowed(obj(v), obj(value(r, 2)))],
    ['macOf, normalizeMac, ipv4Of', (v) => [model.macOf(obj(v)), model.normalizeMac(v), model.ipv4Of(obj(v))]],
    ['allowedFromActionInfo', (v) => model.allowedFromActionInfo(v)],
    ['members, odataId', (v) => [model.members(v), model.odataId(v)]],
    ['redfishErrorMessage', (v) => redfishErrorMessage(v)],
    ['linkAt', (v, r) => linkAt(v, r.pick([['@odata.id'], ['Links', 'ManagedBy', 0, '@odata.id'], ['Members', r.int(3), '@odata.id'], ['Actions', '#ComputerSystem.Reset', 'target']]), ORIGIN), bad],
    ['memberLinks', (v) => memberLinks(obj(v), ORIGIN), bad],
    ['servicePath', (v) => servicePath(v, 'Location header', ORIGIN), bad],
  ];
  for (const [name, read, allowed] of readers) {
    it(name, () => {
      expect(fuzzJson(SEED, read, allowed)).toBeGreaterThan(0);
    });
  }
});

describe('valid values round-trip (seeded)', () => {
  it('a boot request written as a PATCH reads back the same', () => {
    const r = new Rand(SEED + 1);
    for (let i = 0; i < 2000; i++) {
      const device = r.pick(['pxe', 'disk', 'bios', 'cdrom'] as const);
      const o: BootOptions = { device, persistent: r.int(2) === 1, ...(r.int(3) ? { uefi: r.int(2) === 1 } : {}) };
      expect(model.bootOptionsOf((model.bootPatch(o) as { Boot: unknown }).Boot)).toEqual(o);
    }
  });

  it('MACs in any of their spellings normalise to one; paths on this service resolve to themselves', () => {
    const r = new Rand(SEED + 2);
    for (let i = 0; i < 2000; i++) {
      const b = r.bytes(6);
      b[0] |= 0x02;
      const hex = b.toString('hex');
      const canon = hex.match(/../g)!.join(':');
      const spelled = r.pick([canon.toUpperCase(), hex.match(/../g)!.join('-'), hex.match(/..../g)!.join('.')]);
      expect(model.normalizeMac(spelled)).toBe(canon);
      const path = `/redfish/v1/${Array.from({ length: 1 + r.int(4) }, () => r.bytes(1 + r.int(6)).toString('hex')).join('/')}`;
      expect(servicePath(path, 'f', ORIGIN)).toBe(path);
      expect(linkAt({ Members: [{ '@odata.id': path }] }, ['Members', 0, '@odata.id'], ORIGIN)).toBe(path);
    }
  });
});
