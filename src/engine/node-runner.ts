/**
 * The node runner both engines share: what running a verb on a node means
 * whichever engine does the work. It claims the node (taking over the claim
 * of a dead engine on this host), records the intent (`data.op`) before a
 * busy state's work, runs the work under the phase's timeout, moves the node
 * through the lifecycle with progress events, waits for the installed OS's
 * first-boot callback, and reads the node's status. Each engine is a driver
 * of what only it does: how a busy node found at start is resumed, the work
 * of each verb, how a deployed node is made to boot its disk.
 *
 * Every outcome is per node: a failure becomes the node's state and
 * last_error, never an exception out of provision().
 */
import { hostname } from 'node:os';
import type { Bmc, BmcIdentity, PowerState } from '../bmc/types.js';
import { budgetOf } from '../bmc/budget.js';
import { bmcTarget } from './bmc-target.js';
import { effectiveBmc } from '../profiles/apply.js';
import { chooseProfile } from '../profiles/match.js';
import type { HardwareProfile } from '../profiles/schema.js';
import type { NodeSpec, Site } from '../site/types.js';
import { canApply, finish, start, UNDEPLOYED_STATES, type NodeState, type Verb } from './lifecycle.js';
import {
  agentOutcome, bootCallback, type Clock, interruptedBootWait, errText, failedOutcome, isAlive, lastHeard, limiter, NodeBusy, type OpRecord,
  ownerIsDead, ownerName, PhaseTimeout, NodeSlots, realClock, type Semaphore, semaphore, withTimeout,
} from './runner.js';
import { nodeStatusOf } from './node-status.js';
import type { EventRecord, StateStore } from './state.js';
import { DEFAULT_LIMITS, DEFAULT_TIMEOUTS, type NodeOutcome, type NodeStatus, type PhaseTimeouts, type ProgressEvent, type ProvisionOptions, type Provisioner } from './types.js';
import type { NodeRunnerOptions, Prepared, Work, WorkCtx } from './node-runner-types.js';
export type { NodeRunnerOptions, Prepared, Work, WorkCtx };

/** Verbs whose work boots the deploy ramdisk. */
const RAMDISK_VERBS: ReadonlySet<Verb> = new Set(['inspect', 'deploy', 'rebuild', 'undeploy']);

const DEPLOYS: readonly Verb[] = ['deploy', 'rebuild'];

/** How far past a BMC conversation's deadline the engine's backstop timer waits (closing the session, scheduling). */
const BMC_GRACE_MS = 2000;

export abstract class NodeRunner implements Provisioner {
  abstract readonly engine: 'embedded' | 'ironic';
  protected readonly specs = new Map<string, NodeSpec>();
  protected readonly clock: Clock;
  protected readonly t: PhaseTimeouts;
  protected readonly owner: string;
  protected readonly host = hostname();
  protected readonly pollMs: number;
  private readonly limit: <T>(task: () => Promise<T>) => Promise<T>;
  /** Held from a node's network boot until its verb, or the fast-tracked one after it, ends. */
  private readonly ramdisks: NodeSlots;
  private readonly bmcSlots: Semaphore;
  /** Nodes whose enroll took a BMC slot before its phase timer: their next conversation uses it. */
  private readonly bmcHeld = new Set<string>();

  constructor(
    private readonly base: NodeRunnerOptions,
    defaultPollMs: number,
    /** Nodes worked on at once when the caller sets no concurrency; undefined: every node of the site. */
    defaultConcurrency?: number,
  ) {
    for (const n of base.site.nodes) this.specs.set(n.name, n);
    this.clock = base.clock ?? realClock;
    this.t = { ...DEFAULT_TIMEOUTS, ...(base.timeouts ?? {}) };
    this.owner = base.owner ?? ownerName(this.host, process.pid);
    // a node waiting for its turn costs a promise: what costs the seed is bounded by the limits below
    this.limit = limiter(base.concurrency ?? defaultConcurrency ?? Math.max(1, base.site.nodes.length));
    const limits = { ...DEFAULT_LIMITS, ...(base.limits ?? {}) };
    this.ramdisks = new NodeSlots(semaphore(limits.ramdisks, 'the ramdisk limit'));
    this.bmcSlots = semaphore(limits.bmc, 'the BMC limit');
    this.pollMs = base.pollMs ?? defaultPollMs;
  }

  // ------------------------------------------------- what a driver gives

  /** Before any verb: bring what the engine knows in line, and say what to resume. Throws only for a bug. */
  protected abstract prepare(name: string, single?: Verb): Promise<Prepared>;
  /**
   * The work of each verb (rebuild is deploy's); a verb without one has
   * nothing to run: the node moves at once. `next` is the verb the same
   * ramdisk boot runs after this one (nextInBoot).
   */
  protected abstract readonly works: Partial<Record<'enroll' | 'inspect' | 'provide' | 'deploy' | 'undeploy', (name: string, verb: Verb, next?: Verb) => Work>>;
  /** The verbs that take a node from `state` to active (provision). */
  protected abstract planFor(name: string, state: NodeState, opts: ProvisionOptions): Verb[];
  /**
   * Makes a deployed node boot its disk; throws when that failed. `again`: its OS's callback never
   * came (a killed seed): restart it from disk whatever its firmware (the OS calls at each boot).
   */
  protected abstract bootDisk(name: string, again?: boolean): Promise<void>;

  /** Whether the engine's enroll work opens with a BMC conversation (its slot is then queued for before the phase timer). */
  protected readonly enrollOpensBmc: boolean = false;

  /** The verb run right after `verb` in the same ramdisk boot (fast track), if the engine does that. */
  protected nextInBoot(_verb: Verb, _rest: readonly Verb[]): Verb | undefined {
    return undefined;
  }
  /** A single verb asked for a state the node is already in: nothing to do. */
  protected alreadyThere(verb: Verb, state: NodeState): boolean {
    // also after a resumed wipe just finished: asking again is not a failure
    return verb === 'undeploy' && UNDEPLOYED_STATES.has(state);
  }
  /** After a verb's work failed: what the engine cleans up (e.g. powering a hung ramdisk off). */
  protected async afterFailure(_name: string, _op: OpRecord): Promise<void> {}
  /** Once the node's verbs are done, claim still held. */
  protected async settle(_name: string): Promise<void> {}
  /** Runs beside the wait for the first-boot callback (it may nudge the node); its end is ignored. */
  protected async duringBootWait(_name: string, _signal: AbortSignal): Promise<void> {}

  // ----------------------------------------------------------- helpers

  protected get store(): StateStore {
    return this.base.store;
  }

  protected get site(): Site {
    return this.base.site;
  }

  protected get profiles(): readonly HardwareProfile[] {
    return this.base.profiles;
  }

  protected spec(name: string): NodeSpec {
    const s = this.specs.get(name);
    if (!s) throw new Error(`node ${name} is not in ${this.base.site.file}`);
    return s;
  }

  protected profileOf(name: string): HardwareProfile | undefined {
    const p = this.store.getNode(name)?.profile ?? this.spec(name).profile;
    return p ? this.base.profiles.find((x) => x.name === p) : undefined;
  }

  protected emit(e: Omit<ProgressEvent, 'ts'>): void {
    try {
      this.base.onProgress?.({ ts: this.clock.now(), ...e });
    } catch {
      /* a failing printer must not fail a node */
    }
  }

  protected move(name: string, to: NodeState, opts: { phase?: string; from: NodeState; error?: string; reason?: string; detail?: Record<string, unknown> }): void {
    this.store.transition(name, to, opts);
    this.emit({ node: name, kind: 'transition', from: opts.from, to, ...(opts.phase ? { phase: opts.phase } : {}), ...(opts.error ? { error: opts.error } : {}) });
  }

  protected lastEventId(name: string): number {
    const evs = this.store.listEvents(name);
    return evs.length ? evs[evs.length - 1]!.id : 0;
  }

  /** Polls the event log until `check` finds something in the events after `since`. */
  protected async waitEvents<T>(name: string, since: number, signal: AbortSignal, check: (evs: EventRecord[]) => T | undefined): Promise<T> {
    for (;;) {
      signal.throwIfAborted();
      const v = check(this.store.listEvents(name, { sinceId: since }));
      if (v !== undefined) return v;
      await this.clock.sleep(this.pollMs, signal);
    }
  }

  /** Waits for the deploy ramdisk's result of the verb's work; its failure is the verb's. */
  protected async waitAgent(name: string, verb: Verb, ctx: Pick<WorkCtx, 'since' | 'signal' | 'note'>): Promise<void> {
    const what = `the deploy ramdisk's ${verb === 'undeploy' ? 'wipe' : verb} result`;
    const out = await this.waitEvents(name, ctx.since, ctx.signal, (evs) => {
      // a timeout's reason then says how far the node got
      ctx.note(`${what}; ${lastHeard(evs)}`);
      return agentOutcome(verb, evs);
    });
    // a failure of another stage than the verb's own (a rebuild's is deploy) names that stage
    if (out.status === 'fail') throw new Error(out.stage && out.stage !== (verb === 'rebuild' ? 'deploy' : verb) ? `${out.stage}: ${out.reason}` : out.reason);
  }

  /** One BMC conversation, bounded and recorded as a step: a BMC that does not answer fails this node only. */
  protected async withBmc<T>(name: string, what: string, signal: AbortSignal, fn: (bmc: Bmc) => Promise<T>): Promise<T> {
    signal.throwIfAborted();
    // the wait for a slot is not the BMC's time: its budget starts once the conversation may begin
    // a node in a ramdisk slot goes first: while it waits, the slot idles (its netboot behind 100 enrolls)
    if (!this.bmcHeld.delete(name)) await this.bmcSlots.acquire(signal, this.ramdisks.holds(name));
    this.store.recordEvent(name, 'step', { step: what, status: 'start' });
    try {
      const target = await bmcTarget(this.spec(name), this.base.site, this.profileOf(name));
      // the node's timeout_ms is one deadline for the whole conversation, so the BMC ends it with its
      // precise error; the timer is only a backstop (an engine built with timeouts.bmc uses that instead)
      const budget = budgetOf(target);
      target.deadline = Date.now() + budget;
      const v = await withTimeout(this.clock, this.base.timeouts?.bmc ?? budget + BMC_GRACE_MS, `BMC ${what}`, async () => {
        const bmc = await this.base.connect(target);
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
    } finally {
      this.bmcSlots.release();
    }
  }

  /** The node's BMC budget (timeout_ms of the site file or hardware profile, else the protocol's default), ms. */
  protected bmcBudget(name: string): number {
    const b = effectiveBmc(this.spec(name), this.profileOf(name));
    return budgetOf({ protocol: b.type, ...(b.timeout_ms !== undefined ? { timeoutMs: b.timeout_ms } : {}) });
  }

  /** kseed's enroll check: the BMC answers with these credentials, and its identity names the hardware profile. */
  protected async identify(name: string, step: string, signal: AbortSignal): Promise<{ power: string; identity: BmcIdentity; profile: string }> {
    const { power, identity } = await this.withBmc(name, step, signal, async (bmc) => ({ power: await bmc.powerStatus(), identity: await bmc.identity() }));
    const profile = chooseProfile(this.spec(name).profile, identity, this.base.profiles);
    this.store.updateNode(name, { power: power as PowerState, profile, data: { bmc: identity } });
    return { power, identity, profile };
  }

  // ------------------------------------------------------------ claims

  private claim(name: string): void {
    const refused = this.store.nodeLeases.refusal(name, this.clock.now(), { owner: this.base.leaseOwner, token: this.base.leaseToken });
    if (refused) throw new NodeBusy(refused);
    const ttl = this.base.claimTtlMs ?? 12 * 3600_000;
    const purpose = `${this.engine} engine`;
    let r = this.store.claimNode(name, this.owner, ttl, purpose);
    if (!r.ok && ownerIsDead(r.heldBy.owner, this.host, isAlive)) {
      // releaseClaim only removes the dead owner's row: two engines racing here cannot both win
      this.store.releaseClaim(name, r.heldBy.owner);
      this.store.recordEvent(name, 'claim-takeover', { from: r.heldBy.owner, to: this.owner });
      r = this.store.claimNode(name, this.owner, ttl, purpose);
    }
    if (!r.ok) throw new NodeBusy(`node ${name} is claimed by ${r.heldBy.owner} until ${new Date(r.heldBy.expires_at).toISOString()}`);
  }

  private release(name: string): void {
    this.store.releaseClaim(name, this.owner);
  }

  // ------------------------------------------------------------ phases

  /**
   * Runs one verb on a claimed node: start transition (or resume of a busy
   * one), intent, work under the phase timeout, finish transition. A failure
   * becomes the node's state and last_error; it never throws.
   */
  protected async runVerb(name: string, verb: Verb, resume?: OpRecord, next?: Verb): Promise<boolean> {
    const phase = verb === 'rebuild' ? 'deploy' : verb;
    const work = verb === 'handoff' ? undefined : this.works[verb === 'rebuild' ? 'deploy' : verb]?.(name, verb, next);
    if (!work) {
      // instant: nothing runs between the two states
      const cur = this.store.getNode(name)!;
      this.move(name, start(name, verb, cur.state), { phase, from: cur.state });
      return true;
    }
    // a node waiting for a ramdisk slot stays in its resting state, and the wait is no phase's time
    if (RAMDISK_VERBS.has(verb)) await this.ramdisks.take(name);
    let during: NodeState;
    let op: OpRecord;
    if (resume) {
      during = this.store.getNode(name)!.state;
      // no fast track for a resumed verb: its ramdisk boots again and powers off when done
      const { next: _next, ...prev } = resume;
      op = { ...prev, owner: this.owner, attempt: resume.attempt + 1 };
      this.store.recordEvent(name, 'resume', { verb, phase, attempt: op.attempt, since: op.since });
      this.emit({ node: name, kind: 'info', phase, message: `resuming ${verb} (attempt ${op.attempt})` });
    } else {
      const cur = this.store.getNode(name)!;
      // provide's work (Ironic's cleaning) runs from manageable: the node is available only when it is done
      during = verb === 'provide' ? cur.state : start(name, verb, cur.state);
      if (verb !== 'provide') this.move(name, during, { phase, from: cur.state, detail: { verb } });
      op = { verb, since: this.lastEventId(name), started_at: this.clock.now(), owner: this.owner, attempt: 1, ...(next ? { next } : {}) };
    }
    this.store.updateNode(name, { data: { op } });
    let timeout = phase === 'provide' ? this.t.enroll : (this.t[phase as keyof PhaseTimeouts] ?? this.t.deploy);
    // enroll's BMC conversation has the node's own budget on top: its deadline, not the phase's, ends a dead BMC
    if (phase === 'enroll') {
      timeout += this.bmcBudget(name) + BMC_GRACE_MS;
      // as for a ramdisk slot, the queue for a BMC slot is no phase's time: with every node of a
      // large fleet enrolling at once, dead BMCs holding the slots must not time the others out
      if (this.enrollOpensBmc) {
        await this.bmcSlots.acquire();
        this.bmcHeld.add(name);
      }
    }
    let error: string | undefined;
    try {
      await withTimeout(this.clock, timeout, phase, (signal, note) => work({ since: op.since, resumed: Boolean(resume), signal, note }));
    } catch (err) {
      error = err instanceof PhaseTimeout ? err.message : errText(err);
      await this.afterFailure(name, op);
    } finally {
      // a work that never reached its BMC leaves the slot it was given
      if (this.bmcHeld.delete(name)) this.bmcSlots.release();
    }
    // the fast-tracked verb runs in the same ramdisk boot, under the same slot
    if (error || !next) this.ramdisks.free(name);
    this.store.updateNode(name, { data: { op: null }, ...(error ? {} : { last_error: null }) });
    if (verb === 'provide' && error) {
      // provide has no failed state: the node stays manageable, with the reason
      this.store.updateNode(name, { last_error: error });
      this.emit({ node: name, kind: 'info', phase, error });
      return false;
    }
    this.move(name, finish(verb, error ? 'fail' : 'done'), { phase, from: during, ...(error ? { error } : {}) });
    return !error;
  }

  /** The node is active; make sure it boots its disk. A failure here is the node's error, its state stays active. */
  private async afterActive(name: string, again = false): Promise<boolean> {
    try {
      await this.bootDisk(name, again);
      return true;
    } catch (err) {
      const msg = `deployed, but booting it from disk failed: ${errText(err)}`;
      this.store.updateNode(name, { last_error: msg });
      this.emit({ node: name, kind: 'info', phase: 'boot', error: msg });
      return false;
    }
  }

  /** Waits for the installed OS's first-boot callback (waitBooted); a missing one is the node's error, not a lifecycle failure. */
  private async waitBooted(name: string, since: number): Promise<boolean> {
    try {
      const cb = await withTimeout(this.clock, this.t.boot, 'first boot', async (signal, note) => {
        note('the installed OS to call back');
        return Promise.race([
          this.waitEvents(name, since, signal, (evs) => bootCallback(evs)),
          this.duringBootWait(name, signal)
            .catch(() => undefined)
            .then(() => new Promise<never>(() => {})),
        ]);
      });
      this.store.updateNode(name, { data: { booted: { hostname: cb.hostname ?? null, at: this.clock.now() } } });
      this.store.recordEvent(name, 'booted', { phase: 'boot', hostname: cb.hostname });
      this.emit({ node: name, kind: 'info', phase: 'boot', message: `booted from disk as ${cb.hostname ?? '?'}` });
      return true;
    } catch (err) {
      const msg = errText(err);
      this.store.updateNode(name, { last_error: msg });
      this.store.recordEvent(name, 'boot-wait-failed', { phase: 'boot', error: msg });
      this.emit({ node: name, kind: 'info', phase: 'boot', error: msg });
      return false;
    }
  }

  /** After a deploy or rebuild finished: the disk boot, then (waitBooted) the OS's callback. */
  private async afterVerb(name: string, verb: Verb, since: number, opts: ProvisionOptions, again = false): Promise<boolean> {
    if (!DEPLOYS.includes(verb)) return true;
    if (opts.waitBooted) this.store.recordEvent(name, 'boot-wait', { phase: 'boot', since }); // before the disk boot: a seed killed from here on leaves a wait the next --wait-booted finishes (interruptedBootWait)
    if (!(await this.afterActive(name, again))) return false;
    return opts.waitBooted ? this.waitBooted(name, since) : true;
  }

  // ------------------------------------------------------------ verbs

  private async one(name: string, verbs: (cur: NodeState) => Verb[], opts: ProvisionOptions = {}, single?: Verb): Promise<NodeOutcome> {
    const t0 = this.clock.now();
    const ran: Verb[] = [];
    const spec = this.spec(name);
    this.store.ensureNode(name, { ...(spec.ip ? { ip: spec.ip } : {}), phase: 'enroll' });
    try {
      this.claim(name);
    } catch (err) {
      return { node: name, ok: false, state: this.store.getNode(name)!.state, verbs: [], error: errText(err), ms: this.clock.now() - t0 };
    }
    const outcome = (ok: boolean, error?: string): NodeOutcome => {
      const fin = this.store.getNode(name)!;
      const e = error ?? (!ok ? (fin.last_error ?? undefined) : undefined);
      return { node: name, ok, state: fin.state, verbs: ran, ...(e ? { error: e } : {}), ...(ran.length === 0 && ok ? { skipped: true } : {}), ms: this.clock.now() - t0 };
    };
    try {
      const p = await this.prepare(name, single);
      if (p.error) return outcome(false, p.error);
      let ok = true;
      let cut: number | undefined;
      if (p.finished) {
        ran.push(p.finished.verb);
        ok = p.finished.ok && (await this.afterVerb(name, p.finished.verb, p.finished.since, opts));
      } else if (p.resume) {
        const { verb, op } = p.resume;
        ran.push(verb);
        ok = (await this.runVerb(name, verb, op)) && (await this.afterVerb(name, verb, op.since, opts));
      } else if (opts.waitBooted && this.store.getNode(name)?.state === 'active' && (cut = interruptedBootWait(this.store.listEvents(name, {}))) !== undefined) {
        // no callback: the OS may have given up calling while the seed was down; a BIOS node's disk
        // boot needs no power cycle the first time, so only a restart makes its OS call again
        ok = bootCallback(this.store.listEvents(name, { sinceId: cut })) ? await this.waitBooted(name, cut) : await this.afterVerb(name, 'deploy', cut, opts, true);
      }
      // a single verb that was itself resumed (or finished) is done: a rebuild is not run twice
      if (ok && !(single && ran.includes(single))) {
        const todo = verbs(this.store.getNode(name)!.state);
        for (const [i, verb] of todo.entries()) {
          ran.push(verb);
          const since = this.lastEventId(name);
          ok = (await this.runVerb(name, verb, undefined, this.nextInBoot(verb, todo.slice(i + 1)))) && (await this.afterVerb(name, verb, since, opts));
          if (!ok) break;
        }
      }
      return outcome(ok);
    } finally {
      await this.settle(name);
      this.ramdisks.free(name);
      this.release(name);
    }
  }

  private single(name: string, verb: Verb, opts: ProvisionOptions = {}): Promise<NodeOutcome> {
    return this.limit(() =>
      this.one(
        name,
        (state) => {
          if (this.alreadyThere(verb, state)) return [];
          if (!canApply(verb, state)) throw new Error(`cannot ${verb} ${name}: it is ${state}`);
          return [verb];
        },
        opts,
        verb,
      ).catch((err) => failedOutcome(name, this.store.getNode(name)?.state, err)),
    );
  }

  enroll(node: string): Promise<NodeOutcome> {
    return this.single(node, 'enroll');
  }
  inspect(node: string): Promise<NodeOutcome> {
    return this.single(node, 'inspect');
  }
  provide(node: string): Promise<NodeOutcome> {
    return this.single(node, 'provide');
  }
  deploy(node: string, opts?: ProvisionOptions): Promise<NodeOutcome> {
    return this.single(node, 'deploy', opts);
  }
  rebuild(node: string, opts?: ProvisionOptions): Promise<NodeOutcome> {
    return this.single(node, 'rebuild', opts);
  }
  undeploy(node: string): Promise<NodeOutcome> {
    return this.single(node, 'undeploy');
  }

  provision(nodes: string[], opts: ProvisionOptions = {}): Promise<NodeOutcome[]> {
    for (const n of nodes) this.spec(n);
    return Promise.all(
      nodes.map((name) =>
        this.limit(() => this.one(name, (state) => this.planFor(name, state, opts), opts).catch((err) => failedOutcome(name, this.store.getNode(name)?.state, err))),
      ),
    );
  }

  status(nodes?: string[]): NodeStatus[] {
    return (nodes ?? this.base.site.nodes.map((n) => n.name)).map((name) => nodeStatusOf(this.store, name, this.specs.get(name)?.macs ?? []));
  }

  async close(): Promise<void> {}
}
