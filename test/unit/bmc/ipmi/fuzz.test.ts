/**
 * Every decoder meets arbitrary and truncated bytes: it returns a value or
 * throws DecodeError, never anything else (no RangeError from a Buffer read,
 * no TypeError from a missing field). Fixed seeds: a failure replays. The
 * 50,000-case runs and the round trips are fuzz-seeded.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as codec from '../../../../src/bmc/ipmi/codec.js';
import * as cmds from '../../../../src/bmc/ipmi/commands.js';
import { decryptPayload } from '../../../../src/bmc/ipmi/crypto.js';
import { expandCidr } from '../../../../src/bmc/discover.js';

const key = Buffer.alloc(16, 5);

const decoders: Record<string, (b: Buffer) => unknown> = {
  decodeRmcp: codec.decodeRmcp,
  decodePresencePong: codec.decodePresencePong,
  decodeV15: codec.decodeV15,
  decodeV20_0: (b) => codec.decodeV20(b, 0),
  decodeV20_12: (b) => codec.decodeV20(b, 12),
  decodeV20_16: (b) => codec.decodeV20(b, 16),
  decodeIpmiResponse: codec.decodeIpmiResponse,
  decodeAuthCaps: codec.decodeAuthCaps,
  decodeCipherSuiteRecords: codec.decodeCipherSuiteRecords,
  decodeOpenSessionResponse: codec.decodeOpenSessionResponse,
  decodeRakp2: codec.decodeRakp2,
  decodeRakp4: codec.decodeRakp4,
  decodeDeviceId: cmds.decodeDeviceId,
  decodeGuid: cmds.decodeGuid,
  decodeChassisStatus: cmds.decodeChassisStatus,
  decodeBootFlags: cmds.decodeBootFlags,
  decodeLanIp: cmds.decodeLanIp,
  decodeLanMac: cmds.decodeLanMac,
  decodeFruInfo: cmds.decodeFruInfo,
  decodeFruRead: cmds.decodeFruRead,
  parseFru: cmds.parseFru,
  decryptPayload: (b) => decryptPayload(key, b),
};

function safe(fn: (b: Buffer) => unknown, b: Buffer): boolean {
  try {
    fn(b);
    return true;
  } catch (err) {
    if (err instanceof codec.DecodeError) return true;
    throw err;
  }
}

// valid packets to mutate and truncate, so fuzzing reaches past the first length check
const seeds = [
  '0600ff07061100000000000000002400780004000b22f9e002000000000000080100000001000008010000000200000801000000',
  '0600ff07061300000000000000003c00790000000b22f9e02813df76faf51c344f4dfdd682d0a6573d791e43c8d5561e36bd09bacc0975176d77985866725b8c52e5992c2bb2f397824d1fec',
  '0600ff0706c00b22f9e0010000003000714087e25a958cb5f78da960885978ff93d8287d95831742d0a35ddf640b87afa22a2b6104648c7df3a367eaf099bddaffff0207bdb58e83c9ffef79358c56bf',
  '0600ff0700000000000000000010811c63203838000184040300000000e4',
  '0600ff06000011be402a0010000011be0000000081000000000000000000',
  '01000101030000fa01030000000000c0c1000000000000000000000000003e',
].map((h) => Buffer.from(h.replace(/\s+/g, ''), 'hex'));

describe('decoders never crash', () => {
  for (const [name, fn] of Object.entries(decoders)) {
    it(`${name}: arbitrary bytes`, () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (a) => safe(fn, Buffer.from(a))), { numRuns: 400, seed: 20261206 });
    });
    it(`${name}: truncated and bit-flipped real packets`, () => {
      fc.assert(
        fc.property(fc.constantFrom(...seeds), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 }), (seed, cut, pos, x) => {
          const b = Buffer.from(seed.subarray(0, cut % (seed.length + 1)));
          if (b.length) b[pos % b.length] ^= x;
          // the body after the RMCP header too: that is what the session layer decodes
          return safe(fn, b) && safe(fn, b.subarray(4));
        }),
        { numRuns: 400, seed: 20261206 },
      );
    });
  }

  it('expandCidr only ever throws RangeError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 24 }), (s) => {
        try {
          expandCidr(s);
        } catch (err) {
          expect(err).toBeInstanceOf(RangeError);
        }
        return true;
      }),
      { seed: 20261206 },
    );
    expect(expandCidr('127.0.0.0/26')).toHaveLength(62);
    expect(expandCidr('10.1.2.3/32')).toEqual(['10.1.2.3']);
    expect(() => expandCidr('10.0.0.0/8')).toThrow(/larger than \/16/);
  });
});
