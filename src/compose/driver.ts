/**
 * The Compose driver: one small interface over Docker Compose, whichever
 * flavour the machine has. Prefers `docker compose` (v2), falls back to
 * `docker-compose` (v1, Debian 12's only one). Compose commands and the
 * engine queries (health, images, through the docker CLI, whose output is
 * the same for both flavours) run through util/tools.ts like every tool.
 *
 * Every failure is a KseedError with util/tools.ts's codes (`missing-tool`,
 * `tool-failed`, `no-docker`): a short message naming what failed and the
 * command, and `detail` with the command line and its stderr.
 */
import { KseedError } from '../errors.js';
import { dockerEngine, runQuiet, TOOL_ERROR, type RunResult } from '../util/tools.js';

export type ComposeFlavor = 'v2' | 'v1';

export interface ComposeProject {
  /** Compose project name (`-p`); containers carry it as a label. */
  name: string;
  /** Absolute path of the compose file. */
  file: string;
  /** Directory relative paths in the file resolve against. */
  dir: string;
}

export interface DriverOptions {
  /** docker CLI; default `docker` on PATH. */
  docker?: string;
  /** Compose v1 executable; default `docker-compose` on PATH. */
  composeV1?: string;
  /** Force a flavour (also `KSEED_COMPOSE=v1|v2`); unset = v2 when available. */
  prefer?: ComposeFlavor;
  env?: NodeJS.ProcessEnv;
}

export interface ServiceStatus {
  service: string;
  container: string;
  image: string;
  /** created, running, restarting, exited, dead, paused... */
  state: string;
  /** healthy, unhealthy, starting; `none` when the service has no healthcheck. */
  health: 'healthy' | 'unhealthy' | 'starting' | 'none';
  exitCode: number;
  restarts: number;
  /** Output of the last failing healthcheck probe, if any. */
  lastProbe?: string;
  /** Host PID of the container's process 1 while it runs. */
  pid?: number;
}

export interface WaitOptions {
  /** Per wait, default 120 s. */
  timeoutMs?: number;
  pollMs?: number;
  onProgress?: (statuses: ServiceStatus[]) => void;
}

function firstLine(text: string | undefined): string {
  const lines = (text ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  // Compose prints progress lines first; the reason is usually the last line.
  return (lines.find((l) => /error|not found|denied|invalid|no such|failed/i.test(l)) ?? lines.at(-1) ?? '').slice(0, 300);
}

/** Quote for the human reading `detail`, not for a shell. */
function cmdline(argv: string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

export class ComposeDriver {
  private constructor(
    readonly flavor: ComposeFlavor,
    readonly version: string,
    private readonly docker: string,
    private readonly composeV1: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** Checks the engine, then finds Compose: v2 first, then v1. */
  static async detect(opts: DriverOptions = {}): Promise<ComposeDriver> {
    const docker = opts.docker ?? 'docker';
    const composeV1 = opts.composeV1 ?? 'docker-compose';
    const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
    const prefer = opts.prefer ?? (env.KSEED_COMPOSE === 'v1' || env.KSEED_COMPOSE === 'v2' ? env.KSEED_COMPOSE : undefined);

    await dockerEngine(docker, env);

    const tried: string[] = [];
    if (prefer !== 'v1') {
      const v2 = await runQuiet(docker, ['compose', 'version', '--short'], { env: env as Record<string, string>, timeoutMs: 20_000 });
      if (v2.exitCode === 0 && v2.stdout.trim()) return new ComposeDriver('v2', v2.stdout.trim(), docker, composeV1, env);
      tried.push(`${docker} compose: ${firstLine(v2.stderr) || 'not available'}`);
    }
    if (prefer !== 'v2') {
      const v1 = await runQuiet(composeV1, ['version', '--short'], { env: env as Record<string, string>, timeoutMs: 20_000 }).catch((e: unknown) => {
        if (e instanceof KseedError && e.code === TOOL_ERROR.missing) return undefined;
        throw e;
      });
      if (v1 && v1.exitCode === 0 && v1.stdout.trim()) return new ComposeDriver('v1', v1.stdout.trim(), docker, composeV1, env);
      tried.push(`${composeV1}: ${v1 ? firstLine(v1.stderr) : 'not found'}`);
    }
    throw new KseedError('Docker Compose not found: install the compose plugin (`docker compose`) or docker-compose', {
      code: TOOL_ERROR.missing,
      detail: tried.join('\n'),
    });
  }

  private argv(p: ComposeProject, command: string, args: string[]): string[] {
    const head = this.flavor === 'v1' ? [this.composeV1] : [this.docker, 'compose'];
    return [...head, '-p', p.name, '-f', p.file, command, ...args];
  }

  /**
   * Runs one compose command in the project's directory and returns its
   * stdout; any failure becomes a KseedError naming it. No timeout: `up`
   * waits on image layers and `logs --follow` runs until stopped.
   */
  private async run(p: ComposeProject, command: string, args: string[], extra: { commandOptions?: string[]; onChunk?: (chunk: Buffer) => void } = {}): Promise<string> {
    const argv = this.argv(p, command, [...(extra.commandOptions ?? []), ...args]);
    const failed = `compose ${command} failed for project ${p.name}`;
    let r: RunResult;
    try {
      r = await runQuiet(argv[0]!, argv.slice(1), {
        cwd: p.dir,
        env: this.env as Record<string, string>,
        timeoutMs: 0,
        ...(extra.onChunk ? { onChunk: extra.onChunk } : {}),
      });
    } catch (e) {
      if (e instanceof KseedError && e.code === TOOL_ERROR.missing) {
        throw new KseedError(`${failed}: ${e.message}`, { code: TOOL_ERROR.missing, detail: `$ ${cmdline(argv)}`, cause: e });
      }
      throw e;
    }
    if (r.exitCode !== 0) {
      throw new KseedError(`${failed}: ${firstLine(r.stderr) || `exit code ${r.exitCode}`}`, {
        code: TOOL_ERROR.failed,
        detail: `$ ${cmdline(argv)}\n${r.stderr}`.trimEnd(),
      });
    }
    return r.stdout;
  }

  /** `config -q`: Compose's own validation of the file. */
  async validate(p: ComposeProject): Promise<void> {
    await this.run(p, 'config', [], { commandOptions: ['-q'] });
  }

  async up(p: ComposeProject, services: string[] = []): Promise<void> {
    await this.run(p, 'up', services, { commandOptions: ['-d', '--remove-orphans'] });
  }

  /** Recreates these services' containers even though their definition did not change. */
  async recreate(p: ComposeProject, services: string[]): Promise<void> {
    if (services.length) await this.run(p, 'up', services, { commandOptions: ['-d', '--no-deps', '--force-recreate'] });
  }

  async down(p: ComposeProject, opts: { volumes?: boolean } = {}): Promise<void> {
    await this.run(p, 'down', [], { commandOptions: ['--remove-orphans', ...(opts.volumes ? ['--volumes'] : [])] });
  }

  async logs(
    p: ComposeProject,
    opts: { services?: string[]; tail?: number; follow?: boolean; onChunk?: (chunk: string) => void } = {},
  ): Promise<string> {
    const commandOptions = ['--no-color', ...(opts.tail !== undefined ? ['--tail', String(opts.tail)] : []), ...(opts.follow ? ['--follow'] : [])];
    return this.run(p, 'logs', opts.services ?? [], {
      commandOptions,
      ...(opts.onChunk ? { onChunk: (c: Buffer) => opts.onChunk?.(c.toString()) } : {}),
    });
  }

  private dockerRun(args: string[], timeoutMs: number): Promise<RunResult> {
    return runQuiet(this.docker, args, { env: this.env as Record<string, string>, timeoutMs });
  }

  private async dockerCli(args: string[]): Promise<string> {
    const r = await this.dockerRun(args, 60_000);
    if (r.exitCode !== 0) {
      throw new KseedError(`docker ${args[0]} failed: ${firstLine(r.stderr) || `exit code ${r.exitCode}`}`, {
        code: TOOL_ERROR.failed,
        detail: `$ ${cmdline([this.docker, ...args])}\n${r.stderr}`,
      });
    }
    return r.stdout;
  }

  /** Images of `images` that the engine does not have (kseed never pulls them). */
  async missingImages(images: string[]): Promise<string[]> {
    const missing: string[] = [];
    for (const image of [...new Set(images)].sort()) {
      const r = await this.dockerRun(['image', 'inspect', '--format', '{{.Id}}', image], 30_000);
      if (r.exitCode !== 0) missing.push(image);
    }
    return missing;
  }

  /** Container state of every service in the project, from the engine (same for v1 and v2). */
  async ps(p: ComposeProject): Promise<ServiceStatus[]> {
    const ids = (await this.dockerCli(['ps', '-a', '-q', '--no-trunc', '--filter', `label=com.docker.compose.project=${p.name}`]))
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean);
    if (ids.length === 0) return [];
    const raw = JSON.parse(await this.dockerCli(['inspect', ...ids])) as InspectEntry[];
    return raw
      .map(toStatus)
      .sort((a, b) => a.service.localeCompare(b.service) || a.container.localeCompare(b.container));
  }

  /**
   * Waits until every named service runs and, if it has a healthcheck, is
   * healthy. Fails fast, naming the service, when one exits, keeps
   * restarting or turns unhealthy; fails after the timeout otherwise.
   */
  async waitHealthy(p: ComposeProject, services: string[], opts: WaitOptions = {}): Promise<ServiceStatus[]> {
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const pollMs = opts.pollMs ?? 1_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const all = await this.ps(p);
      const wanted = services.length ? all.filter((s) => services.includes(s.service)) : all;
      opts.onProgress?.(wanted);
      for (const s of wanted) {
        const bad = failureOf(s);
        if (bad) {
          const logs = await this.logs(p, { services: [s.service], tail: 30 }).catch(() => '');
          throw new KseedError(`service ${s.service} ${bad}`, {
            code: 'service-failed',
            detail: [s.lastProbe ? `last healthcheck output:\n${s.lastProbe}` : '', logs ? `last log lines:\n${logs}` : '']
              .filter(Boolean)
              .join('\n'),
          });
        }
      }
      const missing = services.filter((name) => !wanted.some((s) => s.service === name));
      const pending = wanted.filter((s) => !(s.state === 'running' && (s.health === 'healthy' || s.health === 'none')));
      if (missing.length === 0 && pending.length === 0 && wanted.length > 0) return wanted;
      if (Date.now() >= deadline) {
        const what = [...missing.map((m) => `${m} (no container)`), ...pending.map((s) => `${s.service} (${s.state}${s.health !== 'none' ? `, ${s.health}` : ''})`)];
        throw new KseedError(`services not healthy after ${Math.round(timeoutMs / 1000)} s: ${what.join(', ')}`, {
          code: 'health-timeout',
          detail: pending.map((s) => (s.lastProbe ? `${s.service}: ${s.lastProbe}` : '')).filter(Boolean).join('\n'),
        });
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
}

interface InspectEntry {
  Id: string;
  Name: string;
  RestartCount?: number;
  Config: { Image: string; Labels?: Record<string, string> };
  State: {
    Status: string;
    Pid?: number;
    ExitCode: number;
    Health?: { Status: string; Log?: { ExitCode: number; Output: string }[] };
  };
}

function toStatus(c: InspectEntry): ServiceStatus {
  const health = c.State.Health?.Status;
  const lastFailed = [...(c.State.Health?.Log ?? [])].reverse().find((l) => l.ExitCode !== 0);
  return {
    service: c.Config.Labels?.['com.docker.compose.service'] ?? c.Name.replace(/^\//, ''),
    container: c.Name.replace(/^\//, ''),
    image: c.Config.Image,
    state: c.State.Status,
    health: health === 'healthy' || health === 'unhealthy' || health === 'starting' ? health : 'none',
    exitCode: c.State.ExitCode,
    restarts: c.RestartCount ?? 0,
    ...(lastFailed ? { lastProbe: lastFailed.Output.trim().slice(0, 2000) } : {}),
    ...(c.State.Pid ? { pid: c.State.Pid } : {}),
  };
}

/** Why a service can no longer become healthy, or undefined while it still may. */
function failureOf(s: ServiceStatus): string | undefined {
  if (s.state === 'exited' || s.state === 'dead') return `exited with code ${s.exitCode} (container ${s.container})`;
  if (s.state === 'restarting' || (s.restarts > 0 && s.exitCode !== 0)) {
    return `keeps restarting (last exit code ${s.exitCode}, ${s.restarts} restarts; container ${s.container})`;
  }
  if (s.health === 'unhealthy') return `is unhealthy (container ${s.container})`;
  return undefined;
}
