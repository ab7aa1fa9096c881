/**
 * What a lab Redfish BMC does to its VM. Power goes through the node's
 * chassis.sh, the very program ipmi_sim runs, so both BMC kinds start and
 * stop VMs the same way. The boot override lives in the files vm.sh reads
 * at power-on: `boot` (kept, what IPMI bootdev also writes) and `boot.once`
 * (used up by the next power-on: BootSourceOverrideEnabled Once). Virtual
 * media: the BMC fetches the image from inside the lab's netns (where the
 * seed serves it, as a real BMC fetches from the seed) into cd.img, which
 * vm.sh attaches at power-on and QMP changes while the VM runs.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { bmcFiles } from '../bmc.js';
import type { LabNodeManifest } from '../manifest.js';
import { nodeFile, vmLastError, vmPid } from '../node.js';
import { qmp } from './qmp.js';
import type { InsertMedia } from './requests.js';
import type { BootState, BootTarget, MediaState, NodeView, ResetType } from './resources.js';
import { BackendError, type NodeBackend } from './service.js';
import { runQuiet } from '../../util/tools.js';

/** BootSourceOverrideTarget <-> the device word chassis.sh and vm.sh use (ipmi_sim's words). */
const DEVICE: Record<BootTarget, string> = { None: 'none', Pxe: 'pxe', Hdd: 'default', Cd: 'cdrom' };
const TARGET: Record<string, BootTarget> = { none: 'None', pxe: 'Pxe', default: 'Hdd', cdrom: 'Cd' };

/** QEMU id of the CD drive vm.sh creates (see vm.ts). */
export const CD_DEVICE = 'cd0';

export interface LabBackendInput {
  lab: string;
  netns: string;
  node: LabNodeManifest;
  firmwareVersion: string;
  tools: { ip: string; curl: string };
  log?: (msg: string) => void;
}

async function exec(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number; out: string }> {
  const r = await runQuiet(cmd, args, { timeoutMs });
  return { code: r.exitCode, out: `${r.stdout}${r.stderr}`.trim() };
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Written whole or not at all: vm.sh may read it at any moment. */
function writeAtomic(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

export class LabNodeBackend implements NodeBackend {
  private readonly chassis: string;

  constructor(private readonly o: LabBackendInput) {
    this.chassis = bmcFiles(o.node.dir).chassis;
  }

  private file(name: string): string {
    return nodeFile(this.o.node, name);
  }

  async view(): Promise<NodeView> {
    const n = this.o.node;
    return {
      lab: this.o.lab,
      node: n.name,
      power: vmPid(n) === undefined ? 'Off' : 'On',
      boot: this.boot(),
      mode: n.firmware === 'uefi' ? 'UEFI' : 'Legacy',
      media: this.media(),
      macs: [n.mac, ...(n.extraNics ?? []).map((x) => x.mac)],
      bmcMac: n.bmc.mac,
      bmcPort: n.bmc.port,
      firmwareVersion: this.o.firmwareVersion,
    };
  }

  private boot(): BootState {
    const once = readText(this.file('boot.once'));
    if (once !== undefined && TARGET[once]) return { target: TARGET[once]!, enabled: 'Once' };
    const kept = TARGET[readText(this.file('boot')) ?? 'none'];
    // `bios` (IPMI bootdev bios) has no Redfish target here: no override
    return kept && kept !== 'None' ? { target: kept, enabled: 'Continuous' } : { target: 'None', enabled: 'Disabled' };
  }

  private media(): MediaState {
    try {
      const m = JSON.parse(readFileSync(this.file('media.json'), 'utf8')) as MediaState;
      return { image: m.image, inserted: m.inserted === true && existsSync(this.file('cd.img')), writeProtected: true, ...(m.transferProtocol ? { transferProtocol: m.transferProtocol } : {}) };
    } catch {
      return { inserted: false, writeProtected: true };
    }
  }

  async setBoot(next: BootState): Promise<void> {
    const dev = DEVICE[next.target];
    if (next.enabled === 'Disabled' || next.target === 'None') {
      rmSync(this.file('boot.once'), { force: true });
      writeAtomic(this.file('boot'), 'none\n');
    } else if (next.enabled === 'Once') {
      writeAtomic(this.file('boot.once'), `${dev}\n`);
    } else {
      rmSync(this.file('boot.once'), { force: true });
      writeAtomic(this.file('boot'), `${dev}\n`);
    }
    this.o.log?.(`${this.o.node.name}: boot override ${next.target} ${next.enabled}`);
  }

  private async chassisSet(what: string, value: string): Promise<void> {
    // chassis.sh waits for a dying QEMU (< 1 s); the margin is for a loaded machine
    const r = await exec(this.chassis, ['set', what, value], 20_000);
    if (r.code !== 0) throw new BackendError(500, `power control failed (chassis.sh set ${what} ${value}): ${r.out || `exit ${r.code}`}`);
  }

  private async powerOn(): Promise<void> {
    await this.chassisSet('power', '1');
    // a VM that dies at once (missing firmware, busy tap) is this request's failure, with QEMU's words
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 100));
      if (vmPid(this.o.node) === undefined) {
        throw new BackendError(500, `the VM of ${this.o.node.name} did not start: ${vmLastError(this.o.node) ?? 'no message from QEMU'}`);
      }
    }
  }

  async reset(type: ResetType, power: 'On' | 'Off'): Promise<void> {
    this.o.log?.(`${this.o.node.name}: reset ${type} (power ${power})`);
    switch (type) {
      case 'On':
      case 'ForceOn':
        if (power === 'Off') await this.powerOn();
        return;
      case 'ForceOff':
        return this.chassisSet('power', '0');
      case 'GracefulShutdown':
        // the ACPI power button: an OS that listens powers off, firmware alone ignores it (as hardware does)
        if (power === 'On') await this.chassisSet('shutdown', '1');
        return;
      case 'ForceRestart':
      case 'PowerCycle':
        // off then on: vm.sh runs again and reads the boot override, as a server's reset does
        if (power === 'On') await this.chassisSet('reset', '1');
        else await this.powerOn();
        return;
      case 'PushPowerButton':
        if (power === 'Off') await this.powerOn();
        else await this.chassisSet('shutdown', '1');
        return;
    }
  }

  private qmpSocket(): string | undefined {
    const s = this.file('qmp.sock');
    return vmPid(this.o.node) !== undefined && existsSync(s) ? s : undefined;
  }

  async insertMedia(m: InsertMedia): Promise<void> {
    const img = this.file('cd.img');
    const part = this.file('cd.img.part');
    if (m.inserted) {
      // inside the lab's netns: the seed serves images on the lab bridge, as it would to a BMC on its network
      const args = ['netns', 'exec', this.o.netns, this.o.tools.curl, '-fsS', '--max-time', '600', '--retry', '2', '-o', part, ...(m.verifyCertificate ? [] : ['-k']), '--', m.image];
      const t0 = Date.now();
      const r = await exec(this.o.tools.ip, args, 620_000);
      if (r.code !== 0) {
        rmSync(part, { force: true });
        throw new BackendError(400, `the BMC could not fetch ${m.image}: ${r.out || `curl exit ${r.code}`}`);
      }
      renameSync(part, img);
      this.o.log?.(`${this.o.node.name}: fetched ${m.image} in ${Date.now() - t0} ms`);
      const sock = this.qmpSocket();
      if (sock) {
        try {
          await qmp(sock, 'blockdev-change-medium', { id: CD_DEVICE, filename: img, format: 'raw', 'read-only-mode': 'read-only' });
        } catch (e) {
          throw new BackendError(500, `could not put the image into the VM's CD drive: ${(e as Error).message}`);
        }
      } else if (vmPid(this.o.node) !== undefined) {
        throw new BackendError(409, `${this.o.node.name} runs without a QMP socket (node directory path too long): the image goes in at the next power-on`);
      }
    } else {
      rmSync(img, { force: true });
    }
    writeAtomic(this.file('media.json'), `${JSON.stringify({ image: m.image, inserted: m.inserted, transferProtocol: m.protocol })}\n`);
  }

  async ejectMedia(): Promise<void> {
    const sock = this.qmpSocket();
    if (sock) {
      try {
        await qmp(sock, 'eject', { id: CD_DEVICE, force: true });
      } catch (e) {
        throw new BackendError(500, `could not eject the VM's CD: ${(e as Error).message}`);
      }
    }
    rmSync(this.file('cd.img'), { force: true });
    rmSync(this.file('media.json'), { force: true });
    this.o.log?.(`${this.o.node.name}: media ejected`);
  }
}
