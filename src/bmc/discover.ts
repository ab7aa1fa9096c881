/**
 * BMC discovery on UDP 623: for every address of a CIDR range, an ASF
 * Presence Ping (ASF 2.0 3.2.4.3) and a sessionless Get Channel
 * Authentication Capabilities (IPMI v2.0 22.13). Found BMCs are then asked,
 * suite by suite, whether they accept an RMCP+ Open Session (13.17), which
 * tells the offered cipher suites without credentials. Bounded concurrency
 * and a send rate keep the scan polite on a production network.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { isIPv4 } from 'node:net';
import {
  AppCmd,
  AuthAlg,
  ConfAlg,
  decodeAuthCaps,
  decodeIpmiResponse,
  decodeOpenSessionResponse,
  decodePresencePong,
  decodeRmcp,
  decodeV15,
  decodeV20,
  encodeAuthCapsRequest,
  encodeIpmiRequest,
  encodeOpenSessionRequest,
  encodePresencePing,
  encodeRakp1,
  encodeRmcp,
  encodeV15,
  encodeV20Raw,
  IntegrityAlg,
  isV20,
  NetFn,
  PayloadType,
  Privilege,
  RmcpClass,
  type Algorithms,
  type AuthCapabilities,
} from './ipmi/codec.js';
import { decodeDeviceId, vendorName } from './ipmi/commands.js';
import { IpmiSession } from './ipmi/session.js';
import { BmcError } from './errors.js';
import { UdpTransport, type Channel } from './ipmi/transport.js';

/** Suites probed by Open Session (table 22-20); 0 is probed only to report it as a finding. */
export const PROBE_SUITES: Readonly<Record<number, Algorithms>> = {
  0: { auth: AuthAlg.None, integrity: IntegrityAlg.None, confidentiality: ConfAlg.None },
  1: { auth: AuthAlg.HmacSha1, integrity: IntegrityAlg.None, confidentiality: ConfAlg.None },
  2: { auth: AuthAlg.HmacSha1, integrity: IntegrityAlg.HmacSha1_96, confidentiality: ConfAlg.None },
  3: { auth: AuthAlg.HmacSha1, integrity: IntegrityAlg.HmacSha1_96, confidentiality: ConfAlg.AesCbc128 },
  6: { auth: AuthAlg.HmacMd5, integrity: IntegrityAlg.None, confidentiality: ConfAlg.None },
  7: { auth: AuthAlg.HmacMd5, integrity: IntegrityAlg.HmacMd5_128, confidentiality: ConfAlg.None },
  8: { auth: AuthAlg.HmacMd5, integrity: IntegrityAlg.HmacMd5_128, confidentiality: ConfAlg.AesCbc128 },
  15: { auth: AuthAlg.HmacSha256, integrity: IntegrityAlg.None, confidentiality: ConfAlg.None },
  16: { auth: AuthAlg.HmacSha256, integrity: IntegrityAlg.HmacSha256_128, confidentiality: ConfAlg.None },
  17: { auth: AuthAlg.HmacSha256, integrity: IntegrityAlg.HmacSha256_128, confidentiality: ConfAlg.AesCbc128 },
};

export interface DiscoverOptions {
  /** IPv4 CIDR, e.g. 10.0.0.0/24. At most /16. */
  range: string;
  port?: number;
  /** Addresses probed at once (default 64). */
  concurrency?: number;
  /** New addresses started per second (default 500). */
  rate?: number;
  /** Wait for an answer per try, ms (default 500); two tries per address. */
  timeoutMs?: number;
  /** Probe offered cipher suites with Open Session (default true). */
  probeSuites?: boolean;
  onFound?: (b: DiscoveredBmc) => void;
  /**
   * Optional login: with it, each found BMC is asked Get Device ID in an
   * RMCP+ session (suite 17 or 3), which names the vendor (IANA number) and
   * tells whether these credentials work there.
   */
  credentials?: { username: string; password: string };
}

export interface Finding {
  severity: 'high' | 'medium';
  code: 'cipher-0' | 'anonymous-login' | 'null-user' | 'ipmi15-none' | 'ipmi15-password' | 'ipmi15-md2' | 'no-ipmi20';
  message: string;
}

export interface DiscoveredBmc {
  address: string;
  port: number;
  protocols: 'ipmi'[];
  /** Answered the ASF Presence Ping. */
  asf: boolean;
  ipmiVersions: string[];
  channel?: number;
  vendor?: { iana: number; name?: string };
  authTypes?: string[];
  cipherSuites?: number[];
  findings: Finding[];
  /** With credentials: 'ok', or why the login failed (never the password). */
  login?: string;
}

/** Every host address of an IPv4 CIDR (network and broadcast left out below /31). */
export function expandCidr(cidr: string): string[] {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?:\/(\d{1,2}))?$/.exec(cidr.trim());
  if (!m || !isIPv4(m[1]!)) throw new RangeError(`not an IPv4 CIDR: ${cidr}`);
  const prefix = m[2] === undefined ? 32 : Number(m[2]);
  if (prefix > 32) throw new RangeError(`prefix /${prefix} is longer than 32`);
  if (prefix < 16) throw new RangeError(`range /${prefix} is larger than /16; scan it in parts`);
  const base = m[1]!.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const size = 2 ** (32 - prefix);
  const net = base - (base % size);
  const first = prefix < 31 ? net + 1 : net;
  const last = prefix < 31 ? net + size - 2 : net + size - 1;
  const out: string[] = [];
  for (let a = first; a <= last; a++) out.push([a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.'));
  return out;
}

interface Waiter {
  match(msg: Buffer): boolean;
}

/** One address's probe: a channel and the answers it is waiting for. */
class Probe {
  private waiters = new Set<Waiter>();
  channel?: Channel;

  onPacket(msg: Buffer): void {
    for (const w of [...this.waiters]) {
      try {
        if (w.match(msg)) this.waiters.delete(w);
      } catch {
        // a malformed answer is not an answer
      }
    }
  }

  /** Sends `pkt` up to `tries` times; resolves with what `parse` returns, or undefined. */
  ask<T>(pkt: Buffer, parse: (msg: Buffer) => T | undefined, timeoutMs: number, tries = 2): Promise<T | undefined> {
    return new Promise((resolve) => {
      let n = 0;
      let timer: NodeJS.Timeout | undefined;
      const w: Waiter = {
        match: (msg) => {
          const v = parse(msg);
          if (v === undefined) return false;
          clearTimeout(timer);
          resolve(v);
          return true;
        },
      };
      const send = () => {
        if (n >= tries) {
          this.waiters.delete(w);
          resolve(undefined);
          return;
        }
        n += 1;
        this.channel?.send(pkt);
        timer = setTimeout(send, timeoutMs);
      };
      this.waiters.add(w);
      send();
    });
  }
}

function pongParser(tag: number) {
  return (msg: Buffer) => {
    const r = decodeRmcp(msg);
    if (r.header.msgClass !== RmcpClass.ASF) return undefined;
    const p = decodePresencePong(msg);
    return p.tag === tag ? p : undefined;
  };
}

function authCapsParser(rqSeq: number) {
  return (msg: Buffer) => {
    const r = decodeRmcp(msg);
    if (r.header.msgClass !== RmcpClass.IPMI || isV20(r.body)) return undefined;
    const res = decodeIpmiResponse(decodeV15(r.body).msg);
    if (res.cmd !== AppCmd.GetChannelAuthCapabilities || res.rqSeq !== rqSeq) return undefined;
    return res.completionCode === 0 ? decodeAuthCaps(res.data) : null;
  };
}

async function probeSuite(p: Probe, suite: number, timeoutMs: number): Promise<boolean> {
  const tag = randomInt(0, 256);
  const sid = randomBytes(4).readUInt32LE(0) || 1;
  const pkt = Buffer.concat([
    encodeRmcp(RmcpClass.IPMI),
    encodeV20Raw(
      { payloadType: PayloadType.OpenSessionRequest, encrypted: false, authenticated: false, sessionId: 0, sequence: 0 },
      encodeOpenSessionRequest({ tag, maxPrivilege: Privilege.Highest, consoleSessionId: sid, algorithms: PROBE_SUITES[suite]! }),
    ),
  ]);
  let bmcSid: number | undefined;
  const status = await p.ask(
    pkt,
    (msg) => {
      const r = decodeRmcp(msg);
      if (r.header.msgClass !== RmcpClass.IPMI || !isV20(r.body)) return undefined;
      const v = decodeV20(r.body, 0);
      if (v.payloadType !== PayloadType.OpenSessionResponse) return undefined;
      const o = decodeOpenSessionResponse(v.payload);
      if (o.tag !== tag) return undefined;
      bmcSid = o.bmcSessionId;
      return o.status;
    },
    timeoutMs,
  );
  if (status !== 0) return false;
  // an accepted Open Session holds one of the BMC's few session slots until it
  // times out; a RAKP1 naming no real user makes the BMC drop it now (13.20)
  p.channel?.send(
    Buffer.concat([
      encodeRmcp(RmcpClass.IPMI),
      encodeV20Raw(
        { payloadType: PayloadType.RAKP1, encrypted: false, authenticated: false, sessionId: 0, sequence: 0 },
        encodeRakp1({ tag, bmcSessionId: bmcSid ?? 0, consoleRandom: randomBytes(16), role: 0x10 | Privilege.User, username: Buffer.from(randomBytes(8).toString('hex')) }),
      ),
    ]),
  );
  return true;
}

function findingsOf(caps: AuthCapabilities, suites: number[] | undefined): Finding[] {
  const f: Finding[] = [];
  if (suites?.includes(0)) {
    f.push({ severity: 'high', code: 'cipher-0', message: 'cipher suite 0 accepted: RMCP+ without authentication, any password works' });
  }
  if (caps.anonymousLogin) f.push({ severity: 'high', code: 'anonymous-login', message: 'anonymous login enabled (null user name and password)' });
  else if (caps.nullUsers) f.push({ severity: 'medium', code: 'null-user', message: 'null user names enabled' });
  if (caps.ipmi15 && caps.authTypes.none) f.push({ severity: 'high', code: 'ipmi15-none', message: "IPMI 1.5 authentication type 'none' enabled" });
  if (caps.ipmi15 && caps.authTypes.password) {
    f.push({ severity: 'high', code: 'ipmi15-password', message: 'IPMI 1.5 straight-password authentication enabled (password in clear text)' });
  }
  if (caps.ipmi15 && caps.authTypes.md2) f.push({ severity: 'medium', code: 'ipmi15-md2', message: 'IPMI 1.5 MD2 authentication enabled' });
  if (!caps.ipmi20) f.push({ severity: 'medium', code: 'no-ipmi20', message: 'no IPMI v2.0 (RMCP+): kseed cannot manage this BMC' });
  return f;
}

async function probeAddress(address: string, port: number, transport: UdpTransport, o: DiscoverOptions): Promise<DiscoveredBmc | undefined> {
  const p = new Probe();
  const timeout = o.timeoutMs ?? 500;
  p.channel = await transport.open(address, port, (m) => p.onPacket(m));
  try {
    const tag = randomInt(0, 255);
    const rqSeq = randomInt(1, 64);
    const capsReq = encodeV15(
      encodeIpmiRequest({ netFn: NetFn.App, cmd: AppCmd.GetChannelAuthCapabilities, rqSeq, data: encodeAuthCapsRequest(Privilege.Administrator) }),
    );
    const [pong, caps] = await Promise.all([
      p.ask(encodePresencePing(tag), pongParser(tag), timeout),
      p.ask(capsReq, authCapsParser(rqSeq), timeout),
    ]);
    if (!pong && caps === undefined) return undefined;
    const found: DiscoveredBmc = { address, port, protocols: ['ipmi'], asf: Boolean(pong), ipmiVersions: [], findings: [] };
    if (pong && pong.iana !== 4542) found.vendor = { iana: pong.iana, name: vendorName(pong.iana) };
    if (caps) {
      found.channel = caps.channel;
      if (caps.ipmi15) found.ipmiVersions.push('1.5');
      if (caps.ipmi20) found.ipmiVersions.push('2.0');
      found.authTypes = Object.entries(caps.authTypes)
        .filter(([, on]) => on)
        .map(([k]) => k);
      if (!found.vendor && caps.oemIana) found.vendor = { iana: caps.oemIana, name: vendorName(caps.oemIana) };
      if (caps.ipmi20 && o.probeSuites !== false) {
        const suites: number[] = [];
        for (const s of Object.keys(PROBE_SUITES).map(Number)) {
          if (await probeSuite(p, s, timeout)) suites.push(s);
        }
        found.cipherSuites = suites;
      }
      found.findings = findingsOf(caps, found.cipherSuites);
    }
    if (o.credentials && caps?.ipmi20) await login(found, transport, o.credentials, timeout);
    if (found.vendor && !found.vendor.name) delete found.vendor.name;
    return found;
  } finally {
    p.channel.close();
  }
}

/** Logs in with the given credentials and reads Get Device ID (IPMI v2.0 20.1) for the vendor. */
async function login(found: DiscoveredBmc, transport: UdpTransport, cred: { username: string; password: string }, timeout: number): Promise<void> {
  const suite = found.cipherSuites?.includes(17) ? 17 : found.cipherSuites?.includes(3) || !found.cipherSuites ? 3 : undefined;
  if (!suite) {
    found.login = 'no cipher suite kseed accepts (17 or 3)';
    return;
  }
  let s: IpmiSession | undefined;
  try {
    s = await IpmiSession.open({
      address: found.address,
      port: found.port,
      ...cred,
      cipherSuite: suite,
      privilege: 'user',
      requestTimeoutMs: timeout,
      timeoutMs: timeout * 4,
      transport,
    });
    const dev = decodeDeviceId((await s.request(NetFn.App, AppCmd.GetDeviceId)).data);
    found.vendor = { iana: dev.manufacturerId, name: vendorName(dev.manufacturerId) };
    found.login = 'ok';
  } catch (err) {
    found.login = err instanceof BmcError ? `${err.kind}: ${err.message.replace(`${err.bmc}: `, '')}` : (err as Error).message;
  } finally {
    await s?.close();
  }
}

/** Scans the range; resolves with the BMCs found, in address order. */
export async function discover(o: DiscoverOptions): Promise<DiscoveredBmc[]> {
  const addresses = expandCidr(o.range);
  const port = o.port ?? 623;
  const transport = new UdpTransport({ maxSockets: 4 });
  const found: DiscoveredBmc[] = [];
  const gap = 1000 / Math.max(1, o.rate ?? 500);
  let next = 0;
  let startAt = performance.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= addresses.length) return;
      // pace new probes to `rate` per second across all workers
      const now = performance.now();
      const at = Math.max(now, startAt);
      startAt = at + gap;
      if (at > now) await new Promise((r) => setTimeout(r, at - now));
      const b = await probeAddress(addresses[i]!, port, transport, o).catch(() => undefined);
      if (b) {
        found.push(b);
        o.onFound?.(b);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency ?? 64, addresses.length)) }, worker));
  } finally {
    transport.close();
  }
  const key = (a: string) => a.split('.').reduce((n, x) => n * 256 + Number(x), 0);
  return found.sort((a, b) => key(a.address) - key(b.address));
}
