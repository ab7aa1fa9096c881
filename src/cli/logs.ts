import type { Command } from 'commander';
import { InputError, KseedError } from '../errors.js';
import { ComposeDriver } from '../compose/index.js';
import { contextOf } from './context.js';
import { renderedStack } from './render.js';

export function register(program: Command): void {
  program
    .command('logs')
    .description('logs of the seed stack, or of one service')
    .argument('[service]', 'ironic, dnsmasq, http, registry or inspector')
    .option('--tail <lines>', 'only the last N lines of each service', '200')
    .option('-f, --follow', 'keep printing new lines')
    .option('--out <dir>', 'stack directory (default .kseed/stack)')
    .action(async (service: string | undefined, opts: { tail: string; follow?: boolean; out?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const stack = await renderedStack(ctx, opts.out);
      if (!stack) throw new KseedError('no rendered stack (run `kseed render` or `kseed up`)');
      const { manifest, dir } = stack;
      if (service && !manifest.services.includes(service as never)) {
        throw new InputError(`unknown service "${service}": the stack runs ${manifest.services.join(', ')}`);
      }
      const tail = Number(opts.tail);
      if (!Number.isInteger(tail) || tail < 0) throw new InputError(`--tail must be a number of lines, not "${opts.tail}"`);
      const driver = await ComposeDriver.detect();
      // Streamed as it comes; under --json it is still plain log text, there is no data to structure.
      await driver.logs(
        { name: manifest.project, file: `${dir}/${manifest.composeFile}`, dir },
        { services: service ? [service] : [], tail, follow: Boolean(opts.follow), onChunk: (c) => process.stdout.write(c) },
      );
    });
}
