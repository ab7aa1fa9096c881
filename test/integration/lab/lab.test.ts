/**
 * `kseed lab up/status/down` against the real peers: ip (netns, bridge, taps),
 * ipmi_sim BMCs, QEMU (TCG) with SeaBIOS+iPXE and OVMF, driven with ipmitool.
 * Lab "it", BMC ports 17000-17001 (BRIEF port table: lab 17000-17999).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { destroyLab, labResourceRows, readManifest, serialSize, startDirectBoot, vmPid, waitForSerial, type LabManifest } from '../../../src/lab/index.js';
import { findByMarker, liveCmdline } from '../../../src/lab/proc.js';
import { loadProfiles } from '../../../src/profiles/load.js';
import { matchProfile } from '../../../src/profiles/match.js';
import { loadSite } from '../../../src/site/load.js';
import { resolveSecret } from '../../../src/site/secrets.js';
import { REPO } from '../../helpers/cli.js';
import { needPeers, needRoot } from '../../helpers/peers.js';
import { ipmitool, kseed, netnsList, until } from './helpers.js';

const LAB = 'it';
// set before the BMCs start, so the test can check that they do not pass it on
process.env.KSEED_TEST_SECRET = 'not-for-the-bmc';
const IPXE_LKRN = '/boot/ipxe.lkrn';
const PORT = 17000;
// the shared build cache: lab up's default image (kseed's test OS) is reused from it, as the e2e tests do
const CACHE = process.env.KSEED_CACHE ?? path.join(REPO, 'cache');
const ok = needRoot() && needPeers('ip', 'ipmi_sim', 'ipmitool', 'qemu-system-x86_64', 'qemu-img', '/usr/share/OVMF/OVMF_CODE_4M.fd');

describe.skipIf(!ok)('kseed lab (root, ipmi_sim, QEMU)', () => {
  // made in beforeAll: hooks of a describe whose tests are all filtered out never run
  let root = '';
  let site = '';
  let stateDir = '';
  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'ksl-it-'));
    site = path.join(root, 'kseed.yaml');
    stateDir = path.join(root, '.kseed');
  });
  let m: LabManifest;
  let pw = '';
  const ipmi = (node: number, ...args: string[]) => ipmitool(PORT + node, pw, ...args);

  afterAll(async () => {
    try {
      await destroyLab({ stateDir, name: LAB });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('lab up creates a BIOS and a UEFI node, powered off, BMCs answering, and a site file with kseed\'s test OS as its image', async () => {
    const t0 = Date.now();
    const r = await kseed(['-c', site, 'lab', 'up', '--name', LAB, '--nodes', '2', '--uefi-nodes', '1', '--disk-gb', '2', '--data-disks', '1', '--data-disk-gb', '1', '--unlisted-nodes', '1', '--bmc-port-base', String(PORT), '--cache', CACHE, '--json']);
    console.log(`lab up (2 nodes + 1 unlisted): ${Date.now() - t0} ms`);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.nodes.map((n: any) => [n.name, n.firmware, n.bmc, n.listed, n.data_disks.length])).toEqual([
      ['node01', 'bios', `127.0.0.1:${PORT}`, true, 1],
      ['node02', 'uefi', `127.0.0.1:${PORT + 1}`, true, 1],
      ['node03', 'bios', `127.0.0.1:${PORT + 2}`, false, 1],
    ]);
    m = readManifest(stateDir, LAB)!;
    pw = readFileSync(m.passwordFile, 'utf8').trim();
    expect(pw).toMatch(/^[A-Za-z0-9]{16}$/);
    expect(statSync(m.passwordFile).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(m.nodes[0]!.dir, 'lan.conf')).mode & 0o777).toBe(0o600);
    // no secret in the JSON result
    expect(r.stdout).not.toContain(pw);

    expect(netnsList()).toContain('ksl-it');
    const links = JSON.parse(execFileSync('ip', ['-n', 'ksl-it', '-j', 'addr', 'show'], { encoding: 'utf8' })) as any[];
    const br = links.find((l) => l.ifname === 'ksl-br0');
    expect(br.addr_info.map((a: any) => `${a.local}/${a.prefixlen}`)).toEqual(expect.arrayContaining(['10.77.0.1/24', 'fd77::1/64']));
    for (const tap of ['ksl-t0', 'ksl-t1', 'ksl-t2']) expect(links.find((l) => l.ifname === tap)?.master).toBe('ksl-br0');

    for (const n of [0, 1, 2]) expect(ipmi(n, 'chassis', 'power', 'status')).toContain('Chassis Power is off');
    expect(ipmi(0, 'fru', 'print', '0')).toContain('KSLab Virtual Server');
    expect(ipmi(0, 'lan', 'print', '1')).toMatch(/IP Address\s+:\s+127\.0\.0\.1/);
    expect(() => ipmitool(PORT, 'wrong-password', 'mc', 'guid')).toThrow();
    // IPMI 1.5 sessions: MD5 only; NONE and PASSWORD (clear text) are refused
    const lan15 = (auth: string) =>
      execFileSync('ipmitool', ['-I', 'lan', '-A', auth, '-H', '127.0.0.1', '-p', String(PORT), '-U', 'admin', '-E', 'mc', 'guid'], {
        encoding: 'utf8',
        env: { ...process.env, IPMI_PASSWORD: pw },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    expect(lan15('MD5')).toMatch(/System GUID/);
    expect(() => lan15('NONE')).toThrow(/not supported/);
    expect(() => lan15('PASSWORD')).toThrow(/not supported/);

    // mirrored into the state store's resources table, BMC rows with their PID
    const rows = labResourceRows(stateDir, LAB);
    expect(rows.find((x) => x.kind === 'lab.netns')?.name).toBe('it/ksl-it');
    const bmcRows = rows.filter((x) => x.kind === 'lab.bmc');
    expect(bmcRows.map((x) => [x.name, x.pid])).toEqual(
      m.nodes.map((n) => [`it/127.0.0.1:${n.bmc.port}`, Number(readFileSync(path.join(n.dir, 'bmc.pid'), 'utf8'))]),
    );
    expect(rows.filter((x) => x.kind === 'lab.tap')).toHaveLength(3);

    // the BMC identity is what hardware-profiles/qemu-lab.yaml matches
    const mc = ipmi(0, 'mc', 'info');
    const fru = ipmi(0, 'fru', 'print', '0');
    const field = (text: string, name: string) => new RegExp(`${name}\\s*:\\s*(.+)`).exec(text)?.[1]?.trim();
    const identity = {
      protocol: 'ipmi' as const,
      manufacturerId: Number(/Manufacturer ID\s*:\s*(\d+)/.exec(mc)?.[1]),
      productId: Number(/Product ID\s*:\s*(\d+)/.exec(mc)?.[1]),
      manufacturer: field(fru, 'Product Manufacturer'),
      productName: field(fru, 'Product Name'),
      boardProduct: field(fru, 'Board Product'),
    };
    const hit = matchProfile(identity, await loadProfiles());
    expect(hit?.profile.name).toBe('qemu-lab');
    expect(hit?.reasons.length).toBe(5);

    // the site file loads with kseed's own loader, and its password reference resolves to the BMC's
    const loaded = await loadSite(site);
    expect(loaded.seed).toMatchObject({ interface: 'ksl-br0', netns: 'ksl-it', address: '10.77.0.1', prefix: 24 });
    expect(loaded.nodes.map((n) => [n.name, n.bmc.port, n.macs[0], n.boot_mode, n.profile])).toEqual(
      m.nodes.slice(0, 2).map((n) => [n.name, n.bmc.port, n.mac, n.firmware, 'qemu-lab']),
    );
    expect(await resolveSecret(loaded.nodes[0]!.bmc.password, loaded)).toBe(pw);

    const y = parse(readFileSync(site, 'utf8'));
    expect(y.seed).toMatchObject({ interface: 'ksl-br0', netns: 'ksl-it', address: '10.77.0.1/24' });
    // the unlisted machine is on the lab network but not in the site file
    expect(y.nodes.map((n: any) => [n.name, n.bmc.port, n.macs[0], n.boot_mode, n.root_device.serial])).toEqual(
      m.nodes.slice(0, 2).map((n) => [n.name, n.bmc.port, n.mac, n.firmware, n.disk.serial]),
    );

    // no --image-url: the test OS, served by `kseed up` from its default /artifacts/ directory, with the checksum of the bytes there
    const served = path.join(stateDir, 'cache', 'ramdisk', 'testos.raw.gz');
    const sha = createHash('sha256').update(readFileSync(served)).digest('hex');
    const image = { url: 'http://10.77.0.1:8080/artifacts/testos.raw.gz', checksum: `sha256:${sha}`, format: 'raw', compression: 'gzip' };
    expect(r.json.image).toEqual(image);
    expect(r.json.default_image).toMatchObject({ served });
    expect(y.defaults.image).toEqual(image);
    expect(loaded.nodes.map((n) => n.image?.url)).toEqual([image.url, image.url]);
  }, 300_000);

  it('lab up a second time converges: same BMC processes, same password, nothing added', async () => {
    const before = m.nodes.map((n) => readFileSync(path.join(n.dir, 'bmc.pid'), 'utf8'));
    const image = parse(readFileSync(site, 'utf8')).defaults.image;
    const r = await kseed(['-c', site, 'lab', 'up', '--name', LAB, '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.nodes.map((n: any) => [n.firmware, n.listed])).toEqual([['bios', true], ['uefi', true], ['bios', false]]);
    // the image the lab has is kept as it is: nothing built, nothing placed
    expect(r.json.image).toEqual(image);
    expect(r.json.default_image).toBeNull();
    expect(m.nodes.map((n) => readFileSync(path.join(n.dir, 'bmc.pid'), 'utf8'))).toEqual(before);
    expect(readFileSync(m.passwordFile, 'utf8').trim()).toBe(pw);
    expect(netnsList().filter((n) => n === 'ksl-it')).toHaveLength(1);
  });

  it('a site file that is not the lab\'s is never overwritten', async () => {
    const other = path.join(root, 'mine.yaml');
    execFileSync('sh', ['-c', `echo 'site: mine' > ${other}`]);
    const r = await kseed(['-c', other, 'lab', 'up', '--name', LAB, '--json']);
    expect(r.code).toBe(2);
    expect(readFileSync(other, 'utf8')).toBe('site: mine\n');
  });

  it('IPMI power on starts the BIOS VM in the netns; SeaBIOS runs the iPXE ROM', async () => {
    const n = m.nodes[0]!;
    const t0 = Date.now();
    expect(process.env.KSEED_TEST_SECRET).toBe('not-for-the-bmc');
    expect(ipmi(0, 'chassis', 'power', 'on')).toContain('Up/On');
    const pid = vmPid(n);
    expect(pid).toBeDefined();
    expect(ipmi(0, 'chassis', 'power', 'status')).toContain('Chassis Power is on');
    const first = await waitForSerial(n, /iPXE/, { timeoutMs: 60_000 });
    console.log(`BIOS: ipmitool power on -> first iPXE line: ${Date.now() - t0} ms`);
    await waitForSerial(n, /SeaBIOS/, { timeoutMs: 1000 });
    expect(first.match[0]).toBe('iPXE');
    // the VM (started by the BMC) inherits none of the caller's environment
    expect(readFileSync(`/proc/${vmPid(n)}/environ`, 'latin1')).not.toContain('KSEED_TEST_SECRET');
    // QEMU really runs inside the lab netns
    const qemu = await until('QEMU exec', () => (liveCmdline(vmPid(n)!)?.includes('qemu-system') ? vmPid(n) : undefined));
    expect(readlinkNs(qemu)).toBe(readlinkNs('ksl-it'));
  }, 120_000);

  it('bootdev disk + power cycle restarts QEMU with the disk first', async () => {
    const n = m.nodes[0]!;
    const oldPid = vmPid(n)!;
    const from = serialSize(n);
    ipmi(0, 'chassis', 'bootdev', 'disk');
    expect(ipmi(0, 'chassis', 'bootparam', 'get', '5')).toContain('Force Boot from default Hard-Drive');
    ipmi(0, 'chassis', 'power', 'cycle');
    await waitForSerial(n, /=== kseed-lab power-on #2 .* bootdev=default/, { from, timeoutMs: 10_000 });
    const pid = await until('new QEMU', () => {
      const p = vmPid(n);
      return p !== undefined && p !== oldPid && liveCmdline(p)?.includes('qemu-system') ? p : undefined;
    });
    const cmd = liveCmdline(pid)!;
    expect(cmd).toContain(`serial=${n.dataDisks[0]!.serial}`);
    expect(cmd).toMatch(/virtio-net-pci,[^ ]*bootindex=2/);
    expect(cmd).toMatch(/virtio-blk-pci,[^ ]*bootindex=1/);
    expect(liveCmdline(oldPid)).toBeUndefined();
    // the empty disk is tried first, then the network
    await waitForSerial(n, /Booting from Hard Disk/, { from, timeoutMs: 60_000 });
    ipmi(0, 'chassis', 'bootdev', 'pxe');
  }, 120_000);

  it('IPMI soft off is an ACPI power button press, which firmware without an OS ignores', async () => {
    const n = m.nodes[0]!;
    const pid = vmPid(n)!;
    expect(existsSync(path.join(n.dir, 'qmp.sock'))).toBe(true);
    expect(ipmi(0, 'chassis', 'power', 'soft')).toContain('Soft');
    await new Promise((r) => setTimeout(r, 500));
    expect(vmPid(n)).toBe(pid);
    expect(readFileSync(path.join(n.dir, 'chassis.log'), 'utf8')).toMatch(/set shutdown 1\n/);
  });

  it('IPMI power off kills the VM', async () => {
    const n = m.nodes[0]!;
    const pid = vmPid(n)!;
    expect(ipmi(0, 'chassis', 'power', 'off')).toContain('Down/Off');
    expect(vmPid(n)).toBeUndefined();
    expect(liveCmdline(pid)).toBeUndefined();
    expect(ipmi(0, 'chassis', 'power', 'status')).toContain('Chassis Power is off');
  });

  it.skipIf(!ok || !needPeers(IPXE_LKRN))('direct kernel boot (benchmark floor) runs on the same machine and the BMC sees it', async () => {
    const n = m.nodes[0]!;
    const script = path.join(root, 'direct.ipxe');
    writeFileSync(script, '#!ipxe\necho KSL-DIRECT-BOOT mac=${net0/mac}\n');
    const from = serialSize(n);
    // ipxe.lkrn is a Linux-format kernel image that runs an initrd holding a script
    const pid = await startDirectBoot(m, n, { kernel: IPXE_LKRN, initrd: script, append: '' });
    expect(vmPid(n)).toBe(pid);
    expect(ipmi(0, 'chassis', 'power', 'status')).toContain('Chassis Power is on');
    // the whole MAC: the log is read while iPXE writes it, and a CI run matched a half-written "52:5"
    const hit = await waitForSerial(n, /KSL-DIRECT-BOOT mac=([0-9a-f]{2}(?::[0-9a-f]{2}){5})/, { from, timeoutMs: 60_000 });
    expect(hit.match[1]).toBe(n.mac);
    ipmi(0, 'chassis', 'power', 'off');
    expect(vmPid(n)).toBeUndefined();
  }, 120_000);

  it('the UEFI node powers on into OVMF, which runs iPXE from the NIC', async () => {
    const n = m.nodes[1]!;
    const t0 = Date.now();
    ipmi(1, 'chassis', 'power', 'on');
    expect(vmPid(n)).toBeDefined();
    await waitForSerial(n, /iPXE/, { timeoutMs: 120_000 });
    console.log(`UEFI: ipmitool power on -> first iPXE line: ${Date.now() - t0} ms`);
    expect(liveCmdline(vmPid(n)!)).toMatch(/OVMF_CODE_4M\.fd/);
    ipmi(1, 'chassis', 'power', 'off');
    expect(vmPid(n)).toBeUndefined();
  }, 240_000);

  it('lab status shows BMC liveness, power, MAC and disk per node', async () => {
    ipmi(0, 'chassis', 'power', 'on');
    const r = await kseed(['-c', site, 'lab', 'status', '--name', LAB, '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json).toMatchObject({ name: LAB, exists: true, netns_present: true, bridge_up: true, address: '10.77.0.1/24' });
    expect(r.json.nodes.map((n: any) => [n.name, n.bmc.port, n.bmc.running, n.bmc.answering, n.power, n.mac, n.disk.present, n.tap_present])).toEqual([
      ['node01', PORT, true, true, 'on', m.nodes[0]!.mac, true, true],
      ['node02', PORT + 1, true, true, 'off', m.nodes[1]!.mac, true, true],
      ['node03', PORT + 2, true, true, 'off', m.nodes[2]!.mac, true, true],
    ]);
    expect(r.json.nodes[0].power_ons).toBe(3);
    const con = await kseed(['-c', site, 'lab', 'console', 'node01', '--name', LAB]);
    expect(con.code).toBe(0);
    expect(con.stdout).toContain('=== kseed-lab power-on #3');
    expect(con.stdout).toContain('SeaBIOS');
    expect((await kseed(['-c', site, 'lab', 'console', 'node09', '--name', LAB])).code).toBe(2);
    expect(r.json.nodes[2].listed).toBe(false);
    expect(r.json.nodes[0].data_disks[0].present).toBe(true);
  }, 60_000);

  it('lab down removes everything, even when kseed lost its PID files (crash)', async () => {
    // a running VM and BMCs whose PID files are gone: found by the lab directory on their command line
    for (const n of m.nodes) for (const f of ['bmc.pid', 'vm.pid', 'qemu.pid']) if (existsSync(path.join(n.dir, f))) unlinkSync(path.join(n.dir, f));
    expect(findByMarker(`${m.dir}/`).length).toBeGreaterThanOrEqual(3);
    const r = await kseed(['-c', site, 'lab', 'down', '--name', LAB, '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.netns_deleted).toBe(true);
    expect(netnsList()).not.toContain('ksl-it');
    expect(findByMarker(`${m.dir}/`)).toEqual([]);
    expect(existsSync(m.dir)).toBe(false);
    expect(existsSync(m.passwordFile)).toBe(false);
    expect(existsSync(site)).toBe(false);
    expect(labResourceRows(stateDir, LAB)).toEqual([]);
    const again = await kseed(['-c', site, 'lab', 'down', '--name', LAB, '--json']);
    expect(again.json).toMatchObject({ existed: false, killed: [], netns_deleted: false });
  });
});

/** Network namespace identity of a PID or a named netns. */
function readlinkNs(who: number | string): number {
  return statSync(typeof who === 'number' ? `/proc/${who}/ns/net` : `/run/netns/${who}`).ino;
}

describe.skipIf(!ok)('kseed lab: bad input and busy ports', () => {
  let root = '';
  let site = '';
  let stateDir = '';
  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'ksl-bad-'));
    site = path.join(root, 'kseed.yaml');
    stateDir = path.join(root, '.kseed');
  });

  afterAll(async () => {
    try {
      await destroyLab({ stateDir, name: 'pb' });
      await destroyLab({ stateDir, name: 'bad' });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('rejects bad options with exit 2, naming the option, and creates nothing', async () => {
    for (const args of [
      ['--name', 'Bad_Name'],
      ['--name', 'bad', '--nodes', '0'],
      ['--name', 'bad', '--nodes', '2', '--uefi-nodes', '3'],
      ['--name', 'bad', '--address', '10.77.0.0/24'],
      ['--name', 'bad', '--data-disks', '10'],
      ['--name', 'bad', '--image-url', 'http://10.77.0.1:8080/i.raw', '--image-checksum', 'md5:abc'],
      ['--name', 'bad', '--image-url', 'http://10.77.0.1:8080/i.raw'],
    ]) {
      const r = await kseed(['-c', site, 'lab', 'up', ...args, '--json']);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.json.error).toBe('bad-input');
      expect(r.json.problems[0].path).toMatch(/name|nodes|uefi-nodes|address|data-disks|image-checksum/);
    }
    expect(netnsList()).not.toContain('ksl-bad');
    expect(existsSync(site)).toBe(false);
  });

  it('a BMC port held by another process is that node\'s clear error, not a hang', async () => {
    const { createSocket } = await import('node:dgram');
    const holder = createSocket('udp4');
    await new Promise<void>((r) => holder.bind(17021, '127.0.0.1', () => r()));
    try {
      const r = await kseed(['-c', site, 'lab', 'up', '--name', 'pb', '--nodes', '2', '--bmc-port-base', '17020', '--no-image', '--json']);
      expect(r.code).toBe(1);
      expect(r.json.message).toMatch(/1 BMC\(s\) did not start/);
      expect(r.json.detail).toMatch(/node02: .*127\.0\.0\.1:17021.*in use/);
    } finally {
      holder.close();
    }
    // once the port is free, the same command converges
    const again = await kseed(['-c', site, 'lab', 'up', '--name', 'pb', '--no-image']);
    expect(again.code, again.stdout).toBe(0);
    // a lab left without an image names the command that gives it one
    expect(again.stdout).toContain(`no OS image in ${site} (--no-image): nodes can be enrolled, not deployed. To give it kseed's test OS:\n  kseed --config ${site} lab up --name pb   # builds it`);
    const json = await kseed(['-c', site, 'lab', 'up', '--name', 'pb', '--no-image', '--json']);
    expect(json.json.image).toBeNull();
    expect(json.json.nodes.map((n: any) => n.bmc)).toEqual(['127.0.0.1:17020', '127.0.0.1:17021']);
  });

  it('lab up repairs a lab whose BMC was killed and whose tap was deleted', async () => {
    const m = readManifest(stateDir, 'pb')!;
    const bmc = Number(readFileSync(path.join(m.nodes[0]!.dir, 'bmc.pid'), 'utf8'));
    process.kill(bmc, 'SIGKILL');
    execFileSync('ip', ['-n', 'ksl-pb', 'link', 'del', 'ksl-t1']);
    const st = await kseed(['-c', site, 'lab', 'status', '--name', 'pb', '--json']);
    expect(st.json.nodes.map((n: any) => [n.bmc.running, n.tap_present])).toEqual([[false, true], [true, false]]);
    const r = await kseed(['-c', site, 'lab', 'up', '--name', 'pb', '--no-image', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.nodes[0].bmc_pid).not.toBe(bmc);
    const after = await kseed(['-c', site, 'lab', 'status', '--name', 'pb', '--json']);
    expect(after.json.nodes.map((n: any) => [n.bmc.running, n.bmc.answering, n.tap_present])).toEqual([[true, true, true], [true, true, true]]);
  });

  it('lab up with fewer nodes removes the surplus node: BMC, tap, files', async () => {
    const before = readManifest(stateDir, 'pb')!;
    const gone = before.nodes[1]!;
    const bmc = Number(readFileSync(path.join(gone.dir, 'bmc.pid'), 'utf8'));
    const r = await kseed(['-c', site, 'lab', 'up', '--name', 'pb', '--nodes', '1', '--no-image', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.removed_nodes).toEqual(['node02']);
    expect(readManifest(stateDir, 'pb')!.nodes.map((n) => n.name)).toEqual(['node01']);
    expect(liveCmdline(bmc)).toBeUndefined();
    expect(existsSync(gone.dir)).toBe(false);
    const links = execFileSync('ip', ['-n', 'ksl-pb', '-o', 'link', 'show'], { encoding: 'utf8' });
    expect(links).not.toContain('ksl-t1');
    expect(links).toContain('ksl-t0');
    expect(labResourceRows(stateDir, 'pb').filter((x) => x.data.node === 'node02')).toEqual([]);
  });

  it('lab down cleans up even after the whole state directory was deleted', async () => {
    const m = readManifest(stateDir, 'pb')!;
    const bmcs = m.nodes.map((n) => Number(readFileSync(path.join(n.dir, 'bmc.pid'), 'utf8')));
    // each node's SOL relay (src/lab/sol-relay.ts) names the lab directory too
    const relays = m.nodes.map((n) => Number(readFileSync(path.join(n.dir, 'sol-relay.pid'), 'utf8')));
    rmSync(stateDir, { recursive: true, force: true });
    const r = await kseed(['-c', site, 'lab', 'down', '--name', 'pb', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.killed.map((k: any) => k.pid).sort()).toEqual([...bmcs, ...relays].sort());
    expect(r.json.netns_deleted).toBe(true);
    expect(netnsList()).not.toContain('ksl-pb');
    for (const p of [...bmcs, ...relays]) expect(liveCmdline(p)).toBeUndefined();
  });
});
