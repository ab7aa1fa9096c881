/**
 * The site file schema (zod 4). Leaf checks carry their own messages; the
 * generic ones (wrong type, missing, unknown key) are worded in load.ts
 * from the issue and the offending YAML node, so every message can name the
 * value it rejects (except secrets, which are never echoed).
 *
 * Cross-field rules (duplicates, subnet arithmetic, known profiles) live in
 * check.ts because they must run even when some other part of the file is
 * malformed: we report every problem at once.
 */
import { z } from '../util/vendor/zod.js';
import type {
  BmcSpec,
  HandoffSpec,
  ImageSpec,
  IronicSpec,
  RegistrySpec,
  RootDeviceHint,
  Role,
  SecretRef,
} from './types.js';
import { ROLES } from './types.js';
import { isHostLabel, isHostname, isIPv4, normalizeMac, parseCidr } from './net.js';
import { NetworkDefaultsSchema, NodeNetworkSchema } from './network.js';

// A kseed process parses a site file once: zod's JIT (an object parser
// compiled with new Function on its first parse) costs more than it saves
// there, and is on the start-up path of every command (issue 16).
z.config({ jitless: true });

const str = (what: string, ok: (s: string) => boolean, explain?: string) =>
  z.string().superRefine((s, ctx) => {
    if (!ok(s)) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(s)} is not ${what}${explain ? ` (${explain})` : ''}` });
  });

export const Ipv4 = str('an IPv4 address', isIPv4);
const nonEmpty = z.string().min(1);
const port = z.number().int().min(1).max(65535);

/** MACs are normalised here so every later comparison is a string compare. */
export const Mac = z.union([z.string(), z.number()]).transform((s, ctx) => {
  if (typeof s === 'number') {
    // YAML reads an unquoted all-digit MAC as a number and drops leading zeros
    ctx.addIssue({ code: 'custom', message: `${s} is a number, not a MAC address: quote it` });
    return z.NEVER;
  }
  const m = normalizeMac(s);
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(s)} is not a MAC address` });
    return z.NEVER;
  }
  return m;
});

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A secret is a reference resolved at use time. Hand-written rather than a
 * zod union so the messages never quote the value (it may be a password).
 */
export const Secret = z.unknown().transform((v, ctx): SecretRef => {
  const bad = (message: string) => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  if (typeof v === 'string' || typeof v === 'number') {
    return bad('secrets are references, not plain values: write { env: NAME } or { file: PATH }');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return bad('must be { env: NAME } or { file: PATH }');
  const keys = Object.keys(v);
  const known = keys.filter((k) => k === 'env' || k === 'file' || k === 'value');
  if (known.length === 0) {
    const guess = keys.map((k) => suggest(k, ['env', 'file', 'value'])).find(Boolean);
    return bad(`a secret needs env or file: { env: NAME } or { file: PATH }${guess ? ` (did you mean "${guess}"?)` : ''}`);
  }
  if (known.length > 1 || keys.length > 1) return bad(`a secret has exactly one of env, file or value, not ${keys.join(' and ')}`);
  const k = known[0] as 'env' | 'file' | 'value';
  const val = (v as Record<string, unknown>)[k];
  if (typeof val !== 'string' || val.length === 0) return bad(`${k} must be a non-empty string`);
  if (k === 'env' && !ENV_NAME.test(val)) return bad(`${JSON.stringify(val)} is not an environment variable name`);
  return { [k]: val } as SecretRef;
});

export const RootDevice = z
  .strictObject({
    name: str('a device path', (s) => s.startsWith('/dev/'), 'e.g. /dev/sda').optional(),
    model: nonEmpty.optional(),
    vendor: nonEmpty.optional(),
    serial: nonEmpty.optional(),
    // Ironic compares the WWN as lsblk prints it: 0x + 16 or 32 hex digits
    wwn: str('a WWN', (s) => /^0x[0-9a-f]{16}([0-9a-f]{16})?$/i.test(s), 'e.g. 0x5000c500a1b2c3d4').optional(),
    hctl: str('an HCTL', (s) => /^\d+:\d+:\d+:\d+$/.test(s), 'host:channel:target:lun, e.g. 0:0:0:0').optional(),
    by_path: str('a by-path link', (s) => s.startsWith('/dev/disk/by-path/'), 'e.g. /dev/disk/by-path/pci-0000:00:1f.2-ata-1').optional(),
    rotational: z.boolean().optional(),
    size_gb: z
      .union([
        z.number().positive(),
        z
          .strictObject({ min: z.number().positive().optional(), max: z.number().positive().optional() })
          .superRefine((r, ctx) => {
            if (r.min === undefined && r.max === undefined) ctx.addIssue({ code: 'custom', message: 'give min, max or both' });
            else if (r.min !== undefined && r.max !== undefined && r.min > r.max)
              ctx.addIssue({ code: 'custom', message: `min ${r.min} is larger than max ${r.max}` });
          }),
      ])
      .optional(),
  })
  .superRefine((h, ctx) => {
    // an empty hint would let the deploy pick any disk, which the safety rule forbids
    if (Object.keys(h).length === 0) ctx.addIssue({ code: 'custom', message: 'an empty hint selects no disk: give at least one of name, size_gb, serial, wwn, model, vendor, hctl, by_path, rotational' });
  });

const CHECKSUM = /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/;

function inferFormat(url: string): 'raw' | 'qcow2' {
  return /\.qcow2(\.[a-z0-9]+)?$/i.test(url) ? 'qcow2' : 'raw';
}

export const Image = z
  .strictObject({
    url: str('an image URL', (s) => /^(https?|file):\/\/\S+$/.test(s), 'http://, https:// or file://'),
    checksum: z.string().superRefine((s, ctx) => {
      if (!CHECKSUM.test(s)) {
        ctx.addIssue({
          code: 'custom',
          message: `${JSON.stringify(s.length > 40 ? `${s.slice(0, 37)}...` : s)} is not a checksum: write sha256:<64 hex digits> or sha512:<128 hex digits>`,
        });
      }
    }),
    format: z.enum(['raw', 'qcow2']).optional(),
    compression: z.enum(['none', 'gzip', 'zstd', 'xz']).optional(),
  })
  .transform((i): ImageSpec => ({ ...i, format: i.format ?? inferFormat(i.url) }));

const bmcCommon = {
  type: z.enum(['ipmi', 'redfish']),
  port,
  username: nonEmpty,
  password: Secret,
  // IPMI v2 cipher suites 3 (HMAC-SHA1, AES-128) and 17 (HMAC-SHA256, AES-128): IPMI 2.0 spec table 22-20
  cipher_suite: z
    .number()
    .superRefine((v, ctx) => {
      if (v !== 3 && v !== 17) ctx.addIssue({ code: 'custom', message: `cipher suite ${v} is not supported: use 3 (SHA1) or 17 (SHA256)` });
    })
    .transform((v) => v as 3 | 17),
  kg: Secret,
  privilege: z.enum(['operator', 'administrator']),
  insecure_tls: z.boolean(),
  scheme: z.enum(['http', 'https']),
  timeout_ms: z.number().int().min(100).max(600_000),
  retries: z.number().int().min(0).max(20),
};
type BmcCommonKey = keyof typeof bmcCommon;
const partialCommon = Object.fromEntries(Object.entries(bmcCommon).map(([k, v]) => [k, v.optional()])) as {
  [K in BmcCommonKey]: z.ZodOptional<(typeof bmcCommon)[K]>;
};

/** defaults.bmc: everything but the address. */
export const BmcDefaults = z.strictObject(partialCommon);

/** A node's bmc before defaults are merged: only the address is mandatory here. */
export const NodeBmc = z.strictObject({
  address: str('an IPv4 address or host name', (s) => isIPv4(s) || (isHostname(s) && /[a-z]/i.test(s))),
  ...partialCommon,
});

export const RoleSchema = z.enum(ROLES as unknown as [Role, ...Role[]], {
  error: (iss) => {
    const guess = typeof iss.input === 'string' ? suggest(iss.input, ROLES) : undefined;
    return `unknown role ${JSON.stringify(iss.input)}${guess ? ` (did you mean "${guess}"?)` : ''}; roles are ${ROLES.join(', ')}`;
  },
});
const BootMode = z.enum(['uefi', 'bios']);
const BootVia = z.enum(['pxe', 'virtual-media']);

export const Node = z.strictObject({
  name: str('a valid node name', isHostLabel, 'lower-case letters, digits and hyphens, as in a host name'),
  bmc: NodeBmc,
  macs: z.array(Mac).min(1),
  roles: z.array(RoleSchema).optional(),
  profile: nonEmpty.optional(),
  root_device: RootDevice.optional(),
  image: Image.optional(),
  boot_mode: BootMode.optional(),
  boot: BootVia.optional(),
  ip: Ipv4.optional(),
  network: NodeNetworkSchema.optional(),
});

export type DhcpRange = { start: string; end: string };

/** `10.0.0.100-10.0.0.199` or `{ start, end }`. */
export const Range = z.union([z.string(), z.strictObject({ start: Ipv4, end: Ipv4 })]).transform((r, ctx): DhcpRange => {
  if (typeof r !== 'string') return r;
  const m = /^\s*([0-9.]+)\s*-\s*([0-9.]+)\s*$/.exec(r);
  if (!m || !isIPv4(m[1]!) || !isIPv4(m[2]!)) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(r)} is not a range: write FIRST-LAST, e.g. 10.77.0.100-10.77.0.199` });
    return z.NEVER;
  }
  return { start: m[1]!, end: m[2]! };
});

export const Seed = z.strictObject({
  // Linux IFNAMSIZ is 16 including the NUL
  interface: str('an interface name', (s) => /^[A-Za-z0-9_.:-]{1,15}$/.test(s), 'at most 15 characters, no spaces or slashes'),
  address: z.string().superRefine((s, ctx) => {
    if (!parseCidr(s)) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(s)} is not an address with prefix length (CIDR), e.g. 10.77.0.1/24` });
  }),
  netns: str('a network namespace name', (s) => /^[A-Za-z0-9_.-]{1,64}$/.test(s)).optional(),
  dhcp: z.strictObject({
    // no default: whether kseed answers DHCP on a network is a decision the operator makes explicitly
    mode: z.enum(['authoritative', 'proxy', 'off']),
    range: Range.optional(),
    lease_seconds: z.number().int().min(60).max(86400 * 30).optional(),
    router: Ipv4.optional(),
    dns: z.array(Ipv4).optional(),
    discovery_pool: z.boolean().optional(),
  }),
  ports: z
    .strictObject({
      http: port.optional(),
      tftp: port.optional(),
      ironic_api: port.optional(),
      registry: port.optional(),
      inspector: port.optional(),
      api: port.optional(),
    })
    .optional(),
  // off only on purpose: then PXE firmware cannot boot from this seed (check.ts)
  tftp: z.strictObject({ enabled: z.boolean() }).optional(),
});

export const Registry = z.strictObject({
  enabled: z.boolean().optional(),
  username: str('a user name', (s) => /^[A-Za-z0-9._-]{1,64}$/.test(s)).optional(),
  password: Secret.optional(),
  upstream: str('a registry URL', (s) => /^https?:\/\/\S+$/.test(s)).optional(),
});

/** Each conductor gets its own loopback address 127.0.89.<i> for JSON-RPC (render/model.ts). */
export const MAX_CONDUCTORS = 8;

export const Ironic = z.strictObject({
  deploy_kernel: nonEmpty.optional(),
  deploy_ramdisk: nonEmpty.optional(),
  deploy_interface: z.enum(['direct', 'ramdisk']).optional(),
  inspector: z.boolean().optional(),
  min_command_interval: z.number().min(0).max(60).optional(),
  // 2 or more: API, N conductors (JSON-RPC on 127.0.89.<i>) and MariaDB; see templates/stack/ironic
  conductors: z.number().int().min(1).max(MAX_CONDUCTORS).optional(),
});

export const Handoff = z.strictObject({
  ssh_user: str('a user name', (s) => /^[a-z_][a-z0-9_-]{0,31}$/.test(s)).optional(),
  ssh_key: nonEmpty.optional(),
  kolla: z
    .strictObject({
      release: nonEmpty.optional(),
      base_distro: z.enum(['debian', 'ubuntu', 'rocky', 'centos']).optional(),
      vip: Ipv4.optional(),
      network_interface: nonEmpty.optional(),
      neutron_external_interface: nonEmpty.optional(),
      enable: z.record(z.string(), z.boolean()).optional(),
    })
    .optional(),
  ceph: z
    .strictObject({
      image: nonEmpty.optional(),
      image_delivery: z.enum(['archive', 'registry']).optional(),
      osd: z
        .strictObject({
          data_devices: z
            .strictObject({ rotational: z.boolean().optional(), size: nonEmpty.optional(), model: nonEmpty.optional(), all: z.boolean().optional() })
            .optional(),
        })
        .optional(),
    })
    .optional(),
});

export const SiteFile = z.strictObject({
  site: str('a site name', (s) => /^[a-z0-9][a-z0-9-]{0,39}$/.test(s), 'lower-case letters, digits and hyphens; it names Compose projects'),
  engine: z.enum(['embedded', 'ironic']),
  seed: Seed,
  defaults: z
    .strictObject({
      bmc: BmcDefaults.optional(),
      image: Image.optional(),
      root_device: RootDevice.optional(),
      boot_mode: BootMode.optional(),
      boot: BootVia.optional(),
      profile: nonEmpty.optional(),
      network: NetworkDefaultsSchema.optional(),
    })
    .optional(),
  registry: Registry.optional(),
  ironic: Ironic.optional(),
  nodes: z.array(Node),
  handoff: Handoff.optional(),
});

export type SiteFileInput = z.output<typeof SiteFile>;

/** Defaults that fill the parsed file into a Site (types.ts). */
export const DEFAULT_PORTS = { http: 8080, tftp: 69, ironic_api: 6385, registry: 5000, inspector: 5050, api: 9480 } as const;
export const DEFAULT_LEASE_SECONDS = 3600;
export const DEFAULT_BMC_PORT = { ipmi: 623, redfish: 443 } as const;
export const DEFAULT_REGISTRY: RegistrySpec = { enabled: true, username: 'kseed' };
// min_command_interval=1: Ironic's default 5 s makes enroll->manageable 5.4 s instead of 1.5 s
// against ipmi_sim (reference/ironic-offline.md, timings), and real BMCs cope with 1 s
export const DEFAULT_IRONIC: IronicSpec = { deploy_interface: 'direct', inspector: false, min_command_interval: 1, conductors: 1 };
export const DEFAULT_HANDOFF: HandoffSpec = { ssh_user: 'root' };
export const DEFAULT_KOLLA = { release: '2024.1', base_distro: 'debian' } as const;

// Compile-time proof that the schema produces the contract types.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type _checks = [
  Assert<Same<z.output<typeof Image>, ImageSpec>>,
  Assert<Same<z.output<typeof RootDevice>, RootDeviceHint>>,
  Assert<Same<z.output<typeof Secret>, SecretRef>>,
  Assert<z.output<typeof BmcDefaults> extends Partial<Omit<BmcSpec, 'address'>> ? true : false>,
];

/** Closest candidate within a small edit distance, for "did you mean". */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  // "dell" for "dell-poweredge": a clear prefix is the likeliest intent
  const w = word.toLowerCase();
  const prefixed = candidates.filter((c) => w.length >= 3 && c.toLowerCase().startsWith(w));
  if (prefixed.length === 1) return prefixed[0];
  // "ipmi-no-cipher-list" for "ipmi-no-cipher-suite-list": every word present, in order
  const words = w.split(/[-_]/).filter(Boolean);
  if (words.length >= 2) {
    const ordered = candidates.filter((c) => {
      let at = 0;
      for (const part of words) {
        const i = c.toLowerCase().indexOf(part, at);
        if (i < 0) return false;
        at = i + part.length;
      }
      return true;
    });
    if (ordered.length === 1) return ordered[0];
  }
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  const limit = word.length <= 4 ? 1 : word.length <= 8 ? 2 : 3;
  return bestD <= limit ? best : undefined;
}

function editDistance(a: string, b: string): number {
  // Damerau (adjacent transposition) matters: "adress", "mcas" are the usual typos
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
