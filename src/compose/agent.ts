/**
 * kseed's HTTP boot service for the Ironic stack ("the agent service"):
 * per-node iPXE scripts by kseed lifecycle state, the deploy agent API
 * (docs/AGENT-API.md), NoCloud, callbacks and /artifacts. HTTP only: DHCP and
 * TFTP are the stack's dnsmasq. It listens on 127.0.0.1:<seed.ports.http>
 * (inside seed.netns when set) behind the stack's nginx, which owns the seed
 * address (see stackPlacement in src/render/model.ts).
 *
 * The one difference from the embedded engine's boot services is what a
 * deploying node boots: here Ironic deploys, so its script chains to
 * Ironic's own per-node iPXE config (`<http_root>/pxelinux.cfg/<mac-dashes>`,
 * which the ipxe boot interface of Ironic 21.4 links to `<uuid>/config`);
 * its boot_ramdisk section boots kseed's ramdisk with the kseed.url, node and
 * token the Ironic engine put into ramdisk_kernel_arguments. No token is
 * minted for it here: a new one would revoke the engine's.
 *
 * It runs as the managed background service of src/engine/service.ts (pid
 * file, log, stop by PID), started as
 *   node dist/compose/agent-main.js --config <site> --json boot serve [--artifacts D] [--kernel K] [--initrd I]
 * The `boot serve` words are what that manager recognises its server by.
 *
 * compose/ reaching into engine/ (state store, root-device choice) is this
 * file only: it is a process entry point, the CLI's layer.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StateBootBackend, type StateBootBackendOptions } from '../boot/backend.js';
import { HttpBootServer, type HttpEvent } from '../boot/http/server.js';
import type { BootNode } from '../boot/http/types.js';
import { bootBackendOptions } from '../engine/bootnodes.js';
import { openState } from '../engine/state.js';
import { KseedError } from '../errors.js';
import { loadSite } from '../site/load.js';
import type { Site } from '../site/types.js';

/** The compiled entry point the service manager runs (dist/compose/agent-main.js). */
export const AGENT_MAIN = fileURLToPath(new URL('./agent-main.js', import.meta.url));

/** Ironic's per-MAC iPXE config under its http_root, as the nodes fetch it through nginx. */
export function ironicConfigUrl(httpUrl: string, mac: string): string {
  return `${httpUrl.replace(/\/+$/, '')}/pxelinux.cfg/${mac.toLowerCase().replace(/:/g, '-')}`;
}

export interface IronicChainBackendOptions extends StateBootBackendOptions {
  /** Base URL of the stack's HTTP server (Ironic's [deploy] http_url). */
  httpUrl: string;
}

/** StateBootBackend whose deploying nodes chain to Ironic's per-node config. */
export class IronicChainBackend extends StateBootBackend {
  constructor(private readonly io: IronicChainBackendOptions) {
    super(io);
  }

  override nodeByMac(mac: string): BootNode | undefined {
    const node = super.nodeByMac(mac);
    if (node?.action !== 'deploy') return node;
    return { ...node, action: 'chain', chainUrl: ironicConfigUrl(this.io.httpUrl, mac) };
  }
}

export interface AgentArgs {
  config: string;
  artifacts?: string;
  kernel: string;
  initrd: string;
}

/** `--config X --json boot serve [--artifacts D] [--kernel K] [--initrd I]` */
export function parseAgentArgs(argv: string[]): AgentArgs {
  const a: Partial<AgentArgs> = { kernel: 'vmlinuz', initrd: 'initramfs.gz' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new KseedError(`${k} needs a value`);
      return x;
    };
    if (k === '--config') a.config = v();
    else if (k === '--artifacts') a.artifacts = v();
    else if (k === '--kernel') a.kernel = v();
    else if (k === '--initrd') a.initrd = v();
    else if (k === '--json' || k === 'boot' || k === 'serve') continue;
    else throw new KseedError(`unknown argument ${k}`);
  }
  if (!a.config) throw new KseedError('--config is required');
  return a as AgentArgs;
}

function sameNetns(name: string): boolean {
  const t = statSync(`/run/netns/${name}`);
  const s = statSync('/proc/self/ns/net');
  return t.ino === s.ino && t.dev === s.dev;
}

export interface RunningAgent {
  url: string;
  close(): Promise<void>;
}

/** Starts the service; every event is one JSON line through `log`. */
export async function startAgent(site: Site, args: AgentArgs, log: (e: Record<string, unknown>) => void): Promise<RunningAgent> {
  // listening on 127.0.0.1 of the wrong namespace would leave nginx with nothing to proxy to
  if (site.seed.netns && !sameNetns(site.seed.netns)) {
    throw new KseedError(`the agent service must run inside network namespace ${site.seed.netns} (ip netns exec ${site.seed.netns} ...)`, { code: 'no-netns' });
  }
  const stateDir = path.join(site.dir, '.kseed');
  const artifactsDir = path.resolve(args.artifacts ?? path.join(stateDir, 'cache', 'ramdisk'));
  const publicUrl = `http://${site.seed.address}:${site.seed.ports.http}`;
  const store = openState(stateDir, { synchronous: 'normal' });
  const backend = new IronicChainBackend({ store, ...(await bootBackendOptions(site, stateDir, store)).options, httpUrl: publicUrl });
  const server = new HttpBootServer({
    backend,
    ...(existsSync(artifactsDir) ? { artifactsDir } : {}),
    publicUrl,
    ramdisk: { kernel: args.kernel, initrd: args.initrd },
    address: '127.0.0.1',
    port: site.seed.ports.http,
    log: (e: HttpEvent) => log({ service: 'http', type: 'request', ...e }),
  });
  let info;
  try {
    info = await server.listen();
  } catch (err) {
    store.close();
    throw new KseedError(`the agent service cannot listen on 127.0.0.1:${site.seed.ports.http}: ${(err as Error).message}`, { code: 'boot-serve', cause: err });
  }
  log({
    service: 'serve',
    type: 'listening',
    interface: site.seed.interface,
    seedAddress: site.seed.address,
    dhcp: { mode: 'off', ports: [], nodes: site.nodes.length },
    http: { address: info.address, port: info.port, url: publicUrl, behind: 'nginx' },
    ...(existsSync(artifactsDir) ? { artifactsDir } : {}),
  });
  return {
    url: publicUrl,
    close: async () => {
      await server.close();
      store.close();
    },
  };
}

/** The process: runs until SIGTERM/SIGINT. */
export async function agentMain(argv: string[]): Promise<number> {
  const line = (e: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ ts: new Date().toISOString(), ...e })}\n`);
  try {
    const args = parseAgentArgs(argv);
    const site = await loadSite(path.resolve(args.config));
    const agent = await startAgent(site, args, line);
    const signal = await new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    await Promise.race([agent.close(), new Promise((r) => setTimeout(r, 5000).unref())]);
    line({ service: 'serve', type: 'stopped', signal });
    return 0;
  } catch (err) {
    const e = err as KseedError;
    line({ service: 'serve', type: 'error', message: e.message, ...(e.detail ? { detail: e.detail } : {}) });
    return 1;
  }
}
