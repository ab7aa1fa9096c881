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
import { hostname } from 'node:os';
import type { Bmc, BmcTarget, BootDevice, PowerState } from '../bmc/types.js';
import { bmcTarget, bootModeOf, rootDeviceOf } from '../profiles/apply.js';
import { matchProfile } from '../profiles/match.js';
import type { HardwareProfile } from '../profiles/schema.js';
import type { NodeSpec, Site } from '../site/types.js';
import { BUSY_STATES, canApply, finish, plan, start, type NodeState, type Verb } from './lifecycle.js';
import { chooseRootDevice, type Disk } from './rootdevice.js';
import {
  agentOutcome,
  bootCallback,
  type Clock,
  errText,
  failedOutcome,
  isAlive,
  limiter,
  NodeBusy,
  SingleVerbs,
  type OpRecord,
  ownerIsDead,
  ownerName,
  PhaseTimeout,
  realClock,
  resumeDecision,
  withTimeout,
} from './runner.js';
import type { EventRecord, StateStore } from './state.js';
import type { NodeOutcome, NodeStatus, ProgressEvent, ProvisionOptions, Provisioner } from './types.js';

export interface PhaseTimeouts {
  enroll: number;
  inspect: number;
  deploy: number;
  undeploy: number;
  /** From active to the installed OS's first-boot callback (waitBooted). */
  boot: number;
  /** One BMC request (connect included). */
  bmc: number;
  /**
   * Fast track: how long the ramdisk left up after its inspection (WAIT=1,
   * polling every second) has to take the deploy task. After that it is
   * presumed dead and the node boots a fresh one, as Ironic does when an
   * agent's last heartbeat is older than [deploy] fast_track_timeout.
   */
  fastTrack: number;
}

export const DEFAULT_TIMEOUTS: PhaseTimeouts = {
  enroll: 60_000,
  inspect: 15 * 60_000,
  deploy: 45 * 60_000,
  // a ramdisk boot, like inspect; the wipe itself takes seconds
  undeploy: 15 * 60_000,
  boot: 15 * 60_000,
  bmc: 30_000,
  fastTrack: 60_000,
};

export interface EmbeddedEngineOptions {
  site: Site;
  store: StateStore;
  profiles: readonly HardwareProfile[];
  /** connectBmc (src/bmc/index.ts) in production. */
  connect: (target: BmcTarget) => Promise<Bmc>;
  clock?: Clock;
  /** Nodes worked on at once (default 16). */
  concurrency?: number;
  timeouts?: Partial<PhaseTimeouts>;
  /** How often the event log is read while waiting for the ramdisk (default 250 ms). */
  pollMs?: number;
  onProgress?: (e: ProgressEvent) => void;
  /** Claim owner; default kseed-engine@<host>:<pid>. */
  owner?: string;
  /** Claim lifetime (default 12 h): a dead engine on another host frees its nodes after this. */
  claimTtlMs?: number;
}



export class EmbeddedEngine extends SingleVerbs implements Provisioner {
  readonly engine = 'embedded' as const;
  private readonly specs = new Map<string, NodeSpec>();
  private readonly clock: Clock;
  private readonly t: PhaseTimeouts;
  private readonly owner: string;
  private readonly host = hostname();
  private readonly limit: <T>(task: () => Promise<T>) => Promise<T>;
  /**
   * Nodes whose inspection ramdisk stays up for the deploy that follows
   * (fast track, WAIT=1): their deploy is served to that boot, no power cycle.
   * In memory on purpose: a restarted engine does not know the ramdisk is
   * still there and boots it again, which is safe.
   */
  private readonly warm = new Set<string>();

  constructor(private readonly o: EmbeddedEngineOptions) {
    super();
    for (const n of o.site.nodes) this.specs.set(n.name, n);
    this.clock = o.clock ?? realClock;
    this.t = { ...DEFAULT_TIMEOUTS, ...(o.timeouts ?? {}) };
    this.owner = o.owner ?? ownerName(this.host, process.pid);
    this.limit = limiter(o.concurrency ?? 16);
  }

  private get store(): StateStore {
    return this.o.store;
  }

  private spec(name: string): NodeSpec {
    const s = this.specs.get(name);
    if (!s) throw new Error(`node ${name} is not in ${this.o.site.file}`);
    return s;
  }

  private profileOf(name: string): HardwareProfile | undefined {
    const p = this.store.getNode(name)?.profile ?? this.spec(name).profile;
    return p ? this.o.profiles.find((x) => x.name === p) : undefined;
  }

  private emit(e: Omit<ProgressEvent, 'ts'>): void {
    try {
      this.o.onProgress?.({ ts: this.clock.now(), ...e });
    } catch {
      /* a failing printer must not fail a node */
    }
  }

  private move(name: string, to: NodeState, opts: { phase: string; from: NodeState; error?: string; reason?: string; detail?: Record<string, unknown> }): void {
    this.store.transition(name, to, opts);
    this.emit({ node: name, kind: 'transition', from: opts.from, to, phase: opts.phase, ...(opts.error ? { error: opts.error } : {}) });
  }

  private lastEventId(name: string): number {
    const evs = this.store.listEvents(name);
    return evs.length ? evs[evs.length - 1]!.id : 0;
  }

  // ------------------------------------------------------------ claims

  private claim(name: string): void {
    const ttl = this.o.claimTtlMs ?? 12 * 3600_000;
    let r = this.store.claimNode(name, this.owner, ttl, 'embedded engine');
    if (!r.ok && ownerIsDead(r.heldBy.owner, this.host, isAlive)) {
      // releaseClaim only removes the dead owner's row: two engines racing here cannot both win
      this.store.releaseClaim(name, r.heldBy.owner);
      this.store.recordEvent(name, 'claim-takeover', { from: r.heldBy.owner, to: this.owner });
      r = this.store.claimNode(name, this.owner, ttl, 'embedded engine');
    }
    if (!r.ok) throw new NodeBusy(`node ${name} is claimed by ${r.heldBy.owner} until ${new Date(r.heldBy.expires_at).toISOString()}`);
  }

  private release(name: string): void {
    this.store.releaseClaim(name, this.owner);
  }

  // --------------------------------------------------------------- BMC

  /** One BMC conversation, bounded: a BMC that does not answer fails this node only. */
  private async withBmc<T>(name: string, what: string, signal: AbortSignal, fn: (bmc: Bmc) => Promise<T>): Promise<T> {
    signal.throwIfAborted();
    this.store.recordEvent(name, 'step', { step: what, status: 'start' });
    try {
      const target = await bmcTarget(this.spec(name), this.o.site, this.profileOf(name));
      const v = await withTimeout(this.clock, this.t.bmc, `BMC ${what}`, async () => {
        const bmc = await this.o.connect(target);
        try {
          return await fn(bmc);
        } finally {
          await bmc.close().catch(() => undefined);
        }
      });
      this.store.recordEvent(name, 'step', { step: what, status: 'done' });
      return v;
    } catch (err) {
      this.store.recordEvent(name, 'step', { step: what, status: 'fail', error: errText(err) });
      throw err;
    }
  }

  /** Boot the node from the network now: what it boots is the boot services' choice from its state. */
  private async netboot(name: string, signal: AbortSignal): Promise<void> {
    const uefi = bootModeOf(this.spec(name), this.profileOf(name)) === 'uefi';
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
   * UEFI nodes: iPXE's `exit` hands back to the firmware's boot order, which
   * on a network-first machine has no entry for a disk that was blank when
   * the firmware last enumerated it (seen with OVMF: PXE, PXE, setup menu).
   * So, as Ironic does, the boot device becomes the disk, persistently, and
   * the node is restarted from it. BIOS nodes boot the disk from the iPXE
   * script (sanboot), with no extra power cycle.
   */
  private async bootFromDisk(name: string): Promise<void> {
    if (bootModeOf(this.spec(name), this.profileOf(name)) !== 'uefi') return;
    const ac = new AbortController();
    await this.withBmc(name, 'boot-disk', ac.signal, async (bmc) => {
      await bmc.setBootDevice({ device: 'disk' as BootDevice, uefi: true, persistent: true });
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

  /** Polls the event log until `check` finds something in the events after `since`. */
  private async waitEvents<T>(name: string, since: number, signal: AbortSignal, check: (evs: EventRecord[]) => T | undefined): Promise<T> {
    for (;;) {
      signal.throwIfAborted();
      const v = check(this.store.listEvents(name, { sinceId: since }));
      if (v !== undefined) return v;
      await this.clock.sleep(this.o.pollMs ?? 250, signal);
    }
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

  private async waitAgent(name: string, verb: Verb, since: number, signal: AbortSignal, note: (w: string) => void): Promise<void> {
    note(`the deploy ramdisk's ${verb === 'undeploy' ? 'wipe' : verb} result`);
    const out = await this.waitEvents(name, since, signal, (evs) => agentOutcome(verb, evs));
    if (out.status === 'fail') throw new Error(out.stage && out.stage !== verb ? `${out.stage}: ${out.reason}` : out.reason);
  }

  // ------------------------------------------------------------ phases

  /**
   * Runs one verb on a claimed node: start transition (or resume of a busy
   * one), intent, work under the phase timeout, finish transition. A failure
   * becomes the node's state and last_error; it never throws.
   */
  private async runVerb(
    name: string,
    verb: Verb,
    work: (ctx: { since: number; resumed: boolean; signal: AbortSignal; note: (w: string) => void }) => Promise<void>,
    resume?: OpRecord,
    next?: Verb,
  ): Promise<boolean> {
    const phase = verb === 'rebuild' ? 'deploy' : verb;
    let during: NodeState;
    let op: OpRecord;
    if (verb === 'provide') {
      // instant: nothing runs between the two states
      const cur = this.store.getNode(name)!;
      const to = start(name, verb, cur.state);
      this.move(name, to, { phase: verb, from: cur.state });
      return true;
    }
    if (resume) {
      during = this.store.getNode(name)!.state;
      // no fast track for a resumed verb: its ramdisk boots again and powers off when done
      const { next: _next, ...prev } = resume;
      op = { ...prev, owner: this.owner, attempt: resume.attempt + 1 };
      this.store.recordEvent(name, 'resume', { verb, phase, attempt: op.attempt, since: op.since });
      this.emit({ node: name, kind: 'info', phase, message: `resuming ${verb} (attempt ${op.attempt})` });
    } else {
      const cur = this.store.getNode(name)!;
      during = start(name, verb, cur.state);
      this.move(name, during, { phase, from: cur.state, detail: { verb } });
      op = { verb, since: this.lastEventId(name), started_at: this.clock.now(), owner: this.owner, attempt: 1, ...(next ? { next } : {}) };
    }
    this.store.updateNode(name, { data: { op } });
    const timeout = this.t[phase as keyof PhaseTimeouts] ?? this.t.deploy;
    let error: string | undefined;
    try {
      await withTimeout(this.clock, timeout, phase, (signal, note) => work({ since: op.since, resumed: Boolean(resume), signal, note }));
    } catch (err) {
      error = err instanceof PhaseTimeout ? err.message : errText(err);
      // As Ironic does after a failed deploy or cleaning: a ramdisk that hangs,
      // or one still waiting for a task (fast track), must not stay up. A node
      // refused before its ramdisk booted (bad hint) keeps running what it runs.
      const ramdiskBooted = this.store.listEvents(name, { sinceId: op.since, kind: 'step' }).some((e) => e.detail.step === 'netboot' || e.detail.step === 'fast-track');
      if (this.warm.has(name) || ramdiskBooted) await this.powerOffAfterFailure(name);
    }
    const to = finish(verb, error ? 'fail' : 'done');
    this.store.updateNode(name, { data: { op: null }, ...(error ? {} : { last_error: null }) });
    this.move(name, to, { phase, from: during, ...(error ? { error } : {}) });
    return !error;
  }

  private enrollWork = (name: string) => async ({ signal }: { signal: AbortSignal }) => {
    const spec = this.spec(name);
    const { power, identity } = await this.withBmc(name, 'identify', signal, async (bmc) => ({ power: await bmc.powerStatus(), identity: await bmc.identity() }));
    let profile: string | undefined;
    if (spec.profile) {
      if (!this.o.profiles.some((p) => p.name === spec.profile)) throw new Error(`hardware profile "${spec.profile}" does not exist`);
      profile = spec.profile;
    } else {
      profile = matchProfile(identity, this.o.profiles)?.profile.name;
      if (!profile) throw new Error(`no hardware profile matches the BMC's identity (${identity.manufacturer ?? '?'} ${identity.model ?? ''}); set the node's profile`);
    }
    this.store.updateNode(name, { power: power as PowerState, profile, data: { bmc: identity } });
  };

  private inspectWork =
    (name: string, fastTrack = false) =>
    async ({ since, resumed, signal, note }: { since: number; resumed: boolean; signal: AbortSignal; note: (w: string) => void }) => {
      if (!this.spec(name).macs.length) throw new Error('node has no MAC in the site file: it cannot network-boot');
      // resumed: the ramdisk may have reported while no engine was listening
      if (!(resumed && agentOutcome('inspect', this.store.listEvents(name, { sinceId: since })))) await this.netboot(name, signal);
      await this.waitAgent(name, 'inspect', since, signal, note);
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
    async ({ since, resumed, signal, note }: { since: number; resumed: boolean; signal: AbortSignal; note: (w: string) => void }) => {
      const spec = this.spec(name);
      if (!spec.image) throw new Error('no image: set image on the node or defaults.image in the site file');
      if (!spec.macs.length) throw new Error('node has no MAC in the site file: it cannot network-boot');
      const inv = this.store.getNode(name)?.data.inventory as { disks?: Disk[] } | undefined;
      if (inv?.disks) {
        // refuse before anything boots: the same choice the boot services make for TARGET_DISK
        const choice = chooseRootDevice(inv.disks, rootDeviceOf(spec, this.profileOf(name)));
        if (!choice.ok) throw new Error(choice.reason);
        this.store.updateNode(name, { data: { target_disk: `/dev/${choice.disk.name}` } });
      }
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
      await this.waitAgent(name, verb, since, signal, note);
    };

  /** The node is active; make sure it boots its disk. A failure here is the node's error, its state stays active. */
  private async afterActive(name: string): Promise<boolean> {
    try {
      await this.bootFromDisk(name);
      return true;
    } catch (err) {
      const msg = `deployed, but booting it from disk failed: ${errText(err)}`;
      this.store.updateNode(name, { last_error: msg });
      this.emit({ node: name, kind: 'info', phase: 'boot', error: msg });
      return false;
    }
  }

  private async afterDeploy(name: string, since: number, opts: ProvisionOptions): Promise<void> {
    if (!opts.waitBooted) return;
    this.store.recordEvent(name, 'boot-wait', { phase: 'boot' });
    try {
      const cb = await withTimeout(this.clock, this.t.boot, 'first boot', async (signal, note) => {
        note('the installed OS to call back');
        const found = await Promise.race([
          this.waitEvents(name, since, signal, (evs) => bootCallback(evs)),
          // the ramdisk reboots into the network-first boot order; a node it left powered off is started
          this.clock
            .sleep(90_000, signal)
            .then(() => this.ensureOn(name, signal))
            .catch(() => undefined)
            .then(() => new Promise<never>(() => {})),
        ]);
        return found;
      });
      this.store.updateNode(name, { data: { booted: { hostname: cb.hostname ?? null, at: this.clock.now() } } });
      this.store.recordEvent(name, 'booted', { phase: 'boot', hostname: cb.hostname });
      this.emit({ node: name, kind: 'info', phase: 'boot', message: `booted from disk as ${cb.hostname ?? '?'}` });
    } catch (err) {
      // the node is deployed; a missing callback is reported, not a lifecycle failure
      const msg = errText(err);
      this.store.updateNode(name, { last_error: msg });
      this.store.recordEvent(name, 'boot-wait-failed', { phase: 'boot', error: msg });
      this.emit({ node: name, kind: 'info', phase: 'boot', error: msg });
      throw err;
    }
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
    async ({ since, resumed, signal, note }: { since: number; resumed: boolean; signal: AbortSignal; note: (w: string) => void }) => {
      const spec = this.spec(name);
      if (!spec.macs.length) throw new Error('node has no MAC in the site file: it cannot network-boot');
      const inv = this.store.getNode(name)?.data.inventory as { disks?: Disk[] } | undefined;
      if (inv?.disks) {
        // refuse before anything boots: the same choice the boot services make for TARGET_DISK
        const choice = chooseRootDevice(inv.disks, rootDeviceOf(spec, this.profileOf(name)));
        if (!choice.ok) throw new Error(`not wiping: ${choice.reason}`);
      }
      const reported = resumed && agentOutcome('undeploy', this.store.listEvents(name, { sinceId: since }));
      if (!reported) await this.netboot(name, signal);
      await this.waitAgent(name, 'undeploy', since, signal, note);
      await this.powerOff(name, signal);
      // the installed OS's and any ramdisk's credentials end here
      this.store.revokeNodeTokens(name);
      this.store.updateNode(name, { data: { booted: null, target_disk: null } });
    };

  // ------------------------------------------------------------ verbs

  private async one(name: string, verbs: (cur: NodeState) => Verb[], opts: ProvisionOptions = {}): Promise<NodeOutcome> {
    const t0 = this.clock.now();
    const ran: Verb[] = [];
    const spec = this.spec(name);
    this.store.ensureNode(name, { ...(spec.ip ? { ip: spec.ip } : {}), phase: 'enroll' });
    try {
      this.claim(name);
    } catch (err) {
      const cur = this.store.getNode(name)!;
      return { node: name, ok: false, state: cur.state, verbs: [], error: errText(err), ms: this.clock.now() - t0 };
    }
    try {
      let ok = true;
      let cur = this.store.getNode(name)!;
      if (BUSY_STATES.has(cur.state)) {
        const since = (cur.data.op as OpRecord | undefined)?.since ?? this.lastEventId(name);
        const r = await this.resume(name);
        ran.push(...r.verbs);
        ok = r.ok;
        if (ok && (r.verbs.includes('deploy') || r.verbs.includes('rebuild'))) ok = await this.afterActive(name);
        if (ok && opts.waitBooted && (r.verbs.includes('deploy') || r.verbs.includes('rebuild'))) {
          ok = await this.afterDeploy(name, since, opts).then(
            () => true,
            () => false,
          );
        }
        cur = this.store.getNode(name)!;
      }
      if (ok) {
        const todo = verbs(cur.state);
        for (const [i, verb] of todo.entries()) {
          ran.push(verb);
          const since = this.lastEventId(name);
          // inspect then deploy in one boot (provide in between is instant)
          const fastTrack = verb === 'inspect' && todo.slice(i + 1).includes('deploy');
          ok = await this.runVerb(name, verb, fastTrack ? this.inspectWork(name, true) : this.workFor(name, verb), undefined, fastTrack ? 'deploy' : undefined);
          if (!ok) break;
          if (verb === 'deploy' || verb === 'rebuild') {
            ok = await this.afterActive(name);
            if (!ok) break;
          }
          if ((verb === 'deploy' || verb === 'rebuild') && opts.waitBooted) {
            try {
              await this.afterDeploy(name, since, opts);
            } catch {
              ok = false;
              break;
            }
          }
        }
      }
      const fin = this.store.getNode(name)!;
      return {
        node: name,
        ok,
        state: fin.state,
        verbs: ran,
        ...(!ok && fin.last_error ? { error: fin.last_error } : {}),
        ...(ran.length === 0 ? { skipped: true } : {}),
        ms: this.clock.now() - t0,
      };
    } finally {
      if (this.warm.delete(name)) await this.powerOffAfterFailure(name);
      this.release(name);
    }
  }

  private workFor(name: string, verb: Verb) {
    switch (verb) {
      case 'enroll':
        return this.enrollWork(name);
      case 'inspect':
        return this.inspectWork(name);
      case 'deploy':
      case 'rebuild':
        return this.deployWork(name, verb);
      case 'undeploy':
        return this.undeployWork(name);
      default:
        return async () => {};
    }
  }

  /** A busy node found by this engine: finish it from the ramdisk's report, or restart its work. */
  private async resume(name: string): Promise<{ ok: boolean; verbs: Verb[] }> {
    const cur = this.store.getNode(name)!;
    const op = (cur.data.op ?? undefined) as OpRecord | undefined;
    const d = resumeDecision(cur.state, op ?? undefined, this.store.listEvents(name, { sinceId: op?.since ?? 0 }));
    if (d.action === 'skip') return { ok: true, verbs: [] };
    const phase = d.verb === 'rebuild' ? 'deploy' : d.verb;
    if (d.action === 'finish') {
      this.store.recordEvent(name, 'resume', { verb: d.verb, phase, finished: d.outcome });
      this.store.updateNode(name, { data: { op: null } });
      this.move(name, finish(d.verb, d.outcome), { phase, from: cur.state, ...(d.reason ? { error: d.reason } : {}), reason: 'resumed after a seed restart' });
      return { ok: d.outcome === 'done', verbs: [d.verb] };
    }
    const base: OpRecord = op ?? { verb: d.verb, since: this.lastEventId(name), started_at: this.clock.now(), owner: this.owner, attempt: 0 };
    const ok = await this.runVerb(name, d.verb, this.workFor(name, d.verb), base);
    return { ok, verbs: [d.verb] };
  }

  protected single(name: string, verb: Verb, opts: ProvisionOptions = {}): Promise<NodeOutcome> {
    return this.limit(() =>
      this.one(
        name,
        (state) => {
          if (!canApply(verb, state)) throw new Error(`cannot ${verb} ${name}: it is ${state}`);
          return [verb];
        },
        opts,
      ).catch((err) => failedOutcome(name, this.store.getNode(name)?.state, err)),
    );
  }

  provision(nodes: string[], opts: ProvisionOptions = {}): Promise<NodeOutcome[]> {
    for (const n of nodes) this.spec(n);
    return Promise.all(
      nodes.map((name) =>
        this.limit(() =>
          this.one(name, (state) => plan(state, 'active', { inspect: opts.inspect ?? true }), opts).catch((err) => failedOutcome(name, this.store.getNode(name)?.state, err)),
        ),
      ),
    );
  }

  status(nodes?: string[]): NodeStatus[] {
    const names = nodes ?? this.o.site.nodes.map((n) => n.name);
    return names.map((name) => {
      const r = this.store.getNode(name);
      if (!r) return { node: name, state: 'enroll', power: null, ip: null, profile: null, last_error: null, timings: [], updated_at: 0 };
      const booted = r.data.booted as { hostname?: string } | null | undefined;
      return {
        node: name,
        state: r.state,
        power: r.power,
        // the address DHCP gave its PXE NIC, unless the site fixes one
        ip: r.ip ?? this.leaseIp(name),
        profile: r.profile,
        last_error: r.last_error,
        timings: this.store.phaseTimings(name),
        ...(booted?.hostname ? { booted_hostname: booted.hostname } : {}),
        updated_at: r.updated_at,
      };
    });
  }

  private leaseIp(name: string): string | null {
    const mac = this.specs.get(name)?.macs[0];
    return (mac && this.store.getLease(mac)?.ip) || null;
  }

  async close(): Promise<void> {}
}
