import { type Command, InvalidArgumentError } from 'commander';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { InputError, KseedError } from '../errors.js';
import { createLab, DEFAULT_LAB_NAME, destroyLab, labNameOfSite, labStatus, manifestPath, readManifest, readSerial } from '../lab/index.js';
import { shownPath } from '../site/yaml.js';
import { contextOf, shownSite, type CliContext } from './context.js';
import { labDefaultImage, servedDir, type DefaultImage } from './lab-image.js';
import { table } from './output.js';

function int(v: string): number {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError('expected a whole number');
  return Number(v);
}

/** JSON output keys in snake_case, like the site file and the other commands' --json. */
function snake(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(snake);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), snake(x)]));
  }
  return v;
}

function gib(bytes: number | undefined): string | undefined {
  return bytes === undefined ? undefined : `${(bytes / 2 ** 30).toFixed(2)}G`;
}

/**
 * The lab a verb acts on: --name; else the lab the --config site file
 * belongs to; else, with no site file, the one lab made beside it (or the
 * default). Never the default lab when the site file names another: lab
 * down would take down a lab someone else is using.
 */
function labOf(ctx: CliContext, name: string | undefined, verb: string): string {
  if (name) return name;
  const shown = shownPath(ctx.configPath);
  if (existsSync(ctx.configPath)) {
    const fromSite = labNameOfSite(ctx.configPath);
    if (fromSite) return fromSite;
    // lab up refuses to overwrite a site file that is not a lab's, with its own message
    if (verb === 'up') return DEFAULT_LAB_NAME;
    throw new InputError(`${shown} belongs to no lab: pass --name to say which lab \`kseed lab ${verb}\` acts on`, [
      { file: shown, line: 1, col: 1, message: 'no "# kseed-lab: NAME" first line and no seed.netns ksl-NAME' },
    ]);
  }
  const labsDir = path.join(ctx.stateDir, 'lab');
  const labs = existsSync(labsDir) ? readdirSync(labsDir).filter((l) => existsSync(manifestPath(ctx.stateDir, l))).sort() : [];
  if (labs.length > 1) {
    throw new InputError(`${shown} does not exist and ${labs.length} labs are beside it (${labs.join(', ')}): pass --name or --config`);
  }
  return labs[0] ?? DEFAULT_LAB_NAME;
}

/** The command that creates the lab a verb found missing, as the user would type it. */
export function labUpCommand(ctx: CliContext, lab: string, byName: boolean): string {
  const shown = shownSite(ctx);
  return `kseed ${shown === './kseed.yaml' ? '' : `--config ${shown} `}lab up${byName ? ` --name ${lab}` : ''}`;
}

/**
 * After an enroll whose failed nodes have BMCs of the site's lab: when that
 * lab is not up (or those BMCs do not run), the lab verb that brings them
 * back; "no answer" alone does not say the lab is the cause.
 */
export async function labDownHint(ctx: CliContext, failed: readonly { node: string; address: string; port: number }[]): Promise<string | undefined> {
  if (!failed.length || !existsSync(ctx.configPath)) return undefined;
  const name = labNameOfSite(ctx.configPath);
  if (!name) return undefined;
  const s = await labStatus({ stateDir: ctx.stateDir, name, probe: false });
  if (!s.exists) return `the BMCs are lab ${name}'s, and lab ${name} is not up: \`${labUpCommand(ctx, name, false)}\` creates it`;
  const down = failed.filter((f) => s.nodes.some((n) => n.bmc.address === f.address && n.bmc.port === f.port && !n.bmc.running));
  if (!down.length) return undefined;
  const k = labUpCommand(ctx, name, false).replace(/ lab up$/, '');
  return `the BMC of ${down.map((d) => d.node).join(', ')} (lab ${name}) is not running: \`${k} lab status\` shows the lab, \`${k} lab up\` starts its BMCs again`;
}

/**
 * After `lab up --no-image` wrote a site file without an image: the
 * command that gives it one, so provision does not stop at "no image".
 */
export function noImageNote(ctx: CliContext, lab: string, byName: boolean): string {
  return [
    `no OS image in ${shownSite(ctx)} (--no-image): nodes can be enrolled, not deployed. To give it kseed's test OS:`,
    `  ${labUpCommand(ctx, lab, byName)}   # builds it (or reuses it) and puts it in the site file`,
    '  (or --image-url/--image-checksum for an image of yours; scripts/try-it.sh uses the Debian cloud image)',
  ].join('\n');
}

/** What to run after `lab up` wrote a site file: the deploy ramdisk when it is not where `kseed up` serves it, then up and provision. */
export function nextSteps(ctx: CliContext): string {
  const shown = shownSite(ctx);
  const k = `kseed ${shown === './kseed.yaml' ? '' : `--config ${shown} `}`;
  const dir = servedDir(ctx.stateDir);
  const ramdisk = ['vmlinuz', 'initramfs.gz'].every((f) => existsSync(path.join(dir, f)));
  return `next: ${ramdisk ? '' : `${k}images ramdisk (the deploy ramdisk, once), `}${k}up, ${k}provision --all --wait`;
}

/** The lab up line about the default image it gave the lab. */
function defaultImageLine(d: DefaultImage): string {
  return `image: kseed's test OS, ${d.reused ? 'reused' : `built in ${d.seconds.toFixed(0)} s`}; \`kseed up\` serves it from ${shownPath(d.served)}`;
}

const NAME_HELP = 'lab name; netns ksl-<name> (default: the lab of the --config site file, else lab)';

export function register(program: Command): void {
  const lab = program
    .command('lab')
    .description('virtual bare metal on this machine: QEMU VMs behind ipmi_sim BMCs, on a bridge in a network namespace');

  lab
    .command('up')
    .description('create the lab (or converge it to these options); nodes stay powered off, and a lab site file is written to --config')
    .option('--nodes <n>', 'number of nodes (default 2, or as the existing lab)', int)
    .option('--uefi-nodes <m>', 'how many of them boot UEFI (OVMF); the others BIOS (default 0)', int)
    .option('--uefi-http', "UEFI nodes network-boot by OVMF's own UEFI HTTP boot (no iPXE ROM, PXE off); a lab of only UEFI nodes then gets a site file with TFTP off")
    .option('--no-uefi-http', 'UEFI nodes boot the NIC\'s iPXE ROM (the default)')
    .option('--disk-gb <g>', 'qcow2 disk size per node, GiB (default 10)', int)
    .option('--data-disks <n>', 'extra disks per node, e.g. for Ceph OSDs (default 0)', int)
    .option('--data-disk-gb <g>', 'size of each extra disk, GiB (default 5)', int)
    .option('--nics <n>', 'NICs per node, 1-4, all on the lab bridge; the first network-boots (default 1, or as the existing lab)', int)
    .option('--static-network', 'the site file gives each node a bond of its NICs (active-backup) with a fixed address and VLAN 100 on it (IPv4 and IPv6); the seed gets ksl-br0.100')
    .option('--no-static-network', 'no bond or VLAN in the site file (the default)')
    .option('--sim <n>', 'n simulated nodes instead of QEMU VMs: real ipmi_sim BMCs, one simulator process speaking DHCP, TFTP, HTTP and the agent API (src/lab/sim/)', int)
    .option('--unlisted-nodes <k>', 'extra machines on the lab network that are NOT in the site file (unknown MACs)', int)
    .option('--memory-mb <mb>', 'RAM per VM (default 1024)', int)
    .option('--bmc-port-base <port>', 'port of the first BMC on 127.0.0.1 (default 6230, or the next free range of 100)', int)
    .option('--bmc <kind>', 'BMC of every node: ipmi (ipmi_sim, UDP) or redfish (HTTPS, virtual media); default ipmi, or as the existing lab')
    .option('--image-url <url>', 'OS image for defaults.image of the site file (served by the seed)')
    .option('--image-checksum <sum>', 'sha256:<hex> or sha512:<hex> of the image')
    .option('--image-format <fmt>', 'raw or qcow2 (default raw)')
    .option('--image-compression <c>', 'none, gzip, zstd or xz (default none)')
    .option('--no-image', "without --image-url: leave the site file without an image, instead of building (or reusing) kseed's test OS for it")
    .option('--cache <dir>', "build cache of kseed's test OS (default .kseed/cache, as `kseed images testos`)")
    .option('--address <cidr>', 'seed address on the lab bridge (default 10.77.0.1/24)')
    .option('--name <name>', NAME_HELP)
    .option('--engine <engine>', 'engine of the lab site file: embedded (kseed\'s boot services) or ironic (the seed Compose stack); default embedded, or as the existing lab')
    .option('--no-site', 'do not write the lab site file')
    .action(async (opts: { sim?: number; nodes?: number; uefiNodes?: number; uefiHttp?: boolean; diskGb?: number; dataDisks?: number; dataDiskGb?: number; nics?: number; staticNetwork?: boolean; unlistedNodes?: number; memoryMb?: number; bmcPortBase?: number; bmc?: string; address?: string; name?: string; site: boolean; image: boolean; cache?: string; imageUrl?: string; imageChecksum?: string; imageFormat?: string; imageCompression?: string; engine?: string }, cmd: Command) => {
      if (opts.engine !== undefined && opts.engine !== 'embedded' && opts.engine !== 'ironic') {
        throw new InputError(`--engine must be embedded or ironic, not "${opts.engine}"`, [{ file: '<command line>', path: 'engine', message: 'embedded or ironic' }]);
      }
      if (opts.bmc !== undefined && opts.bmc !== 'ipmi' && opts.bmc !== 'redfish') {
        throw new InputError(`--bmc must be ipmi or redfish, not "${opts.bmc}"`, [{ file: '<command line>', path: 'bmc', message: 'ipmi or redfish' }]);
      }
      const ctx = contextOf(cmd);
      if (Boolean(opts.imageUrl) !== Boolean(opts.imageChecksum)) {
        throw new InputError('--image-url and --image-checksum go together', [
          { file: '<command line>', path: opts.imageUrl ? 'image-checksum' : 'image-url', message: 'missing' },
        ]);
      }
      const fmt = opts.imageFormat ?? 'raw';
      const comp = opts.imageCompression ?? 'none';
      if (!['raw', 'qcow2'].includes(fmt) || !['none', 'gzip', 'zstd', 'xz'].includes(comp)) {
        throw new InputError('bad image format or compression', [{ file: '<command line>', path: 'image-format', message: 'format raw|qcow2, compression none|gzip|zstd|xz' }]);
      }
      const name = labOf(ctx, opts.name, 'up');
      let given: DefaultImage | undefined;
      const r = await createLab({
        ...(opts.imageUrl && opts.imageChecksum
          ? { image: { url: opts.imageUrl, checksum: opts.imageChecksum, format: fmt as 'raw' | 'qcow2', compression: comp as 'none' | 'gzip' | 'zstd' | 'xz' } }
          : {}),
        stateDir: ctx.stateDir,
        ...(opts.engine ? { engine: opts.engine as 'embedded' | 'ironic' } : {}),
        name,
        // only a site file can carry it, and only one that has no image yet asks for it
        ...(opts.site && opts.image
          ? { defaultImage: async (ip: string) => (given = await labDefaultImage(ctx, opts.cache ? path.resolve(opts.cache) : path.join(ctx.stateDir, 'cache'), ip)).spec }
          : {}),
        ...(opts.nodes !== undefined ? { nodes: opts.nodes } : {}),
        ...(opts.sim !== undefined ? { sim: true, nodes: opts.sim } : {}),
        ...(opts.uefiNodes !== undefined ? { uefiNodes: opts.uefiNodes } : {}),
        ...(opts.uefiHttp !== undefined ? { uefiHttpBoot: opts.uefiHttp } : {}),
        ...(opts.diskGb !== undefined ? { diskGb: opts.diskGb } : {}),
        ...(opts.memoryMb !== undefined ? { memoryMb: opts.memoryMb } : {}),
        ...(opts.dataDisks !== undefined ? { dataDisks: opts.dataDisks } : {}),
        ...(opts.dataDiskGb !== undefined ? { dataDiskGb: opts.dataDiskGb } : {}),
        ...(opts.nics !== undefined ? { nics: opts.nics } : {}),
        ...(opts.staticNetwork !== undefined ? { staticNetwork: opts.staticNetwork } : {}),
        ...(opts.unlistedNodes !== undefined ? { unlistedNodes: opts.unlistedNodes } : {}),
        ...(opts.bmcPortBase !== undefined ? { bmcPortBase: opts.bmcPortBase } : {}),
        ...(opts.bmc ? { bmc: opts.bmc as 'ipmi' | 'redfish' } : {}),
        ...(opts.address ? { address: opts.address } : {}),
        ...(opts.site ? { siteFile: ctx.configPath } : {}),
        progress: (m) => ctx.out.progress(m),
      });
      ctx.out.result(
        {
          lab: r.name,
          netns: r.netns,
          bridge: r.bridge,
          address: r.address,
          site_file: r.siteFile ?? null,
          image: r.image,
          default_image: given ? { served: given.served, reused: given.reused, seconds: Number(given.seconds.toFixed(1)) } : null,
          bmc_login_file: r.passwordFile,
          bmc_kind: r.bmc,
          dir: r.dir,
          ms: r.ms,
          removed_nodes: r.removedNodes,
          ...(r.seedVlan !== undefined ? { seed_vlan: r.seedVlan } : {}),
          nodes: r.nodes.map((n) => ({
            name: n.name,
            listed: n.listed,
            firmware: n.firmware,
            mac: n.mac,
            macs: [n.mac, ...(n.extraNics ?? []).map((x) => x.mac)],
            ...(n.addresses ? { addresses: n.addresses } : {}),
            bmc: `${n.bmc.address}:${n.bmc.port}`,
            bmc_pid: n.bmcPid,
            disk: n.disk.path,
            disk_gb: n.disk.sizeGb,
            disk_serial: n.disk.serial,
            data_disks: n.dataDisks.map((d) => ({ path: d.path, gb: d.sizeGb, serial: d.serial })),
            serial_log: n.serialLog,
            dir: n.dir,
          })),
        },
        () =>
          [
            `lab ${r.name} up in ${(r.ms / 1000).toFixed(1)} s: ${r.netns} / ${r.bridge} ${r.address}`,
            table(
              ['NODE', 'FIRMWARE', 'MAC', 'BMC', 'DISK', 'IN SITE'],
              r.nodes.map((n) => [
                n.name,
                n.firmware,
                n.mac,
                `${n.bmc.address}:${n.bmc.port}`,
                `${n.disk.sizeGb}G${n.dataDisks.length ? ` +${n.dataDisks.length}x${n.dataDisks[0]!.sizeGb}G` : ''}${n.diskCreated ? '' : ' (kept)'}`,
                n.listed ? 'yes' : 'no (unlisted)',
              ]),
            ),
            r.siteFile ? `site file: ${r.siteFile}` : '',
            `BMC user admin, password in ${r.passwordFile}${r.bmc === 'redfish' ? '; Redfish over HTTPS (the lab\'s self-signed certificate) at https://127.0.0.1:<port>/redfish/v1/' : ''}`,
            given ? defaultImageLine(given) : '',
            r.siteFile && !r.image ? noImageNote(ctx, r.name, Boolean(opts.name)) : '',
            r.siteFile && r.siteFile === ctx.configPath ? nextSteps(ctx) : '',
          ]
            .filter(Boolean)
            .join('\n'),
      );
    });

  lab
    .command('down')
    .description('remove everything the lab made: VMs, BMCs, processes in its netns, the netns, its files and site file')
    .option('--name <name>', NAME_HELP)
    .action(async (opts: { name?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const r = await destroyLab({ stateDir: ctx.stateDir, name: labOf(ctx, opts.name, 'down'), progress: (m) => ctx.out.progress(m) });
      ctx.out.result(
        { lab: r.name, existed: r.existed, killed: r.killed, netns_deleted: r.netnsDeleted, removed_files: r.removedFiles, ms: r.ms },
        () =>
          r.existed
            ? `lab ${r.name} down in ${(r.ms / 1000).toFixed(1)} s: stopped ${r.killed.length} process(es)${r.netnsDeleted ? ', deleted its netns' : ''}, removed ${r.removedFiles.length} path(s)`
            : `lab ${r.name}: nothing to remove`,
      );
    });

  lab
    .command('status')
    .description('per node: BMC port and liveness, VM power, MAC, disk')
    .option('--name <name>', NAME_HELP)
    .option('--no-probe', 'do not ask the BMCs (only check their processes)')
    .action(async (opts: { name?: string; probe: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const s = await labStatus({ stateDir: ctx.stateDir, name: labOf(ctx, opts.name, 'status'), probe: opts.probe });
      ctx.out.result(snake(s), () => {
        if (!s.exists) return `lab ${s.name}: not created${s.netnsPresent ? ` (but netns ${s.netns} exists: run kseed lab down)` : `: \`${labUpCommand(ctx, s.name, Boolean(opts.name))}\` creates it`}`;
        const bmc = (n: (typeof s.nodes)[number]) =>
          !n.bmc.running ? 'down' : n.bmc.answering === undefined ? 'running' : n.bmc.answering ? `ok ${n.bmc.probeMs}ms` : 'not answering';
        return [
          `lab ${s.name}: ${s.netns}${s.netnsPresent ? '' : ' (MISSING)'} / ${s.bridge} ${s.address ?? ''}${s.bridgeUp ? '' : ' (down)'}`,
          table(
            ['NODE', 'FW', 'MAC', 'BMC', 'BMC STATE', 'POWER', 'BOOTDEV', 'DISK', 'USED'],
            s.nodes.map((n) => [
              n.listed ? n.name : `${n.name} (unlisted)`,
              n.firmware,
              n.mac,
              `${n.bmc.address}:${n.bmc.port}`,
              bmc(n),
              n.power === 'on' ? `on (pid ${n.vmPid})` : 'off',
              n.bootDevice,
              n.disk.present ? `${n.disk.sizeGb}G${n.dataDisks.length ? ` +${n.dataDisks.length}` : ''}` : 'MISSING',
              gib(n.disk.allocatedBytes),
            ]),
          ),
          ...s.nodes.filter((n) => n.power === 'off' && n.vmError).map((n) => `${n.name}: last QEMU message: ${n.vmError}`),
        ].join('\n');
      });
    });

  lab
    .command('console')
    .description("print a node's serial console log (all power-ons, appended); --follow keeps printing")
    .argument('<node>', 'node name, e.g. node01')
    .option('--name <name>', NAME_HELP)
    .option('-f, --follow', 'keep printing new output until interrupted')
    .action(async (nodeName: string, opts: { name?: string; follow?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const lab = labOf(ctx, opts.name, 'console');
      const m = readManifest(ctx.stateDir, lab);
      if (!m) throw new KseedError(`lab ${lab} does not exist under ${ctx.stateDir}: \`${labUpCommand(ctx, lab, Boolean(opts.name))}\` creates it`, { code: 'not-found' });
      const node = m.nodes.find((n) => n.name === nodeName);
      if (!node) {
        throw new InputError(`lab ${lab} has no node ${nodeName}`, [
          { file: '<command line>', path: 'node', message: `one of ${m.nodes.map((n) => n.name).join(', ')}` },
        ]);
      }
      let pos = 0;
      const flush = () => {
        const text = readSerial(node, pos);
        pos += Buffer.byteLength(text, 'latin1');
        if (text) process.stdout.write(text);
      };
      flush();
      if (!opts.follow) return;
      // until SIGINT/SIGTERM: the default handlers end the process
      for (;;) {
        await new Promise((r) => setTimeout(r, 200));
        flush();
      }
    });
}
