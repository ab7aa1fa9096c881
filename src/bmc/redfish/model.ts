/**
 * Pure mappings between kseed's Bmc vocabulary and the Redfish schema
 * (ComputerSystem, Resource.ResetType, Boot), kept free of I/O so they can be
 * tested without sockets.
 */
import type { BootDevice, BootOptions, PowerAction, PowerState } from '../types.js';

export type Json = Record<string, unknown>;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `{"@odata.id": "/redfish/v1/..."}` -> the path, else undefined. */
export function odataId(v: unknown): string | undefined {
  if (!isObject(v)) return undefined;
  const id = v['@odata.id'];
  return typeof id === 'string' && id.startsWith('/') ? id : undefined;
}

/** Member paths of a Redfish collection (`Members: [{@odata.id}]`). */
export function members(collection: unknown): string[] | undefined {
  if (!isObject(collection) || !Array.isArray(collection.Members)) return undefined;
  return collection.Members.map(odataId).filter((x): x is string => x !== undefined);
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

/**
 * ComputerSystem.PowerState (On, Off, PoweringOn, PoweringOff, Paused) in
 * kseed's two words; a transition counts as the state it is heading to.
 */
export function powerStateOf(system: Json): PowerState | undefined {
  switch (system.PowerState) {
    case 'On':
    case 'PoweringOn':
    case 'Paused':
      return 'on';
    case 'Off':
    case 'PoweringOff':
      return 'off';
    default:
      return undefined;
  }
}

/**
 * ResetType values to try for each action, best first (Resource.ResetType).
 * `cycle` and `reset` fall back to ForceOff then On when none is allowed.
 */
export const RESET_CHOICES: Record<PowerAction, string[]> = {
  on: ['On', 'ForceOn', 'PushPowerButton'],
  off: ['ForceOff'],
  soft: ['GracefulShutdown'],
  reset: ['ForceRestart'],
  cycle: ['PowerCycle'],
};

/**
 * The ResetType to send, given the values the service allows (undefined when
 * it does not say, in which case the first choice is sent and the BMC judges).
 * Returns undefined when no choice is allowed.
 */
export function pickResetType(action: PowerAction, allowed: string[] | undefined): string | undefined {
  const choices = RESET_CHOICES[action];
  if (allowed === undefined) return choices[0];
  return choices.find((c) => allowed.includes(c));
}

const TARGETS: Record<BootDevice, string> = {
  pxe: 'Pxe',
  disk: 'Hdd',
  bios: 'BiosSetup',
  cdrom: 'Cd',
  none: 'None',
};

/** The Boot PATCH body for a boot-device request (ComputerSystem.Boot). */
export function bootPatch(opts: BootOptions): Json {
  // "Disabled" is how Redfish says "no override"; the target is then irrelevant.
  if (opts.device === 'none') return { Boot: { BootSourceOverrideEnabled: 'Disabled' } };
  const boot: Json = {
    BootSourceOverrideTarget: TARGETS[opts.device],
    BootSourceOverrideEnabled: opts.persistent ? 'Continuous' : 'Once',
  };
  if (opts.uefi !== undefined) boot.BootSourceOverrideMode = opts.uefi ? 'UEFI' : 'Legacy';
  return { Boot: boot };
}

/** Read ComputerSystem.Boot back into BootOptions. */
export function bootOptionsOf(boot: unknown): BootOptions {
  if (!isObject(boot)) return { device: 'none' };
  const enabled = boot.BootSourceOverrideEnabled;
  const target = boot.BootSourceOverrideTarget;
  const device = (Object.keys(TARGETS) as BootDevice[]).find((d) => TARGETS[d] === target) ?? 'none';
  const out: BootOptions = { device: enabled === 'Disabled' ? 'none' : device };
  if (boot.BootSourceOverrideMode === 'UEFI') out.uefi = true;
  else if (boot.BootSourceOverrideMode === 'Legacy') out.uefi = false;
  out.persistent = enabled === 'Continuous';
  return out;
}

/**
 * Check each Boot property of a PATCH against `<Prop>@Redfish.AllowableValues`
 * where the service lists them; returns the problems, empty when fine.
 */
export function checkBootAllowed(boot: Json, patch: Json): string[] {
  const problems: string[] = [];
  for (const [k, v] of Object.entries(patch)) {
    const allowed = boot[`${k}@Redfish.AllowableValues`];
    if (Array.isArray(allowed) && !allowed.includes(v)) {
      problems.push(`${k}=${String(v)} is not supported by this BMC (allowed: ${allowed.join(', ')})`);
    }
  }
  return problems;
}

/** A VirtualMedia resource that takes a CD image (MediaTypes CD or DVD, DSP8010 VirtualMedia.v1_3). */
export function isCdMedia(media: Json): boolean {
  return Array.isArray(media.MediaTypes) && media.MediaTypes.some((t) => t === 'CD' || t === 'DVD');
}

/** `AA-BB-CC-DD-EE-FF` or `aabb.ccdd.eeff` -> `aa:bb:cc:dd:ee:ff`; undefined if not a MAC. */
export function normalizeMac(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const hex = v.replace(/[:\-.]/g, '').toLowerCase();
  if (!/^[0-9a-f]{12}$/.test(hex) || hex === '000000000000') return undefined;
  return hex.match(/../g)!.join(':');
}

/** The MAC of an EthernetInterface resource: the current one, else the permanent one. */
export function macOf(nic: Json): string | undefined {
  return normalizeMac(nic.MACAddress) ?? normalizeMac(nic.PermanentMACAddress);
}

/** First static or DHCP IPv4 address of an EthernetInterface. */
export function ipv4Of(nic: Json): string | undefined {
  if (!Array.isArray(nic.IPv4Addresses)) return undefined;
  for (const a of nic.IPv4Addresses) {
    const ip = isObject(a) ? str(a.Address) : undefined;
    if (ip && ip !== '0.0.0.0') return ip;
  }
  return undefined;
}

/** AllowableValues of the ResetType parameter in an ActionInfo resource. */
export function allowedFromActionInfo(info: unknown): string[] | undefined {
  if (!isObject(info) || !Array.isArray(info.Parameters)) return undefined;
  for (const p of info.Parameters) {
    if (isObject(p) && p.Name === 'ResetType' && Array.isArray(p.AllowableValues)) {
      return p.AllowableValues.filter((x): x is string => typeof x === 'string');
    }
  }
  return undefined;
}
