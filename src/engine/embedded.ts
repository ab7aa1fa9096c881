/**
 * The embedded engine: the node lifecycle driven by kseed itself, over the
 * state store. The boot services (`kseed boot serve`, a separate process)
 * answer the nodes' PXE/iPXE/agent requests from the lifecycle state and
 * write what the ramdisk reports into the store as events; this engine
 * powers nodes over their BMC, moves them through the lifecycle and reads
 * those events back.
 *
 * Crash safety (DESIGN principle 4):
 * - a node is claimed in the state store before any work (claimNode), so two
 *   engines never drive the same node; the claim of an engine process that
 *   died on this host is taken over at once;
 * - before the work of a busy state the intent (`data.op`: verb, event id it
 *   started at, attempt) is recorded, and every step is an event before and
 *   after (`step` start/done/fail);
 * - a restarted engine finds busy nodes and finishes them from what the
 *   ramdisk already reported, or restarts the work with a power cycle, which
 *   ends the old ramdisk (and its image write) before a new one boots; the
 *   new boot gets a fresh agent token, so the old instance cannot report.
 */
import type { BootDevice } from '../bmc/types.js';
import { bootModeOf, rootDeviceOf } from '../profiles/apply.js';
import { BUSY_STATES, finish, plan, type NodeState, type Verb } from './lifecycle.js';
import { NodeRunner, type NodeRunnerOptions, type Prepared, type WorkCtx } from './node-runner.js';
import { chooseRootDevice, type Disk } from './rootdevice.js';
import { agentOutcome, type OpRecord, resumeDecision } from './runner.js';
import type { ProvisionOptions } from './types.js';
import { prepareVirtualMedia, removeVirtualMedia, type VirtualMediaSeed } from './vmedia.js';

export interface EmbeddedEngineOptions extends NodeRunnerOptions {
  /** Where the boot services serve virtual-media CDs (nodes with `boot: virtual-media`). */
  vmedia?: VirtualMediaSeed;
}

export class EmbeddedEngine extends NodeRunner {
  readonly engine = 'embedded' as const;
  /**
   * Nodes whose inspection ramdisk stays up for the deploy that follows
   * (fast track, WAIT=1): their deploy is served to that boot, no power cycle.
   * In memory on purpose: a restarted engine does not know the ramdisk is
   * still there and boots it again, which is safe.
   */
  private readonly warm = new Set<string>();
  /** Nodes this engine inserted a CD into: it ejects them when their verbs end. */
  private readonly mounted = new Set<string>();
  private readonly vmedia: VirtualMediaSeed | undefined;
  protected override readonly enrollOpensBmc = true;

  constructor(o: EmbeddedEngineOptions) {
    // the boot services write the ramdisk's reports into the store: read them often
    super(o, 250);
    this.vmedia = o.vmedia;
  }

  private byVirtualMedia(name: string): boolean {
    return this.spec(name).boot === 'virtual-media';
  }

  // --------------------------------------------------------------- BMC

  /** Boot the node from the network now: what it boots is the boot services' choice from its state. */
  private async netboot(name: string, signal: AbortSignal): Promise<void> {
    if (this.byVirtualMedia(name)) return this.mediaBoot(name, signal);
    const uefi = bootModeOf(this.spec(name), this.profileOf(name)) === 'uefi';
    // validate catches boot_mode bios in the site file; this is a bios that only the hardware profile says
    if (!uefi && this.site.seed?.tftp?.enabled === false) {
      throw new Error(`boot mode bios (hardware profile ${this.profileOf(name)?.name ?? '-'}) cannot network-boot with seed.tftp.enabled false: BIOS has no UEFI HTTP boot; set boot_mode: uefi or turn TFTP on`);
    }
    await this.withBmc(name, 'netboot', signal, async (bmc) => {
      await bmc.setBootDevice({ device: 'pxe' as BootDevice, uefi });
      // off then on, not "cycle": a cycle of a node that is off fails on many BMCs
      if ((await bmc.powerStatus()) === 'on') await bmc.power('off');
      await bmc.power('on');
    });
    this.store.updateNode(name, { power: 'on' });
    this.emit({ node: name, kind: 'step', message: 'network boot (bootdev pxe, power on)' });
  }

  /**
   * Virtual media (Ironic's redfish-virtual-media boot): a fresh CD with a
   * fresh token, inserted, a one-time boot override to Cd, power on. The
   * ramdisk then reaches the seed on its own, exactly as after a PXE boot.
   */
  private async mediaBoot(name: string, signal: AbortSignal): Promise<void> {
    const seed = this.vmedia;
    if (!seed) throw new Error('virtual-media boot: this engine was opened without the boot services\' artifacts directory');
    const uefi = bootModeOf(this.spec(name), this.profileOf(name)) === 'uefi';
    const iso = await prepareVirtualMedia(this.store, this.site, this.spec(name), seed);
    this.mounted.add(name);
    await this.withBmc(name, 'vmedia-boot', signal, async (bmc) => {
      if (!bmc.insertMedia) throw new Error(`virtual-media boot: the node's ${bmc.protocol} BMC has no virtual media (boot: virtual-media needs Redfish)`);
      if ((await bmc.powerStatus()) === 'on') await bmc.power('off');
      await bmc.insertMedia(iso.url);
      await bmc.setBootDevice({ device: 'cdrom' as BootDevice, uefi });
      await bmc.power('on');
    });
    this.store.updateNode(name, { power: 'on' });
    this.emit({ node: name, kind: 'step', message: `virtual-media boot (${Math.round(iso.bytes / 1048576)} MiB CD inserted, bootdev cd once, power on)` });
  }

  /**
   * After a virtual-media boot, what the phase waits for says whether the
   * BMC has fetched the CD yet (the boot services record it as `vmedia-fetched`):
   * a timeout then tells a BMC that never reached the seed from a ramdisk that never called back.
   */
  protected override async waitAgent(name: string, verb: Verb, ctx: Pick<WorkCtx, 'since' | 'signal' | 'note'>): Promise<void> {
    const booted = this.store.listEvents(name, { sinceId: ctx.since, kind: 'step' }).some((e) => e.detail.step === 'vmedia-boot');
    if (!booted) return super.waitAgent(name, verb, ctx);
    const what = `the deploy ramdisk's ${verb === 'undeploy' ? 'wipe' : verb} result`;
    ctx.note(`${what}; the BMC never fetched the virtual-media CD from the seed`);
    void this.waitEvents(name, ctx.since, ctx.signal, (evs) => (evs.some((e) => e.kind === 'vmedia-fetched') ? true : undefined))
      .then(() => ctx.note(`${what} (the BMC fetched the virtual-media CD; the ramdisk never called back)`))
      .catch(() => undefined);
    return super.waitAgent(name, verb, { ...ctx, note: () => {} });
  }

  /** Best effort: the CD out of the drive and its file (with the token) off the seed. */
  private async ejectAfter(name: string): Promise<void> {
    if (!this.mounted.delete(name)) return;
    if (this.vmedia) removeVirtualMedia(this.vmedia, name);
    try {
      await this.withBmc(name, 'vmedia-eject', new AbortController().signal, async (bmc) => bmc.ejectMedia?.());
    } catch {
      /* recorded as a failed step; the node's outcome is its verbs' */
    }
  }

  /**
   * UEFI nodes: iPXE's `exit` hands back to the firmware's boot order, which
   * on a network-first machine has no entry for a disk that was blank when
   * the firmware last enumerated it (seen with OVMF: PXE, PXE, setup menu).
   * So, as Ironic does, the boot device becomes the disk, persistently, and
   * the node is restarted from it. BIOS nodes boot the disk from the iPXE
   * script (sanboot), with no extra power cycle, unless `again`.
   */
  protected async bootDisk(name: string, again = false): Promise<void> {
    // a virtual-media node has no iPXE to sanboot its disk: as Ironic, eject, boot device disk, restart
    const media = this.byVirtualMedia(name);
    const uefi = bootModeOf(this.spec(name), this.profileOf(name)) === 'uefi';
    if (!uefi && !media && !again) return;
    const ac = new AbortController();
    if (media) {
      this.mounted.delete(name);
      if (this.vmedia) removeVirtualMedia(this.vmedia, name);
    }
    await this.withBmc(name, 'boot-disk', ac.signal, async (bmc) => {
      if (media) await bmc.ejectMedia?.();
      await bmc.setBootDevice({ device: 'disk' as BootDevice, uefi, persistent: true });
      if ((await bmc.powerStatus()) === 'on') await bmc.power('off');
      await bmc.power('on');
    });
    this.store.updateNode(name, { power: 'on' });
    this.emit({ node: name, kind: 'step', message: 'boot from disk (bootdev disk, power cycle)' });
  }

  private async powerOff(name: string, signal: AbortSignal): Promise<void> {
    await this.withBmc(name, 'power-off', signal, async (bmc) => {
      if ((await bmc.powerStatus()) === 'on') await bmc.power('off');
    });
    this.store.updateNode(name, { power: 'off' });
  }

  /** Best effort, bounded by the BMC timeout: the phase's own error is what the node reports. */
  private async powerOffAfterFailure(name: string): Promise<void> {
    this.warm.delete(name);
    try {
      await this.powerOff(name, new AbortController().signal);
    } catch {
      /* recorded as a failed power-off step */
    }
  }

  private async ensureOn(name: string, signal: AbortSignal): Promise<void> {
    await this.withBmc(name, 'power-on', signal, async (bmc) => {
      if ((await bmc.powerStatus()) === 'off') await bmc.power('on');
    });
    this.store.updateNode(name, { power: 'on' });
  }

  /** True once the boot services handed this op's node a task (or it reported), false after the fast-track limit. */
  private async warmTookTask(name: string, since: number, signal: AbortSignal): Promise<boolean> {
    // the loser of the race is stopped, and both stop with the phase
    const settled = new AbortController();
    const both = AbortSignal.any([signal, settled.signal]);
    try {
      return await Promise.race([
        this.waitEvents(name, since, both, (evs) => (evs.some((e) => e.kind === 'task' || e.kind === 'agent-progress' || e.kind === 'agent-result') ? true : undefined)),
        this.clock.sleep(this.t.fastTrack, both).then(() => false),
      ]);
    } finally {
      settled.abort();
      signal.throwIfAborted();
    }
  }

  // ------------------------------------------------------------ phases

  protected override async afterFailure(name: string, op: OpRecord): Promise<void> {
    // As Ironic does after a failed deploy or cleaning: a ramdisk that hangs,
    // or one still waiting for a task (fast track), must not stay up. A node
    // refused before its ramdisk booted (bad hint) keeps running what it runs.
    const ramdiskBooted = this.store.listEvents(name, { sinceId: op.since, kind: 'step' }).some((e) => e.detail.step === 'netboot' || e.detail.step === 'vmedia-boot' || e.detail.step === 'fast-track');
    if (this.warm.has(name) || ramdiskBooted) await this.powerOffAfterFailure(name);
  }

  protected override async settle(name: string): Promise<void> {
    // a fast-track ramdisk whose deploy never came must not stay up
    if (this.warm.delete(name)) await this.powerOffAfterFailure(name);
    await this.ejectAfter(name);
  }

  protected override async duringBootWait(name: string, signal: AbortSignal): Promise<void> {
    // the ramdisk reboots into the network-first boot order; a node it left powered off is started
    await this.clock.sleep(90_000, signal);
    await this.ensureOn(name, signal);
  }

  protected override nextInBoot(verb: Verb, rest: readonly Verb[]): Verb | undefined {
    // inspect then deploy in one boot (provide in between is instant)
    return verb === 'inspect' && rest.includes('deploy') ? 'deploy' : undefined;
  }

  private enrollWork = (name: string) => async ({ signal }: WorkCtx) => {
    await this.identify(name, 'identify', signal);
  };

  private inspectWork =
    (name: string, fastTrack = false) =>
    async ({ since, resumed, signal, note }: WorkCtx) => {
      if (!this.spec(name).macs.length) throw new Error('node has no MAC in the site file: it cannot network-boot');
      // resumed: the ramdisk may have reported while no engine was listening
      if (!(resumed && agentOutcome('inspect', this.store.listEvents(name, { sinceId: since })))) await this.netboot(name, signal);
      await this.waitAgent(name, 'inspect', { since, signal, note });
      if (!this.store.listEvents(name, { sinceId: since, kind: 'inventory' }).length) throw new Error('the ramdisk reported success but posted no inventory');
      // fast track: the ramdisk was told WAIT=1 and now waits for its deploy task
      if (fastTrack && !resumed) {
        this.warm.add(name);
        this.emit({ node: name, kind: 'step', phase: 'inspect', message: 'ramdisk stays up for the deploy (fast track)' });
        return;
      }
      await this.powerOff(name, signal);
    };

  private deployWork =
    (name: string, verb: Verb) =>
    async ({ since, resumed, signal, note }: WorkCtx) => {
      const spec = this.spec(name);
      if (!spec.image) throw new Error('no image: set image on the node or defaults.image in the site file');
      if (!spec.macs.length) throw new Error('node has no MAC in the site file: it cannot network-boot');
      const choice = this.diskChoice(name);
      if (choice && !choice.ok) throw new Error(choice.reason);
      if (choice?.ok) this.store.updateNode(name, { data: { target_disk: `/dev/${choice.disk.name}` } });
      const reported = resumed && agentOutcome(verb, this.store.listEvents(name, { sinceId: since }));
      // the inspection's ramdisk should still be up and asking for its next task: it gets this deploy
      const warm = this.warm.delete(name) && !resumed;
      if (warm) {
        if (await this.warmTookTask(name, since, signal)) this.store.recordEvent(name, 'step', { step: 'fast-track', status: 'done' });
        else {
          const error = `the ramdisk kept up after inspection did not take its deploy task within ${Math.round(this.t.fastTrack / 1000)} s`;
          this.store.recordEvent(name, 'step', { step: 'fast-track', status: 'fail', error });
          this.emit({ node: name, kind: 'info', phase: 'deploy', message: `${error}; booting it again` });
          // a new boot script revokes the old ramdisk's token: should it wake up, it can no longer report
          await this.netboot(name, signal);
        }
      } else if (!reported) await this.netboot(name, signal);
      await this.waitAgent(name, verb, { since, signal, note });
    };

  /** The disk the root-device hint picks from the inspected inventory; undefined before inspection. */
  private diskChoice(name: string): ReturnType<typeof chooseRootDevice> | undefined {
    const inv = this.store.getNode(name)?.data.inventory as { disks?: Disk[] } | undefined;
    // refuse before anything boots: the same choice the boot services make for TARGET_DISK
    return inv?.disks ? chooseRootDevice(inv.disks, rootDeviceOf(this.spec(name), this.profileOf(name))) : undefined;
  }

  /**
   * Undeploy = Ironic's tear-down plus automated cleaning's
   * erase_devices_metadata: the ramdisk erases partition tables (both ends of
   * the disk, GPT backup included) and filesystem signatures of the disk the
   * root-device hint selects, then the node is powered off. Only then is it
   * available: a node back in the pool must not boot its old OS.
   */
  private undeployWork =
    (name: string) =>
    async ({ since, resumed, signal, note }: WorkCtx) => {
      if (!this.spec(name).macs.length) throw new Error('node has no MAC in the site file: it cannot network-boot');
      const choice = this.diskChoice(name);
      if (choice && !choice.ok) throw new Error(`not wiping: ${choice.reason}`);
      const reported = resumed && agentOutcome('undeploy', this.store.listEvents(name, { sinceId: since }));
      if (!reported) await this.netboot(name, signal);
      await this.waitAgent(name, 'undeploy', { since, signal, note });
      await this.powerOff(name, signal);
      // the installed OS's and any ramdisk's credentials end here
      this.store.revokeNodeTokens(name);
      this.store.updateNode(name, { data: { booted: null, target_disk: null } });
    };

  // ------------------------------------------------------------ verbs

  // provide has no work: nothing runs between manageable and available
  protected readonly works = {
    enroll: (name: string) => this.enrollWork(name),
    inspect: (name: string, _verb: Verb, next?: Verb) => this.inspectWork(name, next === 'deploy'),
    deploy: (name: string, verb: Verb) => this.deployWork(name, verb),
    undeploy: (name: string) => this.undeployWork(name),
  };

  protected planFor(_name: string, state: NodeState, opts: ProvisionOptions): Verb[] {
    return plan(state, 'active', { inspect: opts.inspect ?? true });
  }

  /** A busy node found by this engine: finish it from the ramdisk's report, or restart its work. */
  protected async prepare(name: string): Promise<Prepared> {
    const cur = this.store.getNode(name)!;
    if (!BUSY_STATES.has(cur.state)) return {};
    const op = (cur.data.op ?? undefined) as OpRecord | undefined;
    const d = resumeDecision(cur.state, op, this.store.listEvents(name, { sinceId: op?.since ?? 0 }));
    if (d.action === 'skip') return {};
    const phase = d.verb === 'rebuild' ? 'deploy' : d.verb;
    if (d.action === 'finish') {
      const since = op?.since ?? this.lastEventId(name);
      this.store.recordEvent(name, 'resume', { verb: d.verb, phase, finished: d.outcome });
      this.store.updateNode(name, { data: { op: null } });
      this.move(name, finish(d.verb, d.outcome), { phase, from: cur.state, ...(d.reason ? { error: d.reason } : {}), reason: 'resumed after a seed restart' });
      return { finished: { verb: d.verb, ok: d.outcome === 'done', since } };
    }
    return { resume: { verb: d.verb, op: op ?? { verb: d.verb, since: this.lastEventId(name), started_at: this.clock.now(), owner: this.owner, attempt: 0 } } };
  }
}
