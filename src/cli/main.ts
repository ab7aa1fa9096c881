import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ExitCode, formatProblem, InputError, KseedError } from '../errors.js';
import { commands } from './commands.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function buildProgram(): Command {
  const program = new Command('kseed')
    .description('Seed a datacenter: bare-metal provisioning from a laptop, then hand-off to Kolla-Ansible and cephadm.')
    .version(version(), '-V, --version')
    .option('-c, --config <file>', 'site file; state lives in .kseed/ beside it', 'kseed.yaml')
    .option('--json', 'machine-readable output on stdout', false)
    .option('-v, --verbose', 'more detail, including stderr of failed tools', false)
    .showHelpAfterError()
    .exitOverride();
  for (const register of commands) register(program);
  return program;
}

function wantsJson(argv: string[]): boolean {
  return argv.includes('--json');
}

/** The one top-level catch: every failure becomes a message and an exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and --version end through exitOverride with code 0
      if (err.exitCode === 0) return ExitCode.ok;
      return ExitCode.usage;
    }
    const json = wantsJson(argv);
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
