/**
 * RMCP+ session establishment with one cipher suite: Open Session Request/
 * Response and RAKP messages 1-4 (IPMI v2.0 sections 13.15-13.23).
 *
 * Each step consumes state at the BMC: Open Session allocates a session,
 * RAKP 1 fixes the BMC's random number, RAKP 3 activates the session. A
 * RAKP 3 repeated after the BMC activated the session gets no valid RAKP 4
 * (13.22; ipmi_sim answers it signed, as an in-session packet), and the
 * console cannot tell a lost request from a lost answer. So RAKP 3 and Open
 * Session are never resent: the whole handshake restarts from Open Session,
 * with a fresh console session ID and random, until it completes or the
 * operation's deadline passes. RAKP 1 is resent within its step, as ipmitool
 * does: ipmi_sim answers a repeated RAKP 1 with the same RAKP 2 (measured),
 * and a BMC that draws a new random for it still ends well, because once
 * RAKP 1 went out twice an error status in RAKP 2 or RAKP 4 may answer the
 * other copy and is not believed: that attempt is abandoned and restarted.
 * An abandoned half-open session is told to close (RAKP 3 with an error
 * status, 13.22) so restarts do not pile up sessions.
 */
import { randomInt } from 'node:crypto';
import {
  decodeOpenSessionResponse,
  decodeRakp2,
  decodeRakp4,
  decodeV20,
  encodeOpenSessionRequest,
  encodeRakp1,
  encodeRakp3,
  encodeRmcp,
  encodeV20Raw,
  isV20,
  PayloadType,
  RmcpClass,
  rmcppStatusName,
} from './codec.js';
import {
  equalCode,
  rakp2AuthCode,
  rakp3AuthCode,
  rakp4Icv,
  random,
  sessionKeys,
  type CipherSuite,
  type RakpInputs,
  type SessionKeys,
} from './crypto.js';
import { ExchangeFailure, type Exchanger } from './exchange.js';

/** Errors from Open Session/RAKP statuses that mean "try another suite". */
const SUITE_REJECTED = new Set([0x03, 0x04, 0x05, 0x06, 0x07, 0x10, 0x11]);
const PRIVILEGE_REFUSED = new Set([0x09, 0x0a, 0x0b]);
/** RAKP 3 status telling the BMC to drop the session (13.22). */
const ABANDON = 0x0f;
const OPEN = 'RMCP+ Open Session Request';
/** Sends of RAKP 1 before the attempt is given up: on a link losing half the round trips, 3 reach 7 in 8. */
const RAKP1_SENDS = 3;

export type HandshakeFailureKind = 'auth' | 'cipher' | 'privilege' | 'protocol' | 'timeout';

export class HandshakeFailure extends Error {
  constructor(
    readonly kind: HandshakeFailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'HandshakeFailure';
  }
}

export interface HandshakeInput {
  suite: CipherSuite;
  /** Requested maximum privilege (13.17), and the RAKP role's level. */
  privilege: number;
  username: Buffer;
  kuid: Buffer;
  kg?: Buffer;
  deadline: number;
}

export interface Established {
  consoleSessionId: number;
  bmcSessionId: number;
  keys: SessionKeys;
  /** Handshakes started, the successful one included. */
  attempts: number;
  /** The managed system's GUID from RAKP 2 (13.21: what Get System GUID returns), authenticated by its HMAC. */
  systemGuid: Buffer;
}

function setupPacket(payloadType: number, payload: Buffer): Buffer {
  return Buffer.concat([
    encodeRmcp(RmcpClass.IPMI),
    encodeV20Raw({ payloadType, encrypted: false, authenticated: false, sessionId: 0, sequence: 0 }, payload),
  ]);
}

function setupPayload(body: Buffer, payloadType: number): Buffer | undefined {
  // another step's answer (a late RAKP 4 to an abandoned attempt comes signed) is not decoded as this one's
  if (!isV20(body) || (body[1]! & 0x3f) !== payloadType) return undefined;
  const p = decodeV20(body, 0);
  if (p.payloadType !== payloadType || p.authenticated || p.encrypted) return undefined;
  return Buffer.from(p.payload);
}

/**
 * The answer of `payloadType` to the message sent with `tag` (13.20-13.23
 * echo it); any other is not this step's. While `doubtful()`, an answer with
 * an error status is not taken either: it may answer a resent copy.
 */
function tagged<T extends { tag: number; status: number }>(
  payloadType: number,
  decode: (payload: Buffer) => T,
  tag: number,
  doubtful: () => boolean = () => false,
): (body: Buffer) => T | undefined {
  return (body) => {
    const pl = setupPayload(body, payloadType);
    if (!pl) return undefined;
    const r = decode(pl);
    return r.tag === tag && (r.status === 0 || !doubtful()) ? r : undefined;
  };
}

/**
 * Restartable: a step that got no valid answer (silence, or only datagrams
 * that are not its answer). A refusal the BMC states is final instead.
 */
class Lost extends Error {
  constructor(
    readonly step: 'open' | 'rakp',
    readonly kind: 'timeout' | 'protocol',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Runs handshakes until one completes, a BMC refusal ends it, or the deadline
 * passes. `send` is for fire-and-forget packets (abandoning a session).
 */
export async function handshake(io: Exchanger, send: (pkt: Buffer) => void, h: HandshakeInput): Promise<Established> {
  const started = Date.now();
  const pace: Pace = {};
  const lost: Lost[] = [];
  while (Date.now() < h.deadline) {
    try {
      return { ...(await attempt(io, send, h, pace)), attempts: lost.length + 1 };
    } catch (err) {
      if (!(err instanceof Lost)) throw err;
      lost.push(err);
    }
  }
  // a BMC that only ever sent garbage is named for it; on a link that merely lost
  // steps, a stray odd datagram (a late answer to an abandoned attempt) is no cause
  const garbled = lost.filter((l) => l.kind === 'protocol').pop();
  if (garbled && !pace.answered) throw new HandshakeFailure('protocol', garbled.message);
  if (lost.every((l) => l.step === 'open')) throw new HandshakeFailure('timeout', `no answer to RMCP+ Open Session Request after ${lost.length} ${lost.length === 1 ? 'try' : 'tries'}`);
  throw new HandshakeFailure(
    'timeout',
    `RMCP+ session not established in ${Date.now() - started} ms: ${lost.length} handshakes each lost a step (the last: ${lost.at(-1)!.message})`,
  );
}

/**
 * The wait of the next step: the RTT estimate, backed off while answers
 * arrive late, until a step is answered in time again (Karn), so a BMC
 * slower than the estimate is still reached and a merely lossy link keeps
 * its short wait.
 */
interface Pace {
  wait?: number;
  /** Some step got its valid answer: the BMC speaks RMCP+, the link loses. */
  answered?: boolean;
}

/** One step, `tries` sends: no answer within the waits is a loss, a garbled answer is the BMC's fault. */
async function step<T>(io: Exchanger, pace: Pace, what: string, build: () => Buffer, accept: (body: Buffer) => T | undefined, deadline: number, tries = 1): Promise<T> {
  try {
    const v = await io.run(what, build, accept, { deadline, tries, ...(pace.wait ? { wait: pace.wait } : {}) });
    pace.wait = undefined;
    pace.answered = true;
    return v;
  } catch (err) {
    if (!(err instanceof ExchangeFailure)) throw err;
    // only a late answer shows the wait is too short; silence on a lossy link does not,
    // and a longer wait there would only spend the deadline
    if (err.stale > 0) pace.wait = io.rtt.backoff(pace.wait ?? io.rtt.rto);
    throw new Lost(what === OPEN ? 'open' : 'rakp', err.kind, err.message);
  }
}

async function attempt(io: Exchanger, send: (pkt: Buffer) => void, h: HandshakeInput, pace: Pace): Promise<Omit<Established, 'attempts'>> {
  const { suite, privilege, deadline } = h;
  // fresh per attempt: a late answer to an abandoned attempt can never match this one
  const consoleSessionId = random(4).readUInt32LE(0) || 1;
  const tag = randomInt(0, 256);
  const open = await step(
    io,
    pace,
    OPEN,
    () => setupPacket(PayloadType.OpenSessionRequest, encodeOpenSessionRequest({ tag, maxPrivilege: privilege, consoleSessionId, algorithms: suite.algorithms })),
    (body) => {
      const pl = setupPayload(body, PayloadType.OpenSessionResponse);
      if (!pl) return undefined;
      const r = decodeOpenSessionResponse(pl);
      return r.tag === tag && (r.status !== 0 || r.consoleSessionId === consoleSessionId) ? r : undefined;
    },
    deadline,
  );
  if (open.status !== 0) {
    const why = rmcppStatusName(open.status);
    if (SUITE_REJECTED.has(open.status)) throw new HandshakeFailure('cipher', `cipher suite ${suite.id} not offered (${why})`);
    if (PRIVILEGE_REFUSED.has(open.status)) throw new HandshakeFailure('privilege', `Open Session refused: ${why}`);
    throw new HandshakeFailure('auth', `Open Session refused: ${why}`);
  }
  const a = open.algorithms!;
  if (a.auth !== suite.algorithms.auth || a.integrity !== suite.algorithms.integrity || a.confidentiality !== suite.algorithms.confidentiality) {
    // a BMC that silently downgrades (e.g. to no integrity) is refused, never followed
    throw new HandshakeFailure('cipher', `BMC answered cipher suite ${suite.id} with other algorithms (${a.auth}/${a.integrity}/${a.confidentiality})`);
  }
  const bmcSessionId = open.bmcSessionId!;
  const abandon = (tag3: number) => send(setupPacket(PayloadType.RAKP3, encodeRakp3(tag3, ABANDON, bmcSessionId, Buffer.alloc(0))));

  // name-only lookup (bit 4), as ipmitool does by default: the BMC checks the name, we ask for a role
  const role = 0x10 | privilege;
  const consoleRandom = random(16);
  const tag1 = (tag + 1) & 0xff;
  const tag3 = (tag + 2) & 0xff;
  let rakp1Sends = 0;
  const resent = () => rakp1Sends > 1;
  const rakp1 = setupPacket(PayloadType.RAKP1, encodeRakp1({ tag: tag1, bmcSessionId, consoleRandom, role, username: h.username }));
  let rakp2;
  try {
    rakp2 = await step(
      io,
      pace,
      'RAKP Message 1',
      () => {
        rakp1Sends += 1;
        return rakp1;
      },
      tagged(PayloadType.RAKP2, decodeRakp2, tag1, resent),
      deadline,
      RAKP1_SENDS,
    );
  } catch (err) {
    if (err instanceof Lost) abandon(tag3);
    throw err;
  }
  if (rakp2.status !== 0) {
    const why = rmcppStatusName(rakp2.status);
    if (rakp2.status === 0x0d) throw new HandshakeFailure('auth', `wrong user name (BMC: ${why})`);
    if (PRIVILEGE_REFUSED.has(rakp2.status)) throw new HandshakeFailure('privilege', `RAKP refused: ${why}`);
    if (SUITE_REJECTED.has(rakp2.status)) throw new HandshakeFailure('cipher', `cipher suite ${suite.id} refused in RAKP (${why})`);
    throw new HandshakeFailure('auth', `RAKP refused: ${why}`);
  }
  const inputs: RakpInputs = {
    consoleSessionId,
    bmcSessionId,
    consoleRandom,
    bmcRandom: rakp2.bmcRandom!,
    bmcGuid: rakp2.bmcGuid!,
    role,
    username: h.username,
  };
  if (!equalCode(rakp2AuthCode(suite.hash, h.kuid, inputs), rakp2.authCode!)) {
    abandon(tag3);
    throw new HandshakeFailure('auth', 'wrong password (RAKP 2 HMAC is invalid)');
  }
  const keys = sessionKeys(suite, h.kuid, h.kg, inputs);
  let rakp4;
  try {
    rakp4 = await step(
      io,
      pace,
      'RAKP Message 3',
      () => setupPacket(PayloadType.RAKP3, encodeRakp3(tag3, 0, bmcSessionId, rakp3AuthCode(suite.hash, h.kuid, inputs))),
      // after a resent RAKP 1 the BMC may hold another random than the RAKP 2 taken: its refusal is no verdict
      tagged(PayloadType.RAKP4, decodeRakp4, tag3, resent),
      deadline,
    );
  } catch (err) {
    // the BMC may have activated the session and only its RAKP 4 was lost: it times out on its own
    if (err instanceof Lost) abandon(tag3);
    throw err;
  }
  if (rakp4.status !== 0) {
    const why = rmcppStatusName(rakp4.status);
    if (rakp4.status === 0x0f) throw new HandshakeFailure('auth', `wrong password or BMC key (BMC: ${why})`);
    if (PRIVILEGE_REFUSED.has(rakp4.status)) throw new HandshakeFailure('privilege', `RAKP refused: ${why}`);
    throw new HandshakeFailure('auth', `RAKP refused: ${why}`);
  }
  if (rakp4.consoleSessionId !== consoleSessionId) throw new HandshakeFailure('protocol', `RAKP Message 4 names console session 0x${rakp4.consoleSessionId.toString(16)}, not ours`);
  if (!equalCode(rakp4Icv(suite, keys.sik, inputs), rakp4.icv)) {
    throw new HandshakeFailure(
      'auth',
      h.kg ? 'wrong BMC key Kg (RAKP 4 integrity check is invalid)' : 'RAKP 4 integrity check is invalid (the BMC may require a BMC key Kg)',
    );
  }
  return { consoleSessionId, bmcSessionId, keys, systemGuid: inputs.bmcGuid };
}
