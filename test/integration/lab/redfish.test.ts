/**
 * `kseed lab up --bmc redfish` judged by real Redfish clients, without booting
 * a VM: OpenStack sushy (python3-sushy, what Ironic drives BMCs with), curl,
 * and kseed's own client through `kseed bmc`. Sessions and Basic auth, ETags,
 * the boot override in the files vm.sh reads, virtual media fetched from an
 * HTTP server inside the lab netns; a real QEMU, paused (-S), as the running
 * VM whose CD drive changes over QMP. Lab "rf1", ports 18100-18101.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { destroyLab, readManifest } from '../../../src/lab/index.js';
import { labCertPaths } from '../../../src/lab/redfish/cert.js';
import { redfishPid } from '../../../src/lab/redfish/run.js';
import { liveCmdline } from '../../../src/lab/proc.js';
import { ensureBuilt } from '../../helpers/cli.js';
import { needPeers, needRoot } from '../../helpers/peers.js';
import { kseed, netnsList, until } from './helpers.js';
import { curl, netnsHttpServer, sushy, sushyFails, SUSHY_MODULE } from './redfish-peers.js';

const LAB = 'rf1';
const PORT = 18100;
const ok = needRoot() && needPeers('ip', 'qemu-img', 'qemu-system-x86_64', 'curl', 'openssl', 'socat', '/usr/bin/python3', SUSHY_MODULE);

/** What QEMU's CD drive holds (QMP query-block over socat, the reference client): its file, or undefined when empty. */
function cdFile(sock: string): string | undefined {
  const input = `${JSON.stringify({ execute: 'qmp_capabilities' })}\n${JSON.stringify({ execute: 'query-block' })}\n`;
  const out = execFileSync('socat', ['-t', '1', '-', `UNIX-CONNECT:${sock}`], { input, encoding: 'utf8', timeout: 10_000 });
  const blocks = JSON.parse(out.split('\n').filter((l) => l.startsWith('{"return"')).at(-1)!).return as { qdev?: string; inserted?: { file: string } }[];
  const cd = blocks.find((b) => b.qdev === 'cd0' || b.qdev?.endsWith('/cd0'));
  if (!cd) throw new Error(`no cd0 in query-block: ${JSON.stringify(blocks)}`);
  return cd.inserted?.file;
}

describe.skipIf(!ok)('lab Redfish BMC (sushy, curl, kseed bmc; no VM boot)', () => {
  let root = '';
  let site = '';
  let stateDir = '';
  let pw = '';
  let ca = '';
  let nodeDir = '';
  let http: ReturnType<typeof netnsHttpServer> | undefined;
  const url = (p: string, node = 0) => `https://127.0.0.1:${PORT + node}${p}`;
  const basic = () => ['-u', `admin:${pw}`];

  beforeAll(() => {
    ensureBuilt();
    // short: QEMU's QMP socket path must stay under 108 bytes
    root = mkdtempSync(path.join(tmpdir(), 'ksl-rf1-'));
    site = path.join(root, 'kseed.yaml');
    stateDir = path.join(root, '.kseed');
  });
  afterAll(async () => {
    http?.child.kill();
    try {
      await destroyLab({ stateDir, name: LAB });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('lab up --bmc redfish: one HTTPS process for both nodes, a 0600 key, and a site file naming Redfish BMCs', async () => {
    const r = await kseed(['-c', site, 'lab', 'up', '--name', LAB, '--nodes', '2', '--uefi-nodes', '1', '--disk-gb', '1', '--memory-mb', '256', '--bmc', 'redfish', '--bmc-port-base', String(PORT), '--no-image', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.bmc_kind).toBe('redfish');
    expect(r.json.nodes.map((n: any) => n.bmc)).toEqual([`127.0.0.1:${PORT}`, `127.0.0.1:${PORT + 1}`]);
    const pids = new Set(r.json.nodes.map((n: any) => n.bmc_pid));
    expect(pids.size).toBe(1);
    const m = readManifest(stateDir, LAB)!;
    expect(m.bmcKind).toBe('redfish');
    expect(redfishPid(m.dir)).toBe([...pids][0]);
    pw = readFileSync(m.passwordFile, 'utf8').trim();
    ca = labCertPaths(stateDir, LAB).cert;
    expect(statSync(labCertPaths(stateDir, LAB).key).mode & 0o777).toBe(0o600);
    nodeDir = m.nodes[0]!.dir;
    const y = parse(readFileSync(site, 'utf8')) as Record<string, any>;
    expect(y.defaults.bmc).toMatchObject({ type: 'redfish', scheme: 'https', insecure_tls: true });
    expect(y.defaults.profile).toBe('qemu-lab-redfish');
    // the BMC process keeps none of the caller's environment
    expect(readFileSync(`/proc/${[...pids][0]}/environ`, 'utf8')).not.toContain('RF_PASSWORD');
  });

  it('serves the service root without credentials over TLS that verifies for 127.0.0.1; the rest needs Basic or a session', async () => {
    const rootDoc = await curl(url('/redfish/v1/'), ca);
    expect(rootDoc.status).toBe(200);
    expect(rootDoc.headers['odata-version']).toBe('4.0');
    expect(rootDoc.body).toMatchObject({ RedfishVersion: '1.8.0', Systems: { '@odata.id': '/redfish/v1/Systems' } });
    const none = await curl(url('/redfish/v1/Systems/System'), ca);
    expect(none.status).toBe(401);
    expect(none.body.error['@Message.ExtendedInfo'][0].MessageId).toBe('Base.1.8.NoValidSession');
    expect((await curl(url('/redfish/v1/Systems/System'), ca, '-u', 'admin:wrong')).status).toBe(401);
    const sys = await curl(url('/redfish/v1/Systems/System'), ca, ...basic());
    expect(sys.status).toBe(200);
    expect(sys.body).toMatchObject({ PowerState: 'Off', Name: 'node01', Manufacturer: 'KSLab', Boot: { BootSourceOverrideMode: 'Legacy' } });
    expect((await curl(url('/redfish/v1/Systems/System', 1), ca, ...basic())).body).toMatchObject({ Name: 'node02', Boot: { BootSourceOverrideMode: 'UEFI' } });
    // a session: POST with the password, then the token alone; DELETE ends it
    const login = await curl(url('/redfish/v1/SessionService/Sessions'), ca, '-X', 'POST', '-H', 'content-type: application/json', '--data', JSON.stringify({ UserName: 'admin', Password: pw }));
    expect(login.status).toBe(201);
    const token = login.headers['x-auth-token']!;
    expect((await curl(url('/redfish/v1/Managers/BMC'), ca, '-H', `x-auth-token: ${token}`)).body).toMatchObject({ ManagerType: 'BMC', VirtualMedia: { '@odata.id': '/redfish/v1/Managers/BMC/VirtualMedia' } });
    expect((await curl(url(login.headers.location!), ca, '-X', 'DELETE', '-H', `x-auth-token: ${token}`)).status).toBe(204);
    expect((await curl(url('/redfish/v1/Managers/BMC'), ca, '-H', `x-auth-token: ${token}`)).status).toBe(401);
  });

  it('sushy reads the system through a session it closes: power, reset values, boot targets, virtual CD', async () => {
    const v = await sushy(PORT, ca, pw, 'read');
    expect(v.auth).toBe('SessionOrBasicAuth');
    expect(v.session).toMatch(/^\/redfish\/v1\/SessionService\/Sessions\/\d+$/);
    expect(v).toMatchObject({ power: 'Off', target: 'None', enabled: 'Disabled', mode: 'Legacy', manufacturer: 'KSLab', serial: `SN-${LAB}-node01` });
    expect(v.allowed_resets).toEqual(['ForceOff', 'ForceOn', 'ForceRestart', 'GracefulShutdown', 'On', 'PowerCycle', 'PushPowerButton']);
    expect(v.allowed_targets).toEqual(['Cd', 'Hdd', 'None', 'Pxe']);
    expect(v.media).toEqual({ image: null, image_name: null, inserted: false, connected_via: 'NotConnected', media_types: ['CD', 'DVD'] });
    // its session was deleted on close
    const sessions = await curl(url('/redfish/v1/SessionService/Sessions'), ca, ...basic());
    expect(sessions.body.Members.map((m: any) => m['@odata.id'])).not.toContain(v.session);
  });

  it('sushy sets the boot override: Once goes to boot.once (used up by the next power-on), Continuous to boot; a mode the firmware lacks is refused', async () => {
    const once = await sushy(PORT, ca, pw, 'boot', 'Cd', 'Once', 'Legacy');
    expect(once).toMatchObject({ target: 'Cd', enabled: 'Once', mode: 'Legacy' });
    expect(readFileSync(path.join(nodeDir, 'boot.once'), 'utf8').trim()).toBe('cdrom');
    const cont = await sushy(PORT, ca, pw, 'boot', 'Pxe', 'Continuous', 'Legacy');
    expect(cont).toMatchObject({ target: 'Pxe', enabled: 'Continuous' });
    expect(existsSync(path.join(nodeDir, 'boot.once'))).toBe(false);
    expect(readFileSync(path.join(nodeDir, 'boot'), 'utf8').trim()).toBe('pxe');
    const refused = await sushyFails(PORT, ca, pw, 'boot', 'Hdd', 'Once', 'UEFI');
    expect(refused).toContain('PropertyValueNotInList');
    expect(refused).toContain('BootSourceOverrideMode');
    // nothing of the refused PATCH was applied
    expect(existsSync(path.join(nodeDir, 'boot.once'))).toBe(false);
    expect((await sushy(PORT + 1, ca, pw, 'boot', 'Hdd', 'Continuous', 'UEFI')).mode).toBe('UEFI');
  });

  it('honours If-Match: a stale ETag is 412 and changes nothing, the current one applies', async () => {
    const sys = await curl(url('/redfish/v1/Systems/System'), ca, ...basic());
    const etag = sys.headers.etag!;
    expect(etag).toBe(sys.body['@odata.etag']);
    const patch = ['-X', 'PATCH', '-H', 'content-type: application/json', '--data', JSON.stringify({ Boot: { BootSourceOverrideTarget: 'Hdd', BootSourceOverrideEnabled: 'Continuous' } })];
    const stale = await curl(url('/redfish/v1/Systems/System'), ca, ...basic(), ...patch, '-H', 'if-match: "0123456789abcdef0123"');
    expect(stale.status).toBe(412);
    expect(readFileSync(path.join(nodeDir, 'boot'), 'utf8').trim()).toBe('pxe');
    const done = await curl(url('/redfish/v1/Systems/System'), ca, ...basic(), ...patch, '-H', `if-match: ${etag}`);
    expect(done.status).toBe(200);
    expect(done.body.Boot).toMatchObject({ BootSourceOverrideTarget: 'Hdd', BootSourceOverrideEnabled: 'Continuous' });
    expect(done.headers.etag).not.toBe(etag);
    expect(readFileSync(path.join(nodeDir, 'boot'), 'utf8').trim()).toBe('default');
  });

  it("kseed's own client: power status, boot device and identity through `kseed bmc`", async () => {
    const st = await kseed(['-c', site, 'bmc', 'power', 'node01', 'node02', 'status', '--json']);
    expect(st.code, st.stdout).toBe(0);
    expect(st.json.nodes.map((n: any) => [n.node, n.ok, n.power])).toEqual([['node01', true, 'off'], ['node02', true, 'off']]);
    const bd = await kseed(['-c', site, 'bmc', 'bootdev', 'node01', 'cdrom', '--json']);
    expect(bd.code, bd.stdout).toBe(0);
    expect(readFileSync(path.join(nodeDir, 'boot.once'), 'utf8').trim()).toBe('cdrom');
    const info = await kseed(['-c', site, 'bmc', 'info', 'node01', '--json']);
    expect(info.code, info.stdout).toBe(0);
    expect(info.json.boot).toMatchObject({ device: 'cdrom', persistent: false });
    expect(info.json.identity).toMatchObject({ protocol: 'redfish', manufacturer: 'KSLab', model: 'KSLab Virtual Server', bmcIp: '127.0.0.1', nicMacs: [readManifest(stateDir, LAB)!.nodes[0]!.mac] });
  });

  it('kseed enroll takes the lab site file as it is: both nodes manageable, matched to the qemu-lab-redfish profile', async () => {
    const r = await kseed(['-c', site, 'enroll', '--all', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.nodes.map((n: any) => [n.node, n.result, n.profile, n.identity.serial])).toEqual([
      ['node01', 'manageable', 'qemu-lab-redfish', `SN-${LAB}-node01`],
      ['node02', 'manageable', 'qemu-lab-redfish', `SN-${LAB}-node02`],
    ]);
  });

  it('virtual media: sushy inserts an image the BMC fetches inside the lab netns, a bad URL fails with the fetch error, eject empties the drive', async () => {
    const m = readManifest(stateDir, LAB)!;
    const www = path.join(root, 'www');
    mkdirSync(www);
    const iso = randomBytes(64 * 1024);
    writeFileSync(path.join(www, 'boot.iso'), iso);
    http = netnsHttpServer(m.netns, m.network.ipv4, 8080, www);
    const image = `http://${m.network.ipv4}:8080/boot.iso`;
    await until('the HTTP server in the lab netns', () => /Serving HTTP/.test(http!.log()), 10_000);
    const v = await sushy(PORT, ca, pw, 'insert', image);
    expect(v.media).toMatchObject({ image, image_name: 'boot.iso', inserted: true, connected_via: 'URI' });
    const got = readFileSync(path.join(nodeDir, 'cd.img'));
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(iso).digest('hex'));
    expect(http.log()).toMatch(/"GET \/boot\.iso HTTP\/1\.1" 200/);
    const bad = await sushyFails(PORT, ca, pw, 'insert', `http://${m.network.ipv4}:8080/missing.iso`);
    expect(bad).toContain(`could not fetch http://${m.network.ipv4}:8080/missing.iso`);
    expect(bad).toContain('404');
    // the failed insert left the inserted image alone
    expect((await sushy(PORT, ca, pw, 'read')).media).toMatchObject({ image, inserted: true });
    const ej = await sushy(PORT, ca, pw, 'eject');
    expect(ej.media).toMatchObject({ image: null, inserted: false, connected_via: 'NotConnected' });
    expect(existsSync(path.join(nodeDir, 'cd.img'))).toBe(false);
  });

  it('a running VM (real QEMU, paused with -S: no CPU spent) gets its CD changed live over QMP; ForceOff stops it', async () => {
    const m = readManifest(stateDir, LAB)!;
    const sock = path.join(nodeDir, 'qmp.sock');
    // the node's own CD drive and QMP socket, as vm.sh makes them; the node dir on the command line makes it the node's VM
    const qemu = spawn('qemu-system-x86_64', [
      '-name', 'node01', '-machine', 'pc', '-accel', 'tcg', '-S', '-m', '64', '-nographic', '-nodefaults', '-no-user-config', '-monitor', 'none',
      '-pidfile', path.join(nodeDir, 'qemu.pid'), '-drive', 'if=none,id=cdrom0,media=cdrom,readonly=on', '-device', 'ide-cd,drive=cdrom0,id=cd0,bootindex=3',
      '-qmp', `unix:${sock},server=on,wait=off`,
    ], { stdio: 'ignore', detached: true });
    qemu.unref();
    writeFileSync(path.join(nodeDir, 'vm.pid'), `${qemu.pid}\n`);
    await until('the QMP socket', () => existsSync(sock), 10_000);
    expect((await sushy(PORT, ca, pw, 'read')).power).toBe('On');
    const image = `http://${m.network.ipv4}:8080/boot.iso`;
    expect((await sushy(PORT, ca, pw, 'insert', image)).media).toMatchObject({ image, inserted: true });
    expect(cdFile(sock)).toBe(path.join(nodeDir, 'cd.img'));
    expect((await sushy(PORT, ca, pw, 'eject')).media.inserted).toBe(false);
    expect(cdFile(sock)).toBeUndefined();
    // kseed's client: off is ForceOff, through the node's chassis.sh
    const off = await kseed(['-c', site, 'bmc', 'power', 'node01', 'off', '--json']);
    expect(off.code, off.stdout).toBe(0);
    expect(off.json.nodes[0]).toMatchObject({ ok: true, power: 'off' });
    await until('QEMU gone', () => liveCmdline(qemu.pid!) === undefined, 10_000);
    expect((await sushy(PORT, ca, pw, 'read')).power).toBe('Off');
  });

  it('lab status probes the Redfish BMCs; lab down stops the process and removes the key and certificate', async () => {
    const s = await kseed(['-c', site, 'lab', 'status', '--json']);
    expect(s.code, s.stdout).toBe(0);
    expect(s.json.nodes.map((n: any) => [n.bmc.protocol, n.bmc.running, n.bmc.answering])).toEqual([['redfish', true, true], ['redfish', true, true]]);
    const pid = s.json.nodes[0].bmc.pid as number;
    const d = await kseed(['-c', site, 'lab', 'down', '--json']);
    expect(d.code, d.stdout).toBe(0);
    expect(d.json.killed).toContainEqual({ pid, what: 'lab redfish' });
    expect(liveCmdline(pid)).toBeUndefined();
    expect(existsSync(labCertPaths(stateDir, LAB).key)).toBe(false);
    expect(existsSync(labCertPaths(stateDir, LAB).cert)).toBe(false);
    expect(netnsList()).not.toContain(`ksl-${LAB}`);
  });
});
