/**
 * iPXE scripts the seed hands out. Facts measured in the lab
 * (shared/reference/lab.md sections 3-4):
 * - UEFI (OVMF + iPXE 2019) needs `initrd=<image name>` on the kernel command
 *   line or the EFI stub never sees the initrd; BIOS ignores it, so it is always set.
 * - `exit` inside a chained script only leaves that script: the top-level
 *   script must `chain ... && exit` so the firmware moves on to the next device.
 * - Local boot: BIOS `sanboot --no-describe --drive 0x80`; UEFI `exit` (the
 *   firmware then tries the next Boot#### entry).
 */

/** Characters that are safe in an iPXE command line word: no spaces, no `${}` expansion, no `&|#`. */
const SAFE_WORD = /^[A-Za-z0-9._~:/@%+=,-]+$/;

export class IpxeScriptError extends Error {}

function word(v: string, what: string): string {
  if (!SAFE_WORD.test(v)) throw new IpxeScriptError(`${what} ${JSON.stringify(v)} is not safe in an iPXE script`);
  return v;
}

/** Text for an `echo`: iPXE expands ${...}, so `$` is dropped, like control characters. */
function echoText(v: string): string {
  // eslint-disable-next-line no-control-regex
  return v.replace(/[$\x00-\x1f\x7f]/g, '');
}

export interface RamdiskBoot {
  /** Base URL of the seed's HTTP server, e.g. http://10.77.0.1:8080 (kseed.url). */
  seedUrl: string;
  node: string;
  token: string;
  /** The MAC the node PXE-booted from, colon form. */
  mac: string;
  /** Full URLs of the deploy kernel and initramfs. */
  kernelUrl: string;
  initrdUrl: string;
  /** Extra kernel arguments, default ["console=ttyS0"]. */
  args?: string[];
  /** Shown on the console: deploy, inspect ... */
  purpose?: string;
}

/** Last path segment of a URL: the name iPXE gives the image it fetched. */
export function imageName(url: string): string {
  const path = url.replace(/[?#].*$/, '');
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The docs/AGENT-API.md kernel command line of the deploy ramdisk, word by word (also the virtual-media CD's). */
export function ramdiskArgs(b: Omit<RamdiskBoot, 'kernelUrl' | 'initrdUrl' | 'purpose'>): string[] {
  return [
    `kseed.url=${word(b.seedUrl, 'seed URL')}`,
    `kseed.node=${word(b.node, 'node name')}`,
    `kseed.token=${word(b.token, 'token')}`,
    `kseed.mac=${word(b.mac, 'MAC')}`,
    ...(b.args ?? ['console=ttyS0']).map((a) => word(a, 'kernel argument')),
  ];
}

/** Boot the deploy ramdisk with the docs/AGENT-API.md kernel command line. */
export function ramdiskScript(b: RamdiskBoot): string {
  const initrdName = word(imageName(b.initrdUrl), 'initrd name');
  const args = [...ramdiskArgs(b), `initrd=${initrdName}`];
  return [
    '#!ipxe',
    `echo kseed: ${echoText(b.node)}: ${echoText(b.purpose ?? 'deploy')} ramdisk`,
    `kernel ${word(b.kernelUrl, 'kernel URL')} ${args.join(' ')}`,
    `initrd ${word(b.initrdUrl, 'initrd URL')}`,
    'boot',
    '',
  ].join('\n');
}

/** Boot the installed OS from the first local disk, BIOS or UEFI decided by iPXE at run time. */
export function localBootScript(node: string): string {
  return [
    '#!ipxe',
    `echo kseed: ${echoText(node)}: booting from local disk`,
    'iseq ${platform} efi && exit || sanboot --no-describe --drive 0x80',
    'exit',
    '',
  ].join('\n');
}

/** For unknown MACs and nodes with nothing to do: never deploys, leaves iPXE. */
export function noBootScript(reason: string): string {
  return ['#!ipxe', `echo kseed: ${echoText(reason)}`, 'exit', ''].join('\n');
}

/**
 * Generic first script (e.g. the DHCP boot file for iPXE clients): chains the
 * per-MAC script and exits when that script exits, so `exit` there reaches the firmware.
 */
export function chainScript(seedUrl: string): string {
  return [
    '#!ipxe',
    `chain --autofree ${word(seedUrl, 'seed URL')}/boot/\${net0/mac:hexhyp}.ipxe && exit || echo kseed: no boot script from the seed`,
    'exit',
    '',
  ].join('\n');
}

/**
 * Hand the boot over to another script (Ironic's per-node config in the
 * Ironic stack). It carries no token: whoever wrote that script put its own.
 * When the chain fails the node leaves iPXE: never a deploy by accident.
 */
export function chainToScript(node: string, url: string): string {
  return [
    '#!ipxe',
    `echo kseed: ${echoText(node)}: chaining to ${echoText(url)}`,
    `chain --autofree ${word(url, 'chain URL')} || echo kseed: ${echoText(node)}: no script at ${echoText(url)}`,
    'exit',
    '',
  ].join('\n');
}

/** URL of a MAC's per-node script on the seed, e.g. for the DHCP boot file of iPXE clients. */
export function ipxeScriptUrl(seedUrl: string, mac: string): string {
  const m = mac.toLowerCase();
  if (!/^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/.test(m)) throw new IpxeScriptError(`${JSON.stringify(mac)} is not a MAC address`);
  return `${seedUrl.replace(/\/+$/, '')}/boot/${m.replace(/:/g, '-')}.ipxe`;
}
