/**
 * kseed's HTTP boot service for the Ironic stack ("the agent service"):
 * per-node iPXE scripts by kseed lifecycle state, the deploy agent API
 * (docs/AGENT-API.md), NoCloud, callbacks and /artifacts. HTTP only: DHCP and
 * TFTP are the stack's dnsmasq. It listens on 127.0.0.1:<port> (inside the
 * seed's network namespace when there is one) behind the stack's nginx,
 * which owns the seed address (see stackPlacement in src/render/model.ts).
 *
 * The one difference from the embedded engine's boot services is what a
 * deploying node boots: here Ironic deploys, so its script chains to
 * Ironic's own per-node iPXE config (`<http_root>/pxelinux.cfg/<mac-dashes>`,
 * which the ipxe boot interface of Ironic 21.4 links to `<uuid>/config`);
 * its boot_ramdisk section boots kseed's ramdisk with the kseed.url, node and
 * token the Ironic engine put into ramdisk_kernel_arguments. No token is
 * minted for it here: a new one would revoke the engine's. Ironic writes
 * that token into the config, so nginx serves the config only after this
 * service's /v1/boot-auth says the asking address is the node's
 * (docs/AGENT-API.md "Agent token").
 *
 * The process around it (site file, state store) is src/service/agent.ts.
 */
import { existsSync, statSync } from 'node:fs';
import { KseedError } from '../errors.js';
import { StateBootBackend, type StateBootBackendOptions } from './backend.js';
import { HttpBootServer, type HttpEvent } from './http/server.js';
import type { BootNode } from './http/types.js';
import { NoiseLimiter } from './log-limit.js';
import { noiseOf, suppressedEvent } from './serve.js';

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

function sameNetns(name: string): boolean {
  const t = statSync(`/run/netns/${name}`);
  const s = statSync('/proc/self/ns/net');
  return t.ino === s.ino && t.dev === s.dev;
}

export interface RunningAgent {
  url: string;
  close(): Promise<void>;
}

/** What the agent service needs: its own small options, not the site file. */
export interface AgentServiceOptions {
  /** The seed's network namespace: the service must run inside it. */
  netns?: string;
  store: StateBootBackendOptions['store'];
  /** The node facts the boot backend serves (src/service/boot-nodes.ts). */
  backend: Omit<StateBootBackendOptions, 'store'>;
  /** Used when it exists. */
  artifactsDir: string;
  /** Where the backend's image converter (backend.images) puts the images it serves under /v1/images/<node>/. */
  imagesDir?: string;
  seedAddress: string;
  interface: string;
  port: number;
  nodeCount: number;
  ramdisk: { kernel: string; initrd: string };
}

/** Starts the service; every event is one JSON line through `log`. Closing it leaves the store open. */
export async function startAgent(o: AgentServiceOptions, log: (e: Record<string, unknown>) => void): Promise<RunningAgent> {
  // listening on 127.0.0.1 of the wrong namespace would leave nginx with nothing to proxy to
  if (o.netns && !sameNetns(o.netns)) {
    throw new KseedError(`the agent service must run inside network namespace ${o.netns} (ip netns exec ${o.netns} ...)`, { code: 'no-netns' });
  }
  const publicUrl = `http://${o.seedAddress}:${o.port}`;
  const backend = new IronicChainBackend({ store: o.store, ...o.backend, httpUrl: publicUrl });
  const hasArtifacts = existsSync(o.artifactsDir);
  const server = new HttpBootServer({
    backend,
    ...(hasArtifacts ? { artifactsDir: o.artifactsDir } : {}),
    ...(o.imagesDir ? { imagesDir: o.imagesDir } : {}),
    publicUrl,
    ramdisk: o.ramdisk,
    address: '127.0.0.1',
    port: o.port,
    // nginx owns the seed address: the node's own address comes in X-Forwarded-For
    behindProxy: true,
    log: (e: HttpEvent) => {
      const line = { service: 'http' as const, type: 'request' as const, ...e };
      const n = noiseOf(line);
      if (n && !noise.admit(n, (s) => log(suppressedEvent(s)))) return;
      log(line);
    },
  });
  // a stranger's 4xx requests are counted, not each logged (issue 14 hole 5)
  const noise = new NoiseLimiter();
  const expiry = setInterval(() => noise.expire((s) => log(suppressedEvent(s))), 10_000);
  expiry.unref();
  let info;
  try {
    info = await server.listen();
  } catch (err) {
    throw new KseedError(`the agent service cannot listen on 127.0.0.1:${o.port}: ${(err as Error).message}`, { code: 'boot-serve', cause: err });
  }
  log({
    service: 'serve',
    type: 'listening',
    interface: o.interface,
    seedAddress: o.seedAddress,
    dhcp: { mode: 'off', ports: [], nodes: o.nodeCount },
    http: { address: info.address, port: info.port, url: publicUrl, behind: 'nginx' },
    ...(hasArtifacts ? { artifactsDir: o.artifactsDir } : {}),
  });
  return {
    url: publicUrl,
    close: async () => {
      await server.close();
      clearInterval(expiry);
      noise.flush((s) => log(suppressedEvent(s)));
    },
  };
}
