/**
 * RMCP+ cryptography, IPMI v2.0 section 13.28-13.31 (RAKP-HMAC-SHA1 and
 * RAKP-HMAC-SHA256 authentication, HMAC-SHA1-96 / HMAC-SHA256-128
 * integrity, AES-CBC-128 confidentiality). Pure functions over node:crypto.
 *
 * Naming follows the spec: "m" = remote console (us), "c" = managed system
 * (the BMC). SIDm/SIDc session ids, Rm/Rc random numbers, GUIDc the BMC GUID,
 * ROLEm the RAKP1 role byte, UNAMEm the user name.
 */
import { createCipheriv, createDecipheriv, createHmac, randomFillSync, timingSafeEqual } from 'node:crypto';
import { AuthAlg, ConfAlg, DecodeError, IntegrityAlg, type Algorithms } from './codec.js';

export type HashName = 'sha1' | 'sha256';

export interface CipherSuite {
  id: 3 | 17;
  algorithms: Algorithms;
  hash: HashName;
  /** RAKP2/RAKP3 AuthCode length = full HMAC. */
  rakpLen: number;
  /** RAKP4 ICV and per-packet AuthCode length (truncated HMAC). */
  icvLen: number;
}

/** Table 22-20: the two suites kseed speaks. Never 0 (no auth) or anything without integrity. */
export const CIPHER_SUITES: Readonly<Record<3 | 17, CipherSuite>> = {
  3: {
    id: 3,
    algorithms: { auth: AuthAlg.HmacSha1, integrity: IntegrityAlg.HmacSha1_96, confidentiality: ConfAlg.AesCbc128 },
    hash: 'sha1',
    rakpLen: 20,
    icvLen: 12,
  },
  17: {
    id: 17,
    algorithms: { auth: AuthAlg.HmacSha256, integrity: IntegrityAlg.HmacSha256_128, confidentiality: ConfAlg.AesCbc128 },
    hash: 'sha256',
    rakpLen: 32,
    icvLen: 16,
  },
};

const pool = Buffer.alloc(8192);
let poolAt = pool.length;

/**
 * Cryptographically random bytes from a pooled buffer: a fleet run needs an
 * IV per packet and one syscall per 16 bytes showed up in profiles.
 */
export function random(n: number): Buffer {
  if (n > pool.length) throw new RangeError('random: too many bytes at once');
  if (poolAt + n > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const out = Buffer.from(pool.subarray(poolAt, poolAt + n));
  poolAt += n;
  return out;
}

/** Strongest first: tried in this order when the BMC does not list its suites. */
export const SUITE_PREFERENCE: readonly (3 | 17)[] = [17, 3];

/** Kuid: the user password, zero-padded to 20 bytes (13.31, 22.30 "20-byte password"). */
export function userKey(password: string): Buffer {
  const p = Buffer.from(password, 'utf8');
  if (p.length > 20) throw new RangeError('IPMI v2.0 passwords are at most 20 bytes');
  const k = Buffer.alloc(20);
  p.copy(k);
  return k;
}

function hmac(hash: HashName, key: Buffer, ...parts: Buffer[]): Buffer {
  const h = createHmac(hash, key);
  for (const p of parts) h.update(p);
  return h.digest();
}

function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

export interface RakpInputs {
  /** SIDm: our (remote console) session id. */
  consoleSessionId: number;
  /** SIDc: the BMC's (managed system) session id. */
  bmcSessionId: number;
  /** Rm */
  consoleRandom: Buffer;
  /** Rc */
  bmcRandom: Buffer;
  /** GUIDc */
  bmcGuid: Buffer;
  /** ROLEm: the whole RAKP1 role byte. */
  role: number;
  username: Buffer;
}

function nameBytes(username: Buffer): Buffer {
  return Buffer.concat([Buffer.from([username.length]), username]);
}

/** RAKP2 Key Exchange Authentication Code (13.31): HMAC_Kuid(SIDm, SIDc, Rm, Rc, GUIDc, ROLEm, ULENGTHm, UNAMEm). */
export function rakp2AuthCode(hash: HashName, kuid: Buffer, r: RakpInputs): Buffer {
  return hmac(
    hash,
    kuid,
    u32le(r.consoleSessionId),
    u32le(r.bmcSessionId),
    r.consoleRandom,
    r.bmcRandom,
    r.bmcGuid,
    Buffer.from([r.role]),
    nameBytes(r.username),
  );
}

/** RAKP3 Key Exchange Authentication Code: HMAC_Kuid(Rc, SIDm, ROLEm, ULENGTHm, UNAMEm). */
export function rakp3AuthCode(hash: HashName, kuid: Buffer, r: RakpInputs): Buffer {
  return hmac(hash, kuid, r.bmcRandom, u32le(r.consoleSessionId), Buffer.from([r.role]), nameBytes(r.username));
}

/**
 * Session Integrity Key (13.31): SIK = HMAC_KG(Rm, Rc, ROLEm, ULENGTHm, UNAMEm),
 * where KG is the BMC key Kg when one is configured, else Kuid ("one-key logins").
 */
export function sessionIntegrityKey(hash: HashName, kuid: Buffer, kg: Buffer | undefined, r: RakpInputs): Buffer {
  const key = kg && kg.some((x) => x !== 0) ? kg : kuid;
  return hmac(hash, key, r.consoleRandom, r.bmcRandom, Buffer.from([r.role]), nameBytes(r.username));
}

/** RAKP4 Integrity Check Value: HMAC_SIK(Rm, SIDc, GUIDc), truncated to the integrity algorithm's length. */
export function rakp4Icv(suite: CipherSuite, sik: Buffer, r: RakpInputs): Buffer {
  return hmac(suite.hash, sik, r.consoleRandom, u32le(r.bmcSessionId), r.bmcGuid).subarray(0, suite.icvLen);
}

/**
 * Additional keys (13.32): Kn = HMAC_SIK(constant n), the constant being n
 * repeated over the HMAC's output length (20 bytes for SHA1, 32 for SHA256).
 * K1 keys integrity, the first 16 bytes of K2 key AES-CBC-128.
 */
export function deriveKey(hash: HashName, sik: Buffer, n: number): Buffer {
  const len = hash === 'sha1' ? 20 : 32;
  return hmac(hash, sik, Buffer.alloc(len, n));
}

export interface SessionKeys {
  sik: Buffer;
  k1: Buffer;
  k2: Buffer;
  aesKey: Buffer;
}

export function sessionKeys(suite: CipherSuite, kuid: Buffer, kg: Buffer | undefined, r: RakpInputs): SessionKeys {
  const sik = sessionIntegrityKey(suite.hash, kuid, kg, r);
  const k1 = deriveKey(suite.hash, sik, 1);
  const k2 = deriveKey(suite.hash, sik, 2);
  return { sik, k1, k2, aesKey: k2.subarray(0, 16) };
}

/** Per-packet AuthCode over auth type .. next header (13.28.4), keyed with K1. */
export function packetAuthCode(suite: CipherSuite, k1: Buffer, signed: Buffer): Buffer {
  return hmac(suite.hash, k1, signed).subarray(0, suite.icvLen);
}

export function equalCode(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * AES-CBC-128 payload (13.29): IV(16) | E(data | pad 1,2,..,N | N), N chosen
 * so the plaintext is a multiple of 16. The IV is random per packet.
 */
export function encryptPayload(aesKey: Buffer, data: Buffer, iv: Buffer = random(16)): Buffer {
  const padLen = (16 - ((data.length + 1) % 16)) % 16;
  const pad = Buffer.alloc(padLen + 1);
  for (let i = 0; i < padLen; i++) pad[i] = i + 1;
  pad[padLen] = padLen;
  const c = createCipheriv('aes-128-cbc', aesKey, iv);
  c.setAutoPadding(false);
  return Buffer.concat([iv, c.update(Buffer.concat([data, pad])), c.final()]);
}

export function decryptPayload(aesKey: Buffer, payload: Buffer): Buffer {
  if (payload.length < 32 || payload.length % 16 !== 0) {
    throw new DecodeError(`encrypted payload length ${payload.length} is not IV + n*16`);
  }
  const d = createDecipheriv('aes-128-cbc', aesKey, payload.subarray(0, 16));
  d.setAutoPadding(false);
  const plain = Buffer.concat([d.update(payload.subarray(16)), d.final()]);
  const padLen = plain[plain.length - 1]!;
  if (padLen > 15) throw new DecodeError(`confidentiality pad length ${padLen} > 15`);
  for (let i = 0; i < padLen; i++) {
    if (plain[plain.length - 1 - padLen + i] !== i + 1) throw new DecodeError('confidentiality pad bytes are not 1..N');
  }
  return plain.subarray(0, plain.length - 1 - padLen);
}
