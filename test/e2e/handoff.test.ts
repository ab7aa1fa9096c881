/**
 * The hand-off end to end (issue 7 "Done when"): a 3-node lab provisioned by
 * the embedded engine with the SSH test OS (dropbear + sftp-server + python3,
 * `kseed images testos --ssh`), then `kseed handoff --kolla --ceph`, and the
 * real tools take the files: ansible-inventory reads the groups, `ansible
 * all -m ping` logs in to every node through the generated inventory with
 * the key the seed's user-data authorized, Ceph's own spec classes accept the
 * cephadm spec. Ansible runs inside the lab namespace, where the nodes are.
 * Lab "h3" (netns ksl-h3), BMC ports 17300+. Every kseed command is its own
 * process from dist/.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../src/engine/state.js';
import { buildRamdisk } from '../../src/images/ramdisk.js';
import { buildTestOs } from '../../src/images/osimage.js';
import { createLab, destroyLab, readSerial, type CreateLabResult } from '../../src/lab/index.js';
import { stageArtifacts } from '../helpers/artifacts.js';
import { ensureBuilt, jsonOf, REPO, runKseed } from '../helpers/cli.js';
import { needPeers, needRoot } from '../helpers/peers.js';

const LAB = 'h3';
const BMC_BASE = 17300;
const CACHE = process.env.KSEED_CACHE ?? path.join(REPO, 'cache');
const CEPH_SPEC = '/usr/lib/python3/dist-packages/ceph/deployment/service_spec.py';
const CEPH_VALIDATE = path.join(REPO, 'test/fixtures/handoff/ceph-validate.py');
const VIP = '10.77.0.250';

const ok =
  needRoot() &&
  needPeers('ip', 'ipmi_sim', 'ipmitool', 'qemu-system-x86_64', 'qemu-img', 'busybox', 'apt-get', 'dpkg-deb', 'mkfs.fat', 'mcopy', 'syslinux', 'zstd', 'ansible', 'ansible-inventory', 'ssh', 'sftp', '/usr/bin/python3', CEPH_SPEC);

describe.skipIf(!ok)('hand-off: a provisioned 3-node lab to Kolla-Ansible and cephadm inputs the real tools accept', () => {
  let root = '';
  let stateDir = '';
  let site = '';
  let lab: CreateLabResult;
  let handoff: any;
  /** One kseed command, as its own process from dist/; --json output parsed. */
  const kseed = async (args: string[], env?: Record<string, string>) => {
    const r = await runKseed(['--config', site, ...args], { cwd: root, env, timeoutMs: 1_800_000 });
    return { ...r, json: jsonOf(args, r.stdout) };
  };

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'ksl-h3-'));
    chmodSync(root, 0o755);
    stateDir = path.join(root, '.kseed');
    site = path.join(root, 'kseed.yaml');
    ensureBuilt();
    const ramdisk = await buildRamdisk({ cacheDir: CACHE });
    const testos = await buildTestOs({ cacheDir: CACHE, ssh: true });
    const artifacts = path.join(root, 'artifacts');
    stageArtifacts(artifacts, { vmlinuz: ramdisk.kernel, 'initramfs.gz': ramdisk.initramfs, 'testos-ssh.raw.zst': testos.zst });
    lab = await createLab({
      stateDir,
      name: LAB,
      nodes: 3,
      uefiNodes: 0,
      diskGb: 1,
      memoryMb: 768,
      // one data disk per node: the OSD device the cephadm spec takes from inspection
      dataDisks: 1,
      // ceph.ts takes no OSD under 5 GiB (qcow2: sparse, costs nothing)
      dataDiskGb: 6,
      bmcPortBase: BMC_BASE,
      image: { url: 'http://10.77.0.1:8080/artifacts/testos-ssh.raw.zst', checksum: `sha256:${testos.sha256.zst}`, format: 'raw', compression: 'zstd' },
      siteFile: site,
    });
    // the lab's site file plus the hand-off plan (root login: the test OS has no sudo)
    appendFileSync(site, ['handoff:', '  ssh_user: root', '  kolla:', `    vip: ${VIP}`, '  ceph: {}', ''].join('\n'));
    const up = await kseed(['--json', 'up', '--no-api', '--artifacts', artifacts]);
    expect(up.code, up.stderr).toBe(0);
  }, 900_000);

  afterAll(async () => {
    try {
      if (site && existsSync(site)) await kseed(['down']);
      if (stateDir) await destroyLab({ stateDir, name: LAB });
    } finally {
      if (root && !process.env.E2E_KEEP) rmSync(root, { recursive: true, force: true });
    }
  }, 120_000);

  const nodeState = (name: string) => {
    const st = openState(stateDir);
    try {
      return st.getNode(name)?.state;
    } finally {
      st.close();
    }
  };

  it('provision --all --wait-booted: every node runs the SSH test OS from its own disk', async () => {
    const r = await kseed(['--json', 'provision', '--all', '--wait', '--wait-booted', '--timeout', '900']);
    expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
    expect(r.json.nodes.map((n: any) => n.node)).toEqual(['node01', 'node02', 'node03']);
    for (const n of r.json.nodes) expect(n).toMatchObject({ ok: true, state: 'active', status: { booted_hostname: n.node } });
    for (const node of lab.nodes) {
      const serial = readSerial(node);
      // the user-data the seed served authorized exactly the hand-off key, and dropbear came up before the callback
      expect(serial).toMatch(/kseed-testos: .*ssh: 1 authorized key\(s\) for: root/);
      expect(serial).toMatch(/kseed-testos: .*ssh: dropbear listening on port 22/);
    }
  }, 1_800_000);

  it('kseed handoff --kolla --ceph writes the files from the inspected nodes and hands them off', async () => {
    const r = await kseed(['--json', 'handoff', '--kolla', '--ceph']);
    expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
    handoff = r.json;
    expect(handoff.ssh_key_file).toBe(path.join(stateDir, 'secrets', 'handoff-ssh-key'));
    const status = await kseed(['--json', 'status']);
    const ips = Object.fromEntries(status.json.nodes.map((n: any) => [n.node, n.ip]));
    for (const n of handoff.nodes) {
      expect(n).toMatchObject({ inspected: true, lifecycle: 'handed-off', state: 'handed-off', address: ips[n.name] });
      expect(n.address).toMatch(/^10\.77\.0\.\d+$/);
      expect(nodeState(n.name)).toBe('handed-off');
    }
    expect(handoff.nodes.find((n: any) => n.name === 'node02').osd_devices).toEqual(['/dev/vdb']);
  }, 300_000);

  it('ansible-inventory: the groups hold the right hosts, with the provisioned addresses and the hand-off login', () => {
    const r = spawnSync('ansible-inventory', ['-i', handoff.kolla.inventory, '--list'], {
      encoding: 'utf8',
      env: { ...process.env, HOME: root, ANSIBLE_INVENTORY_UNPARSED_FAILED: 'true', ANSIBLE_INVENTORY_ENABLED: 'ini' },
    });
    expect(r.status, r.stderr).toBe(0);
    const data = JSON.parse(r.stdout) as Record<string, { hosts?: string[]; children?: string[] }> & { _meta: { hostvars: Record<string, Record<string, unknown>> } };
    const hosts = (g: string, seen = new Set<string>()): string[] => {
      if (seen.has(g)) return [];
      seen.add(g);
      const d = data[g];
      if (!d) throw new Error(`group ${g} missing`);
      return [...new Set([...(d.hosts ?? []), ...(d.children ?? []).flatMap((c) => hosts(c, seen))])].sort();
    };
    expect(hosts('control')).toEqual(['node01']);
    expect(hosts('network')).toEqual(['node01']);
    expect(hosts('monitoring')).toEqual(['node01']);
    expect(hosts('compute')).toEqual(['node02', 'node03']);
    expect(hosts('storage')).toEqual(['node02', 'node03']);
    expect(hosts('baremetal')).toEqual(['node01', 'node02', 'node03']);
    // service groups derived from the role groups
    expect(hosts('openvswitch')).toEqual(['node01', 'node02', 'node03']);
    expect(hosts('cinder-volume')).toEqual(['node02', 'node03']);
    for (const n of handoff.nodes) {
      expect(data._meta.hostvars[n.name]).toMatchObject({
        ansible_host: n.address,
        ansible_user: 'root',
        ansible_ssh_private_key_file: handoff.ssh_key_file,
        ansible_ssh_common_args: `-o UserKnownHostsFile=${path.join(handoff.out, 'known_hosts')} -o StrictHostKeyChecking=accept-new`,
      });
    }
  });

  it('ansible all -m ping reaches every node through the generated inventory (from inside the lab network)', () => {
    const r = spawnSync('ip', ['netns', 'exec', lab.netns, 'ansible', '-i', handoff.kolla.inventory, 'all', '-m', 'ping'], {
      encoding: 'utf8',
      timeout: 300_000,
      env: {
        ...process.env,
        HOME: root,
        ANSIBLE_LOCAL_TEMP: path.join(root, 'ansible-tmp'),
        // host keys: the inventory's own ansible_ssh_common_args pin them in the hand-off's known_hosts
        // no lingering ControlPersist masters inside the lab namespace
        ANSIBLE_SSH_ARGS: '-o ControlMaster=no',
      },
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    // `all` includes the Kolla deployment host (localhost, local connection): the three nodes went over SSH
    const results = Object.fromEntries(r.stdout.split(/^(?=\S+ \| )/m).map((block) => [block.split(' ')[0], block]));
    expect(Object.keys(results).sort()).toEqual(['localhost', 'node01', 'node02', 'node03']);
    for (const n of ['node01', 'node02', 'node03']) {
      expect(results[n]).toMatch(new RegExp(`^${n} \\| SUCCESS => `));
      expect(JSON.parse(results[n]!.replace(/^.*? => /, ''))).toMatchObject({ changed: false, ping: 'pong' });
    }
    // trust on first use went into the hand-off's known_hosts (hashed, as Debian's ssh_config asks), a key per node
    const known = path.join(handoff.out, 'known_hosts');
    for (const n of handoff.nodes) {
      const found = spawnSync('ssh-keygen', ['-F', n.address, '-f', known], { encoding: 'utf8' });
      expect(found.status, `${n.name} ${n.address} not in ${known}`).toBe(0);
    }
  }, 360_000);

  it('the login is the hand-off key the seed served in the user-data, and files travel over SFTP', () => {
    const node = handoff.nodes.find((n: any) => n.name === 'node02');
    const opts = ['-i', handoff.ssh_key_file, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR'];
    const inLab = (cmd: string, args: string[], input?: string) =>
      spawnSync('ip', ['netns', 'exec', lab.netns, cmd, ...args], { encoding: 'utf8', timeout: 120_000, ...(input !== undefined ? { input } : {}) });
    const local = path.join(root, 'sftp-probe.txt');
    writeFileSync(local, `sent by sftp to ${node.name}\n`);
    const put = inLab('sftp', [...opts, '-b', '-', `root@${node.address}`], `put ${local} /tmp/sftp-probe.txt\n`);
    expect(put.status, put.stderr).toBe(0);
    const r = inLab('ssh', [...opts, `root@${node.address}`, 'cat /root/.ssh/authorized_keys /tmp/sftp-probe.txt; /usr/bin/python3 -c "import sys; print(sys.version_info[:2])"']);
    expect(r.status, r.stderr).toBe(0);
    const pub = readFileSync(`${handoff.ssh_key_file}.pub`, 'utf8').trim();
    expect(r.stdout.split('\n')).toEqual([pub, `sent by sftp to ${node.name}`, expect.stringMatching(/^\(3, \d+\)$/), '']);
  }, 300_000);

  it("the cephadm spec passes Ceph's own spec classes, with the lab's hosts and inspected OSD disks", () => {
    const r = spawnSync('/usr/bin/python3', [CEPH_VALIDATE, path.join(handoff.out, 'ceph', 'cluster.yaml')], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const docs = JSON.parse(r.stdout) as Record<string, any>[];
    const addr = (name: string) => handoff.nodes.find((n: any) => n.name === name).address;
    expect(docs.filter((d) => d.kind === 'host').map((d) => [d.hostname, d.addr])).toEqual(['node01', 'node02', 'node03'].map((n) => [n, addr(n)]));
    expect(docs.find((d) => d.service_type === 'mon')).toBeDefined();
    const osds = docs.filter((d) => d.service_type === 'osd');
    // same devices on both storage nodes: one OSD spec for the two; never the root disk vda
    expect(osds).toEqual([expect.objectContaining({ class: 'DriveGroupSpec', hosts: ['node02', 'node03'], data_devices: expect.objectContaining({ paths: ['/dev/vdb'] }) })]);
  });

  it('--run without the installers exits 1 and prints the exact commands; Ceph (first) stops on the seed, naming what to build; the nodes stay handed off', async () => {
    if (spawnSync('sh', ['-c', 'command -v kolla-ansible']).status === 0) return expect.unreachable('kolla-ansible is installed here: this test is about its absence');
    const r = await kseed(['handoff', '--kolla', '--run'], { PATH: '/usr/bin:/bin' });
    expect(r.code, r.stderr).toBe(1);
    const inv = handoff.kolla.inventory;
    const cfg = handoff.kolla.configdir;
    expect(r.stdout).toMatch(/cannot run the installers: kolla-ansible is not installed on this machine/);
    for (const step of ['bootstrap-servers', 'prechecks', 'deploy']) {
      expect(r.stdout).toContain(`  kolla-ansible ${step} -i ${inv} --configdir ${cfg} --passwords ${path.join(cfg, 'passwords.yml')}`);
    }
    // Ceph runs before Kolla: without the image build on the seed it stops there, before any node
    const c = await kseed(['handoff', '--kolla', '--ceph', '--run'], { PATH: '/usr/bin:/bin' });
    expect(c.code, c.stderr).toBe(1);
    expect(c.stderr).toMatch(/the seed serves no cephadm \.deb .*build it with `kseed images ceph`.*nothing was started on the nodes/);
    const mon = handoff.ceph.bootstrap_host;
    const monIp = handoff.nodes.find((n: any) => n.name === mon).address;
    const script = readFileSync(handoff.ceph.script, 'utf8');
    expect(script).toMatch(new RegExp(`ssh -i ${handoff.ssh_key_file} .*root@${monIp.replace(/\./g, '\\.')} .*cephadm --image \\S+ bootstrap --mon-ip ${monIp.replace(/\./g, '\\.')}`));
    for (const n of ['node01', 'node02', 'node03']) expect(nodeState(n)).toBe('handed-off');
  }, 120_000);
});
