/**
 * The built CLI as the benchmarks run it: a child process whose stdout is
 * kept (the --json result) and whose stderr (progress) goes to the terminal.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/** `node bin/kseed.js ARGS` -> { code, out }; never rejects: the caller judges the exit code. */
export function kseed(args) {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [path.join(root, 'bin/kseed.js'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('exit', (code) => resolve({ code, out }));
  });
}
