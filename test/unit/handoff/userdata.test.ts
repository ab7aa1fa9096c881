import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { handoffPublicKey, nodeUserData } from '../../../src/handoff/userdata.js';
import type { NodeSpec, Site } from '../../../src/site/types.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmp(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'kseed-ud-'));
  dirs.push(d);
  return d;
}

function site(dir: string, handoff: Partial<Site['handoff']> = {}): Site {
  return { site: 'ud', dir, handoff: { ssh_user: 'root', ...handoff } } as unknown as Site;
}
const node = { name: 'node01' } as NodeSpec;
const KEY = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 kseed-handoff@ud';

describe('nodeUserData', () => {
  it('without a key: the host name only (the boot backend default)', () => {
    expect(nodeUserData(node, site('/x'))).toBe('#cloud-config\nhostname: node01\npreserve_hostname: false\n');
  });

  it('root: the key at the top level and disable_root: false (cloud-init then writes it to root too)', () => {
    const text = nodeUserData(node, site('/x'), KEY);
    expect(text.startsWith('#cloud-config\n')).toBe(true);
    expect(YAML.parse(text)).toEqual({ hostname: 'node01', preserve_hostname: false, ssh_authorized_keys: [KEY], disable_root: false });
  });

  it('another user: created with the key and passwordless sudo, the default user kept', () => {
    const doc = YAML.parse(nodeUserData(node, site('/x', { ssh_user: 'kolla' }), KEY));
    expect(doc.disable_root).toBeUndefined();
    expect(doc.ssh_authorized_keys).toEqual([KEY]);
    expect(doc.users).toEqual(['default', { name: 'kolla', shell: '/bin/bash', lock_passwd: true, sudo: 'ALL=(ALL) NOPASSWD:ALL', ssh_authorized_keys: [KEY] }]);
  });
});

describe('handoffPublicKey', () => {
  it('generates kseed\'s key once (0600), concurrent callers get the same key, and it matches the private key', async () => {
    const d = tmp();
    const s = site(d);
    const state = path.join(d, '.kseed');
    const [a, b] = await Promise.all([handoffPublicKey(s, state), handoffPublicKey(s, state)]);
    expect(a.problem).toBeUndefined();
    expect(a.publicKey).toMatch(/^ssh-rsa AAAA[A-Za-z0-9+/=]+ kseed-handoff@ud$/);
    expect(b.publicKey).toBe(a.publicKey);
    const file = path.join(state, 'secrets', 'handoff-ssh-key');
    expect(a.file).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${file}.pub`, 'utf8').trim()).toBe(a.publicKey);
    // OpenSSH derives the same public key from the private one
    const derived = execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim().split(' ').slice(0, 2).join(' ');
    expect(a.publicKey!.split(' ').slice(0, 2).join(' ')).toBe(derived);
    const again = await handoffPublicKey(s, state);
    expect(again.publicKey).toBe(a.publicKey);
  });

  it('the site\'s handoff.ssh_key: its .pub, else what ssh-keygen -y derives; a missing file is a problem, not a throw', async () => {
    const d = tmp();
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'site-key', '-f', path.join(d, 'id')]);
    const pub = readFileSync(path.join(d, 'id.pub'), 'utf8').trim();
    expect((await handoffPublicKey(site(d, { ssh_key: 'id' }), path.join(d, '.kseed'))).publicKey).toBe(pub);
    rmSync(path.join(d, 'id.pub'));
    expect((await handoffPublicKey(site(d, { ssh_key: 'id' }), path.join(d, '.kseed'))).publicKey).toBe(pub.split(' ').slice(0, 2).join(' ') + ' site-key');
    const missing = await handoffPublicKey(site(d, { ssh_key: 'nope' }), path.join(d, '.kseed'));
    expect(missing.publicKey).toBeUndefined();
    expect(missing.problem).toMatch(/handoff\.ssh_key .*nope does not exist/);
    writeFileSync(path.join(d, 'garbage'), 'not a key\n');
    const bad = await handoffPublicKey(site(d, { ssh_key: 'garbage' }), path.join(d, '.kseed'));
    expect(bad.publicKey).toBeUndefined();
    expect(bad.problem).toMatch(/ssh-keygen -y/);
  });
});
