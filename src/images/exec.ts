import { execa } from 'execa';
import { KseedError } from '../errors.js';

export interface RunOptions {
  cwd?: string;
  input?: string | Buffer;
  env?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * Runs a build tool and turns its failure into one KseedError: the short
 * message names the command, the detail carries stderr (what the user needs
 * to fix a missing package or a full disk).
 */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  try {
    const r = await execa(cmd, args, {
      cwd: opts.cwd,
      input: opts.input,
      env: opts.env,
      extendEnv: true,
      timeout: opts.timeoutMs ?? 300_000,
      stripFinalNewline: true,
    });
    return r.stdout;
  } catch (err) {
    const e = err as { code?: string; stderr?: string; shortMessage?: string; exitCode?: number };
    if (e.code === 'ENOENT') {
      throw new KseedError(`${cmd} not found: install the Debian package that provides it`, {
        code: 'missing-tool',
        detail: `needed to build images (${toolPackage(cmd)})`,
        cause: err,
      });
    }
    throw new KseedError(`${cmd} ${args.slice(0, 3).join(' ')} failed (exit ${e.exitCode ?? '?'})`, {
      code: 'build-failed',
      detail: e.stderr || e.shortMessage,
      cause: err,
    });
  }
}

/** Host tools the image builders run, and the Debian package of each. */
const PACKAGES: Record<string, string> = {
  'apt-get': 'apt',
  'apt-cache': 'apt',
  'dpkg-deb': 'dpkg',
  'dpkg-query': 'dpkg',
  depmod: 'kmod',
  'mkfs.fat': 'dosfstools',
  mcopy: 'mtools',
  mmd: 'mtools',
  syslinux: 'syslinux',
  'grub-mkimage': 'grub-common',
  zstd: 'zstd',
};

export function toolPackage(cmd: string): string {
  return PACKAGES[cmd] ?? cmd;
}
