/**
 * One interface over IPMI and Redfish. Protocol code in src/bmc/ knows
 * nothing of the site file: callers build a BmcTarget from it.
 */
export type BmcProtocol = 'ipmi' | 'redfish';
export type PowerState = 'on' | 'off';
/** on, off (hard), cycle (off then on), reset (hard reset), soft (ACPI shutdown). */
export type PowerAction = 'on' | 'off' | 'cycle' | 'reset' | 'soft';
export type BootDevice = 'pxe' | 'disk' | 'bios' | 'cdrom' | 'none';

export interface BootOptions {
  device: BootDevice;
  /** true = UEFI boot, false = legacy BIOS, unset = leave as is. */
  uefi?: boolean;
  /** true = every boot, false/unset = next boot only. */
  persistent?: boolean;
}

export interface BmcTarget {
  protocol: BmcProtocol;
  address: string;
  port?: number;
  username: string;
  /** Resolved secret: never logged, never in errors or --json. */
  password: string;
  /** IPMI only. */
  cipherSuite?: 3 | 17;
  kg?: Buffer;
  privilege?: 'operator' | 'administrator';
  /** Redfish only. */
  scheme?: 'http' | 'https';
  insecureTls?: boolean;
  /** Whole-operation budget per BMC, ms (default: budget.ts DEFAULT_BUDGET_MS). */
  timeoutMs?: number;
  /**
   * Absolute end (Date.now() ms) of the whole conversation this target is
   * opened for: no operation or retransmission runs past it (closing the
   * session afterwards waits at most 100 ms more).
   */
  deadline?: number;
  retries?: number;
}

/** What the BMC says it is: input to hardware-profile matching. */
export interface BmcIdentity {
  protocol: BmcProtocol;
  /** IPMI Get Device ID: IANA enterprise number and product id. */
  manufacturerId?: number;
  productId?: number;
  deviceId?: number;
  firmware?: string;
  ipmiVersion?: string;
  /** Names from FRU (IPMI) or the ComputerSystem resource (Redfish). */
  manufacturer?: string;
  model?: string;
  boardProduct?: string;
  productName?: string;
  serial?: string;
  guid?: string;
  bmcMac?: string;
  bmcIp?: string;
  /** Host NIC MACs where the BMC knows them (Redfish). */
  nicMacs?: string[];
}

export interface Bmc {
  readonly protocol: BmcProtocol;
  readonly target: Readonly<Omit<BmcTarget, 'password' | 'kg'>>;
  powerStatus(): Promise<PowerState>;
  power(action: PowerAction): Promise<void>;
  setBootDevice(opts: BootOptions): Promise<void>;
  getBootDevice(): Promise<BootOptions>;
  identity(): Promise<BmcIdentity>;
  /**
   * The BMC's virtual CD (Redfish VirtualMedia): absent where the protocol has
   * none (IPMI). Insert the image at an http(s) URL the BMC fetches itself;
   * both are no-ops when the drive already holds that image / nothing.
   */
  insertMedia?(image: string): Promise<void>;
  ejectMedia?(): Promise<void>;
  close(): Promise<void>;
}

export type BmcErrorKind =
  | 'timeout' // no answer within the budget
  | 'auth' // wrong user or password, or Kg
  | 'cipher' // no acceptable cipher suite offered
  | 'privilege' // insufficient privilege for the command
  | 'completion' // unexpected IPMI completion code / Redfish HTTP error
  | 'protocol' // malformed or unexpected answer
  | 'network'; // socket/TLS failure
