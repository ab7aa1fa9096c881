import type { Command } from 'commander';
import type { ServiceStatus } from '../engine/ironic-seed.js';
import { InputError, type KseedError } from '../errors.js';
import { ciOptions } from './ci.js';
import { contextOf, shownSite, type CliContext } from './context.js';
import { embeddedUpOptions } from './embedded.js';
import { table } from './output.js';
import { renderJson } from './render.js';

export function statusTable(statuses: ServiceStatus[]): string {
  return table(
    ['SERVICE', 'STATE', 'HEALTH', 'CONTAINER', 'IMAGE'],
    statuses.map((s) => [s.service, s.state, s.health === 'none' ? '-' : s.health, s.container, s.image]),
  );
}

/**
 * The seed is up but could not boot a node: its deploy ramdisk is not where
 * it serves /artifacts/. The warning names the command that builds it there.
 */
export function ramdiskWarning(ctx: CliContext, missing: string[], artifacts: string | undefined): string | undefined {
  if (!missing.length) return undefined;
  const shown = shownSite(ctx);
  const k = `kseed ${shown === './kseed.yaml' ? '' : `--config ${shown} `}`;
  const fix = artifacts ? `\`${k}images ramdisk\` builds it (into .kseed/cache/ramdisk): put its vmlinuz and initramfs.gz into ${artifacts}` : `\`${k}images ramdisk\` builds it there`;
  return `deploy ramdisk missing (${missing.join(', ')}): nodes can be enrolled, not inspected or deployed; ${fix}`;
}

/**
 * The seed service beside the seed (service/daemon.ts). Its failure (say,
 * its port taken) is a warning, not the failure of `up`: the seed itself
 * is up and provisions; `kseed status` shows the service missing.
 */
async function startApi(ctx: CliContext, timeoutS: number): Promise<{ info?: import('../service/daemon.js').ApiServiceInfo; error?: string }> {
  const { startApiService } = await import('../service/daemon.js');
  try {
    return { info: await startApiService({ stateDir: ctx.stateDir, configPath: ctx.configPath, readyTimeoutMs: Math.min(timeoutS, 30) * 1000 }) };
  } catch (err) {
    const e = err as KseedError;
    // kseed serve --json says why it stopped last, as a (pretty-printed) JSON error record
    const tail = e.detail?.trim() ?? '';
    let why = tail.split('\n').at(-1);
    try {
      why = (JSON.parse(tail.slice(tail.lastIndexOf('\n{') + 1)) as { message?: string }).message ?? why;
    } catch {
      /* plain lines */
    }
    return { error: `${e.message}${why ? `: ${why}` : ''}` };
  }
}

interface UpOpts {
  /** false with --no-api */
  api: boolean;
  out?: string;
  timeout: string;
  artifacts?: string;
  kernel?: string;
  initrd?: string;
}

export function register(program: Command): void {
  ciOptions(embeddedUpOptions(program
    .command('up')
    .description('start the seed: engine ironic renders the stack, starts it with Docker Compose (waits until healthy) and starts kseed\'s HTTP boot service behind it; engine embedded starts the boot services in the background')
    .option('--out <dir>', 'stack directory (default .kseed/stack)')
    .option('--timeout <seconds>', 'how long to wait for healthy services', '180')
    .option('--no-api', 'do not start the seed service (API, leases) beside the seed; `kseed serve` runs it in the foreground instead')))
    .action(async (opts: UpOpts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const timeout = Number(opts.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0) throw new InputError(`--timeout must be a positive number of seconds, not "${opts.timeout}"`);
      // the engines and site code load when the command runs, not for its --help (nor `kseed status --help`, which shares statusTable)
      const [{ openSeed }, { missingRamdisk }, { loadSite }] = await Promise.all([import('../engine/seed.js'), import('../engine/service.js'), import('../site/load.js')]);
      const site = await loadSite(ctx.configPath);
      if (site.engine !== 'embedded' && site.engine !== 'ironic') {
        throw new InputError(
          `${site.file}: engine is "${site.engine}"; \`kseed up\` runs the Ironic Compose stack (set engine: ironic)`,
        );
      }
      const r = await openSeed(ctx, site).up({
        timeoutMs: timeout * 1000,
        ...(opts.out ? { out: opts.out } : {}),
        ...(opts.artifacts ? { artifacts: opts.artifacts } : {}),
        ...(opts.kernel ? { kernel: opts.kernel } : {}),
        ...(opts.initrd ? { initrd: opts.initrd } : {}),
        progress: (line) => ctx.out.progress(line),
      });
      const { boot } = r;
      const svc = opts.api ? await startApi(ctx, timeout) : undefined;
      const apiJson = svc ? { api: svc.info ? { pid: svc.info.pid, url: svc.info.url, log: svc.info.log, already_running: svc.info.already } : { error: svc.error } } : {};
      const apiLine = svc?.info ? `seed service ${svc.info.already ? 'already running' : 'up'} (pid ${svc.info.pid}) on ${svc.info.url}; log ${svc.info.log}` : undefined;
      const found = [ramdiskWarning(ctx, missingRamdisk(ctx.stateDir, site.file, opts), opts.artifacts), svc?.error].filter((w): w is string => Boolean(w));
      const warnings = found.length ? { warnings: found } : {};
      // warnings, not failures: the seed is up and enrolling works (on stderr, after the result)
      const warn = () => !ctx.out.json && found.forEach((w) => process.stderr.write(`warning: ${w}\n`));
      if (r.engine === 'embedded') {
        ctx.out.result(
          { engine: 'embedded', ...warnings, boot_services: { pid: boot.pid, pid_file: boot.pidFile, log: boot.log, already_running: boot.already, ...(boot.listening ? { listening: boot.listening } : {}) }, ...apiJson },
          () =>
            [
              boot.already
                ? `boot services already running (pid ${boot.pid}); log ${boot.log}`
                : `boot services up (pid ${boot.pid}) on ${site.seed.interface}${site.seed.netns ? ` in netns ${site.seed.netns}` : ''}, seed ${site.seed.address}; log ${boot.log}`,
              apiLine,
            ]
              .filter(Boolean)
              .join('\n'),
        );
        warn();
        return;
      }
      ctx.out.result(
        {
          ...renderJson(r.render),
          compose: r.compose,
          status: r.services,
          boot_services: { pid: boot.pid, pid_file: boot.pidFile, log: boot.log, already_running: boot.already },
          ...apiJson,
          timings: r.timings,
          ...warnings,
        },
        () =>
          [
            statusTable(r.services),
            boot.already ? `boot service already running (pid ${boot.pid})` : `boot service up (pid ${boot.pid}${r.netns ? `, netns ${r.netns}` : ''}); log ${boot.log}`,
            ...(apiLine ? [apiLine] : []),
            `seed stack ${r.render.project} is up (${(r.timings.total_ms / 1000).toFixed(1)} s)`,
          ].join('\n'),
      );
      warn();
    });
}
