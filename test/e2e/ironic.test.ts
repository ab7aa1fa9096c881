/**
 * The Ironic engine end to end on the virtual lab: the seed Compose stack
 * (Debian's Ironic, dnsmasq, nginx, registry from `kseed images build`)
 * started by `kseed up`, real ipmi_sim BMCs driven by Ironic's ipmitool,
 * QEMU (TCG) nodes with iPXE/OVMF chaining through kseed's boot service to
 * Ironic's per-node iPXE config, kseed's deploy ramdisk writing the test OS
 * (node01) and the Debian cloud image (node02, qcow2 converted on the seed),
 * each OS calling back from its own disk; node02 is then reached over SSH.
 * Every kseed command runs as its own process (node bin/kseed.js, the built
 * dist/), as a user runs it.
 *
 * Names: lab "i2e" (netns ksl-i2e), BMC ports 17500+, Ironic API on
 * 127.0.0.1:21710, Compose project kseed-kseedtest-i2e.
 * Budget: `kseed images build` is a no-op where the images exist; on a fresh
 * CI machine it builds them (measured ~9 min on 2 busy cores), hence the
 * 40-minute beforeAll.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../src/engine/state.js';
import YAML from 'yaml';
import { buildOsImage } from '../../src/images/nodeos.js';
import { buildRamdisk } from '../../src/images/ramdisk.js';
import { buildTestOs } from '../../src/images/osimage.js';
import { createLab, destroyLab, readSerial, type CreateLabResult } from '../../src/lab/index.js';
import { stageArtifacts } from '../helpers/artifacts.js';
import { ensureBuilt, REPO, startKseed } from '../helpers/cli.js';
import { needDocker, needPeers, needRoot } from '../helpers/peers.js';

const LAB = 'i2e';
const NETNS = `ksl-${LAB}`;
const SITE_NAME = 'kseedtest-i2e';
const PROJECT = `kseed-${SITE_NAME}`;
const BMC_BASE = 17500;
const IRONIC_PORT = 21710;
const CACHE = process.env.KSEED_CACHE ?? path.join(REPO, 'cache');
const NODE02_IP = '10.77.0.12';

const ok =
  needRoot() &&
  needDocker() &&
  needPeers('ip', 'ipmi_sim', 'ipmitool', 'qemu-system-x86_64', 'qemu-img', 'busybox', 'apt-get', 'dpkg-deb', 'mkfs.fat', 'mcopy', 'syslinux', 'zstd', 'curl', 'debootstrap', 'sgdisk', 'mkfs.ext4', 'ssh');

const kseed = (args: string[]) => startKseed(args).done;

/** The lab's Ironic site file (`lab up --engine ironic`), with this test's site name and API port. */
function ironicSite(file: string): void {
  const text = readFileSync(file, 'utf8')
    .replace(/^site: .*$/m, `site: "${SITE_NAME}"`)
    .replace(/^(\s+range: .*)$/m, `$1\n  ports: { ironic_api: ${IRONIC_PORT} }`);
  writeFileSync(file, text);
}

function volumes(): string[] {
  return execFileSync('docker', ['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
}

function curlIn(netns: string, args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', netns, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', ...args], { encoding: 'utf8' });
}

describe.skipIf(!ok)('ironic engine: the seed stack provisions the lab', () => {
  let root = '';
  let stateDir = '';
  let site = '';
  let lab: CreateLabResult;
  let downDone = false;
  let artifacts = '';
  const timings: Record<string, unknown> = {};
  const cfg = () => ['--config', site];

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'ksl-i2e-'));
    chmodSync(root, 0o755);
    stateDir = path.join(root, '.kseed');
    site = path.join(root, 'kseed.yaml');
    ensureBuilt();
    // the seed images: a quick no-op where they exist, a full build on a fresh machine
    const build = await kseed(['--json', 'images', 'build']);
    expect(build.code, build.stderr).toBe(0);
    timings.images_build_ms = build.ms;
    timings.images = build.json?.images?.map((i: any) => ({ name: i.name, status: i.status, seconds: i.seconds, size: i.size }));
    const ramdisk = await buildRamdisk({ cacheDir: CACHE });
    const testos = await buildTestOs({ cacheDir: CACHE });
    const debian = await buildOsImage({ cacheDir: CACHE });
    artifacts = path.join(root, 'artifacts');
    stageArtifacts(artifacts, { vmlinuz: ramdisk.kernel, 'initramfs.gz': ramdisk.initramfs, 'testos.raw.zst': testos.zst, 'debian.qcow2': debian.path });
    lab = await createLab({
      stateDir,
      name: LAB,
      nodes: 2,
      uefiNodes: 1,
      // node02 gets the Debian image (2 GiB virtual) and grows it to its disk; the disks are sparse qcow2 files
      diskGb: 3,
      bmcPortBase: BMC_BASE,
      engine: 'ironic',
      image: { url: 'http://10.77.0.1:8080/artifacts/testos.raw.zst', checksum: `sha256:${testos.sha256.zst}`, format: 'raw', compression: 'zstd' },
      siteFile: site,
    });
    ironicSite(site);
    // node02 (UEFI): the Debian cloud image, a qcow2 the seed converts for kseed's ramdisk under Ironic's ramdisk deploy
    const doc = YAML.parseDocument(readFileSync(site, 'utf8'));
    const node02 = (doc.get('nodes') as YAML.YAMLSeq).items[1] as YAML.YAMLMap;
    node02.set('image', doc.createNode({ url: 'http://10.77.0.1:8080/artifacts/debian.qcow2', checksum: debian.checksum, format: 'qcow2' }));
    // a fixed address (Ironic's dnsmasq dhcp-host) the test reaches it at over SSH
    node02.set('ip', NODE02_IP);
    writeFileSync(site, doc.toString());
    const up = await kseed([...cfg(), '--json', 'up', '--no-api', '--artifacts', artifacts]);
    expect(up.code, `${up.stderr}\n${up.stdout}`).toBe(0);
    expect(up.json.boot_services.pid).toBeGreaterThan(0);
    expect(up.json.status.map((s: any) => [s.service, s.health])).toEqual([
      ['dnsmasq', 'healthy'],
      ['http', 'healthy'],
      ['ironic', 'healthy'],
      ['registry', 'healthy'],
    ]);
    timings.stack_up_ms = up.ms;
  }, 2_400_000);

  afterAll(async () => {
    try {
      if (site && existsSync(site) && !downDone) await kseed([...cfg(), 'down', '--volumes']);
      if (stateDir) await destroyLab({ stateDir, name: LAB });
    } finally {
      // eslint-disable-next-line no-console
      console.log(`ironic e2e timings: ${JSON.stringify(timings)}`);
      if (root && !process.env.E2E_KEEP) rmSync(root, { recursive: true, force: true });
    }
  }, 180_000);

  it('a second kseed up changes nothing and is quick', async () => {
    const again = await kseed([...cfg(), '--json', 'up', '--no-api', '--artifacts', artifacts]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json.unchanged).toBe(true);
    expect(again.json.boot_services.already_running).toBe(true);
    timings.second_up_ms = again.ms;
  }, 180_000);

  it("doctor after up: the seed stack's dnsmasq and kseed's agent service are kseed's own, not conflicts (exit 0)", async () => {
    const r = await kseed([...cfg(), 'doctor', '--probe-seconds', '1']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/^udp\/67 +ok +DHCP served by the seed stack's dnsmasq \(pid \d+\)$/m);
    // the agent service behind nginx holds the site's HTTP port in seed.netns (seen so in the first run of this test)
    expect(r.stdout).toMatch(/^tcp\/8080 +ok +HTTP served by kseed's agent service \(pid \d+\)$/m);
    expect(r.stdout).toMatch(/^DHCP servers +ok +the seed stack's dnsmasq \(pid \d+\) serves ksl-br0; no other DHCP server answered within 1000 ms$/m);
    expect(r.stdout).not.toMatch(/ fail /);
    const j = await kseed([...cfg(), '--json', 'doctor', '--probe-seconds', '1']);
    expect(j.code).toBe(0);
    // the PIDs are the containers' own, as docker reports them
    const stack = j.json.kseedServices.stack as { service: string; pid: number; udp: number[]; tcp: number[] }[];
    const dnsmasq = stack.find((s) => s.service === 'dnsmasq')!;
    const pidOf = (svc: string) => {
      const id = execFileSync('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', `label=com.docker.compose.service=${svc}`], { encoding: 'utf8' }).trim();
      return Number(execFileSync('docker', ['inspect', '--format', '{{.State.Pid}}', id], { encoding: 'utf8' }).trim());
    };
    expect(dnsmasq.pid).toBe(pidOf('dnsmasq'));
    expect(dnsmasq.udp).toContain(67);
    // and kseed's agent service behind nginx, by its pid file
    expect(j.json.kseedServices.pid).toBe(Number(readFileSync(path.join(stateDir, 'run', 'boot-serve.pid'), 'utf8')));
  }, 120_000);

  it('the seed refuses unauthenticated calls: Ironic API 401, registry push 401, an unknown MAC gets no boot', async () => {
    const ironic = await fetch(`http://127.0.0.1:${IRONIC_PORT}/v1/nodes`, { headers: { 'X-OpenStack-Ironic-API-Version': '1.82' } });
    expect(ironic.status).toBe(401);
    // version discovery stays public: the API is up, it is the credentials that are missing
    expect((await fetch(`http://127.0.0.1:${IRONIC_PORT}/`)).status).toBe(200);
    const pw = readFileSync(path.join(stateDir, 'secrets', 'ironic-password'), 'utf8').trim();
    const authed = await fetch(`http://127.0.0.1:${IRONIC_PORT}/v1/nodes`, {
      headers: { 'X-OpenStack-Ironic-API-Version': '1.82', Authorization: `Basic ${Buffer.from(`kseed:${pw}`).toString('base64')}` },
    });
    expect(authed.status).toBe(200);
    // a push starts with a blob upload: refused without credentials, accepted with them
    const upload = 'http://10.77.0.1:5000/v2/kseedtest/probe/blobs/uploads/';
    expect(curlIn(NETNS, ['-X', 'POST', upload])).toBe('401');
    const regPw = readFileSync(path.join(stateDir, 'secrets', 'registry-password'), 'utf8').trim();
    expect(curlIn(NETNS, ['-X', 'POST', '-u', `kseed:${regPw}`, upload])).toBe('202');
    // nginx fronts kseed's boot service: an unknown MAC's script only exits
    const script = execFileSync('ip', ['netns', 'exec', NETNS, 'curl', '-s', '--max-time', '10', 'http://10.77.0.1:8080/boot/52-54-00-ff-ff-ff.ipxe'], { encoding: 'utf8' });
    expect(script).toMatch(/unknown machine 52:54:00:ff:ff:ff/);
    expect(script).not.toMatch(/kernel|chain|sanboot/);
  }, 120_000);

  it('provision --all --wait --wait-booted: both nodes active through Ironic, booted from their own disks with their hostnames', async () => {
    const r = await kseed([...cfg(), '--json', '--verbose', 'provision', '--all', '--wait', '--wait-booted', '--timeout', '2400']);
    expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
    timings.provision_ms = r.ms;
    const listed = lab.nodes.filter((n) => n.listed);
    expect(r.json.nodes.map((n: any) => n.node)).toEqual(listed.map((n) => n.name));
    const st = openState(stateDir);
    try {
      for (const n of r.json.nodes) {
        expect(n).toMatchObject({ ok: true, state: 'active' });
        expect(n.status.booted_hostname).toBe(n.node);
        // the installed OS itself called back from its disk, with its host name
        const cbs = st.listEvents(n.node, { kind: 'callback' }).filter((e) => e.detail.stage === 'booted');
        expect(cbs.some((e) => e.detail.hostname === n.node)).toBe(true);
        // kseed's ramdisk wrote the disk the hint selected, once
        const results = st.listEvents(n.node, { kind: 'agent-result' }).filter((e) => e.detail.status === 'ok' && e.detail.stage === 'deploy');
        expect(results).toHaveLength(1);
        expect(String(results[0]!.detail.msg)).toContain('/dev/vda');
        if (n.node === 'node02') {
          // the qcow2 reached the disk as the seed's raw.zst, and Debian's cloud-init finished before the callback
          expect(String(results[0]!.detail.msg)).toMatch(/^sha256:[0-9a-f]{64} written to \/dev\/vda in \d+s, MemAvailable min \d+ of \d+ MiB; NoCloud data on \/dev\/vda3$/);
          expect(cbs.find((e) => e.detail.stage === 'booted')!.detail.fields).toMatchObject({ hostname: 'node02', boot_mode: 'uefi', cloud_init: 'done' });
          // the write time and the node's lowest MemAvailable while writing, for the run's record
          timings.node02_write = results[0]!.detail.msg;
        }
        timings[n.node] = n.status.timings.map((t: any) => `${t.phase} ${(t.ms / 1000).toFixed(1)}s`);
      }
    } finally {
      st.close();
    }
    // the ramdisk was booted by Ironic's own per-node iPXE config, reached through kseed's script
    for (const node of listed) {
      const serial = readSerial(node);
      expect(serial).toMatch(new RegExp(`kseed: ${node.name}: chaining to http://10\\.77\\.0\\.1:8080/pxelinux\\.cfg/${node.mac.replace(/:/g, '-')}`));
      expect(serial).toMatch(/http:\/\/10\.77\.0\.1:8080\/[0-9a-f-]{36}\/kernel\.\.\./);
    }
  }, 2_700_000);

  it('node02 over SSH from the lab namespace: Debian with its hostname, cloud-init done without errors', () => {
    const key = path.join(stateDir, 'secrets', 'handoff-ssh-key');
    const r = spawnSync(
      'ip',
      ['netns', 'exec', NETNS, 'ssh', '-i', key, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=10', '-o', 'BatchMode=yes', `root@${NODE02_IP}`, 'hostname; echo ==; . /etc/os-release; echo $ID $VERSION_ID; echo ==; cloud-init status --long; echo rc=$?'],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(r.status, `${r.stderr}\n${r.stdout}`).toBe(0);
    const [host, os, ci] = r.stdout.split('==\n');
    expect(host!.trim()).toBe('node02');
    expect(os!.trim()).toBe('debian 12');
    expect(ci).toMatch(/^status: done$/m);
    expect(ci).toMatch(/rc=0\s*$/);
    expect(ci).not.toMatch(/^errors:\s*\n\s+-/m);
  }, 180_000);

  it('kseed status shows Ironic\'s view: active, powered on, no error', async () => {
    const s = await kseed([...cfg(), '--json', 'status']);
    expect(s.code, s.stderr).toBe(0);
    expect(s.json.healthy).toBe(true);
    expect(s.json.boot_services.running).toBe(true);
    for (const n of s.json.nodes) {
      expect(n.state).toBe('active');
      expect(n.ironic).toMatchObject({ provision_state: 'active', power_state: 'power on', last_error: null });
      expect(n.ironic.uuid).toMatch(/^[0-9a-f-]{36}$/);
    }
    const human = await kseed([...cfg(), 'status']);
    expect(human.stdout).toMatch(/node01\s+active\s+active\s+power on/);
  }, 120_000);

  it('kseed down --volumes says what it drops and removes Ironic\'s database volume', async () => {
    expect(volumes()).toContain(`${PROJECT}_ironic-data`);
    const r = await kseed([...cfg(), '--json', 'down', '--volumes']);
    downDone = true;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('ironic-data: Ironic database (enrolled nodes, their state)');
    expect(r.json.volumesDeleted).toContain('ironic-data');
    expect(r.json.boot_services.stopped).toBe(true);
    expect(volumes()).toEqual([]);
    const left = execFileSync('docker', ['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`], { encoding: 'utf8' });
    expect(left.trim()).toBe('');
  }, 180_000);
});
