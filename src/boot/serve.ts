/**
 * The embedded boot services composed: DHCP (authoritative, proxy or off),
 * TFTP (iPXE first stages) and HTTP (iPXE scripts, ramdisk artifacts, agent
 * API), all from one site (BootSite: the seed and its nodes) and one BootBackend. `kseed boot serve` and the
 * embedded engine run the same code.
 *
 * The chain a PXE client follows (lab.md 3.3):
 *   firmware PXE --DHCP--> undionly.kpxe / snponly.efi --TFTP--> iPXE
 *   iPXE (user class "iPXE") --DHCP--> http://seed/boot/<mac>.ipxe
 *   --HTTP--> per-node script by lifecycle state --> ramdisk or local disk or exit.
 * A NIC ROM that already is iPXE (QEMU's) skips the TFTP step.
 *
 * Only the seed's address is listened on for TFTP and HTTP, and DHCP is
 * bound to the interface (SO_BINDTODEVICE): nothing is served elsewhere.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { BootSite, DhcpMode } from './nodes.js';
import type { DhcpEvent, DhcpNode } from './dhcp/handlers.js';
import type { LeaseStore } from './dhcp/leases.js';
import { DhcpServer } from './dhcp/server.js';
import { HttpBootServer, type HttpEvent } from './http/server.js';
import type { BootBackend } from './http/types.js';
import { BootCounters, type BootCounterSnapshot } from './counters.js';
import { chainScript } from './ipxe.js';
import { NoiseLimiter, type LimitedLine, type NoiseLimiterOptions, type SuppressedSummary } from './log-limit.js';
import { interfaceAddresses, interfaceExists, NetifError } from './netif.js';
import { TftpServer, type TftpEvent } from './tftp/server.js';

/** Where Debian's `ipxe` package puts undionly.kpxe, snponly.efi, ipxe.efi. */
export const SYSTEM_IPXE_DIR = '/usr/lib/ipxe';

export type BootServiceEvent =
  | ({ service: 'dhcp' } & DhcpEvent)
  | ({ service: 'tftp' } & TftpEvent)
  | ({ service: 'http'; type: 'request' } & HttpEvent)
  | { service: 'serve'; type: 'warning' | 'error'; message: string }
  | SuppressedEvent;

/** Lines left out by the noise limit (log-limit.ts): `event` from `source`, `count` of them in `window_s`. */
export type SuppressedEvent = { service: 'serve'; type: 'suppressed'; message: string; event: string; source: string; count: number; window_s: number };

export interface BootServicesOptions {
  site: BootSite;
  backend: BootBackend;
  /** Overrides seed.interface. */
  interface?: string;
  /** Overrides seed.dhcp.mode. */
  dhcpMode?: DhcpMode;
  /** Persist leases (e.g. the state store's); default in memory. */
  leaseStore?: LeaseStore;
  /** Served under /artifacts/: the deploy kernel and initramfs (and images, if local). */
  artifactsDir?: string;
  /** Converted images (qcow2 -> raw.zst), served to their node under /v1/images/. */
  imagesDir?: string;
  /** File names under artifactsDir (or absolute URLs). */
  ramdisk: { kernel: string; initrd: string; args?: string[] };
  /** TFTP root holding the iPXE first stages; default SYSTEM_IPXE_DIR when present. */
  tftpRoot?: string;
  /** Override seed.ports.http / seed.ports.tftp (tests). */
  httpPort?: number;
  tftpPort?: number;
  /** Default: on in authoritative mode (see DhcpServerOptions.routerAdvertisements). */
  routerAdvertisements?: boolean;
  /** TFTP worker threads; default the TFTP server's own choice. */
  tftpWorkers?: number;
  log?: (e: BootServiceEvent) => void;
  /** The noise limit's settings (tests); default 10 lines per kind and source a minute. */
  noise?: NoiseLimiterOptions;
}

export interface BootServicesInfo {
  interface: string;
  seedAddress: string;
  dhcp: { mode: DhcpMode; ports: number[]; range?: { start: string; end: string }; nodes: number };
  /** Unset when the site turned TFTP off (seed.tftp.enabled: false). */
  tftp?: { address: string; port: number; root?: string };
  http: { address: string; port: number; url: string };
  artifactsDir?: string;
}

/** One DHCP entry per MAC of every site node: any of its NICs may PXE boot. */
export function dhcpNodes(site: BootSite): DhcpNode[] {
  const out: DhcpNode[] = [];
  for (const n of site.nodes) {
    n.macs.forEach((mac, i) => {
      // a fixed address belongs to the PXE NIC (the first MAC) only
      out.push({ mac: mac.toLowerCase(), name: n.name, ...(i === 0 && n.ip ? { ip: n.ip } : {}) });
    });
  }
  return out;
}

/**
 * The lines a stranger can cause by sending junk (issue 14 hole 5), with
 * the address that caused them: these go through the noise limit.
 */
export function noiseOf(e: BootServiceEvent): LimitedLine | undefined {
  switch (e.service) {
    case 'dhcp':
      if (e.type !== 'malformed' && e.type !== 'ignored' && e.type !== 'decline-ignored') return undefined;
      return { kind: `dhcp ${e.type}`, source: e.client ?? (e.mac || '?') };
    case 'tftp':
      return e.type === 'refused' ? { kind: 'tftp refused', source: e.client.replace(/:\d+$/, '') } : undefined;
    case 'http':
      return e.status >= 400 && e.status < 500 ? { kind: `http ${e.status}`, source: e.client } : undefined;
    default:
      return undefined;
  }
}

/** The summary line of a window's suppressed lines. */
export function suppressedEvent(s: SuppressedSummary): SuppressedEvent {
  return {
    service: 'serve',
    type: 'suppressed',
    message: `${s.suppressed} more "${s.kind}" lines from ${s.source} in ${s.windowSeconds} s not logged`,
    event: s.kind,
    source: s.source,
    count: s.suppressed,
    window_s: s.windowSeconds,
  };
}

export class BootServices {
  private dhcp: DhcpServer | undefined;
  private tftp: TftpServer | undefined;
  private http: HttpBootServer | undefined;
  private running = false;
  private readonly noise: NoiseLimiter;
  private expiry: NodeJS.Timeout | undefined;
  private readonly count = new BootCounters();
  /** DHCP's counts after a stop, so the last snapshot still has them. */
  private lastDhcp: BootCounterSnapshot['dhcp'] = { received: {}, sent: {}, ignored: {} };

  constructor(private readonly o: BootServicesOptions) {
    this.noise = new NoiseLimiter(o.noise);
  }

  /** TFTP's request-port counters, while it runs. */
  get tftpStats(): TftpServer['stats'] | undefined {
    return this.tftp ? { ...this.tftp.stats } : undefined;
  }

  /** Every line the noise limit saw, logged or not, by kind (`dhcp malformed`, `tftp refused`, `http 403`...). */
  get noiseCounters(): Record<string, number> {
    return { ...this.noise.counters };
  }

  private write(e: BootServiceEvent): void {
    try {
      this.o.log?.(e);
    } catch {
      /* a failing logger must not stop the services */
    }
  }

  /** Every DHCP, TFTP and HTTP event so far, counted before the noise limit (boot/counters.ts). */
  get counters(): BootCounterSnapshot {
    const d = this.dhcp?.counts ?? this.lastDhcp;
    return { dhcp: { received: { ...d.received }, sent: { ...d.sent }, ignored: { ...d.ignored } }, tftp: { ...this.count.tftp, failed: { ...this.count.tftp.failed } }, http: { requests: { ...this.count.http.requests }, bytes: this.count.http.bytes } };
  }

  private emit(e: BootServiceEvent): void {
    if (e.service === 'tftp') this.count.tftpEvent(e);
    else if (e.service === 'http') this.count.httpEvent(e);
    const n = noiseOf(e);
    if (n && !this.noise.admit(n, (s) => this.write(suppressedEvent(s)))) return;
    this.write(e);
  }

  /** DHCP runs when it is on; its live counters, for the CLI's summary. */
  get dhcpServer(): DhcpServer | undefined {
    return this.dhcp;
  }

  async start(): Promise<BootServicesInfo> {
    if (this.running) throw new Error('boot services already started');
    const { site } = this.o;
    const seed = site.seed;
    const iface = this.o.interface ?? seed.interface;
    const mode = this.o.dhcpMode ?? seed.dhcp.mode;
    const httpPort = this.o.httpPort ?? seed.ports.http;
    const tftpPort = this.o.tftpPort ?? seed.ports.tftp;
    const publicUrl = `http://${seed.address}:${httpPort}`;
    const tftpRoot = this.o.tftpRoot ?? (existsSync(SYSTEM_IPXE_DIR) ? SYSTEM_IPXE_DIR : undefined);
    const tftpOn = seed.tftp?.enabled !== false;

    // TFTP and HTTP listen on the seed address, DHCP on the interface: say
    // plainly when the host does not match the site file (EADDRNOTAVAIL would not)
    if (!interfaceExists(iface)) throw new NetifError(`interface ${iface} does not exist${seed.netns ? ` (in this network namespace; the site says seed.netns ${seed.netns})` : ''}`);
    const addrs = interfaceAddresses(iface);
    if (!addrs.some((a) => a.address === seed.address)) {
      throw new NetifError(
        `interface ${iface} does not carry the seed address ${seed.address} (it has ${addrs.map((a) => `${a.address}/${a.prefix}`).join(', ') || 'no IPv4 address'}): ip addr add ${seed.address}/${seed.prefix} dev ${iface}`,
      );
    }

    this.running = true;
    // a window's summary is written when it ends, even if its sender has gone quiet
    this.expiry = setInterval(() => this.noise.expire((s) => this.write(suppressedEvent(s))), 10_000);
    this.expiry.unref();
    try {
      // HTTP first: the moment DHCP answers, iPXE clients come asking for their script.
      this.http = new HttpBootServer({
        backend: this.o.backend,
        artifactsDir: this.o.artifactsDir,
        ...(this.o.imagesDir ? { imagesDir: this.o.imagesDir } : {}),
        ...(tftpRoot ? { ipxeDir: tftpRoot } : {}),
        publicUrl,
        ramdisk: this.o.ramdisk,
        address: seed.address,
        port: httpPort,
        log: (e) => this.emit({ service: 'http', type: 'request', ...e }),
      });
      const http = await this.http.listen();

      if (!tftpRoot) this.emit({ service: 'serve', type: 'warning', message: `no iPXE binaries (${SYSTEM_IPXE_DIR} missing: Debian package ipxe): only clients already running iPXE can boot` });
      // TFTP off: nothing listens on its port; UEFI HTTP boot clients get the same iPXE binaries over HTTP (/ipxe/)
      let tftp: { address: string; port: number } | undefined;
      if (tftpOn) {
        if (tftpPort !== 69 && mode !== 'off') this.emit({ service: 'serve', type: 'warning', message: `TFTP on port ${tftpPort}: PXE firmware only asks port 69` });
        this.tftp = new TftpServer({
          ...(tftpRoot ? { root: tftpRoot } : {}),
          // iPXE built without an embedded script looks for this on the boot server
          generated: (rel) => (rel === 'boot.ipxe' ? chainScript(publicUrl) : undefined),
          address: seed.address,
          port: tftpPort,
          ...(this.o.tftpWorkers !== undefined ? { workers: this.o.tftpWorkers } : {}),
          log: (e) => this.emit({ service: 'tftp', ...e }),
        });
        tftp = await this.tftp.listen();
      }

      let dhcpPorts: number[] = [];
      if (mode !== 'off') {
        const dhcp = new DhcpServer({
          interface: iface,
          seedAddress: seed.address,
          prefix: seed.prefix,
          mode,
          range: seed.dhcp.range,
          leaseSeconds: seed.dhcp.lease_seconds,
          router: seed.dhcp.router,
          dns: seed.dhcp.dns,
          discoveryPool: seed.dhcp.discovery_pool,
          nodes: dhcpNodes(site),
          httpBase: publicUrl,
          tftpServer: seed.address,
          ...(tftpOn ? {} : { tftp: false }),
          ...(this.o.leaseStore ? { leaseStore: this.o.leaseStore } : {}),
          ...(this.o.routerAdvertisements !== undefined ? { routerAdvertisements: this.o.routerAdvertisements } : {}),
        });
        dhcp.on('event', (e) => this.emit({ service: 'dhcp', ...e }));
        dhcp.on('error', (e) => this.emit({ service: 'serve', type: 'error', message: `dhcp: ${e.message}` }));
        this.dhcp = dhcp;
        await dhcp.start();
        dhcpPorts = mode === 'proxy' ? [67, 4011] : [67];
      }

      return {
        interface: iface,
        seedAddress: seed.address,
        dhcp: { mode, ports: dhcpPorts, ...(mode === 'authoritative' && seed.dhcp.range ? { range: seed.dhcp.range } : {}), nodes: site.nodes.length },
        ...(tftp ? { tftp: { address: tftp.address, port: tftp.port, ...(tftpRoot ? { root: path.resolve(tftpRoot) } : {}) } } : {}),
        http: { address: http.address, port: http.port, url: publicUrl },
        ...(this.o.artifactsDir ? { artifactsDir: path.resolve(this.o.artifactsDir) } : {}),
      };
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Stops all three; safe to call twice or after a failed start. */
  async stop(): Promise<void> {
    const dhcp = this.dhcp;
    const tftp = this.tftp;
    const http = this.http;
    this.dhcp = this.tftp = this.http = undefined;
    if (dhcp) this.lastDhcp = dhcp.counts;
    this.running = false;
    // DHCP first, so no new client is sent to services that are going away
    await dhcp?.stop().catch(() => {});
    await Promise.allSettled([tftp?.close(), http?.close()]);
    clearInterval(this.expiry);
    this.expiry = undefined;
    // what was counted but not yet summarized
    this.noise.flush((s) => this.write(suppressedEvent(s)));
  }
}
