/**
 * IpmiBmc: the Bmc interface over one lazily opened RMCP+ session. Every
 * public call runs under the per-BMC budget (target.timeoutMs); a session
 * that timed out is dropped and reopened by the next call, so one bad
 * moment never poisons the object.
 */
import { budgetOf, operationDeadline } from '../budget.js';
import { BmcError } from '../errors.js';
import type { Bmc, BmcIdentity, BmcTarget, BootOptions, PowerAction, PowerState } from '../types.js';
import { AppCmd, DecodeError, NetFn } from './codec.js';
import {
  BOOT_OPTION_CODES,
  BootParam,
  CHASSIS_CONTROL,
  ChassisCmd,
  decodeBootFlags,
  decodeChassisStatus,
  decodeDeviceId,
  decodeFruInfo,
  decodeFruRead,
  decodeGuid,
  decodeLanIp,
  decodeLanMac,
  encodeBootFlags,
  fruExtent,
  LanParam,
  parseFru,
  StorageCmd,
  TransportCmd,
  vendorName,
  type BootFlags,
  type ChassisStatus,
  type DeviceId,
  type FruInventory,
} from './commands.js';
import { IpmiSession, type SessionOptions } from './session.js';
import type { UdpTransport } from './transport.js';

export interface IpmiBmcOptions {
  transport?: UdpTransport;
  /** Per-request wait before a retransmit, ms. */
  requestTimeoutMs?: number;
}

/** FRU images larger than this are not read in full (identity needs the first areas only). */
const FRU_MAX = 2048;

export class IpmiBmc implements Bmc {
  readonly protocol = 'ipmi' as const;
  readonly target: Readonly<Omit<BmcTarget, 'password' | 'kg'>>;
  // an ES private field: util.inspect and JSON.stringify never show it
  readonly #secret: { password: string; kg?: Buffer };
  private session?: IpmiSession;
  private opening?: Promise<IpmiSession>;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(target: BmcTarget, private readonly opts: IpmiBmcOptions = {}) {
    if (target.protocol !== 'ipmi') throw new TypeError('IpmiBmc needs an ipmi target');
    const { password, kg, ...rest } = target;
    this.target = Object.freeze({ ...rest, port: target.port ?? 623 });
    this.#secret = { password, ...(kg ? { kg } : {}) };
  }

  get bmc(): string {
    return `${this.target.address}:${this.target.port}`;
  }

  /** Cipher suite of the open session, if any. */
  get cipherSuite(): 3 | 17 | undefined {
    return this.session?.cipherSuite;
  }

  private budget(): number {
    return budgetOf(this.target);
  }

  private sessionOptions(deadline: number): SessionOptions {
    return {
      address: this.target.address,
      port: this.target.port,
      username: this.target.username,
      password: this.#secret.password,
      ...(this.#secret.kg ? { kg: this.#secret.kg } : {}),
      ...(this.target.cipherSuite ? { cipherSuite: this.target.cipherSuite } : {}),
      privilege: this.target.privilege ?? 'administrator',
      timeoutMs: this.budget(),
      deadline,
      ...(this.target.retries !== undefined ? { retries: this.target.retries } : {}),
      ...(this.opts.requestTimeoutMs ? { requestTimeoutMs: this.opts.requestTimeoutMs } : {}),
      ...(this.opts.transport ? { transport: this.opts.transport } : {}),
    };
  }

  /** Opens the session now (enrollment wants the authentication result on its own). */
  async connect(): Promise<void> {
    await this.run(async () => undefined);
  }

  /**
   * Runs one operation: serialised per BMC (IPMI has one request in flight
   * per session), opening the session if needed. The per-BMC budget is one
   * deadline for all of it (opening, every request, every retransmission),
   * never a time per try.
   */
  private run<T>(op: (s: IpmiSession) => Promise<T>): Promise<T> {
    const next = this.queue.then(async () => {
      const deadline = operationDeadline(this.target);
      const s = await this.ensureSession(deadline);
      s.deadline = deadline;
      try {
        return await op(s);
      } catch (err) {
        if (err instanceof BmcError && (err.kind === 'timeout' || err.kind === 'protocol')) {
          // the session may be dead on the BMC side: start over next time
          this.session = undefined;
          void s.close().catch(() => undefined);
        }
        if (err instanceof DecodeError) throw new BmcError('protocol', this.bmc, err.message);
        throw err;
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async ensureSession(deadline: number): Promise<IpmiSession> {
    if (this.session) return this.session;
    this.opening ??= IpmiSession.open(this.sessionOptions(deadline)).finally(() => {
      this.opening = undefined;
    });
    this.session = await this.opening;
    return this.session;
  }

  private decode<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof DecodeError) throw new BmcError('protocol', this.bmc, err.message);
      throw err;
    }
  }

  // ----------------------------------------------------------- commands ---

  deviceId(): Promise<DeviceId> {
    return this.run((s) => this.deviceIdIn(s));
  }

  private async deviceIdIn(s: IpmiSession): Promise<DeviceId> {
    const r = await s.request(NetFn.App, AppCmd.GetDeviceId);
    return this.decode(() => decodeDeviceId(r.data));
  }

  systemGuid(): Promise<string> {
    return this.run((s) => this.systemGuidIn(s));
  }

  private async systemGuidIn(s: IpmiSession): Promise<string> {
    const r = await s.request(NetFn.App, AppCmd.GetSystemGuid);
    return this.decode(() => decodeGuid(r.data));
  }

  chassisStatus(): Promise<ChassisStatus> {
    return this.run(async (s) => {
      const r = await s.request(NetFn.Chassis, ChassisCmd.GetStatus);
      return this.decode(() => decodeChassisStatus(r.data));
    });
  }

  async powerStatus(): Promise<PowerState> {
    return (await this.chassisStatus()).powerOn ? 'on' : 'off';
  }

  power(action: PowerAction): Promise<void> {
    const code = CHASSIS_CONTROL[action];
    if (code === undefined) return Promise.reject(new TypeError(`unknown power action ${String(action)}`));
    // A retransmission carries a new session sequence number (IPMI 2.0 13.6), so a BMC whose answer
    // was lost executes it again. Twice on or twice off is the same state: those take the target's
    // whole retry budget, which a lossy link needs. A second cycle or reset is not harmless: one
    // retransmission at most.
    const once = action === 'cycle' || action === 'reset';
    return this.run(async (s) => {
      await s.request(NetFn.Chassis, ChassisCmd.Control, Buffer.from([code]), once ? { retries: 1 } : {});
    });
  }

  /**
   * Boot flags (parameter 5) inside a set-in-progress bracket (28.12,
   * parameter 0) so a concurrent writer never sees half the change. BMCs
   * without parameter 0 (completion 0x80; ipmi_sim answers 0xCC) get the
   * flags alone.
   */
  setBootDevice(o: BootOptions): Promise<void> {
    return this.run(async (s) => {
      const codes = BOOT_OPTION_CODES;
      const begin = await s.request(NetFn.Chassis, ChassisCmd.SetBootOptions, Buffer.from([BootParam.SetInProgress, 0x01]), {
        codes,
        accept: [0x80, 0x81, 0xcc],
      });
      if (begin.completionCode === 0x81) {
        throw new BmcError('completion', this.bmc, 'Set System Boot Options: another client is changing boot options (set in progress)');
      }
      const bracket = begin.completionCode === 0;
      try {
        await s.request(NetFn.Chassis, ChassisCmd.SetBootOptions, encodeBootFlags(o.device, o.uefi ?? false, o.persistent ?? false), { codes });
      } finally {
        if (bracket) {
          await s
            .request(NetFn.Chassis, ChassisCmd.SetBootOptions, Buffer.from([BootParam.SetInProgress, 0x00]), { codes })
            .catch(() => undefined);
        }
      }
    });
  }

  bootFlags(): Promise<BootFlags> {
    return this.run(async (s) => {
      const r = await s.request(NetFn.Chassis, ChassisCmd.GetBootOptions, Buffer.from([BootParam.BootFlags, 0x00, 0x00]), {
        codes: BOOT_OPTION_CODES,
      });
      return this.decode(() => decodeBootFlags(r.data));
    });
  }

  /**
   * The device selector is reported even when the BMC leaves the "valid"
   * bit clear: ipmi_sim stores only the selector and never sets it.
   */
  async getBootDevice(): Promise<BootOptions> {
    const f = await this.bootFlags();
    return { device: f.device === 'other' ? 'none' : f.device, uefi: f.uefi, persistent: f.persistent };
  }

  lanConfig(): Promise<{ mac?: string; ip?: string; channel: number }> {
    return this.run((s) => this.lanConfigIn(s));
  }

  private async lanConfigIn(s: IpmiSession): Promise<{ mac?: string; ip?: string; channel: number }> {
    // 0x0E = the channel this request arrives on (6.3), when capabilities were not asked
    const channel = s.authCaps?.channel ?? 0x0e;
    const get = (p: number) =>
      s.request(NetFn.Transport, TransportCmd.GetLanConfig, Buffer.from([channel & 0x0f, p, 0x00, 0x00]), {
        codes: { 0x80: 'parameter not supported' },
      });
    const mac = await get(LanParam.MacAddress);
    const ip = await get(LanParam.IpAddress);
    return { channel, mac: this.decode(() => decodeLanMac(mac.data)), ip: this.decode(() => decodeLanIp(ip.data)) };
  }

  /** Reads FRU device 0 and parses its chassis, board and product areas. */
  fru(fruId = 0): Promise<FruInventory> {
    return this.run((s) => this.fruIn(s, fruId));
  }

  private async fruIn(s: IpmiSession, fruId: number): Promise<FruInventory> {
    const infoR = await s.request(NetFn.Storage, StorageCmd.GetFruInfo, Buffer.from([fruId]));
    const info = this.decode(() => decodeFruInfo(infoR.data));
    let size = Math.min(info.size, FRU_MAX);
    const chunks: Buffer[] = [];
    let off = 0;
    // 32 bytes: what ipmi_sim and most BMCs answer in one message (ipmi_sim refuses 40 with 0xC8)
    let chunk = 32;
    while (off < size) {
      const n = Math.min(chunk, size - off);
      const r = await s.request(NetFn.Storage, StorageCmd.ReadFru, Buffer.from([fruId, off & 0xff, off >> 8, n]), {
        accept: [0xc7, 0xc8, 0xca],
      });
      if (r.completionCode !== 0) {
        // the BMC cannot return that many bytes in one answer: ask for fewer
        if (chunk <= 8) throw new BmcError('completion', this.bmc, `Read FRU Data: answers shrink below 8 bytes`);
        chunk = Math.floor(chunk / 2);
        continue;
      }
      const data = this.decode(() => decodeFruRead(r.data));
      if (data.length === 0) break;
      chunks.push(data);
      off += data.length;
      // stop at the end of the last area identity reads: each read is a round trip, on a lossy link a costly one
      const extent = fruExtent(Buffer.concat(chunks));
      if (extent !== undefined) size = Math.min(size, extent);
    }
    return this.decode(() => parseFru(Buffer.concat(chunks)));
  }

  /** Everything enrollment and profile matching need: one operation, one session, one deadline. */
  identity(): Promise<BmcIdentity> {
    return this.run((s) => this.identityIn(s));
  }

  private async identityIn(s: IpmiSession): Promise<BmcIdentity> {
    const dev = await this.deviceIdIn(s);
    const id: BmcIdentity = {
      protocol: 'ipmi',
      manufacturerId: dev.manufacturerId,
      productId: dev.productId,
      deviceId: dev.deviceId,
      firmware: dev.firmware,
      ipmiVersion: dev.ipmiVersion,
    };
    const vendor = vendorName(dev.manufacturerId);
    if (vendor) id.manufacturer = vendor;
    // RAKP 2 carried the system GUID, authenticated by the HMAC (IPMI v2.0 13.21): no round trip for it
    id.guid = s.systemGuid ?? (await this.systemGuidIn(s).catch((e: unknown) => optional(e)));
    const fru = await this.fruIn(s, 0).catch((e: unknown) => optional(e));
    if (fru) {
      id.manufacturer = fru.product?.manufacturer ?? fru.board?.manufacturer ?? id.manufacturer;
      id.model = fru.product?.name ?? fru.board?.product;
      id.productName = fru.product?.name;
      id.boardProduct = fru.board?.product;
      id.serial = fru.product?.serial ?? fru.board?.serial ?? fru.chassis?.serial;
    }
    const lan = await this.lanConfigIn(s).catch((e: unknown) => optional(e));
    if (lan) {
      id.bmcMac = lan.mac;
      id.bmcIp = lan.ip;
    }
    return stripUndefined(id);
  }

  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    await this.queue;
    await s?.close(this.target.deadline);
  }
}

/** An optional identity field the BMC refuses (completion code) is left out; anything else is fatal. */
function optional(e: unknown): undefined {
  if (e instanceof BmcError && (e.kind === 'completion' || e.kind === 'protocol')) return undefined;
  throw e;
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
