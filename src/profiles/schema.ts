/**
 * Hardware profile schema: how to recognise a vendor/model family from
 * what its BMC reports, and how to drive it (protocol, timeouts, boot,
 * Ironic interfaces, quirks). One YAML file per family in hardware-profiles/.
 */
import { z } from '../util/vendor/zod.js';
import { RootDevice } from '../site/schema.js';
import type { RootDeviceHint } from '../site/types.js';

/**
 * Known quirks: code acts on these ids, so they are a closed list.
 * The description is what `kseed validate`/docs print.
 */
export const QUIRKS = {
  'uefi-snponly':
    'UEFI PXE must chainload snponly.efi (iPXE over the firmware NIC driver): ipxe.efi with its own drivers does not see the NIC',
  'ipmi-lan-disabled-by-default': 'IPMI over LAN ships disabled: enable it in the BMC, or use Redfish',
  'ipmi-no-cipher-suite-list': 'no "Get Channel Cipher Suites": pin the cipher suite or each session waits for a timeout first',
  'bootdev-needs-efi-flag': 'set boot device must carry the EFI flag on every call, or the BMC reverts the boot to legacy',
  'bootdev-not-forwarded': 'boot device changes are acknowledged but do not reach the host; boot order must already try PXE first',
  'redfish-self-signed-cert': 'the BMC presents a self-signed TLS certificate out of the box',
  'redfish-slow-power': 'power actions are accepted before they take effect: poll the state instead of trusting the reply',
  'bmc-session-limit': 'few concurrent BMC sessions: keep one session per BMC and close it',
  'power-off-settle': 'after power off, wait a few seconds before power on or the request is ignored',
} as const;
export type Quirk = keyof typeof QUIRKS;
const QUIRK_IDS = Object.keys(QUIRKS) as [Quirk, ...Quirk[]];

const regex = z.string().superRefine((s, ctx) => {
  try {
    new RegExp(s, 'i');
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(err as Error).message}` });
  }
});

const u24 = z.number().int().min(0).max(0xffffff);

export type IdRange = { min: number; max: number };

/** 0x0f02, 3842, or a range "0x0100-0x01ff". */
const productId = z.union([z.number(), z.string()]).transform((v, ctx): IdRange => {
  const bad = () => {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a product id: a number 0-65535 or a range like 0x0100-0x01ff` });
    return z.NEVER;
  };
  const num = (s: string) => (/^(0x[0-9a-f]+|\d+)$/i.test(s.trim()) ? Number(s.trim()) : NaN);
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= 0xffff ? { min: v, max: v } : bad();
  const parts = v.split('-');
  const [a, b] = parts.length === 2 ? [num(parts[0]!), num(parts[1]!)] : [num(v), num(v)];
  if (parts.length > 2 || Number.isNaN(a) || Number.isNaN(b) || a > b || b > 0xffff) return bad();
  return { min: a, max: b };
});

export const Match = z
  .strictObject({
    ipmi: z
      .strictObject({
        // IANA Private Enterprise Numbers, as Get Device ID reports them (IPMI 2.0 section 20.1)
        manufacturer_id: z.array(u24).min(1),
        product_id: z.array(productId).min(1).optional(),
      })
      .optional(),
    fru: z.strictObject({ manufacturer: regex.optional(), product_name: regex.optional(), board_product: regex.optional() }).optional(),
    redfish: z.strictObject({ manufacturer: regex.optional(), model: regex.optional() }).optional(),
  })
  .superRefine((m, ctx) => {
    if (!m.ipmi && !m.fru && !m.redfish) ctx.addIssue({ code: 'custom', message: 'give at least one of ipmi, fru, redfish: a profile nothing matches is dead' });
  });

const ironicIface = (values: [string, ...string[]]) => z.enum(values);

export const Profile = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and hyphens'),
  description: z.string().min(1),
  vendor: z.string().min(1),
  match: Match,
  bmc: z.strictObject({
    protocol: z.enum(['ipmi', 'redfish']),
    cipher_suite: z
      .number()
      .superRefine((v, ctx) => {
        if (v !== 3 && v !== 17) ctx.addIssue({ code: 'custom', message: `cipher suite ${v} is not supported: use 3 (SHA1) or 17 (SHA256)` });
      })
      .transform((v) => v as 3 | 17)
      .optional(),
    privilege: z.enum(['operator', 'administrator']).optional(),
    timeout_ms: z.number().int().min(100).max(600_000),
    retries: z.number().int().min(0).max(20),
    insecure_tls: z.boolean().optional(),
  }),
  boot: z.strictObject({
    mode: z.enum(['uefi', 'bios']),
    /** Which NIC PXE-boots, in the vendor's words (for messages and docs). */
    pxe_nic: z.string().min(1).optional(),
    /** iPXE binary the DHCP server hands this family, by firmware mode. */
    ipxe_efi: z.enum(['snponly.efi', 'ipxe.efi']).optional(),
    ipxe_bios: z.enum(['undionly.kpxe', 'ipxe.pxe']).optional(),
  }),
  root_device: RootDevice.optional(),
  ironic: z.strictObject({
    driver: ironicIface(['ipmi', 'redfish', 'idrac', 'ilo', 'ilo5', 'irmc']),
    boot: ironicIface(['ipxe', 'pxe', 'redfish-virtual-media', 'http-ipxe', 'idrac-redfish-virtual-media', 'ilo-ipxe', 'ilo-virtual-media']),
    deploy: ironicIface(['direct', 'ramdisk']),
    power: ironicIface(['ipmitool', 'redfish', 'idrac-redfish', 'ilo']),
    management: ironicIface(['ipmitool', 'redfish', 'idrac-redfish', 'ilo', 'ilo5', 'noop']),
    inspect: ironicIface(['inspector', 'agent', 'redfish', 'idrac-redfish', 'ilo', 'no-inspect']),
  }),
  quirks: z.array(z.enum(QUIRK_IDS)).optional(),
});

type ProfileOut = z.output<typeof Profile>;
export interface HardwareProfile extends Omit<ProfileOut, 'quirks' | 'root_device'> {
  quirks: Quirk[];
  root_device?: RootDeviceHint;
  /** Absolute path of the file it came from. */
  source: string;
}
