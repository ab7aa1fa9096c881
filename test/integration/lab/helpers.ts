/** Shared by the lab integration tests: run the CLI in-process, drive a lab BMC with ipmitool. */
import { execFileSync } from 'node:child_process';
import { vi } from 'vitest';
import { main } from '../../../src/cli/main.js';

/** Runs `kseed ...args` in this process; stdout is captured (and parsed when --json). */
export async function kseed(args: string[]): Promise<{ code: number; stdout: string; json?: any }> {
  let stdout = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  });
  let code: number;
  try {
    code = await main(['node', 'kseed', ...args]);
  } finally {
    spy.mockRestore();
  }
  const json = args.includes('--json') && stdout.trim() ? JSON.parse(stdout) : undefined;
  return { code, stdout, json };
}

/** ipmitool against a lab BMC, the reference client; the password goes through the environment. */
export function ipmitool(port: number, password: string, ...args: string[]): string {
  return execFileSync('ipmitool', ['-I', 'lanplus', '-C', '3', '-H', '127.0.0.1', '-p', String(port), '-U', 'admin', '-E', ...args], {
    encoding: 'utf8',
    env: { ...process.env, IPMI_PASSWORD: password },
    timeout: 15_000,
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export function netnsList(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}
