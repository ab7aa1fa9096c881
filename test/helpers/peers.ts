/**
 * Real peers (ipmi_sim, dnsmasq, QEMU, dockerd, ...) are required in CI:
 * a missing one fails the run there (CI=true), and only skips locally.
 *
 *   const ok = needPeers('ipmi_sim', 'ipmitool');
 *   describe.skipIf(!ok)('against ipmi_sim', () => { ... });
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

export const inCI = process.env.CI === 'true' || process.env.CI === '1';

function onPath(cmd: string): boolean {
  if (cmd.includes('/')) {
    try {
      accessSync(cmd, constants.R_OK);
      return true;
    } catch {
      return false;
    }
  }
  try {
    execFileSync('sh', ['-c', `command -v "${cmd}"`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Commands on PATH, or absolute file paths. */
export function needPeers(...cmds: string[]): boolean {
  const missing = cmds.filter((c) => !onPath(c));
  if (missing.length === 0) return true;
  const msg = `missing test peer(s): ${missing.join(', ')} (install them; .ci/run does)`;
  if (inCI) throw new Error(msg);
  console.warn(`SKIP: ${msg}`);
  return false;
}

/** Root is needed for network namespaces, taps and UDP 67/69/623. */
export function needRoot(): boolean {
  const root = process.getuid?.() === 0;
  if (root) return true;
  if (inCI) throw new Error('integration tests must run as root in CI');
  console.warn('SKIP: needs root');
  return false;
}

/** A reachable Docker engine (dockerd started by .ci/run). */
export function needDocker(): boolean {
  if (!needPeers('docker')) return false;
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 15_000 });
    return true;
  } catch {
    const msg = 'no Docker engine reachable (start dockerd; .ci/run does)';
    if (inCI) throw new Error(msg);
    console.warn(`SKIP: ${msg}`);
    return false;
  }
}
