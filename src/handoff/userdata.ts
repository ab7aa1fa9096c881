/**
 * The cloud-init user-data the seed serves each node (NoCloud, via the deploy
 * ramdisk onto the image's CIDATA partition): the host name, and the public
 * half of the hand-off key for the hand-off's SSH user, so that once a node
 * is provisioned, Kolla-Ansible and cephadm log in with the key `kseed
 * handoff` puts into their inventory.
 *
 * cloud-init semantics (cc_ssh, cc_users_groups): top-level
 * `ssh_authorized_keys` go to the image's default user, and to root as well
 * when `disable_root: false`; any other user is created from a `users` entry
 * with its own keys and passwordless sudo (Kolla-Ansible's `ansible_become`).
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import YAML from '../util/vendor/yaml.js';
import type { NodeSpec, Site } from '../site/types.js';
import type { KseedError } from '../errors.js';
import { ensureSshKey } from './credentials.js';
import { opensshRsaPublic } from './passwords.js';
import { output } from '../util/tools.js';

export interface HandoffKey {
  /** `ssh-rsa AAAA... comment` (one line), when it could be had */
  publicKey?: string;
  file?: string;
  /** why there is no public key */
  problem?: string;
}

const OPENSSH_PUB = /^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp\d+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]+( .*)?$/;

/**
 * The public key of the hand-off login: kseed's own key (generated here if
 * missing, by the same function `kseed handoff` uses) or the site's
 * handoff.ssh_key (its `.pub`, else `ssh-keygen -y`). Never throws: the boot
 * services still serve nodes when the hand-off key is unusable.
 */
export async function handoffPublicKey(site: Site, stateDir: string): Promise<HandoffKey> {
  let file: string;
  try {
    file = (await ensureSshKey(site, stateDir)).file;
  } catch (err) {
    return { problem: (err as Error).message };
  }
  const pub = (await readFile(`${file}.pub`, 'utf8').catch(() => '')).trim().split('\n')[0]?.trim() ?? '';
  if (OPENSSH_PUB.test(pub)) return { publicKey: pub, file };
  const pem = await readFile(file, 'utf8').catch(() => '');
  if (!site.handoff.ssh_key || /^-----BEGIN (RSA )?PRIVATE KEY-----/m.test(pem)) {
    // kseed's own key is PKCS#8 RSA: its public half comes from the private key (a .pub may not be written yet)
    try {
      const key = createPublicKey(createPrivateKey(pem));
      if (key.asymmetricKeyType === 'rsa') return { publicKey: opensshRsaPublic(key, `kseed-handoff@${site.site}`), file };
    } catch {
      // not a PEM node:crypto reads: ask ssh-keygen below
    }
  }
  try {
    // no askpass: a key with a passphrase fails here instead of opening a prompt
    const line = (await output('ssh-keygen', ['-y', '-f', file], { timeoutMs: 10_000, env: { SSH_ASKPASS: '', DISPLAY: '' } })).trim();
    if (OPENSSH_PUB.test(line)) return { publicKey: line, file };
    return { file, problem: `ssh-keygen -y ${file} gave no public key` };
  } catch (err) {
    return { file, problem: `no ${file}.pub and ssh-keygen -y ${file} failed: ${(err as Error).message.split('\n')[0]}${(err as KseedError).detail ? ` (${(err as KseedError).detail!.split('\n').at(-1)})` : ''}` };
  }
}

/**
 * The #cloud-config for one node. Without a key it is the boot backend's
 * default (host name only). `extraKeys`: also authorized (the key of the
 * lease holding the node, `kseed lease acquire --provision`).
 */
export function nodeUserData(node: NodeSpec, site: Site, publicKey?: string, extraKeys: readonly string[] = []): string {
  const head = `#cloud-config\nhostname: ${node.name}\npreserve_hostname: false\n`;
  const keys = [...(publicKey ? [publicKey] : []), ...extraKeys];
  if (!keys.length) return head;
  const user = site.handoff.ssh_user;
  const doc: Record<string, unknown> = { ssh_authorized_keys: keys };
  if (user === 'root') doc.disable_root = false;
  else {
    doc.users = ['default', { name: user, shell: '/bin/bash', lock_passwd: true, sudo: 'ALL=(ALL) NOPASSWD:ALL', ssh_authorized_keys: keys }];
  }
  return head + YAML.stringify(doc, { lineWidth: 0 });
}
