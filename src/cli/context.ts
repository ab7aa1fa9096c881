import path from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { Output } from './output.js';

/** Options every command inherits from the program. */
export interface GlobalOptions {
  config: string;
  json: boolean;
  verbose: boolean;
}

export interface CliContext {
  /** Absolute path of the site file (may not exist yet). */
  configPath: string;
  /** `.kseed/` beside the site file. */
  stateDir: string;
  out: Output;
  /** True when stdin is a terminal: only then may a command ask a question. */
  interactive: boolean;
}

export function contextOf(cmd: Command): CliContext {
  const o = cmd.optsWithGlobals() as GlobalOptions;
  const configPath = path.resolve(o.config ?? 'kseed.yaml');
  return {
    configPath,
    stateDir: path.join(path.dirname(configPath), '.kseed'),
    out: new Output({ json: Boolean(o.json), verbose: Boolean(o.verbose) }),
    interactive: Boolean(process.stdin.isTTY),
  };
}

/** The site file as the user would type it: ./kseed.yaml below the working directory, else absolute. */
export function shownSite(ctx: CliContext): string {
  const rel = path.relative(process.cwd(), ctx.configPath);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? `./${rel}` : ctx.configPath;
}

/** A command that needs a site file found none: say which file and the command that writes one (exit 2). */
export function noSiteFile(ctx: CliContext): InputError {
  const shown = shownSite(ctx);
  return new InputError(`no site file ${shown}: \`kseed init\` writes a starter one (or pass --config FILE)`, [{ file: shown, message: 'site file not found' }], { code: 'no-site' });
}
