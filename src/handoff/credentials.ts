/**
 * The credentials the hand-off hands out: the SSH key the installers log in
 * with (generated once, shared with the boot services' user-data) and the
 * seed registry's password.
 */
import { access, link, rm } from 'node:fs/promises';
import path from 'node:path';
import { KseedError } from '../errors.js';
import { resolveSecret } from '../site/secrets.js';
import type { Site } from '../site/types.js';
import { readIfExists, writeAtomic } from './files.js';
import { sshKeyPair } from './passwords.js';

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/** The SSH key the installers log in with: the site's, or one kseed generates once. */
export async function ensureSshKey(site: Site, stateDir: string): Promise<{ file: string; generated: boolean }> {
  if (site.handoff.ssh_key) {
    const file = path.resolve(site.dir, site.handoff.ssh_key);
    if (!(await exists(file))) throw new KseedError(`handoff.ssh_key ${file} does not exist`, { exitCode: 2, code: 'bad-input' });
    return { file, generated: false };
  }
  const file = path.join(stateDir, 'secrets', 'handoff-ssh-key');
  if (await exists(file)) return { file, generated: false };
  // RSA in PKCS#8 PEM: what node:crypto writes and every OpenSSH reads
  const pair = await sshKeyPair(`kseed-handoff@${site.site}`, 3072);
  // The boot services (NoCloud user-data) and `kseed handoff` may both get here first:
  // link() publishes the private key only if no other process did, so both use one key.
  const tmp = `${file}.new-${process.pid}`;
  await writeAtomic(tmp, pair.private_key, 0o600);
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { file, generated: false };
  } finally {
    await rm(tmp, { force: true });
  }
  await writeAtomic(`${file}.pub`, `${pair.public_key}\n`, 0o644);
  return { file, generated: true };
}

/** The seed registry's password: the site's reference, else the one `kseed up` generated. */
export async function registryPassword(site: Site, stateDir: string): Promise<string | undefined> {
  if (site.registry.password) return resolveSecret(site.registry.password, site);
  const v = await readIfExists(path.join(stateDir, 'secrets', 'registry-password'));
  return v?.trim() || undefined;
}
