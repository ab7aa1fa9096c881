/**
 * The built CLI (node bin/kseed.js, from dist/) as a user runs it: one
 * process per command, stdout/stderr collected, --json parsed. For end-to-end
 * tests that drive a lab through several commands.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { linkSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const REPO = path.resolve(__dirname, '../..');
export const KSEED = path.join(REPO, 'bin/kseed.js');

export interface KseedRun {
  code: number;
  stdout: string;
  stderr: string;
  json?: any;
}

export interface KseedOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export function startKseed(args: string[], opts: KseedOptions = {}): { child: ChildProcess; done: Promise<KseedRun> } {
  const child = spawn(process.execPath, [KSEED, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd ?? REPO, env: opts.env ?? process.env });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => {
    stderr += d;
    if (process.env.E2E_VERBOSE) process.stderr.write(d);
  });
  const done = new Promise<KseedRun>((resolve) =>
    child.once('exit', (code, sig) => {
      let json: any;
      if (args.includes('--json') && stdout.trim()) {
        try {
          json = JSON.parse(stdout);
        } catch {
          /* left undefined: the assertion shows stdout */
        }
      }
      resolve({ code: code ?? (sig ? 128 : 1), stdout, stderr, json });
    }),
  );
  return { child, done };
}

export const kseed = (args: string[], opts: KseedOptions = {}) => startKseed(args, opts).done;

/** Compiles src/ to dist/, which bin/kseed.js runs. */
export function buildCli(): void {
  execFileSync(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', path.join(REPO, 'tsconfig.json')], { stdio: 'inherit' });
}

/** Puts cached build outputs into an artifacts directory under the names served (hard links where possible). */
export function linkArtifacts(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [to, from] of Object.entries(files)) {
    try {
      linkSync(from, path.join(dir, to));
    } catch {
      writeFileSync(path.join(dir, to), readFileSync(from));
    }
  }
}
