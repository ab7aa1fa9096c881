import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { InputError, KseedError } from '../errors.js';
import type { LogFollower } from '../engine/service.js';
import { lastLines } from '../util/tail.js';
import { contextOf, noSiteFile, type CliContext } from './context.js';
import { embeddedSiteOf } from './embedded.js';

/** kseed's own log files (.kseed/logs/NAME.log: boot-serve, handoff-STEP, ...), boot-serve first. */
function logFiles(ctx: CliContext): Map<string, string> {
  const dir = path.join(ctx.stateDir, 'logs');
  const names = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.log') && statSync(path.join(dir, f)).isFile()) : [];
  names.sort((a, b) => Number(b === 'boot-serve.log') - Number(a === 'boot-serve.log') || a.localeCompare(b));
  return new Map(names.map((f) => [f.slice(0, -'.log'.length), path.join(dir, f)]));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The last `tail` lines of each file (a `==> name <==` header when there are
 * several, as tail(1) does); with follow, then every line appended, prefixed
 * by its file's name when there are several, until interrupted.
 */
async function showFiles(files: Map<string, string>, tail: number, follow: boolean): Promise<void> {
  const many = files.size > 1;
  const followers: [string, LogFollower][] = [];
  const { LogFollower } = await import('../engine/service.js');
  for (const [name, file] of files) {
    if (many) process.stdout.write(`==> ${path.basename(file)} <==\n`);
    const text = lastLines(file, tail);
    if (text) process.stdout.write(`${text}\n`);
    if (follow) followers.push([name, new LogFollower(file, statSync(file).size)]);
  }
  while (follow) {
    for (const [name, f] of followers) for (const line of f.lines()) process.stdout.write(many ? `${name} | ${line}\n` : `${line}\n`);
    await sleep(250);
  }
}

export function register(program: Command): void {
  program
    .command('logs')
    .description("logs of the seed: the embedded engine's files under .kseed/logs (boot-serve, handoff-*), or the Ironic stack's services")
    .argument('[service]', 'a log of .kseed/logs by name (boot-serve, handoff-kolla, ...), or a stack service: ironic, dnsmasq, http, registry, inspector')
    .option('--tail <lines>', 'only the last N lines of each log', '200')
    .option('-f, --follow', 'keep printing new lines')
    .option('--out <dir>', 'stack directory (default .kseed/stack)')
    .addHelpText('after', '\nExamples:\n  kseed logs                 # every log, last 200 lines each\n  kseed logs boot-serve -f   # follow the embedded boot services')
    .action(async (service: string | undefined, opts: { tail: string; follow?: boolean; out?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const tail = Number(opts.tail);
      if (!Number.isInteger(tail) || tail < 0) throw new InputError(`--tail must be a number of lines, not "${opts.tail}"`);
      const files = logFiles(ctx);
      // Streamed as it comes; under --json it is still plain log text, there is no data to structure.
      if (service && files.has(service)) return showFiles(new Map([[service, files.get(service)!]]), tail, Boolean(opts.follow));
      if (!existsSync(ctx.configPath)) throw noSiteFile(ctx);
      if (await embeddedSiteOf(ctx)) {
        if (service) throw new InputError(`no log "${service}" under ${path.join(ctx.stateDir, 'logs')}: there are ${[...files.keys()].join(', ') || 'none yet'}`);
        if (!files.size) throw new KseedError(`no logs under ${path.join(ctx.stateDir, 'logs')} yet: \`kseed up\` starts the boot services, which log to boot-serve.log`, { code: 'no-logs' });
        return showFiles(files, tail, Boolean(opts.follow));
      }
      // the engine loads here, not for --help or kseed's own log files
      const { renderedStack, stackLogs } = await import('../engine/ironic-seed.js');
      const stack = await renderedStack(ctx.stateDir, opts.out);
      if (!stack) throw new KseedError('seed not up: no rendered stack (`kseed up` renders and starts it)', { code: 'not-up' });
      const { manifest } = stack;
      if (service && !manifest.services.includes(service as never)) {
        throw new InputError(`unknown service "${service}": the stack runs ${manifest.services.join(', ')}${files.size ? `; kseed's own logs are ${[...files.keys()].join(', ')}` : ''}`);
      }
      await stackLogs(stack, { ...(service ? { service } : {}), tail, follow: Boolean(opts.follow), onChunk: (c) => process.stdout.write(c) });
    });
}
