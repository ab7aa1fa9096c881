import path from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { checkSeed, ComposeDriver, ensureImages, upStack, type ServiceStatus } from '../compose/index.js';
import { AGENT_MAIN } from '../service/agent.js';
import { pidInNetns } from '../util/netns.js';
import { bootServicePid, startBootService, stopBootService } from '../engine/service.js';
import { IRONIC_URL_KEY, KSEED_RAMDISK_KEY } from '../engine/open.js';
import { openState } from '../engine/state.js';
import { ironicBootPlan, renderStack, type RenderResult } from '../render/index.js';
import { resolveSecret } from '../site/secrets.js';
import type { Site } from '../site/types.js';
import type { CliContext } from './context.js';
import { contextOf } from './context.js';
import { embeddedUpOptions, upEmbedded } from './embedded.js';
import { table } from './output.js';
import { loadSiteFor, renderJson, stackDirOf, summarize } from './render.js';

export function statusTable(statuses: ServiceStatus[]): string {
  return table(
    ['SERVICE', 'STATE', 'HEALTH', 'CONTAINER', 'IMAGE'],
    statuses.map((s) => [s.service, s.state, s.health === 'none' ? '-' : s.health, s.container, s.image]),
  );
}

interface UpOpts {
  out?: string;
  timeout: string;
  artifacts?: string;
  kernel?: string;
  initrd?: string;
}

/** As `kseed render`, plus the deploy ramdisk directory Ironic reads (bind-mounted, so it is part of the stack). */
async function renderForUp(ctx: CliContext, site: Site, opts: UpOpts): Promise<RenderResult> {
  let registryPassword: string | undefined;
  if (site.registry.enabled && site.registry.password) registryPassword = await resolveSecret(site.registry.password, site);
  const imageTag = process.env.KSEED_IMAGE_TAG;
  return renderStack(site, {
    outDir: stackDirOf(ctx, opts.out),
    ...(imageTag ? { imageTag } : {}),
    secretsDir: path.join(ctx.stateDir, 'secrets'),
    ...(registryPassword !== undefined ? { registryPassword } : {}),
    ...(opts.artifacts ? { artifactsDir: path.resolve(opts.artifacts) } : {}),
    ...(opts.kernel ? { kernel: opts.kernel } : {}),
    ...(opts.initrd ? { initrd: opts.initrd } : {}),
  });
}

export function register(program: Command): void {
  embeddedUpOptions(program
    .command('up')
    .description('start the seed: engine ironic renders the stack, starts it with Docker Compose (waits until healthy) and starts kseed\'s HTTP boot service behind it; engine embedded starts the boot services in the background')
    .option('--out <dir>', 'stack directory (default .kseed/stack)')
    .option('--timeout <seconds>', 'how long to wait for healthy services', '180'))
    .action(async (opts: UpOpts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const timeout = Number(opts.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0) throw new InputError(`--timeout must be a positive number of seconds, not "${opts.timeout}"`);
      const site = await loadSiteFor(ctx);
      if (site.engine === 'embedded') return upEmbedded(ctx, site, opts);
      if (site.engine !== 'ironic') {
        throw new InputError(
          `${site.file}: engine is "${site.engine}"; \`kseed up\` runs the Ironic Compose stack (set engine: ironic)`,
        );
      }
      const t0 = Date.now();
      const r = await renderForUp(ctx, site, opts);
      ctx.out.progress(summarize(r));
      const driver = await ComposeDriver.detect();
      // Images first: until `kseed images build` ran, that is the one thing to fix.
      await ensureImages(driver, r);
      await checkSeed(site.seed);
      ctx.out.progress(`compose: ${driver.flavor === 'v2' ? 'docker compose' : 'docker-compose'} ${driver.version}; starting ${r.project}`);
      let last = '';
      const placement = r.placement;
      const statuses = await upStack(driver, r, {
        timeoutMs: timeout * 1000,
        unchanged: r.unchanged,
        ...(site.seed.netns ? { netns: { name: site.seed.netns, services: placement.inNetns } } : {}),
        onProgress: (ss) => {
          const line = ss.map((s) => `${s.service}=${s.health === 'none' ? s.state : s.health}`).join(' ');
          if (line !== last) ctx.out.progress(`waiting: ${line}`);
          last = line;
        },
      });
      const stackMs = Date.now() - t0;
      // kseed's HTTP boot service (per-node scripts, agent API) behind the stack's nginx, in seed.netns;
      // one left in a namespace that was since deleted and made again (lab down/up) is restarted
      const running = bootServicePid(ctx.stateDir, site.file);
      if (running !== undefined && site.seed.netns && !pidInNetns(running, site.seed.netns)) {
        ctx.out.progress(`boot service (pid ${running}) runs in a stale ${site.seed.netns}: restarting it`);
        await stopBootService(ctx.stateDir, site.file);
      }
      const boot = await startBootService({
        stateDir: ctx.stateDir,
        configPath: site.file,
        command: [process.execPath, AGENT_MAIN],
        ...(site.seed.netns ? { netns: site.seed.netns } : {}),
        ...(opts.artifacts ? { artifacts: path.resolve(opts.artifacts) } : {}),
        ...(opts.kernel ? { kernel: opts.kernel } : {}),
        ...(opts.initrd ? { initrd: opts.initrd } : {}),
        readyTimeoutMs: 30_000,
      });
      // what `kseed provision` (another process) needs to deploy through this stack: Ironic's URL and kseed's ramdisk
      const plan = ironicBootPlan(site, ctx.stateDir, r.outDir);
      const store = openState(ctx.stateDir);
      try {
        store.set(IRONIC_URL_KEY, plan.ironicUrl);
        store.set(KSEED_RAMDISK_KEY, { kernelUrl: plan.kernel, ramdiskUrl: plan.ramdisk, agentUrl: plan.agentUrl, extraArgs: plan.kernelArgs.join(' ') });
      } finally {
        store.close();
      }
      const totalMs = Date.now() - t0;
      ctx.out.result(
        {
          ...renderJson(r),
          compose: { flavor: driver.flavor, version: driver.version },
          status: statuses,
          boot_services: { pid: boot.pid, pid_file: boot.pidFile, log: boot.log, already_running: boot.already },
          timings: { stack_ms: stackMs, total_ms: totalMs },
        },
        () =>
          [
            statusTable(statuses),
            boot.already ? `boot service already running (pid ${boot.pid})` : `boot service up (pid ${boot.pid}${site.seed.netns ? `, netns ${site.seed.netns}` : ''}); log ${boot.log}`,
            `seed stack ${r.project} is up (${(totalMs / 1000).toFixed(1)} s)`,
          ].join('\n'),
      );
    });
}
