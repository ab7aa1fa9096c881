import { readFileSync } from 'node:fs';
import { Command, CommanderError, Help } from 'commander';
import { ExitCode, formatProblem, InputError, KseedError } from '../errors.js';
import { commands, type Register } from './commands.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The command word of `args` (argv without node and script): the first argument that is not a global option or its value. */
export function commandWord(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return args[i + 1];
    if (a === '-c' || a === '--config') {
      i++;
      continue;
    }
    if (!a.startsWith('-')) return a === 'help' ? commandWord(args.slice(i + 1)) ?? a : a;
  }
  return undefined;
}

/**
 * The program with the command `argv` names loaded and registered; with
 * none (top-level help, an unknown command) every command is listed from
 * the table without loading any. `all` loads every command (completion).
 */
export async function buildProgram(argv: readonly string[] = process.argv, all = false): Promise<Command> {
  const program = new Command('kseed')
    .description('Seed a datacenter: bare-metal provisioning from a laptop, then hand-off to Kolla-Ansible and cephadm.')
    .version(version(), '-V, --version')
    .option('-c, --config <file>', 'site file; state lives in .kseed/ beside it', 'kseed.yaml')
    .option('--json', 'machine-readable output on stdout', false)
    .option('-v, --verbose', 'more detail, including stderr of failed tools', false)
    .showHelpAfterError()
    .exitOverride();
  const word = commandWord(argv.slice(2));
  const wanted = all ? [...commands] : commands.filter((c) => c.name === word);
  if (wanted.length) {
    const done = new Set<Register>();
    for (const c of wanted) {
      const { register } = await c.load();
      // one file may register two commands (handoff and mirror)
      if (done.has(register)) continue;
      done.add(register);
      register(program);
    }
    for (const c of wanted) {
      const cmd = program.commands.find((x) => x.name() === c.name);
      if (cmd && c.examples?.length) cmd.addHelpText('after', `\nExamples:\n${c.examples.map((e) => `  ${e}`).join('\n')}`);
    }
  } else {
    const usage = new Map(commands.map((c) => [c.name, c.usage]));
    const help = new Help();
    // listed as the loaded command would list itself (`logs [options] [service]`)
    program.configureHelp({ subcommandTerm: (c) => (usage.has(c.name()) ? [c.name(), usage.get(c.name())].filter(Boolean).join(' ') : help.subcommandTerm(c)) });
    for (const c of commands) program.command(c.name).description(c.summary);
  }
  return program;
}

function wantsJson(argv: string[]): boolean {
  return argv.includes('--json');
}

/** The one top-level catch: every failure becomes a message and an exit code. */
export async function main(argv: string[]): Promise<number> {
  // `kseed ... | head`: the reader went away; that ends the output, it is no crash
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
  try {
    const program = await buildProgram(argv);
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and --version end through exitOverride with code 0
      if (err.exitCode === 0) return ExitCode.ok;
      return ExitCode.usage;
    }
    // a live progress line would run into the message (loaded here only: --help never needs it)
    (await import('./spinner.js')).liveLine.stop();
    // CI mode (--events, --junit): the error ends the event stream and the report; stdout stays NDJSON
    const sink = (await import('./output.js')).runSink();
    await sink?.end(err instanceof KseedError ? err.exitCode : ExitCode.failure, err).catch(() => undefined);
    const json = wantsJson(argv) && !sink?.events;
    const verbose = argv.includes('-v') || argv.includes('--verbose');
    if (err instanceof KseedError) {
      if (json) {
        process.stdout.write(`${JSON.stringify(err.toJSON(), null, 2)}\n`);
      } else {
        process.stderr.write(`kseed: ${err.message}\n`);
        if (err instanceof InputError) for (const p of err.problems) process.stderr.write(`  ${formatProblem(p)}\n`);
        if (err.detail && verbose) process.stderr.write(`${err.detail}\n`);
      }
      return err.exitCode;
    }
    const e = err as Error;
    if (json) process.stdout.write(`${JSON.stringify({ error: 'internal', message: e?.message ?? String(err) })}\n`);
    else process.stderr.write(`kseed: internal error: ${e?.stack ?? String(err)}\n`);
    return ExitCode.failure;
  }
}
