/**
 * `kseed doctor`: is this machine and this network ready for the embedded
 * boot services? Finds existing DHCP servers (so proxy mode is recommended
 * instead of a fight), ports already taken, missing iPXE/OVMF files, and a
 * provisioning interface without the seed address.
 */
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import net from 'node:net';
import type { Command } from 'commander';
import type { ProbeOffer } from '../boot/dhcp/probe.js';
import { InputError, KseedError } from '../errors.js';
import type { Site } from '../site/types.js';
import type { HeldPorts } from '../util/procnet.js';
import { contextOf } from './context.js';
import { table } from './output.js';

type Level = 'ok' | 'warn' | 'fail';

export interface Check {
  check: string;
  status: Level;
  detail: string;
}

export interface DoctorReport {
  interface: string;
  netns?: string;
  seedAddress?: string;
  checks: Check[];
  dhcpOffers: ProbeOffer[];
  /**
   * kseed's own services when they run for this site file: its boot (or
   * agent) service, and on the Ironic engine each running container of the
   * seed stack; the ports they hold are not conflicts. udp/tcp: all of them.
   */
  kseedServices?: { pid?: number; udp: number[]; tcp: number[]; stack?: { service: string; pid: number; udp: number[]; tcp: number[] }[] };
  recommendation: string;
}

export const IPXE_FILES = ['/usr/lib/ipxe/undionly.kpxe', '/usr/lib/ipxe/snponly.efi', '/usr/lib/ipxe/ipxe.efi'];
export const OVMF_FILES = ['/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/share/OVMF/OVMF_CODE.fd'];

interface Target {
  iface: string;
  netns?: string;
  address?: string;
  prefix?: number;
  mode?: string;
  /** some node of the site boots by virtual media: the CD tools are then required, not optional */
  vmedia?: boolean;
  httpPort?: number;
  tftpPort?: number;
  /** seed.tftp.enabled false (UEFI HTTP boot only): kseed binds no TFTP port, so it is nobody's conflict */
  tftpOff?: boolean;
  /** kseed's own services for this site file, and the ports they hold: those are no conflict */
  own?: Owner[];
}

/** One of kseed's own processes (with its children) and the ports it holds. */
export interface Owner {
  /** as the report names it: "kseed's boot services", "the seed stack's dnsmasq" */
  name: string;
  /** the seed stack's service, for the stack's containers */
  service?: string;
  pid: number;
  held: HeldPorts;
}

/**
 * kseed's own services of this site: the boot service by its pid file (the
 * agent service behind the Ironic stack's nginx uses the same), and on the
 * Ironic engine every running container of the rendered seed stack, by the
 * PID docker reports and the processes below it (nginx's workers, a shell's
 * dnsmasq), so the stack's dnsmasq and nginx are not taken for foreign.
 */
async function ownServices(site: Site | undefined, stateDir: string, configPath: string): Promise<Owner[]> {
  const [{ bootServicePid }, { portsHeldByTree }] = await Promise.all([import('../engine/service.js'), import('../util/procnet.js')]);
  const owners: Owner[] = [];
  const pid = bootServicePid(stateDir, configPath);
  if (pid !== undefined) owners.push({ name: site?.engine === 'ironic' ? "kseed's agent service" : "kseed's boot services", pid, held: portsHeldByTree(pid) });
  if (site?.engine !== 'ironic') return owners;
  const { stackProcesses } = await import('../engine/ironic-seed.js');
  let running: { service: string; pid: number }[] = [];
  try {
    running = await stackProcesses(stateDir);
  } catch {
    // no docker here: the ports show as they are, foreign or not
  }
  for (const s of running) owners.push({ name: `the seed stack's ${s.service}`, service: s.service, pid: s.pid, held: portsHeldByTree(s.pid) });
  return owners;
}

/** Interface and seed address from the flags, else from the site file when there is one. */
async function target(opts: { interface?: string; address?: string; netns?: string }, site: Site | undefined): Promise<Target> {
  let t: Partial<Target> = {};
  if (site && !(opts.interface && opts.address)) {
    t = { iface: site.seed.interface, ...(site.seed.netns ? { netns: site.seed.netns } : {}), address: site.seed.address.split('/')[0], prefix: site.seed.prefix, mode: site.seed.dhcp.mode, vmedia: site.nodes.some((n) => n.boot === 'virtual-media'), httpPort: site.seed.ports.http, tftpPort: site.seed.ports.tftp, ...(site.seed.tftp?.enabled === false ? { tftpOff: true } : {}) };
  }
  if (opts.interface) t.iface = opts.interface;
  if (opts.netns) t.netns = opts.netns;
  if (opts.address) {
    const [a, p] = opts.address.split('/');
    if (!a || !/^\d{1,3}(\.\d{1,3}){3}$/.test(a) || (p !== undefined && !/^\d{1,2}$/.test(p))) throw new InputError(`--address: not an IPv4 address: ${opts.address}`);
    t.address = a;
    if (p !== undefined) t.prefix = Number(p);
  }
  if (!t.iface) throw new InputError('kseed doctor needs --interface (or a site file with seed.interface)');
  return t as Target;
}

function udpFree(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    s.once('error', (err) => {
      s.close();
      resolve((err as NodeJS.ErrnoException).code ?? err.message);
    });
    s.bind({ port, address: '0.0.0.0', exclusive: true }, () => s.close(() => resolve(null)));
  });
}

function tcpFree(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', (err) => resolve((err as NodeJS.ErrnoException).code ?? err.message));
    s.listen({ port, host: '0.0.0.0', exclusive: true }, () => s.close(() => resolve(null)));
  });
}

const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);

/** The --json view of kseed's own services: the boot/agent service's pid, every port they hold, and the stack's containers. */
function servicesJson(own: Owner[]): NonNullable<DoctorReport['kseedServices']> {
  const boot = own.find((o) => !o.service);
  const stack = own.filter((o) => o.service);
  return {
    ...(boot ? { pid: boot.pid } : {}),
    udp: sorted(new Set(own.flatMap((o) => [...o.held.udp]))),
    tcp: sorted(new Set(own.flatMap((o) => [...o.held.tcp]))),
    ...(stack.length ? { stack: stack.map((o) => ({ service: o.service!, pid: o.pid, udp: sorted(o.held.udp), tcp: sorted(o.held.tcp) })) } : {}),
  };
}

export async function runDoctor(t: Target, probeMs: number): Promise<DoctorReport> {
  const checks: Check[] = [];
  const [{ interfaceAddresses, interfaceExists, interfaceMac }, { probeDhcp }] = await Promise.all([import('../boot/netif.js'), import('../boot/dhcp/probe.js')]);
  const exists = interfaceExists(t.iface);
  checks.push({ check: 'interface', status: exists ? 'ok' : 'fail', detail: exists ? `${t.iface} exists` : `${t.iface} does not exist` });
  const addrs = exists ? interfaceAddresses(t.iface) : [];
  if (exists) {
    if (!t.address) {
      checks.push({ check: 'seed address', status: 'warn', detail: `no seed address given; ${t.iface} has ${addrs.map((a) => `${a.address}/${a.prefix}`).join(', ') || 'no IPv4 address'}` });
    } else {
      const mine = addrs.find((a) => a.address === t.address);
      checks.push(
        mine
          ? { check: 'seed address', status: mine.prefix === (t.prefix ?? mine.prefix) ? 'ok' : 'warn', detail: `${t.iface} has ${mine.address}/${mine.prefix}${t.prefix !== undefined && mine.prefix !== t.prefix ? ` (site says /${t.prefix})` : ''}` }
          : { check: 'seed address', status: 'fail', detail: `${t.iface} does not carry ${t.address} (it has ${addrs.map((a) => `${a.address}/${a.prefix}`).join(', ') || 'no IPv4 address'}); add it: ip addr add ${t.address}/${t.prefix ?? 24} dev ${t.iface}` },
      );
    }
  }
  const udp = [
    { port: 67, what: 'DHCP' },
    ...(t.tftpOff ? [] : [{ port: t.tftpPort ?? 69, what: 'TFTP' }]),
    { port: 4011, what: 'proxyDHCP' },
  ];
  const ownerOf = (proto: 'udp' | 'tcp', port: number) => t.own?.find((o) => o.held[proto].has(port));
  for (const u of udp) {
    const busy = await udpFree(u.port);
    const own = busy ? ownerOf('udp', u.port) : undefined;
    checks.push({
      check: `udp/${u.port}`,
      status: busy && !own ? 'fail' : 'ok',
      detail: own ? `${u.what} served by ${own.name} (pid ${own.pid})` : busy ? `${u.what} port in use (${busy}): stop that service or turn kseed's ${u.what} off` : `${u.what} port free`,
    });
  }
  const httpPorts = [...new Set([80, 8080, ...(t.httpPort ? [t.httpPort] : [])])];
  for (const p of httpPorts) {
    const busy = await tcpFree(p);
    const own = busy ? ownerOf('tcp', p) : undefined;
    // only the port the site file uses is a failure; the others are for information
    const level: Level = busy && !own ? (p === (t.httpPort ?? 8080) ? 'fail' : 'warn') : 'ok';
    checks.push({ check: `tcp/${p}`, status: level, detail: own ? `HTTP served by ${own.name} (pid ${own.pid})` : busy ? `HTTP port in use (${busy})` : 'HTTP port free' });
  }
  const missing = IPXE_FILES.filter((f) => !existsSync(f));
  checks.push({
    check: 'iPXE binaries',
    status: missing.length ? 'warn' : 'ok',
    detail: missing.length ? `missing ${missing.join(', ')} (Debian package ipxe, or unpack it into the cache)` : IPXE_FILES.join(', '),
  });
  const ovmf = OVMF_FILES.find((f) => existsSync(f));
  checks.push({ check: 'OVMF (UEFI lab VMs)', status: ovmf ? 'ok' : 'warn', detail: ovmf ?? 'no OVMF firmware (Debian package ovmf); UEFI lab VMs cannot start' });
  const { isoHostMissing, ISO_HOST_NEEDS } = await import('../images/iso.js');
  const cdMissing = isoHostMissing();
  checks.push({
    check: 'virtual-media CD tools',
    // only a site with virtual-media nodes fails without them; others merely cannot use that boot
    status: cdMissing.length ? (t.vmedia ? 'fail' : 'warn') : 'ok',
    detail: cdMissing.length
      ? `missing ${cdMissing.map((m) => m.need).join(', ')} (Debian packages ${[...new Set(cdMissing.map((m) => m.pkg))].join(' ')}); nodes with boot: virtual-media cannot get their boot CD`
      : `${ISO_HOST_NEEDS.length} tools and files present`,
  });

  let offers: ProbeOffer[] = [];
  const mac = interfaceMac(t.iface);
  if (exists && mac) {
    try {
      offers = await probeDhcp({ interface: t.iface, mac, timeoutMs: probeMs });
      const servers = [...new Set(offers.filter((o) => !o.proxy).map((o) => o.server))];
      const proxies = [...new Set(offers.filter((o) => o.proxy).map((o) => o.server))];
      const ours = t.address ? [t.address] : [];
      const foreign = servers.filter((s) => !ours.includes(s));
      const ownDhcp = ownerOf('udp', 67) ?? ownerOf('udp', 4011);
      checks.push({
        check: 'DHCP servers',
        status: foreign.length && t.mode === 'authoritative' ? 'fail' : foreign.length ? 'warn' : 'ok',
        detail: foreign.length
          ? `answered by ${foreign.join(', ')}`
          : ownDhcp
            ? // it answers only the site's MACs, so the probe's own MAC gets no offer from it
              `${ownDhcp.service ? ownDhcp.name : "kseed's own DHCP server"} (pid ${ownDhcp.pid}) serves ${t.iface}; no other DHCP server answered within ${probeMs} ms`
            : `no DHCP server answered within ${probeMs} ms`,
      });
      if (proxies.filter((s) => !ours.includes(s)).length) {
        checks.push({ check: 'PXE services', status: 'warn', detail: `proxyDHCP/PXE answered by ${proxies.join(', ')}: PXE clients may boot from it` });
      }
    } catch (err) {
      checks.push({ check: 'DHCP servers', status: 'warn', detail: `could not probe: ${(err as Error).message}` });
    }
  }
  const foreignServers = offers.filter((o) => !o.proxy && o.server !== t.address);
  const recommendation = foreignServers.length
    ? `another DHCP server is on this network (${[...new Set(foreignServers.map((o) => o.server))].join(', ')}): use seed.dhcp.mode: proxy`
    : exists
      ? 'no other DHCP server answered: seed.dhcp.mode: authoritative is safe'
      : `fix the interface first`;
  return { interface: t.iface, ...(t.netns ? { netns: t.netns } : {}), ...(t.address ? { seedAddress: t.address } : {}), checks, dhcpOffers: offers, ...(t.own?.length ? { kseedServices: servicesJson(t.own) } : {}), recommendation };
}

export function register(program: Command): void {
  program
    .command('doctor')
    .description('check the provisioning network and this machine: other DHCP servers, free ports, iPXE/OVMF files, seed address')
    .option('-i, --interface <if>', 'provisioning interface (default: seed.interface of the site file)')
    .option('-a, --address <ip[/prefix]>', 'seed address expected on the interface (default: seed.address)')
    .option('--netns <name>', 'the interface lives in this network namespace (default: seed.netns)')
    .option('--probe-seconds <n>', 'how long to collect DHCP offers', '3')
    .action(async (opts: { interface?: string; address?: string; netns?: string; probeSeconds: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const secs = Number(opts.probeSeconds);
      if (!Number.isFinite(secs) || secs <= 0 || secs > 60) throw new InputError(`--probe-seconds: expected 1..60, got ${opts.probeSeconds}`);
      const { loadSite } = await import('../site/load.js');
      // with --interface and --address the site file is not needed: a broken one does not stop the doctor
      const site = existsSync(ctx.configPath) ? await loadSite(ctx.configPath).catch((err: unknown) => (opts.interface && opts.address ? undefined : Promise.reject(err))) : undefined;
      const t = await target(opts, site);
      // after `kseed up` its own services hold the ports the doctor checks: recognise them by their PIDs
      if (existsSync(ctx.configPath)) t.own = await ownServices(site, ctx.stateDir, ctx.configPath);
      // ports, addresses and the probe are all about the namespace the services will run in
      if (t.netns) {
        try {
          (await import('../boot/netif.js')).enterNetns(t.netns);
        } catch (err) {
          throw new KseedError((err as Error).message);
        }
      }
      ctx.out.progress(`probing DHCP on ${t.iface} for ${secs} s ...`);
      const report = await runDoctor(t, secs * 1000);
      ctx.out.result(report, () => {
        const lines = [table(['CHECK', 'STATUS', 'DETAIL'], report.checks.map((c) => [c.check, c.status, c.detail]))];
        if (report.dhcpOffers.length) {
          lines.push('', 'DHCP offers seen:');
          lines.push(
            table(
              ['SERVER', 'OFFERED', 'KIND', 'BOOT FILE', 'NEXT SERVER'],
              report.dhcpOffers.map((o) => [o.server, o.offeredAddress, o.proxy ? 'proxyDHCP' : 'DHCP', o.bootFile, o.nextServer]),
            ),
          );
        }
        lines.push('', `recommendation: ${report.recommendation}`);
        return lines.join('\n');
      });
      if (report.checks.some((c) => c.status === 'fail')) process.exitCode = 1;
    });
}
