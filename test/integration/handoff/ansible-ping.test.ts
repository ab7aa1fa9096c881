/**
 * `ansible all -m ping` through the generated inventory, with the generated
 * login key, against a real sshd. The "nodes" are loopback addresses
 * (127.0.0.2/3) served by one sshd on port 21502 that this test starts, so
 * nothing outside the machine is contacted. The provisioned-lab version
 * (lab VMs running the SSH test OS) is test/e2e/handoff.test.ts.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, FIXTURES, siteDir } from '../../fixtures/handoff/site.js';
import { ensureBuilt } from '../../helpers/cli.js';
import { needPeers, needRoot } from '../../helpers/peers.js';

const ROOT = path.resolve(FIXTURES, '../../..');
const PORT = 21502;
// no shared SSH master connection: each run authenticates anew (the negative test relies on it)
const ANSIBLE_ENV = { ANSIBLE_HOST_KEY_CHECKING: 'False', ANSIBLE_SSH_ARGS: '-o ControlMaster=no -o ControlPersist=no' };
const SITE = `site: lo
engine: embedded
seed:
  interface: lo
  address: 127.0.0.1/8
  dhcp: { mode: authoritative, range: 127.0.0.100-127.0.0.199 }
defaults:
  bmc: { type: ipmi, username: admin, password: { env: KSEED_HO_BMC } }
  profile: qemu-lab
  root_device: { name: /dev/vda }
nodes:
  - name: ctl1
    bmc: { address: 127.0.0.1, port: 17901 }
    macs: ["52:54:00:78:00:01"]
    ip: 127.0.0.2
    roles: [control, network, storage, monitoring]
  - name: cmp1
    bmc: { address: 127.0.0.1, port: 17902 }
    macs: ["52:54:00:78:00:02"]
    ip: 127.0.0.3
    roles: [compute]
handoff:
  ssh_user: root
  kolla: { vip: 127.0.0.250 }
`;

const ok = needRoot() && needPeers('/usr/sbin/sshd', 'ssh-keygen', 'ansible', 'ansible-inventory');


afterAll(cleanup);
describe.skipIf(!ok)('ansible -m ping through the generated inventory', () => {
  let sshd: ChildProcess | undefined;
  let site: { dir: string; file: string };
  let inventory: string;

  beforeAll(async () => {
    // the CLI runs from dist/: built unless fresh, never under another test lane (helpers/cli.ts)
    ensureBuilt();
    site = siteDir(SITE);
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'kseed.js'), '--json', 'handoff', '--kolla'], { cwd: site.dir, encoding: 'utf8', env: { ...process.env, KSEED_HO_BMC: 'x' } });
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const res = JSON.parse(r.stdout) as { ssh_key_file: string; kolla: { inventory: string } };
    inventory = res.kolla.inventory;
    const d = path.join(site.dir, 'sshd');
    mkdirSync(d, { mode: 0o700 });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(d, 'host_key')]);
    writeFileSync(path.join(d, 'authorized_keys'), readFileSync(`${res.ssh_key_file}.pub`), { mode: 0o600 });
    writeFileSync(
      path.join(d, 'sshd_config'),
      [
        `Port ${PORT}`,
        'ListenAddress 127.0.0.2',
        'ListenAddress 127.0.0.3',
        `HostKey ${path.join(d, 'host_key')}`,
        `AuthorizedKeysFile ${path.join(d, 'authorized_keys')}`,
        `PidFile ${path.join(d, 'sshd.pid')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        '',
      ].join('\n'),
    );
    // sshd's privilege-separation directory (the package normally makes it at boot)
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(d, 'sshd_config')], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const probe = spawnSync('sh', ['-c', `exec 3<>/dev/tcp/127.0.0.3/${PORT}`], { stdio: 'ignore' });
      if (probe.status === 0) break;
      await new Promise((res) => setTimeout(res, 100));
    }
  }, 240_000);

  afterAll(() => {
    sshd?.kill('SIGTERM');
  });

  it('reaches every node with the generated key and user', () => {
    const r = spawnSync(
      'ansible',
      ['-i', inventory, 'baremetal', '-m', 'ping', '-e', `ansible_port=${PORT}`, '-e', 'ansible_ssh_common_args="-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no"'],
      { encoding: 'utf8', env: { ...process.env, ...ANSIBLE_ENV, ANSIBLE_PYTHON_INTERPRETER: '/usr/bin/python3' }, timeout: 120_000 },
    );
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ctl1 \| SUCCESS/m);
    expect(r.stdout).toMatch(/^cmp1 \| SUCCESS/m);
    expect(r.stdout).toMatch(/"ping": "pong"/);
  });

  it('fails for a node the key does not open', () => {
    writeFileSync(path.join(site.dir, 'sshd', 'authorized_keys'), '');
    const r = spawnSync('ansible', ['-i', inventory, 'cmp1', '-m', 'ping', '-e', `ansible_port=${PORT}`, '-e', 'ansible_ssh_common_args="-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no"'], {
      encoding: 'utf8',
      env: { ...process.env, ...ANSIBLE_ENV },
      timeout: 120_000,
    });
    expect(r.status).not.toBe(0);
    expect(r.stdout).toMatch(/cmp1 \| UNREACHABLE/);
  });
});
