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
import { simHttp, SimHttpError, SimHttpTimeout } from './http-client.js';
import { SIM_IFACE, setSimAddress } from './net.js';
import { TftpError, tftpGet } from './tftp-client.js';
import type { SimFault } from './faults.js';

/**
 * The OS's first-boot callback: tries and pause between them, as kseed's
 * node OS sends it (templates/os/kseed-callback: 40 tries 3 s apart, then
 * it gives up until the next boot).
 */
const CALLBACK_TRIES = 40;
const CALLBACK_RETRY_MS = 3000;

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

/**
 * A network boot step that failed as it does when the seed is down (no answer, refused, reset):
 * the PXE ROM (PXE-E32) and iPXE (its script fails, iPXE exits) hand back to the firmware, which
 * moves on to its next boot device. Anything else (wrong bytes) is the simulator's error.
 */
function seedUnreachable(e: unknown): boolean {
  return e instanceof TftpError || e instanceof DhcpTimeout || e instanceof SimHttpTimeout || (!(e instanceof SimHttpError) && typeof (e as { code?: unknown }).code === 'string');
}

type ScriptAction = { kind: 'ramdisk'; kernel: string; initrd: string; args: string[] } | { kind: 'disk' } | { kind: 'exit' } | { kind: 'chain'; url: string };

/**
 * The part of iPXE's script language that kseed's scripts (src/boot/ipxe.ts)
 * and Ironic's per-node config (its ipxe_config.template: labels, `goto`,
 * `kernel --timeout N ... || goto retry`, imgfree, set/inc/sleep) use:
 * kernel/initrd/boot, sanboot, exit, poweroff, chain, `:label`/`goto`,
 * `A || B` (every command the simulator reaches succeeds, so A) and
 * `iseq X Y && A || B`. A script that loops without booting ends as exit.
 */
export function interpretScript(text: string, o: { platform: 'pcbios' | 'efi'; macHyp: string }): ScriptAction {
  let kernel: { url: string; args: string[] } | undefined;
  let initrd: string | undefined;
  const expand = (w: string) => w.replace(/\$\{(?:net0\/)?mac:hexhyp\}/g, o.macHyp).replace(/\$\{platform\}/g, o.platform);
  // options before the URL: `--timeout 60000`, `--name x`, `--drive 0x80`, `--autofree`
  const valued = new Set(['--timeout', '--name', '--drive']);
  const url = (w: string[]): { url: string; rest: string[] } => {
    let i = 1;
    while (w[i]?.startsWith('--')) i += valued.has(w[i]!) ? 2 : 1;
    return { url: w[i] ?? '', rest: w.slice(i + 1) };
  };
  const step = (cmd: string): ScriptAction | { goto: string } | undefined => {
    const w = cmd.trim().split(/\s+/).map(expand);
    switch (w[0]) {
      case 'kernel': {
        const k = url(w);
        kernel = { url: k.url, args: k.rest };
        return undefined;
      }
      case 'initrd':
        initrd = url(w).url;
        return undefined;
      case 'boot':
        return kernel && initrd ? { kind: 'ramdisk', kernel: kernel.url, initrd, args: kernel.args } : { kind: 'exit' };
      case 'sanboot':
        // the local disk; a sanboot of a URL (an ISO) is no disk the simulator has
        return url(w).url ? { kind: 'exit' } : { kind: 'disk' };
      case 'exit':
      case 'poweroff':
        return { kind: 'exit' };
      case 'goto':
        return { goto: w[1] ?? '' };
      case 'chain': {
        const c = url(w).url;
        return c ? { kind: 'chain', url: c } : { kind: 'exit' };
      }
      default:
        return undefined;
    }
  };
  const line1 = (line: string): ScriptAction | { goto: string } | undefined => {
    const cond = /^iseq\s+(\S+)\s+(\S+)\s+&&\s+(.+?)\s+\|\|\s*(.*)$/.exec(line);
    if (cond) {
      const then = expand(cond[1]!) === expand(cond[2]!) ? cond[3]! : cond[4]!;
      return then ? step(then) : undefined;
    }
    // `A && exit || B`, `A || B`: A succeeds here
    return step(line.split(/\s+(?:&&|\|\|)\s+/)[0]!);
  };
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#') && !l.startsWith('echo '));
  const labels = new Map(lines.flatMap((l, i) => (l.startsWith(':') ? [[l.slice(1), i] as const] : [])));
  let pc = 0;
  for (let steps = 0; pc < lines.length && steps < 1000; steps++) {
    const line = lines[pc++]!;
    if (line.startsWith(':')) continue;
    const a = line1(line);
    if (a && 'goto' in a) {
      // iPXE fails a goto to no label, which ends the script
      if (!labels.has(a.goto)) return { kind: 'exit' };
      pc = labels.get(a.goto)!;
    } else if (a) return a;
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

  /**
   * The DHCP of a Linux userland. It outlasts a seed that is down (a
   * restart) as the real ones do: kseed's ramdisk runs udhcpc in 3 rounds
   * (templates/ramdisk/init, about 48 s) before it gives up; the installed
   * OS's client (dhclient, systemd-networkd) never gives up.
   */
  async osDhcp(what: string): Promise<DhcpLease> {
    this.phase(`${what}-dhcp`);
    for (let round = 1; ; round++) {
      try {
        return await this.dhcp('os');
      } catch (e) {
        if (!(e instanceof DhcpTimeout) || this.faults.has('no-dhcp') || this.signal.aborted || (what !== 'os' && round >= 3)) throw e;
        this.phase(`${what}-dhcp-retry`, e.message);
      }
    }
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
    let a: Exclude<ScriptAction, { kind: 'chain' }> | { kind: 'next'; why: string };
    try {
      a = await this.firstStage(pxe.address, pxe.bootFile, pxe.nextServer);
      if (a.kind === 'ramdisk') await this.fetchRamdisk(a);
    } catch (e) {
      if (this.signal.aborted || !seedUnreachable(e)) throw e;
      a = { kind: 'next', why: `network boot failed: ${(e as Error).message}` };
    }
    if (a.kind === 'next') return this.nextDevice(a.why);
    if (a.kind === 'disk') return this.diskBoot();
    if (a.kind === 'exit') return this.nextDevice('iPXE script exited');
    return this.ramdisk(a);
  }

  /** From the TFTP first stage to the action of iPXE's script; `next`: iPXE exits to the firmware. */
  private async firstStage(address: string, bootFile: string, nextServer: string): Promise<Exclude<ScriptAction, { kind: 'chain' }> | { kind: 'next'; why: string }> {
    const t = await tftpGet({ netns: this.spec.netns, localIp: address, server: nextServer, file: bootFile, signal: this.signal });
    this.count('tftp', t.sent);
    const want = firstStageHash(bootFile);
    if (want !== null && t.sha256 !== want) throw new Error(`TFTP ${bootFile}: ${t.bytes} bytes with sha256 ${t.sha256}, not the ${FIRST_STAGE_DIR} file's ${want}`);
    if (want === null && t.bytes === 0) throw new Error(`TFTP ${bootFile}: empty file`);
    this.phase('ipxe-dhcp');
    const ipxe = await this.dhcp('ipxe');
    if (!ipxe.bootFile?.startsWith('http://')) return { kind: 'next', why: `iPXE got no script URL (${ipxe.bootFile ?? 'none'})` };
    let url = ipxe.bootFile;
    const platform = this.spec.firmware === 'uefi' ? 'efi' : 'pcbios';
    for (let depth = 0; depth < 4; depth++) {
      this.phase('ipxe-script');
      this.count('http');
      const r = await simHttp({ netns: this.spec.netns, url, signal: this.signal });
      if (r.status !== 200) return { kind: 'next', why: `iPXE script ${url}: HTTP ${r.status}` };
      const a = interpretScript(r.body.toString(), { platform, macHyp: this.spec.mac.toLowerCase().replace(/:/g, '-') });
      if (a.kind !== 'chain') return a;
      url = a.url;
    }
    throw new Error(`iPXE: more than 4 chained scripts from ${ipxe.bootFile}`);
  }

  /** iPXE's `kernel` and `initrd`: every byte of both, or the script fails. */
  private async fetchRamdisk(a: { kernel: string; initrd: string }): Promise<void> {
    this.phase('ramdisk-fetch');
    for (const u of [a.kernel, a.initrd]) {
      this.count('http');
      const r = await simHttp({ netns: this.spec.netns, url: u, signal: this.signal, timeoutMs: 60_000, onData: () => undefined });
      if (r.status !== 200) throw new Error(`iPXE: ${u}: HTTP ${r.status}`);
      const len = Number(r.headers['content-length'] ?? r.bytes);
      if (r.bytes !== len) throw new Error(`iPXE: ${u}: ${r.bytes} of ${len} bytes`);
      this.count('bytes', r.bytes);
    }
  }

  private async ramdisk(a: { kernel: string; initrd: string; args: string[] }): Promise<PowerAction> {
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
    // a seed down (restarting) at that moment is waited out, for 2 minutes
    for (let attempt = 1; ; attempt++) {
      this.count('http');
      try {
        const r = await simHttp({
          netns: this.spec.netns,
          url: `${label.url}/v1/callback/${label.node}`,
          method: 'POST',
          headers: { authorization: `Bearer ${label.token}`, 'content-type': 'application/x-www-form-urlencoded' },
          body,
          signal: this.signal,
        });
        if (r.status >= 500 && attempt < CALLBACK_TRIES) throw new SimHttpError(`HTTP ${r.status}`);
        this.phase(r.status < 300 ? 'booted' : 'callback-refused', `HTTP ${r.status}`);
        return 'idle';
      } catch (err) {
        if (this.signal.aborted || attempt >= CALLBACK_TRIES) throw err;
        this.phase('callback-retry', (err as Error).message);
        await new Promise((r) => setTimeout(r, CALLBACK_RETRY_MS));
      }
    }
  }
}
