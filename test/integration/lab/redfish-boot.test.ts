/**
 * The lab Redfish BMC with a running VM (QEMU TCG, SeaBIOS): sushy inserts
 * a bootable CD image and sets a one-time Cd override, powers on, and the VM
 * boots the CD; the override is then used up (the next power-on boots the
 * network first); eject and insert change the running VM's CD drive through
 * QMP (checked with QMP itself, over socat); kseed's client powers it off.
 * Lab "rf2", port 18150. Boots a VM: run under /work/.heavy.lock.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyLab, readManifest, readSerial, serialSize, vmPid, waitForSerial, type LabManifest } from '../../../src/lab/index.js';
import { labCertPaths } from '../../../src/lab/redfish/cert.js';
import { ensureBuilt } from '../../helpers/cli.js';
import { needPeers, needRoot } from '../../helpers/peers.js';
import { kseed, until } from './helpers.js';
import { netnsHttpServer, sushy, SUSHY_MODULE } from './redfish-peers.js';

const LAB = 'rf2';
const PORT = 18150;
const MESSAGE = 'KSEED-RF-CD: booted from virtual media';
const ok = needRoot() && needPeers('ip', 'qemu-system-x86_64', 'qemu-img', 'curl', 'openssl', 'socat', 'genisoimage', '/usr/bin/python3', SUSHY_MODULE);

/**
 * An El Torito "no emulation" boot image (El Torito 1.0 section 2.5; the
 * BIOS loads it at 0000:7C00 and jumps there): 16-bit code that writes
 * MESSAGE to COM1 (I/O port 0x3F8) and halts.
 */
function bootImage(): Buffer {
  const msgAt = 0x7c00 + 22;
  const code = Buffer.from([
    0xfa, // cli
    0x31, 0xc0, // xor ax, ax
    0x8e, 0xd8, // mov ds, ax
    0xbe, msgAt & 0xff, msgAt >> 8, // mov si, msg
    0xba, 0xf8, 0x03, // mov dx, 0x3f8
    0xac, // next: lodsb
    0x84, 0xc0, // test al, al
    0x74, 0x03, // jz halt
    0xee, // out dx, al
    0xeb, 0xf8, // jmp next
    0xf4, // halt: hlt
    0xeb, 0xfd, // jmp halt
  ]);
  const img = Buffer.alloc(2048);
  code.copy(img, 0);
  Buffer.from(`\r\n${MESSAGE}\r\n\0`, 'latin1').copy(img, code.length);
  return img;
}

/** One QMP command over socat (the reference client), the answer's `return`. */
function qmpPeer(sock: string, command: string): any {
  const input = `${JSON.stringify({ execute: 'qmp_capabilities' })}\n${JSON.stringify({ execute: command })}\n`;
  const out = execFileSync('socat', ['-t', '1', '-', `UNIX-CONNECT:${sock}`], { input, encoding: 'utf8', timeout: 10_000 });
  const answers = out.split('\n').filter((l) => l.startsWith('{"return"'));
  return JSON.parse(answers.at(-1)!).return;
}

/** What QEMU's CD drive holds: the image file, or undefined when empty. */
function cdFile(sock: string): string | undefined {
  const blocks = qmpPeer(sock, 'query-block') as { qdev?: string; inserted?: { file: string } }[];
  const cd = blocks.find((b) => b.qdev === 'cd0' || b.qdev?.endsWith('/cd0'));
  if (!cd) throw new Error(`no cd0 in query-block: ${JSON.stringify(blocks)}`);
  return cd.inserted?.file;
}

describe.skipIf(!ok)('lab Redfish BMC with a running VM (sushy, QMP, kseed bmc)', () => {
  let root = '';
  let site = '';
  let stateDir = '';
  let pw = '';
  let ca = '';
  let m: LabManifest;
  let http: ReturnType<typeof netnsHttpServer> | undefined;

  beforeAll(async () => {
    ensureBuilt();
    root = mkdtempSync(path.join(tmpdir(), 'ksl-rf2-'));
    site = path.join(root, 'kseed.yaml');
    stateDir = path.join(root, '.kseed');
    const r = await kseed(['-c', site, 'lab', 'up', '--name', LAB, '--nodes', '1', '--disk-gb', '1', '--memory-mb', '256', '--bmc', 'redfish', '--bmc-port-base', String(PORT), '--no-image', '--json']);
    if (r.code !== 0) throw new Error(`lab up failed: ${r.stdout}`);
    m = readManifest(stateDir, LAB)!;
    pw = readFileSync(m.passwordFile, 'utf8').trim();
    ca = labCertPaths(stateDir, LAB).cert;
    const www = path.join(root, 'www');
    const iso = path.join(www, 'iso');
    mkdirSync(iso, { recursive: true });
    writeFileSync(path.join(iso, 'boot.img'), bootImage());
    execFileSync('genisoimage', ['-quiet', '-o', path.join(www, 'boot.iso'), '-b', 'boot.img', '-no-emul-boot', '-boot-load-size', '4', '-c', 'boot.cat', iso]);
    http = netnsHttpServer(m.netns, m.network.ipv4, 8080, www);
    await until('the HTTP server in the lab netns', () => /Serving HTTP/.test(http!.log()), 10_000);
  });
  afterAll(async () => {
    http?.child.kill();
    try {
      if (stateDir) await destroyLab({ stateDir, name: LAB });
    } finally {
      if (root) rmSync(root, { recursive: true, force: true });
    }
  });

  it('boots the inserted CD once: InsertMedia + Cd/Once + On, the VM prints the CD\'s message, the override is used up', async () => {
    const node = m.nodes[0]!;
    const image = `http://${m.network.ipv4}:8080/boot.iso`;
    await sushy(PORT, ca, pw, 'insert', image);
    expect((await sushy(PORT, ca, pw, 'boot', 'Cd', 'Once', 'Legacy'))).toMatchObject({ target: 'Cd', enabled: 'Once' });
    const from = serialSize(node);
    const t0 = Date.now();
    const on = await sushy(PORT, ca, pw, 'reset', 'On');
    expect(on.power).toBe('On');
    const booted = await waitForSerial(node, new RegExp(MESSAGE), { from, timeoutMs: 90_000 });
    console.log(`Redfish On -> CD boot message: ${Date.now() - t0} ms (serial wait ${booted.ms} ms)`);
    const text = readSerial(node, from);
    expect(text).toMatch(/=== kseed-lab power-on #1 .* bootdev=cdrom/);
    // Redfish: a Once override is back to Disabled after the boot it applied to
    expect(await sushy(PORT, ca, pw, 'read')).toMatchObject({ power: 'On', enabled: 'Disabled', target: 'None', media: { image, inserted: true } });
    expect(cdFile(path.join(node.dir, 'qmp.sock'))).toBe(path.join(node.dir, 'cd.img'));
  });

  it('ejects and inserts in the running VM: QEMU\'s CD drive follows (QMP query-block)', async () => {
    const node = m.nodes[0]!;
    const sock = path.join(node.dir, 'qmp.sock');
    const pid = vmPid(node);
    expect((await sushy(PORT, ca, pw, 'eject')).media.inserted).toBe(false);
    expect(cdFile(sock)).toBeUndefined();
    await sushy(PORT, ca, pw, 'insert', `http://${m.network.ipv4}:8080/boot.iso`);
    expect(cdFile(sock)).toBe(path.join(node.dir, 'cd.img'));
    // the same VM all along: media changes never restart it
    expect(vmPid(node)).toBe(pid);
  });

  it('ForceRestart powers the VM off and on; without an override it boots the network first, not the CD', async () => {
    const node = m.nodes[0]!;
    const pid = vmPid(node);
    const from = serialSize(node);
    await sushy(PORT, ca, pw, 'reset', 'ForceRestart');
    await until('a new VM process', () => vmPid(node) !== undefined && vmPid(node) !== pid, 30_000);
    const stamp = await waitForSerial(node, /=== kseed-lab power-on #2 .* bootdev=(\S+)/, { from, timeoutMs: 30_000 });
    expect(stamp.match[1]).toBe('none');
    // SeaBIOS reaches the NIC's iPXE ROM first (bootindex 1); the CD (bootindex 3) only after PXE and the disk fail
    const ipxe = await waitForSerial(node, /iPXE/, { from, timeoutMs: 60_000 });
    expect(ipxe.match.input.slice(0, ipxe.match.index)).not.toContain(MESSAGE);
  });

  it("kseed's own client powers it off and reads the state; sushy agrees", async () => {
    const node = m.nodes[0]!;
    const off = await kseed(['-c', site, 'bmc', 'power', 'node01', 'off', '--json']);
    expect(off.code, off.stdout).toBe(0);
    expect(off.json.nodes[0]).toMatchObject({ ok: true, power: 'off' });
    expect(vmPid(node)).toBeUndefined();
    expect((await sushy(PORT, ca, pw, 'read')).power).toBe('Off');
    const again = await kseed(['-c', site, 'bmc', 'power', 'node01', 'off', '--json']);
    expect(again.code, again.stdout).toBe(0);
  });
});
