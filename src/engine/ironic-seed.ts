/**
 * The Ironic engine's seed: its Compose stack (Ironic, dnsmasq, nginx,
 * registry), rendered from the site and run by Docker Compose, and kseed's
 * agent service behind the stack's nginx (src/boot/agent.ts, a managed
 * background process like the embedded engine's boot services). `up` also
 * records where Ironic and kseed's ramdisk are, for `kseed provision` in
 * another process (engine/open.ts reads them).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { checkSeed, ComposeDriver, ensureImages, upStack, type ComposeProject, type ServiceStatus } from '../compose/index.js';
import { IronicClient, IronicError, type IronicNode } from '../ironic/index.js';
import { ironicBootPlan, readStackManifest, renderStack, type RenderResult, type StackManifest } from '../render/index.js';
import { resolveSecret } from '../site/secrets.js';
import type { Site } from '../site/types.js';
import { pidInNetns } from '../util/netns.js';
import { IRONIC_URL_KEY, ironicConnection, KSEED_RAMDISK_KEY } from './open.js';
import type { Seed, SeedDownOptions, SeedPaths, SeedStatusOptions, SeedUpOptions } from './seed.js';
import { AGENT_MAIN, bootServiceOf, bootServicePid, logFileOf, startBootService, stopBootService, type BootServiceInfo } from './service.js';
import { openState } from './state.js';
import type { PhaseTiming } from './state.js';

export type { RenderResult, ServiceStatus };

/** The stack directory of a site: `--out`, else `.kseed/stack`. */
export function stackDirOf(stateDir: string, out?: string): string {
  return out ? path.resolve(out) : path.join(stateDir, 'stack');
}

/** The deploy ramdisk directory (bind-mounted into Ironic, so it is part of the stack) and its files. */
export type RenderSeedOptions = Pick<SeedUpOptions, 'out' | 'artifacts' | 'kernel' | 'initrd'>;

/** Renders the site's stack (`kseed render`, and the first step of `kseed up`). */
export async function renderSeedStack(site: Site, stateDir: string, o: RenderSeedOptions = {}): Promise<RenderResult> {
  let registryPassword: string | undefined;
  if (site.registry.enabled && site.registry.password) registryPassword = await resolveSecret(site.registry.password, site);
  // KSEED_IMAGE_TAG: run the stack on images built under another tag than the kseed version.
  const imageTag = process.env.KSEED_IMAGE_TAG;
  return renderStack(site, {
    outDir: stackDirOf(stateDir, o.out),
    ...(imageTag ? { imageTag } : {}),
    secretsDir: path.join(stateDir, 'secrets'),
    ...(registryPassword !== undefined ? { registryPassword } : {}),
    ...(o.artifacts ? { artifactsDir: path.resolve(o.artifacts) } : {}),
    ...(o.kernel ? { kernel: o.kernel } : {}),
    ...(o.initrd ? { initrd: o.initrd } : {}),
  });
}

export interface RenderedStack {
  dir: string;
  manifest: StackManifest;
  project: ComposeProject;
}

/** The rendered stack `down`, `status` and `logs` act on: they never re-render. */
export async function renderedStack(stateDir: string, out?: string): Promise<RenderedStack | undefined> {
  const dir = stackDirOf(stateDir, out);
  const manifest = await readStackManifest(dir);
  return manifest ? { dir, manifest, project: { name: manifest.project, file: `${dir}/${manifest.composeFile}`, dir } } : undefined;
}

/**
 * The running containers of the rendered stack, by their main process
 * (docker's State.Pid): `kseed doctor` tells the stack's dnsmasq and nginx
 * from a foreign holder of the same ports by them. None without a stack.
 */
export async function stackProcesses(stateDir: string, out?: string): Promise<{ service: string; pid: number }[]> {
  const stack = await renderedStack(stateDir, out);
  if (!stack) return [];
  const running = await (await ComposeDriver.detect()).ps(stack.project);
  return running.flatMap((s) => (s.state === 'running' && s.pid ? [{ service: s.service, pid: s.pid }] : []));
}

export interface IronicSeedUp {
  engine: 'ironic';
  render: RenderResult;
  compose: { flavor: string; version: string };
  services: ServiceStatus[];
  boot: BootServiceInfo;
  netns?: string;
  timings: { stack_ms: number; total_ms: number };
}

export type IronicSeedDown =
  | { engine: 'ironic'; down: false; boot_services: Awaited<ReturnType<typeof stopBootService>> }
  | {
      engine: 'ironic';
      down: true;
      project: string;
      boot_services: Awaited<ReturnType<typeof stopBootService>>;
      /** volume -> what it holds */
      volumes: Record<string, string>;
      volumesDeleted: boolean;
    };

export interface SeedNodeView {
  node: string;
  state: string | null;
  power: string | null;
  last_error: string | null;
  timings: PhaseTiming[];
  booted_hostname: string | null;
  ironic: {
    uuid: string;
    provision_state: string | null | undefined;
    target_provision_state: string | null | undefined;
    power_state: string | null | undefined;
    last_error: string | null | undefined;
    maintenance: boolean;
  } | null;
}

export type IronicSeedStatus =
  | { engine: 'ironic'; rendered: false }
  | {
      engine: 'ironic';
      rendered: true;
      project: string;
      healthy: boolean;
      services: ServiceStatus[];
      /** With an Ironic-engine site file: kseed's agent service and both views of every node. */
      site?: {
        boot_services: { running: boolean; pid?: number; log: string };
        ironic_error?: string;
        nodes: SeedNodeView[];
      };
    };

/** Ironic's own view of the nodes, through the engine's Ironic connection, 5 s at most; undefined + why when it does not answer. */
async function ironicNodes(site: Site, stateDir: string): Promise<{ nodes?: IronicNode[]; error?: string }> {
  let conn: ReturnType<typeof ironicConnection>;
  try {
    conn = ironicConnection(site, stateDir);
  } catch {
    return { error: 'no Ironic credentials yet (kseed up creates them)' };
  }
  const client = new IronicClient({ ...conn, timeoutMs: 5000 });
  try {
    return { nodes: await client.listNodes({ fields: ['uuid', 'name', 'provision_state', 'target_provision_state', 'power_state', 'last_error', 'maintenance'] }) };
  } catch (err) {
    if (err instanceof IronicError && err.status) return { error: `Ironic answered ${err.status} at ${conn.url}` };
    return { error: `Ironic does not answer at ${conn.url} (${(err as Error).message})` };
  }
}

export class IronicSeed implements Seed {
  readonly engine = 'ironic' as const;

  constructor(
    private readonly paths: SeedPaths,
    /** Undefined when there is no site file: `down` and `status` still find a rendered stack. */
    private readonly site: Site | undefined,
  ) {}

  async up(o: SeedUpOptions): Promise<IronicSeedUp> {
    const site = this.site;
    if (!site) throw new Error('IronicSeed.up needs the site');
    const { stateDir } = this.paths;
    const say = o.progress ?? (() => {});
    const t0 = Date.now();
    const r = await renderSeedStack(site, stateDir, o);
    say(renderSummary(r));
    const driver = await ComposeDriver.detect();
    // Images first: until `kseed images build` ran, that is the one thing to fix.
    await ensureImages(driver, r);
    await checkSeed(site.seed);
    say(`compose: ${driver.flavor === 'v2' ? 'docker compose' : 'docker-compose'} ${driver.version}; starting ${r.project}`);
    let last = '';
    const services = await upStack(driver, r, {
      timeoutMs: o.timeoutMs,
      unchanged: r.unchanged,
      ...(site.seed.netns ? { netns: { name: site.seed.netns, services: r.placement.inNetns } } : {}),
      onProgress: (ss) => {
        const line = ss.map((s) => `${s.service}=${s.health === 'none' ? s.state : s.health}`).join(' ');
        if (line !== last) say(`waiting: ${line}`);
        last = line;
      },
    });
    const stackMs = Date.now() - t0;
    // kseed's agent service (per-node scripts, agent API) behind the stack's nginx, in seed.netns;
    // one left in a namespace that was since deleted and made again (lab down/up) is restarted
    const running = bootServicePid(stateDir, site.file);
    if (running !== undefined && site.seed.netns && !pidInNetns(running, site.seed.netns)) {
      say(`boot service (pid ${running}) runs in a stale ${site.seed.netns}: restarting it`);
      await stopBootService(stateDir, site.file);
    }
    const boot = await startBootService({ ...bootServiceOf(site, stateDir, o), command: [process.execPath, AGENT_MAIN], readyTimeoutMs: 30_000 });
    // what `kseed provision` (another process) needs to deploy through this stack: Ironic's URL and kseed's ramdisk
    const plan = ironicBootPlan(site, stateDir, r.outDir);
    const store = openState(stateDir);
    try {
      store.set(IRONIC_URL_KEY, plan.ironicUrl);
      store.set(KSEED_RAMDISK_KEY, { kernelUrl: plan.kernel, ramdiskUrl: plan.ramdisk, agentUrl: plan.agentUrl, extraArgs: plan.kernelArgs.join(' ') });
    } finally {
      store.close();
    }
    return {
      engine: 'ironic',
      render: r,
      compose: { flavor: driver.flavor, version: driver.version },
      services,
      boot,
      ...(site.seed.netns ? { netns: site.seed.netns } : {}),
      timings: { stack_ms: stackMs, total_ms: Date.now() - t0 },
    };
  }

  async down(o: SeedDownOptions): Promise<IronicSeedDown> {
    const { stateDir, configPath } = this.paths;
    // kseed's agent service first: nodes asking for a script get none rather than a half-gone stack's
    const boot = await stopBootService(stateDir, configPath);
    const stack = await renderedStack(stateDir, o.out);
    if (!stack) return { engine: 'ironic', down: false, boot_services: boot };
    const { manifest } = stack;
    if (o.volumes && o.warn) {
      o.warn(`deleting the volumes of ${manifest.project}; this loses, for good:`);
      for (const [v, what] of Object.entries(manifest.volumes)) o.warn(`  ${v}: ${what}`);
      // the state store is not a volume: what kseed itself knows about the nodes survives
      o.warn(`kept: kseed's own node states and events (${stateDir}/state.db); the next provision enrolls the nodes in Ironic again`);
    }
    const driver = await ComposeDriver.detect();
    await driver.down(stack.project, { volumes: Boolean(o.volumes) });
    return { engine: 'ironic', down: true, project: manifest.project, boot_services: boot, volumes: manifest.volumes, volumesDeleted: Boolean(o.volumes) };
  }

  async status(o: SeedStatusOptions): Promise<IronicSeedStatus> {
    const { stateDir } = this.paths;
    const stack = await renderedStack(stateDir, o.out);
    if (!stack) return { engine: 'ironic', rendered: false };
    const { manifest } = stack;
    const driver = await ComposeDriver.detect();
    const running = await driver.ps(stack.project);
    // Services of the stack without a container are reported too: "not created" is a state.
    const services = manifest.services.map(
      (s) =>
        running.find((r) => r.service === s) ?? { service: s, container: '-', image: manifest.images[s] ?? '-', state: 'not created', health: 'none' as const, exitCode: 0, restarts: 0 },
    );
    const healthy = services.every((s) => s.state === 'running' && (s.health === 'healthy' || s.health === 'none'));
    const site = this.site?.engine === 'ironic' ? this.site : undefined;
    return { engine: 'ironic', rendered: true, project: manifest.project, healthy, services, ...(site ? { site: await this.nodes(site) } : {}) };
  }

  /** kseed's agent service and both views of every node: kseed's lifecycle and Ironic's provision state. */
  private async nodes(site: Site): Promise<NonNullable<Extract<IronicSeedStatus, { rendered: true }>['site']>> {
    const { stateDir } = this.paths;
    const pid = bootServicePid(stateDir, site.file);
    const ironic = await ironicNodes(site, stateDir);
    const store = existsSync(stateDir) ? openState(stateDir) : undefined;
    try {
      const nodes = site.nodes.map((n): SeedNodeView => {
        const k = store?.getNode(n.name);
        const i = ironic.nodes?.find((x) => x.name === n.name);
        return {
          node: n.name,
          state: k?.state ?? null,
          power: k?.power ?? null,
          last_error: k?.last_error ?? null,
          timings: store && k ? store.phaseTimings(n.name) : [],
          booted_hostname: (k?.data.booted as { hostname?: string } | null | undefined)?.hostname ?? null,
          ironic: i
            ? { uuid: i.uuid, provision_state: i.provision_state, target_provision_state: i.target_provision_state, power_state: i.power_state, last_error: i.last_error, maintenance: i.maintenance ?? false }
            : null,
        };
      });
      return {
        boot_services: { running: pid !== undefined, ...(pid ? { pid } : {}), log: logFileOf(stateDir) },
        ...(ironic.error ? { ironic_error: ironic.error } : {}),
        nodes,
      };
    } finally {
      store?.close();
    }
  }
}

/** The stack services' logs (`kseed logs [service]`), streamed to onChunk. */
export async function stackLogs(stack: RenderedStack, o: { service?: string; tail: number; follow: boolean; onChunk: (chunk: string) => void }): Promise<void> {
  const driver = await ComposeDriver.detect();
  await driver.logs(stack.project, { services: o.service ? [o.service] : [], tail: o.tail, follow: o.follow, onChunk: o.onChunk });
}

/** What rendering changed, as `kseed render` and `kseed up` say it. */
export function renderSummary(r: RenderResult): string {
  const rel = path.relative(process.cwd(), r.outDir) || '.';
  if (r.unchanged) return `stack unchanged: nothing written (${rel})`;
  const lines = [`rendered ${rel}: ${r.added.length} added, ${r.changed.length} changed, ${r.removed.length} removed`];
  for (const f of r.added) lines.push(`  + ${f}`);
  for (const f of r.changed) lines.push(`  ~ ${f}`);
  for (const f of r.removed) lines.push(`  - ${f}`);
  return lines.join('\n');
}
