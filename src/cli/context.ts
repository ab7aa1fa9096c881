import path from 'node:path';
import type { Command } from 'commander';
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
