/**
 * One power-on of a simulated node, from the firmware on:
 *   bootdev pxe:  PXE ROM DHCP (arch 0/7) -> TFTP first stage (bytes checked
 *                 against the file the seed serves) -> iPXE DHCP (user class
 *                 iPXE) -> its script over HTTP -> what the script says:
 *                 the ramdisk (agent.ts), the local disk, or exit;
 *   bootdev disk: the disk, if it holds a verified image: the installed OS
 *                 gets a lease and posts its first-boot callback.
 * A reboot starts over with the boot device of that moment; a power off
 * (the BMC) aborts `signal` wherever the node is.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import path from 'node:path';
import { type DiskLabel, diskLabelFile, type PowerAction, runRamdisk } from './agent.js';
import { dhcpLease, type DhcpLease, type DhcpStage, DhcpTimeout } from './dhcp-client.js';
import { simArch, type SimNodeSpec, simUuid } from './hardware.js';
import { simHttp } from './http-client.js';
import { SIM_IFACE, setSimAddress } from './net.js';
import { tftpGet } from './tftp-client.js';
import type { SimFault } from './faults.js';

export type CounterKind = 'dhcp' | 'tftp' | 'http' | 'bytes';

/** Where a node's boot reports to (the daemon keeps it per node). */
export interface SimRecorder {
  phase(name: string, detail?: string): void;
  count(kind: CounterKind, n?: number): void;
}

/** How a power-on ends: powered off by the node itself, or up and idle (OS running, or firmware with nothing to boot). */
export type BootOutcome = 'poweroff' | 'idle';

/** The first stages the seed serves over TFTP (Debian's `ipxe` package): a transfer must match them byte for byte. */
export const FIRST_STAGE_DIR = '/usr/lib/ipxe';

const stageHashes = new Map<string, string | null>();
function firstStageHash(file: string): string | null {
  if (!stageHashes.has(file)) {
    const p = path.join(FIRST_STAGE_DIR, path.basename(file));
    stageHashes.set(file, existsSync(p) ? createHash('sha256').update(readFileSync(p)).digest('hex') : null);
  }
  return stageHashes.get(file)!;
}

type ScriptAction = { kind: 'ramdisk'; kernel: string; initrd: string; args: string[] } | { kind: 'disk' } | { kind: 'exit' } | { kind: 'chain'; url: string };

/**
 * The part of iPXE's script language kseed's scripts use (src/boot/ipxe.ts):
 * kernel/initrd/boot, sanboot, exit, chain, and `iseq ${platform} efi && A || B`.
 */
export function interpretScript(text: string, o: { platform: 'pcbios' | 'efi'; macHyp: string }): ScriptAction {
  let kernel: { url: string; args: string[] } | undefined;
  let initrd: string | undefined;
  const expand = (w: string) => w.replace(/\$\{net0\/mac:hexhyp\}/g, o.macHyp).replace(/\$\{platform\}/g, o.platform);
  const step = (cmd: string): ScriptAction | undefined => {
    const w = cmd.trim().split(/\s+/).map(expand);
    switch (w[0]) {
      case 'kernel':
        kernel = { url: w[1] ?? '', args: w.slice(2) };
        return undefined;
      case 'initrd':
        initrd = w[1];
        return undefined;
      case 'boot':
        return kernel && initrd ? { kind: 'ramdisk', kernel: kernel.url, initrd, args: kernel.args } : { kind: 'exit' };
      case 'sanboot':
        return { kind: 'disk' };
      case 'exit':
        return { kind: 'exit' };
      case 'chain': {
        const url = w.slice(1).find((x) => !x.startsWith('--'));
        return url ? { kind: 'chain', url } : { kind: 'exit' };
      }
      default:
        return undefined;
    }
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('echo ')) continue;
    const cond = /^iseq\s+(\S+)\s+(\S+)\s+&&\s+(.+?)\s+\|\|\s+(.+)$/.exec(line);
    const a = cond ? step(expand(cond[1]!) === expand(cond[2]!) ? cond[3]! : cond[4]!) : /^(.+?)\s+&&\s+exit\s+\|\|/.exec(line) ? step(line.split('&&')[0]!) : step(line);
    if (a) return a;
  }
  return { kind: 'exit' };
}

export class SimBoot {
  private address: string | undefined;

  constructor(
    readonly spec: SimNodeSpec,
    readonly signal: AbortSignal,
    private readonly rec: SimRecorder,
    /** none|pxe|default|... as IPMI last set it (`default` = disk). */
    private readonly bootdev: () => string,
    /** Faults of this power-on (faults.ts). */
    readonly faults: ReadonlySet<SimFault> = new Set(),
  ) {}

  phase(name: string, detail?: string): void {
    this.rec.phase(name, detail);
  }

  count(kind: CounterKind, n = 1): void {
    this.rec.count(kind, n);
  }

  /** Leaves the network as a powered-off NIC does. */
  async release(): Promise<void> {
    await setSimAddress('ip', this.spec.netns, undefined).catch(() => undefined);
  }

  private async dhcp(stage: DhcpStage): Promise<DhcpLease> {
    // a NIC that sends nothing: to the firmware, as if no server answered
    if (this.faults.has('no-dhcp')) throw new DhcpTimeout(`fault no-dhcp: ${this.spec.mac} sent no DHCP`);
    const lease = await dhcpLease({
      netns: this.spec.netns,
      device: SIM_IFACE,
      mac: this.spec.mac,
      stage,
      arch: simArch(this.spec),
      uuid: simUuid(this.spec),
      hostname: this.spec.name,
      signal: this.signal,
      onSend: () => this.count('dhcp'),
    });
    const cidr = `${lease.address}/${lease.prefix}`;
    if (cidr !== this.address) {
      await setSimAddress('ip', this.spec.netns, cidr);
      this.address = cidr;
    }
    return lease;
  }

  /** The DHCP of a Linux userland (the ramdisk's or the OS's udhcpc). */
  async osDhcp(what: string): Promise<DhcpLease> {
    this.phase(`${what}-dhcp`);
    return this.dhcp('os');
  }

  async run(): Promise<BootOutcome> {
    for (;;) {
      const dev = this.bootdev();
      const r: PowerAction | BootOutcome = dev === 'default' ? await this.diskBoot() : await this.pxeBoot();
      this.signal.throwIfAborted();
      if (r !== 'reboot') return r;
      this.phase('reboot');
    }
  }

  /** No boot file, or iPXE exited: BIOS moves on to the disk; UEFI (as OVMF does) stops in its menu. */
  private nextDevice(why: string): Promise<PowerAction | BootOutcome> {
    this.phase('firmware-next', why);
    return this.spec.firmware === 'bios' ? this.diskBoot() : Promise.resolve('idle');
  }

  private async pxeBoot(): Promise<PowerAction | BootOutcome> {
    this.phase('pxe-dhcp');
    let pxe: DhcpLease;
    try {
      pxe = await this.dhcp('pxe');
    } catch (e) {
      // PXE-E51: the ROM gives up and the firmware moves on
      if (e instanceof DhcpTimeout) return this.nextDevice(`PXE-E51: ${e.message}`);
      throw e;
    }
    if (!pxe.bootFile || !pxe.nextServer) return this.nextDevice(`no boot file offered to ${this.spec.mac}`);
    this.phase('tftp', pxe.bootFile);
    const t = await tftpGet({ netns: this.spec.netns, localIp: pxe.address, server: pxe.nextServer, file: pxe.bootFile, signal: this.signal });
    this.count('tftp', t.sent);
    const want = firstStageHash(pxe.bootFile);
    if (want !== null && t.sha256 !== want) throw new Error(`TFTP ${pxe.bootFile}: ${t.bytes} bytes with sha256 ${t.sha256}, not the ${FIRST_STAGE_DIR} file's ${want}`);
    if (want === null && t.bytes === 0) throw new Error(`TFTP ${pxe.bootFile}: empty file`);
    this.phase('ipxe-dhcp');
    const ipxe = await this.dhcp('ipxe');
    if (!ipxe.bootFile?.startsWith('http://')) return this.nextDevice(`iPXE got no script URL (${ipxe.bootFile ?? 'none'})`);
    let url = ipxe.bootFile;
    const platform = this.spec.firmware === 'uefi' ? 'efi' : 'pcbios';
    for (let depth = 0; depth < 4; depth++) {
      this.phase('ipxe-script');
      this.count('http');
      const r = await simHttp({ netns: this.spec.netns, url, signal: this.signal });
      if (r.status !== 200) return this.nextDevice(`iPXE script ${url}: HTTP ${r.status}`);
      const a = interpretScript(r.body.toString(), { platform, macHyp: this.spec.mac.toLowerCase().replace(/:/g, '-') });
      if (a.kind === 'chain') {
        url = a.url;
        continue;
      }
      if (a.kind === 'disk') return this.diskBoot();
      if (a.kind === 'exit') return this.nextDevice('iPXE script exited');
      return this.ramdisk(a);
    }
    throw new Error(`iPXE: more than 4 chained scripts from ${ipxe.bootFile}`);
  }

  private async ramdisk(a: { kernel: string; initrd: string; args: string[] }): Promise<PowerAction> {
    this.phase('ramdisk-fetch');
    for (const u of [a.kernel, a.initrd]) {
      this.count('http');
      const r = await simHttp({ netns: this.spec.netns, url: u, signal: this.signal, timeoutMs: 60_000, onData: () => undefined });
      if (r.status !== 200) throw new Error(`iPXE: ${u}: HTTP ${r.status}`);
      const len = Number(r.headers['content-length'] ?? r.bytes);
      if (r.bytes !== len) throw new Error(`iPXE: ${u}: ${r.bytes} of ${len} bytes`);
      this.count('bytes', r.bytes);
    }
    const arg = (k: string) => a.args.find((x) => x.startsWith(`${k}=`))?.slice(k.length + 1);
    const url = arg('kseed.url');
    const node = arg('kseed.node');
    const token = arg('kseed.token');
    const mac = arg('kseed.mac') ?? this.spec.mac;
    // templates/ramdisk/init: without these it powers off
    if (!url || !node || !token) {
      this.phase('ramdisk-fatal', 'kseed.url, kseed.node and kseed.token are required on the kernel command line');
      return 'poweroff';
    }
    this.phase('ramdisk');
    return runRamdisk(this, { url, node, token, mac });
  }

  /** The bootloader reads back what the deploy wrote; only a disk that holds it boots. */
  private async diskBoot(): Promise<BootOutcome> {
    this.phase('disk-boot');
    let label: DiskLabel;
    try {
      label = JSON.parse(readFileSync(diskLabelFile(this.spec.diskFile), 'utf8')) as DiskLabel;
    } catch {
      this.phase('no-bootable-disk');
      return 'idle';
    }
    const h = createHash('sha256');
    const fd = openSync(this.spec.diskFile, 'r');
    try {
      const buf = Buffer.alloc(1024 * 1024);
      for (let pos = 0; pos < label.imageBytes; ) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, label.imageBytes - pos), pos);
        if (n <= 0) break;
        h.update(buf.subarray(0, n));
        pos += n;
      }
    } finally {
      closeSync(fd);
    }
    if (h.digest('hex') !== label.written) {
      this.phase('no-bootable-disk', 'the disk does not hold the image that was written');
      return 'idle';
    }
    this.phase('os');
    const lease = await this.osDhcp('os');
    const body = new URLSearchParams({ hostname: label.node, stage: 'booted', instance_id: label.node, boot_mode: this.spec.firmware, ip: lease.address }).toString();
    this.count('http');
    const r = await simHttp({
      netns: this.spec.netns,
      url: `${label.url}/v1/callback/${label.node}`,
      method: 'POST',
      headers: { authorization: `Bearer ${label.token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body,
      signal: this.signal,
    });
    this.phase(r.status < 300 ? 'booted' : 'callback-refused', `HTTP ${r.status}`);
    return 'idle';
  }
}
