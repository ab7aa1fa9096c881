/**
 * The process of the Ironic stack's agent service (src/boot/agent.ts): it
 * reads the site file and the state store, and serves until SIGTERM/SIGINT.
 * It runs as the managed background service of src/engine/service.ts (pid
 * file, log, stop by PID), started as
 *   node dist/service/agent-main.js --config <site> --json boot serve [--artifacts D] [--kernel K] [--initrd I]
 * The `boot serve` words are what that manager recognises its server by.
 */
import path from 'node:path';
import { startAgent, type RunningAgent } from '../boot/agent.js';
import { openState } from '../engine/state.js';
import { KseedError } from '../errors.js';
import { ImagePreparer } from '../images/convert.js';
import { loadSite } from '../site/load.js';
import type { Site } from '../site/types.js';
import { bootBackendOptions } from './boot-nodes.js';


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

/** The agent service of the site, on its state store; closing it closes the store. */
export async function startSiteAgent(site: Site, args: AgentArgs, log: (e: Record<string, unknown>) => void): Promise<RunningAgent> {
  const stateDir = path.join(site.dir, '.kseed');
  const store = openState(stateDir, { synchronous: 'normal' });
  // the ramdisk deploys on this engine too: a qcow2 is converted here, as the embedded seed does (cli/boot.ts)
  const imagesDir = path.join(stateDir, 'cache', 'images');
  try {
    const agent = await startAgent(
      {
        ...(site.seed.netns ? { netns: site.seed.netns } : {}),
        store,
        backend: { ...(await bootBackendOptions(site, stateDir, store)).options, images: new ImagePreparer(imagesDir) },
        artifactsDir: path.resolve(args.artifacts ?? path.join(stateDir, 'cache', 'ramdisk')),
        imagesDir,
        seedAddress: site.seed.address,
        interface: site.seed.interface,
        port: site.seed.ports.http,
        nodeCount: site.nodes.length,
        ramdisk: { kernel: args.kernel, initrd: args.initrd },
      },
      log,
    );
    return {
      url: agent.url,
      close: async () => {
        await agent.close();
        store.close();
      },
    };
  } catch (err) {
    store.close();
    throw err;
  }
}

/** The process: runs until SIGTERM/SIGINT. */
export async function agentMain(argv: string[]): Promise<number> {
  const line = (e: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ ts: new Date().toISOString(), ...e })}\n`);
  try {
    const args = parseAgentArgs(argv);
    const site = await loadSite(path.resolve(args.config));
    const agent = await startSiteAgent(site, args, line);
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
