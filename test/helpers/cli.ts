/**
 * Running the built CLI (`node bin/kseed.js`) from tests, as a user runs it:
 * its own process, exit code, stdout and stderr kept apart.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const KSEED_BIN = path.join(REPO, 'bin/kseed.js');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * `npm test` builds first; this builds only when dist/ is missing or older than src/ (a lone
 * `vitest run FILE`). Under .ci/run's lanes (KSEED_TEST_PREBUILT=1, .ci/run-lanes.mjs built dist/
 * once) it never builds: tsc rewrites dist/ in place while another lane runs kseed from it.
 */
export function ensureBuilt(): void {
  const main = path.join(REPO, 'dist/cli/main.js');
  if (!existsSync(main) || statSync(main).mtimeMs < newest(path.join(REPO, 'src'))) {
    if (process.env.KSEED_TEST_PREBUILT === '1') throw new Error(`${main} is missing or older than src/, and KSEED_TEST_PREBUILT=1 says not to build it here: other test lanes read dist/ (run \`npm run build\` first)`);
    execFileSync(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', path.join(REPO, 'tsconfig.json')], { stdio: 'inherit' });
    // the rest of `npm run build`: the dependency bundles kseed starts from
    execFileSync(process.execPath, [path.join(REPO, 'scripts/bundle-vendor.mjs')], { stdio: 'inherit' });
  }
}

/**
 * Runs kseed with `args`. `env` entries set to undefined are removed from the
 * inherited environment. stdin stays an open pipe: a command that prompted
 * would hang and hit the timeout instead of passing.
 */
export function runKseed(args: string[], opts: { cwd: string; env?: Record<string, string | undefined>; timeoutMs?: number }): Promise<CliRun> {
  const env: Record<string, string | undefined> = { ...process.env, ...opts.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [KSEED_BIN, ...args], { cwd: opts.cwd, env, timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
    child.stdin?.on('error', () => {});
  });
}

/** stdout parsed when the command was given --json and printed a document; undefined otherwise, so the caller's assertion shows stdout. */
export function jsonOf(args: string[], stdout: string): any {
  if (!args.includes('--json') || !stdout.trim()) return undefined;
  try {
    return JSON.parse(stdout);
  } catch {
    return undefined;
  }
}

export interface StartedRun extends CliRun {
  /** stdout parsed, when the command was given --json and printed a document. */
  json?: any;
  ms: number;
}

/**
 * Starts kseed (cwd: the repo) and returns the child at once, so a test can
 * SIGKILL a seed mid-deploy, and `done` with the outcome. stdin is closed.
 * E2E_VERBOSE=1 streams the command's stderr (long lab runs).
 */
export function startKseed(args: string[]): { child: ChildProcess; done: Promise<StartedRun> } {
  const t0 = Date.now();
  const child = spawn(process.execPath, [KSEED_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => {
    stderr += d;
    if (process.env.E2E_VERBOSE) process.stderr.write(d);
  });
  const done = new Promise<StartedRun>((resolve) =>
    child.once('exit', (code, sig) => {
      resolve({ code: code ?? (sig ? 128 : 1), stdout, stderr, json: jsonOf(args, stdout), ms: Date.now() - t0 });
    }),
  );
  return { child, done };
}
