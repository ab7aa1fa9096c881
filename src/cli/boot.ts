/**
 * `kseed boot serve`: the embedded DHCP, TFTP and HTTP boot services in the
 * foreground, with a live log (one line per DHCP/TFTP/HTTP event; JSON lines
 * with --json). Nodes come from the site file, what each one boots from its
 * lifecycle state in .kseed/state.db, and whatever a booting node reports
 * lands there as events.
 *
 * When the site's seed lives in a network namespace (seed.netns, the virtual
 * lab), the command re-runs itself inside it: DHCP must never answer on the
 * host's own networks.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { StateBootBackend } from '../boot/backend.js';
import { StateLeaseStore } from '../boot/dhcp/state-store.js';
import { BootServices, type BootServiceEvent, type BootServicesInfo } from '../boot/serve.js';
import { ImagePreparer } from '../images/convert.js';
import { bootBackendOptions } from '../service/boot-nodes.js';
import { COUNTERS_EVERY_MS, writeCountersFile } from '../engine/boot-counters.js';
import { openState } from '../engine/state.js';
import { InputError, KseedError } from '../errors.js';
import { loadSite } from '../site/load.js';
import type { DhcpMode } from '../site/types.js';
import { contextOf } from './context.js';
import { CHILD_ENV, inNetns, reexecIn } from './netns.js';

interface ServeOpts {
  interface?: string;
  dhcp?: string;
  artifacts?: string;
  kernel: string;
  initrd: string;
}

const MODES: readonly DhcpMode[] = ['authoritative', 'proxy', 'off'];

function stamp(): string {
  return new Date().toISOString().slice(11, 23);
}

/** One human line per event; nothing secret is in any event (tokens never are). */
export function formatEvent(e: BootServiceEvent): string {
  switch (e.service) {
    case 'dhcp': {
      const parts = [e.type, e.mac || '-'];
      if (e.ip) parts.push(e.ip);
      if (e.name) parts.push(e.name);
      if (e.bootFile) parts.push(`file=${e.bootFile}`);
      if (e.vendorClass) parts.push(`class=${e.vendorClass}${e.arch !== undefined ? ` arch=${e.arch}` : ''}`);
      if (e.reason) parts.push(`(${e.reason})`);
      return `dhcp  ${parts.join(' ')}`;
    }
    case 'tftp':
      switch (e.type) {
        case 'start':
          return `tftp  start ${e.client} ${e.file} ${e.size} bytes blksize=${e.blksize} windowsize=${e.windowsize}`;
        case 'end':
          return `tftp  end ${e.client} ${e.file} ${JSON.stringify({ ...e, type: undefined, client: undefined, file: undefined })}`;
        case 'refused':
          return `tftp  refused ${e.client} ${e.file ?? ''} ${e.code} ${e.message}`;
        default:
          return `tftp  error ${e.message}`;
      }
    case 'http':
      return `http  ${e.method} ${e.path} ${e.status} ${e.ms}ms ${e.client}${e.node ? ` ${e.node}` : ''}${e.error ? ` (${e.error})` : ''}`;
    default:
      return `${e.type} ${e.message}`;
  }
}

function describeServices(info: BootServicesInfo): string {
  const dhcp =
    info.dhcp.mode === 'off'
      ? 'dhcp  off'
      : `dhcp  ${info.dhcp.mode} on ${info.interface} udp/${info.dhcp.ports.join(',')}${info.dhcp.range ? ` range ${info.dhcp.range.start}-${info.dhcp.range.end}` : ''} (${info.dhcp.nodes} nodes)`;
  return [
    `kseed boot serve: seed ${info.seedAddress} on ${info.interface}`,
    dhcp,
    info.tftp ? `tftp  ${info.tftp.address}:${info.tftp.port}${info.tftp.root ? ` root ${info.tftp.root}` : ''}` : 'tftp  off (seed.tftp.enabled: false): UEFI HTTP boot only',
    `http  ${info.http.url}${info.artifactsDir ? ` artifacts ${info.artifactsDir}` : ''}`,
    'press Ctrl-C to stop',
  ].join('\n');
}

async function serve(opts: ServeOpts, cmd: Command): Promise<void> {
  const ctx = contextOf(cmd);
  if (opts.dhcp !== undefined && !MODES.includes(opts.dhcp as DhcpMode)) {
    throw new InputError(`--dhcp: expected ${MODES.join(', ')}, got ${JSON.stringify(opts.dhcp)}`);
  }
  if (!existsSync(ctx.configPath)) throw new InputError(`no site file at ${ctx.configPath} (kseed init writes one; or pass --config)`);
  const site = await loadSite(ctx.configPath);
  if (site.seed.netns && !inNetns(site.seed.netns)) {
    process.exitCode = await reexecIn(site.seed.netns);
    return;
  }

  const artifactsDir = opts.artifacts ? path.resolve(opts.artifacts) : path.join(ctx.stateDir, 'cache', 'ramdisk');
  const json = ctx.out.json;
  const line = (e: BootServiceEvent) => {
    if (json) process.stdout.write(`${JSON.stringify({ ts: new Date().toISOString(), ...e })}\n`);
    else process.stdout.write(`${stamp()} ${formatEvent(e)}\n`);
  };

  const store = openState(ctx.stateDir, { synchronous: 'normal' });
  const boot = await bootBackendOptions(site, ctx.stateDir, store);
  // qcow2 images are converted here, once per checksum, and served to the ramdisk as raw.zst
  const imagesDir = path.join(ctx.stateDir, 'cache', 'images');
  const services = new BootServices({
    site,
    // root-device hints as the engine checks them; user-data authorizing the hand-off login
    backend: new StateBootBackend({ store, ...boot.options, images: new ImagePreparer(imagesDir) }),
    imagesDir,
    ...(opts.interface ? { interface: opts.interface } : {}),
    ...(opts.dhcp ? { dhcpMode: opts.dhcp as DhcpMode } : {}),
    leaseStore: new StateLeaseStore(store),
    artifactsDir: existsSync(artifactsDir) ? artifactsDir : undefined,
    ramdisk: { kernel: opts.kernel, initrd: opts.initrd },
    log: line,
  });

  let info: BootServicesInfo;
  try {
    info = await services.start();
  } catch (err) {
    store.close();
    if (err instanceof KseedError) throw err;
    throw new KseedError(`boot services did not start: ${(err as Error).message}`, { code: 'boot-serve', cause: err });
  }
  for (const f of [opts.kernel, opts.initrd]) {
    if (!existsSync(path.join(artifactsDir, f))) {
      line({ service: 'serve', type: 'warning', message: `deploy ramdisk ${path.join(artifactsDir, f)} missing (kseed images ramdisk builds it): nodes to inspect or deploy cannot boot` });
    }
  }
  if (boot.handoffKeyProblem) {
    line({ service: 'serve', type: 'warning', message: `hand-off key not authorized on the nodes (their user-data carries no ssh_authorized_keys): ${boot.handoffKeyProblem}` });
  }
  if (json) process.stdout.write(`${JSON.stringify({ ts: new Date().toISOString(), service: 'serve', type: 'listening', ...info })}\n`);
  else process.stdout.write(`${describeServices(info)}\n`);

  // the seed service's /metrics reads these counters from a file: it may run in another namespace
  const startedAt = new Date().toISOString();
  let lastCounters = '';
  const saveCounters = () => {
    const c = services.counters;
    const text = JSON.stringify(c);
    if (text === lastCounters) return;
    try {
      writeCountersFile(ctx.stateDir, { pid: process.pid, started_at: startedAt, written_at: new Date().toISOString(), ...c });
      lastCounters = text;
    } catch (err) {
      line({ service: 'serve', type: 'warning', message: `counters for /metrics not written: ${(err as Error).message}` });
    }
  };
  saveCounters();
  const countersTimer = setInterval(saveCounters, COUNTERS_EVERY_MS);
  countersTimer.unref();

  const parent = Number(process.env[CHILD_ENV] ?? 0);
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
    // Inside the namespace, a DHCP server whose launcher was killed (SIGKILL
    // cannot be forwarded) would keep answering with nobody watching: stop too.
    if (parent > 1) setInterval(() => process.ppid !== parent && resolve('parent exited'), 1000).unref();
  });
  const stats = services.dhcpServer ? { ...services.dhcpServer.stats, routerAdvertisements: services.dhcpServer.routerAdvertisementsSent } : undefined;
  const tftp = services.tftpStats;
  // a stuck close must not keep the terminal: give it 5 s
  await Promise.race([services.stop(), new Promise((r) => setTimeout(r, 5000).unref())]);
  clearInterval(countersTimer);
  saveCounters();
  store.close();
  // every junk datagram and refused request, logged or not (the noise limit writes only the first of each source)
  const noise = services.noiseCounters;
  if (json) process.stdout.write(`${JSON.stringify({ ts: new Date().toISOString(), service: 'serve', type: 'stopped', signal, ...(stats ? { dhcp: stats } : {}), ...(tftp ? { tftp } : {}), noise })}\n`);
  else {
    const n = Object.entries(noise).map(([k, v]) => `${k}: ${v}`).join(', ');
    process.stdout.write(`${stamp()} stopped (${signal})${stats ? ` dhcp: ${stats.received} received, ${stats.replied} replied` : ''}${n ? `; not all logged: ${n}` : ''}\n`);
  }
}

export function register(program: Command): void {
  const boot = program.command('boot').description('embedded boot services (DHCP, TFTP, HTTP/iPXE)');
  boot
    .command('serve')
    .description('run DHCP, TFTP and HTTP boot services in the foreground with a live log; stops on Ctrl-C/SIGTERM')
    .option('-i, --interface <if>', 'provisioning interface (default: seed.interface)')
    .option('--dhcp <mode>', 'authoritative | proxy | off (default: seed.dhcp.mode)')
    .option('--artifacts <dir>', 'directory served under /artifacts/ (default: .kseed/cache/ramdisk, where kseed images ramdisk puts it)')
    .option('--kernel <file>', 'deploy kernel in the artifacts directory', 'vmlinuz')
    .option('--initrd <file>', 'deploy initramfs in the artifacts directory', 'initramfs.gz')
    .action((opts: ServeOpts, cmd: Command) => serve(opts, cmd));
}
