/**
 * Picks the hardware profile for what a BMC says it is. Scores add up per
 * matching rule; a vendor-level contradiction (another IANA enterprise
 * number, another Redfish Manufacturer) rules a profile out, while an
 * unlisted model of the right vendor still matches the family at a lower
 * score. Highest score wins; on a tie a site's own profile beats a shipped
 * one (it was written for this site), then the name decides, so the result
 * is stable.
 */
import path from 'node:path';
import { BUILTIN_PROFILES_DIR } from '../site/profile-dirs.js';
import type { HardwareProfile } from './schema.js';

/**
 * What a BMC says it is, as far as matching reads it (src/bmc's IdentityFacts
 * is one): profiles know nothing of the BMC protocols themselves.
 */
export interface IdentityFacts {
  protocol: 'ipmi' | 'redfish';
  manufacturerId?: number;
  productId?: number;
  manufacturer?: string;
  model?: string;
  productName?: string;
  boardProduct?: string;
}

export interface ProfileMatch {
  profile: HardwareProfile;
  score: number;
  reasons: string[];
}

const WEIGHT = {
  ipmiManufacturer: 50,
  ipmiProduct: 30,
  fruManufacturer: 20,
  fruProduct: 15,
  fruBoard: 10,
  redfishManufacturer: 50,
  redfishModel: 30,
} as const;

const re = (s: string) => new RegExp(s, 'i');
const hex = (n: number, w = 4) => `0x${n.toString(16).padStart(w, '0')}`;

/** Score of one profile, or undefined when the identity rules it out or nothing matched. */
export function scoreProfile(id: IdentityFacts, p: HardwareProfile): ProfileMatch | undefined {
  const m = p.match;
  let score = 0;
  const reasons: string[] = [];

  if (m.ipmi && id.manufacturerId !== undefined) {
    if (!m.ipmi.manufacturer_id.includes(id.manufacturerId)) return undefined;
    score += WEIGHT.ipmiManufacturer;
    reasons.push(`IPMI manufacturer id ${id.manufacturerId}`);
    if (m.ipmi.product_id && id.productId !== undefined) {
      const hit = m.ipmi.product_id.find((r) => id.productId! >= r.min && id.productId! <= r.max);
      if (hit) {
        score += WEIGHT.ipmiProduct;
        reasons.push(`IPMI product id ${hex(id.productId)}`);
      }
    }
  }

  if (id.protocol === 'redfish' && m.redfish) {
    if (m.redfish.manufacturer && id.manufacturer !== undefined) {
      if (!re(m.redfish.manufacturer).test(id.manufacturer)) return undefined;
      score += WEIGHT.redfishManufacturer;
      reasons.push(`Redfish Manufacturer "${id.manufacturer}"`);
    }
    const model = id.model ?? id.productName;
    if (m.redfish.model && model !== undefined && re(m.redfish.model).test(model)) {
      score += WEIGHT.redfishModel;
      reasons.push(`Redfish Model "${model}"`);
    }
  }

  if (id.protocol === 'ipmi' && m.fru) {
    // FRU strings are free text, spelled differently across firmware: a miss is no evidence against
    if (m.fru.manufacturer && id.manufacturer !== undefined && re(m.fru.manufacturer).test(id.manufacturer)) {
      score += WEIGHT.fruManufacturer;
      reasons.push(`FRU manufacturer "${id.manufacturer}"`);
    }
    const product = id.productName ?? id.model;
    if (m.fru.product_name && product !== undefined && re(m.fru.product_name).test(product)) {
      score += WEIGHT.fruProduct;
      reasons.push(`FRU product "${product}"`);
    }
    if (m.fru.board_product && id.boardProduct !== undefined && re(m.fru.board_product).test(id.boardProduct)) {
      score += WEIGHT.fruBoard;
      reasons.push(`FRU board "${id.boardProduct}"`);
    }
  }

  return score > 0 ? { profile: p, score, reasons } : undefined;
}

const shipped = (p: HardwareProfile) => path.dirname(p.source) === path.resolve(BUILTIN_PROFILES_DIR);

/** Every matching profile, best first. */
export function rankProfiles(id: IdentityFacts, profiles: readonly HardwareProfile[]): ProfileMatch[] {
  return profiles
    .map((p) => scoreProfile(id, p))
    .filter((x): x is ProfileMatch => x !== undefined)
    .sort((a, b) => b.score - a.score || Number(shipped(a.profile)) - Number(shipped(b.profile)) || a.profile.name.localeCompare(b.profile.name));
}

export function matchProfile(id: IdentityFacts, profiles: readonly HardwareProfile[]): ProfileMatch | undefined {
  return rankProfiles(id, profiles)[0];
}

/** What a BMC said about itself, in a line for an error message. */
export function describeIdentity(id: IdentityFacts): string {
  const parts: string[] = [];
  if (id.manufacturerId !== undefined) parts.push(`IPMI manufacturer ${id.manufacturerId}`);
  if (id.productId !== undefined) parts.push(`product ${hex(id.productId)}`);
  if (id.manufacturer) parts.push(`"${id.manufacturer}"`);
  if (id.model) parts.push(`"${id.model}"`);
  return parts.join(', ') || 'nothing identifying';
}

/**
 * The profile a node enrolls with: the one the site pins (the site says what
 * the node is), else the best match of the BMC's identity. Throws when the
 * pinned one does not exist or nothing matches.
 */
export function chooseProfile(pinned: string | undefined, id: IdentityFacts, profiles: readonly HardwareProfile[]): string {
  if (pinned) {
    if (!profiles.some((p) => p.name === pinned)) throw new Error(`hardware profile "${pinned}" does not exist`);
    return pinned;
  }
  const m = matchProfile(id, profiles);
  if (!m) throw new Error(`no hardware profile matches ${describeIdentity(id)}; add one or set the node's profile`);
  return m.profile.name;
}
