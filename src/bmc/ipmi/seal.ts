/**
 * In-session packets of an active RMCP+ session, any payload type (IPMI
 * messages, SOL): sealing (AES-CBC-128 confidentiality, 13.29, and the
 * integrity AuthCode, 13.28.4) and opening (AuthCode check, the 16-packet
 * replay window of 6.12.13, decryption). Both directions number every
 * payload type from one session sequence counter (13.8), so IPMI requests
 * and SOL packets share one seal. Pure: no sockets.
 */
import { decodeV20, DecodeError, encodeRmcp, encodeV20Raw, integrityPad, isV20, RmcpClass } from './codec.js';
import { decryptPayload, encryptPayload, equalCode, packetAuthCode, type CipherSuite, type SessionKeys } from './crypto.js';

export class SessionSeal {
  private outSeq = 0;
  private inMax = 0;
  private readonly inSeen = new Set<number>();

  constructor(
    private readonly suite: CipherSuite,
    private readonly keys: SessionKeys,
    /** The BMC's session id: what our packets carry. */
    readonly bmcSessionId: number,
    /** Ours: what the BMC's packets carry. */
    readonly consoleSessionId: number,
  ) {}

  /** A whole datagram (RMCP header included) carrying `data` as `payloadType`, encrypted and signed. */
  seal(payloadType: number, data: Buffer): Buffer {
    this.outSeq = (this.outSeq + 1) >>> 0 || 1;
    const head = encodeV20Raw(
      { payloadType, encrypted: true, authenticated: true, sessionId: this.bmcSessionId, sequence: this.outSeq },
      encryptPayload(this.keys.aesKey, data),
    );
    const signed = Buffer.concat([head, integrityPad(head.length)]);
    return Buffer.concat([encodeRmcp(RmcpClass.IPMI), signed, packetAuthCode(this.suite, this.keys.k1, signed)]);
  }

  /**
   * The clear payload of an in-session packet of `payloadType`, or undefined
   * when it is another type, another session's, or a replay. A packet that
   * claims our session but fails the AuthCode, or comes unencrypted, throws.
   */
  open(body: Buffer, payloadType: number): Buffer | undefined {
    if (!isV20(body)) return undefined;
    // type first: a packet of another type must not spend its sequence number in this window
    if ((body[1]! & 0x3f) !== payloadType) return undefined;
    const p = decodeV20(body, (body[1]! & 0x40) !== 0 ? this.suite.icvLen : 0);
    if (p.sessionId !== this.consoleSessionId) return undefined;
    // every in-session packet must carry a valid AuthCode: an unsigned one could be forged
    if (!p.authenticated) return undefined;
    if (!equalCode(packetAuthCode(this.suite, this.keys.k1, p.signed), p.authCode)) {
      throw new DecodeError('in-session packet with an invalid AuthCode');
    }
    // replay protection (6.12.13): a sequence number seen before, or older than the
    // 16-packet window behind the highest one, is dropped even though it is signed
    if (p.sequence === 0 || this.inSeen.has(p.sequence) || p.sequence + 16 <= this.inMax) return undefined;
    this.inSeen.add(p.sequence);
    if (p.sequence > this.inMax) this.inMax = p.sequence;
    if (this.inSeen.size > 32) for (const x of this.inSeen) if (x + 16 <= this.inMax) this.inSeen.delete(x);
    // suites 3 and 17 encrypt: a cleartext packet means a BMC (or someone) broke the contract
    if (!p.encrypted) throw new DecodeError('in-session packet is not encrypted');
    return decryptPayload(this.keys.aesKey, p.payload);
  }
}
