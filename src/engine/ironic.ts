/**
 * The Ironic engine: kseed's lifecycle driven through a standalone Ironic
 * (the seed Compose stack), with kseed's state store as the mirror that
 * `kseed status`, phase timings and resume read.
 *
 * HOW TO USE
 *   const client = await IronicClient.connect({ url, username, password });   // src/ironic
 *   const engine = new IronicEngine({ site, store: openState(stateDir), profiles, client, connect: connectBmc,
 *     kseedRamdisk: { kernelUrl, ramdiskUrl, agentUrl } });                     // only for ramdisk deploys
 *   await engine.provision(['node01'], { waitBooted: true });   // NodeOutcome[] (never throws per node)
 *   await engine.rebuild('node01'); await engine.undeploy('node01');
 *   engine.status();                 // store rows + the last Ironic state seen (sync)
 *   await engine.refreshStatus();    // same, asking Ironic now
 * openEngine (open.ts) builds all of this from the site file and the rendered stack when `engine: ironic`.
 *
 * Per node, `provision` runs:
 *  1. kseed's OWN BMC check (connect, power status, identity -> hardware profile) before Ironic is
 *     touched: a wrong BMC password fails the node with nothing created in Ironic;
 *  2. create the node in Ironic (name = kseed node name; driver and interfaces from the hardware
 *     profile; driver_info from the site's BMC; properties.root_device from the root-device hint;
 *     capabilities boot_mode), its ports from the site's MACs; then manage;
 *  3. inspect, only when the site says `ironic.inspector: true` (and provision was not told otherwise);
 *  4. provide; 5. deploy, in one of three modes:
 *     - direct (production): driver_info deploy_kernel/deploy_ramdisk from site ironic.*, instance_info
 *       image_source + image_os_hash_* from the node's image; done when Ironic says active;
 *     - ramdisk (lab/CI): Ironic's `ramdisk` deploy interface boots kseed's own deploy ramdisk
 *       (instance_info kernel/ramdisk = kseedRamdisk URLs, kernel args kseed.url/node/token/mac), the
 *       store state becomes `deploying` first (kseed's agent service hands the deploy task only to
 *       deploying nodes), then both Ironic `active` and the ramdisk's `agent-result` (status ok, after
 *       this deploy started) are waited for; a UEFI node is then set to boot from disk and restarted;
 *     - fake (tests): a profile whose ironic.driver is `fake-hardware` gets every interface `fake`
 *       and SKIPS kseed's BMC check (there is no BMC). The profile schema does not accept that
 *       driver, so only code (tests) can make such a profile: a site file never skips the check.
 *       With ironic.deploy `ramdisk` such a node runs Ironic's real ramdisk deploy (boot ipxe, the
 *       kernel/ramdisk fetched by Ironic) on fake power/management, and kseed's agent wait.
 *  Idempotent and resumable: the node is looked up in Ironic by name and continued from Ironic's
 *  state, never created twice; a busy node a killed engine left is waited for, not restarted.
 */
import type { PowerState } from '../bmc/types.js';
import { IronicClient, IronicError, type IronicNode, type NodeCreate, type NodeStates } from '../ironic/index.js';
import { bootModeOf, effectiveBmc, rootDeviceOf } from '../profiles/apply.js';
import { bmcTarget } from './bmc-target.js';
import { ironicRootDevice, kseedStateOf } from './ironic-map.js';
import { deployOverTakeover } from './ironic-takeover.js';
import { BUSY_STATES, type NodeState, type Verb } from './lifecycle.js';
import { NodeRunner, type NodeRunnerOptions, type Prepared, type WorkCtx } from './node-runner.js';
import { errText, type OpRecord, withTimeout } from './runner.js';
import type { KseedRamdisk, NodeStatus, ProvisionOptions } from './types.js';
import { staticIpArgs } from './vmedia.js';

export type { KseedRamdisk } from './types.js';

export type IronicDeployMode = 'direct' | 'ramdisk' | 'fake';

/** Purpose of the deploy ramdisk's tokens: the same as src/boot/backend.ts AGENT_TOKEN (boot/ is not imported from here). */
export const AGENT_TOKEN_PURPOSE = 'agent';

export interface IronicEngineOptions extends NodeRunnerOptions {
  client: IronicClient;
  /** Needed for ramdisk deploys. */
  kseedRamdisk?: KseedRamdisk;
  /** Lifetime of the ramdisk's agent token; default 4 h. */
  tokenTtlMs?: number;
}

/** What `status()` adds: Ironic's view of the node, when known. */
export interface IronicNodeStatus extends NodeStatus {
  ironic?: { uuid: string; provision_state: string | null; power_state: string | null; last_error: string | null } | { error: string };
}

type Ctx = WorkCtx;

export class IronicEngine extends NodeRunner {
  readonly engine = 'ironic' as const;
  /** The last Ironic state seen per node (status() is synchronous). */
  private readonly seen = new Map<string, IronicNodeStatus['ironic']>();

  constructor(private readonly o: IronicEngineOptions) {
    // Ironic is asked at each poll: not more than once a second, and for 16 nodes at once
    // (each node driven is a poller of Ironic's API; Ironic bounds its own work)
    super(o, 1000, 16);
  }

  /** The deploy ramdisk URLs this engine was given (ramdisk deploys). */
  get kseedRamdisk(): KseedRamdisk | undefined {
    return this.o.kseedRamdisk;
  }
  private get client(): IronicClient {
    return this.o.client;
  }

  /** fake-hardware only through a profile object made in code (the profile schema refuses it). */
  private isFake(name: string): boolean {
    return (this.profileOf(name)?.ironic.driver as string | undefined) === 'fake-hardware';
  }

  /**
   * Site `boot: virtual-media`: Ironic's redfish-virtual-media boot interface
   * builds the node's boot ISO (kernel, ramdisk, kernel arguments), publishes
   * it under http_root/redfish/ and has the BMC insert it; no PXE.
   */
  private byVirtualMedia(name: string): boolean {
    return this.spec(name).boot === 'virtual-media';
  }

  /** The deploy mode of a node: fake (fake-hardware), ramdisk (site or profile says so), else direct. */
  modeOf(name: string): IronicDeployMode {
    const p = this.profileOf(name);
    // fake-hardware with deploy ramdisk: Ironic's real ramdisk deploy (iPXE config, image fetch) on a fake machine
    // (fake-hardware with deploy direct: Ironic's real direct deploy up to its wait for an IPA that never comes)
    if (this.isFake(name)) return p?.ironic.deploy === 'ramdisk' ? 'ramdisk' : (p?.ironic.deploy as string) === 'direct' ? 'direct' : 'fake';
    return this.o.site.ironic.deploy_interface === 'ramdisk' || p?.ironic.deploy === 'ramdisk' ? 'ramdisk' : 'direct';
  }

  private remember(name: string, n: Pick<IronicNode, 'uuid' | 'provision_state' | 'power_state' | 'last_error'>): void {
    const prev = this.seen.get(name);
    const cur = { uuid: n.uuid, provision_state: n.provision_state, power_state: n.power_state, last_error: n.last_error };
    this.seen.set(name, cur);
    if (!prev || !('uuid' in prev) || prev.provision_state !== cur.provision_state || prev.power_state !== cur.power_state) {
      this.store.recordEvent(name, 'ironic', { provision_state: cur.provision_state, power_state: cur.power_state, ...(cur.last_error ? { last_error: cur.last_error } : {}) });
      if (n.power_state === 'power on' || n.power_state === 'power off') this.store.updateNode(name, { power: n.power_state === 'power on' ? 'on' : 'off' });
    }
  }

  /** Wait options that keep the mirror and the progress lines current. */
  private waitOpts(name: string, ctx: Ctx) {
    return {
      signal: ctx.signal,
      pollMs: this.pollMs,
      // the phase's own timeout (withTimeout) bounds the wait; Ironic's wait gets no shorter limit
      timeoutMs: 7 * 24 * 3600_000,
      onChange: (s: NodeStates & { uuid: string }) => {
        this.remember(name, s);
        ctx.note(`Ironic (${s.provision_state ?? 'available'}${s.target_provision_state ? ` -> ${s.target_provision_state}` : ''})`);
        this.emit({ node: name, kind: 'info', message: `ironic: ${s.provision_state ?? 'available'}${s.target_provision_state ? ` -> ${s.target_provision_state}` : ''}` });
      },
    };
  }
  // ------------------------------------------------ the node in Ironic

  private async driverInfo(name: string): Promise<Record<string, unknown>> {
    const spec = this.spec(name);
    const profile = this.profileOf(name);
    const b = effectiveBmc(spec, profile);
    const t = await bmcTarget(spec, this.o.site, profile);
    if (b.type === 'ipmi') {
      const di: Record<string, unknown> = { ipmi_address: b.address, ipmi_port: b.port, ipmi_username: b.username, ipmi_password: t.password };
      if (b.cipher_suite !== undefined) di.ipmi_cipher_suite = b.cipher_suite;
      if (b.privilege) di.ipmi_priv_level = b.privilege.toUpperCase();
      return di;
    }
    const di: Record<string, unknown> = {
      redfish_address: `${b.scheme ?? 'https'}://${b.address}:${b.port}`,
      redfish_username: b.username,
      redfish_password: t.password,
    };
    if (b.insecure_tls) di.redfish_verify_ca = false;
    return di;
  }

  /** Driver, interfaces, driver_info, properties: what the node is created with. */
  private async nodeBody(name: string): Promise<NodeCreate> {
    const spec = this.spec(name);
    const profile = this.profileOf(name);
    const mode = this.modeOf(name);
    const properties: Record<string, unknown> = { capabilities: `boot_mode:${bootModeOf(spec, profile)}` };
    const rd = ironicRootDevice(rootDeviceOf(spec, profile));
    if (rd?.partial && mode === 'direct') {
      // IPA picks the disk from Ironic's hint alone: a lost upper bound could select a disk the hint excludes
      throw new Error('the root-device hint has a size range, which Ironic cannot express: give an exact size_gb, only a minimum, or another hint (serial, wwn, by_path)');
    }
    if (rd) properties.root_device = rd.hint;
    if (this.isFake(name)) {
      return {
        name,
        driver: 'fake-hardware',
        boot_interface: mode === 'ramdisk' ? 'ipxe' : 'fake',
        deploy_interface: mode,
        power_interface: 'fake',
        management_interface: 'fake',
        inspect_interface: 'fake',
        properties,
      };
    }
    if (!profile) throw new Error('no hardware profile: set the node\'s profile (or let the BMC check match one)');
    const i = profile.ironic;
    // the stack enables the inspector interface only with the inspector service (render)
    const inspect = this.o.site.ironic.inspector ? (i.inspect === 'no-inspect' ? 'inspector' : i.inspect) : i.inspect === 'redfish' ? 'redfish' : 'no-inspect';
    // the site check catches a site file's uefi; this, a profile's (nothing is created in Ironic)
    if (this.byVirtualMedia(name) && bootModeOf(spec, profile) === 'uefi') {
      throw new Error("virtual-media boot through Ironic is BIOS-only in kseed (Ironic's UEFI ISO needs an EFI system partition image): use boot_mode bios, or engine: embedded");
    }
    // a vendor's own virtual-media interface (idrac-, ilo-) where the profile names one
    const boot = this.byVirtualMedia(name) ? (i.boot.endsWith('virtual-media') ? i.boot : 'redfish-virtual-media') : i.boot;
    return {
      name,
      driver: i.driver,
      boot_interface: boot,
      deploy_interface: mode,
      power_interface: i.power,
      management_interface: i.management,
      inspect_interface: inspect,
      driver_info: await this.driverInfo(name),
      properties,
    };
  }

  /** The node in Ironic by name, created (with its ports) when missing; never twice. */
  private async ensureIronicNode(name: string, signal: AbortSignal): Promise<IronicNode> {
    let n = await this.client.findNode(name, signal);
    if (!n) {
      const body = await this.nodeBody(name);
      try {
        n = await this.client.createNode(body, signal);
        this.store.recordEvent(name, 'ironic-created', { uuid: n.uuid, driver: n.driver, deploy_interface: n.deploy_interface });
      } catch (err) {
        // another engine created it between our lookup and our create
        if (err instanceof IronicError && err.conflict) n = await this.client.getNode(name, signal);
        else throw err;
      }
    } else if (['enroll', 'manageable', 'available', 'inspect failed', 'deploy failed', 'clean failed'].includes(String(n.provision_state))) {
      // credentials or hints changed in the site file since it was created: bring Ironic up to date
      const body = await this.nodeBody(name);
      const patch: Record<string, unknown> = {};
      if (body.driver_info) patch.driver_info = body.driver_info;
      if (body.properties) patch.properties = body.properties;
      // the site's boot: changed between pxe and virtual-media
      if (body.boot_interface && body.boot_interface !== n.boot_interface) patch.boot_interface = body.boot_interface;
      n = await this.client.updateNode(n.uuid, patch, signal);
    }
    this.store.updateNode(name, { data: { ironic_uuid: n.uuid } });
    const have = new Set((await this.client.listPorts(n.uuid, signal)).map((p) => p.address.toLowerCase()));
    const macs = this.spec(name).macs.map((m) => m.toLowerCase());
    for (const [k, mac] of macs.entries()) {
      if (!have.has(mac)) await this.client.createPort({ node_uuid: n.uuid, address: mac, pxe_enabled: k === 0 }, signal);
    }
    this.remember(name, n);
    return n;
  }


  // ------------------------------------------------------------ phases

  private enrollWork = (name: string) => async (ctx: Ctx) => {
    let n = await this.client.findNode(name, ctx.signal);
    // kseed's own check first (the one the embedded engine enrolls with): a wrong BMC password never reaches Ironic
    if (!this.isFake(name) && (!n || n.provision_state === 'enroll')) await this.identify(name, 'identify', ctx.signal);
    n = await this.ensureIronicNode(name, ctx.signal);
    if (n.provision_state === 'enroll') n = await this.client.manage(n.uuid, this.waitOpts(name, ctx));
    else if (n.provision_state === 'verifying') n = await this.client.waitProvision(n.uuid, 'manageable', this.waitOpts(name, ctx));
    else if (n.provision_state === 'clean failed') n = await this.client.manage(n.uuid, this.waitOpts(name, ctx));
    this.remember(name, n);
  };

  private inspectWork = (name: string) => async (ctx: Ctx) => {
    const n = await this.ensureIronicNode(name, ctx.signal);
    let out: IronicNode;
    if (n.provision_state === 'inspecting' || n.provision_state === 'inspect wait') out = await this.client.waitProvision(n.uuid, 'manageable', this.waitOpts(name, ctx));
    else out = await this.client.inspect(n.uuid, this.waitOpts(name, ctx));
    this.remember(name, out);
    this.store.updateNode(name, { data: { inspected_at: this.clock.now() } });
  };

  private provideWork = (name: string) => async (ctx: Ctx) => {
    const n = await this.ensureIronicNode(name, ctx.signal);
    let out = n;
    if (n.provision_state === 'manageable') out = await this.client.provide(n.uuid, this.waitOpts(name, ctx));
    else if (n.provision_state === 'cleaning' || n.provision_state === 'clean wait') out = await this.client.waitProvision(n.uuid, 'available', this.waitOpts(name, ctx));
    else if (n.provision_state !== 'available') throw new Error(`Ironic has it ${n.provision_state}, not manageable`);
    this.remember(name, out);
  };

  /** instance_info (and driver_info for direct) for this deploy; the agent token for ramdisk deploys. */
  private async prepareDeploy(name: string, uuid: string, signal: AbortSignal): Promise<void> {
    const spec = this.spec(name);
    const mode = this.modeOf(name);
    if (mode === 'fake') {
      if (spec.image) await this.client.updateNode(uuid, { instance_info: { image_source: spec.image.url } }, signal);
      return;
    }
    if (mode === 'direct') {
      const img = spec.image;
      if (!img) throw new Error('no image: set image on the node or defaults.image in the site file');
      const { deploy_kernel, deploy_ramdisk } = this.o.site.ironic;
      if (!deploy_kernel || !deploy_ramdisk) throw new Error('direct deploys need ironic.deploy_kernel and ironic.deploy_ramdisk (an IPA kernel and ramdisk) in the site file');
      const [algo, value] = img.checksum.split(':');
      await this.client.updateNode(
        uuid,
        {
          driver_info: { deploy_kernel, deploy_ramdisk },
          instance_info: { image_source: img.url, image_os_hash_algo: algo, image_os_hash_value: value, image_disk_format: img.format },
        },
        signal,
      );
      return;
    }
    const kr = this.o.kseedRamdisk;
    if (!kr) throw new Error('ramdisk deploys need the URLs of kseed\'s deploy ramdisk (kernel, initramfs, agent service): none were given to the engine (kseed up records them)');
    if (!spec.image) throw new Error('no image: set image on the node or defaults.image in the site file');
    if (!spec.macs.length) throw new Error('node has no MAC in the site file: it cannot network-boot');
    // a fresh credential for this deploy: an older ramdisk still running cannot report into it
    this.store.revokeNodeTokens(name, AGENT_TOKEN_PURPOSE);
    const token = this.store.issueNodeToken(name, AGENT_TOKEN_PURPOSE, this.o.tokenTtlMs ?? 4 * 3600_000);
    const extra = kr.extraArgs?.trim() ?? '';
    const args = [...(extra ? [extra] : []), `kseed.url=${kr.agentUrl}`, `kseed.node=${name}`, `kseed.token=${token}`, `kseed.mac=${spec.macs[0]!.toLowerCase()}`];
    // one console only: the caller's when it names one
    if (!/(^|\s)console=/.test(extra)) args.push('console=ttyS0');
    // Ironic's boot ISO carries what the embedded engine's CD does: a fixed address needs no DHCP
    if (this.byVirtualMedia(name)) args.push(...staticIpArgs(this.o.site, spec));
    // redfish-virtual-media validates driver_info's deploy_kernel/deploy_ramdisk even when, for a
    // ramdisk deploy, the ISO it builds holds instance_info's kernel and ramdisk (the same files here)
    const driverInfo = this.byVirtualMedia(name) ? { driver_info: { deploy_kernel: kr.kernelUrl, deploy_ramdisk: kr.ramdiskUrl } } : {};
    await this.client.updateNode(uuid, { ...driverInfo, instance_info: { kernel: kr.kernelUrl, ramdisk: kr.ramdiskUrl, ramdisk_kernel_arguments: args.join(' '), image_source: spec.image.url } }, signal);
  }

  private deployWork = (name: string, verb: 'deploy' | 'rebuild') => async (ctx: Ctx) => {
    const mode = this.modeOf(name);
    let n = await this.client.findNode(name, ctx.signal);
    if (!n) throw new Error('the node is not in Ironic (was its database dropped?): run `kseed provision` to enroll it again');
    this.remember(name, n);
    const busy = n.provision_state === 'deploying' || n.provision_state === 'wait call-back' || n.provision_state === 'rebuild';
    const resumedActive = ctx.resumed && n.provision_state === 'active';
    if (!busy && !resumedActive) {
      await this.prepareDeploy(name, n.uuid, ctx.signal);
      const [uuid, redeploy] = [n.uuid, verb === 'rebuild' || n.provision_state === 'active'];
      const first = () => (redeploy ? this.client.rebuild(uuid, this.waitOpts(name, ctx)) : this.client.deploy(uuid, this.waitOpts(name, ctx)));
      const again = async () => (await this.prepareDeploy(name, uuid, ctx.signal), this.client.deploy(uuid, this.waitOpts(name, ctx)));
      n = await deployOverTakeover(first, again, (message) => this.emit({ node: name, kind: 'step', message }));
    } else if (busy) {
      n = await this.client.waitProvision(n.uuid, 'active', { ...this.waitOpts(name, ctx), label: 'active' });
    }
    this.remember(name, n);
    if (mode === 'ramdisk') {
      // Ironic's ramdisk deploy is active once the node powers on; the image is written by kseed's ramdisk
      await this.waitAgent(name, verb, ctx);
    }
  };

  /**
   * After kseed's ramdisk wrote the disk of a UEFI node: as the embedded
   * engine does (and for its reason: the firmware's boot order has no entry
   * for a disk that was blank when it last enumerated, seen with OVMF), the
   * boot device becomes the disk, persistently, and the node restarts from
   * it, here through Ironic's management and power interfaces. BIOS nodes
   * boot the disk from kseed's iPXE script for active nodes; a virtual-media
   * node has no iPXE, and Ironic left its boot device on the CD (persistent).
   */
  protected async bootDisk(name: string, again = false): Promise<void> {
    // a fake-hardware machine has no disk to boot (its management interface knows pxe only)
    if (this.modeOf(name) !== 'ramdisk' || this.isFake(name)) return;
    if (bootModeOf(this.spec(name), this.profileOf(name)) !== 'uefi' && !this.byVirtualMedia(name) && !again) return;
    const uuid = this.store.getNode(name)?.data.ironic_uuid as string | undefined;
    if (!uuid) return;
    await withTimeout(this.clock, this.t.undeploy, 'boot from disk', async (signal) => {
      await this.client.setBootDevice(uuid, 'disk', true, signal);
      const n = await this.client.setPower(uuid, 'rebooting', { signal, pollMs: this.pollMs, timeoutMs: this.t.undeploy });
      this.remember(name, n);
    });
    this.emit({ node: name, kind: 'step', message: 'boot from disk (Ironic: boot device disk, reboot)' });
  }

  private undeployWork = (name: string) => async (ctx: Ctx) => {
    const n = await this.client.findNode(name, ctx.signal);
    if (n) {
      let out = n;
      if (n.provision_state === 'deleting' || n.provision_state === 'cleaning') out = await this.client.waitProvision(n.uuid, 'available', this.waitOpts(name, ctx));
      else if (n.provision_state !== 'available') out = await this.client.undeploy(n.uuid, this.waitOpts(name, ctx));
      this.remember(name, out);
    }
    // the installed OS's and any ramdisk's credentials end here
    this.store.revokeNodeTokens(name);
    this.store.updateNode(name, { data: { booted: null } });
  };

  // ------------------------------------------------------- mirror sync

  /**
   * Brings the store's state in line with Ironic's before any work (a
   * crash may have left them apart). Returns the op to resume, if a busy
   * verb is under way in Ironic (or waits for kseed's ramdisk).
   */
  private async sync(name: string, signal: AbortSignal): Promise<Prepared> {
    const cur = this.store.getNode(name)!;
    const n = await this.client.findNode(name, signal);
    const op = (cur.data.op ?? undefined) as OpRecord | undefined;
    if (!n) {
      if (cur.state === 'active' || cur.state === 'handed-off' || cur.state === 'deploying') {
        return { error: `kseed has it ${cur.state} but Ironic does not know it (was Ironic's database dropped?); nothing was done` };
      }
      // what kseed knew of an Ironic record that is gone belongs to it
      this.store.updateNode(name, { data: { op: null, ironic_uuid: null, inspected_at: null } });
      if (cur.state !== 'enroll' && cur.state !== 'enroll failed') this.move(name, 'enroll', { from: cur.state, reason: 'not in Ironic' });
      return {};
    }
    this.remember(name, n);
    // an inspection Ironic finished (perhaps while no engine watched) is not run again by provision
    this.store.updateNode(name, { data: { ironic_uuid: n.uuid, ...(n.inspection_finished_at ? { inspected_at: Date.parse(n.inspection_finished_at) } : {}) } });
    const want = kseedStateOf(n.provision_state);
    // a ramdisk deploy Ironic finished but kseed's ramdisk may still be writing: resume the wait
    if (cur.state === 'deploying' && n.provision_state === 'active' && op && (op.verb === 'deploy' || op.verb === 'rebuild') && this.modeOf(name) === 'ramdisk') {
      return { resume: { verb: op.verb, op } };
    }
    if (BUSY_STATES.has(want)) {
      const verb: Verb = want === 'inspecting' ? 'inspect' : want === 'deleting' ? 'undeploy' : op?.verb === 'rebuild' ? 'rebuild' : 'deploy';
      if (cur.state !== want) this.move(name, want, { from: cur.state, phase: verb === 'rebuild' ? 'deploy' : verb, reason: 'found busy in Ironic' });
      const base: OpRecord = op ?? { verb, since: this.lastEventId(name), started_at: this.clock.now(), owner: this.owner, attempt: 0 };
      return { resume: { verb, op: base } };
    }
    if (op) this.store.updateNode(name, { data: { op: null } });
    // In ramdisk mode Ironic is active once the node boots kseed's ramdisk; the image is written
    // by that ramdisk, whose report kseed waits for. A deploy kseed failed (no report, or a bad
    // one) left no OS on disk whatever Ironic says: the failure stands, and provision deploys again.
    if (cur.state === 'deploy failed' && want === 'active' && this.modeOf(name) === 'ramdisk') return {};
    // handed-off is kseed's own word for an active node
    if (cur.state !== want && !(cur.state === 'handed-off' && want === 'active') && !(cur.state === 'enroll failed' && want === 'enroll')) {
      this.move(name, want, { from: cur.state, reason: `Ironic has it ${n.provision_state ?? 'available'}`, ...(n.last_error && want.endsWith('failed') ? { error: n.last_error } : {}) });
    }
    return {};
  }

  /** The mirror brought in line with Ironic (bounded: an Ironic that hangs fails the node); an undeploy interrupts a deploy under way. */
  protected async prepare(name: string, single?: Verb): Promise<Prepared> {
    let s: Prepared;
    try {
      s = await withTimeout(this.clock, this.t.bmc, 'reading the node from Ironic', (signal) => this.sync(name, signal));
    } catch (err) {
      return { error: `Ironic: ${errText(err)}` };
    }
    if (s.resume && single === 'undeploy' && (s.resume.verb === 'deploy' || s.resume.verb === 'rebuild')) {
      // undeploy of a deploy under way (e.g. Ironic waiting for an IPA that never calls back): stop waiting for it
      this.store.updateNode(name, { data: { op: null } });
      this.move(name, 'deploy failed', { from: this.store.getNode(name)!.state, phase: 'deploy', reason: 'interrupted by undeploy', error: 'deploy interrupted by undeploy' });
      delete s.resume;
    }
    return s;
  }

  // ------------------------------------------------------------ verbs

  protected readonly works = {
    enroll: (name: string) => this.enrollWork(name),
    inspect: (name: string) => this.inspectWork(name),
    provide: (name: string) => this.provideWork(name),
    deploy: (name: string, verb: Verb) => this.deployWork(name, verb as 'deploy' | 'rebuild'),
    undeploy: (name: string) => this.undeployWork(name),
  };

  /** What brings the node from `state` to active (provision). */
  protected planFor(name: string, state: NodeState, opts: ProvisionOptions): Verb[] {
    const done = state === 'manageable' && this.store.getNode(name)?.data.inspected_at;
    const inspect = this.o.site.ironic.inspector && opts.inspect !== false && !done;
    switch (state) {
      case 'enroll':
      case 'enroll failed':
        return ['enroll', ...(inspect ? (['inspect'] as Verb[]) : []), 'provide', 'deploy'];
      case 'manageable':
      case 'inspect failed':
        return [...(inspect || state === 'inspect failed' ? (['inspect'] as Verb[]) : []), 'provide', 'deploy'];
      case 'available':
      case 'deploy failed':
        return ['deploy'];
      default:
        return [];
    }
  }

  protected override alreadyThere(verb: Verb, state: NodeState): boolean {
    // e.g. a resumed deploy just finished
    return (verb === 'deploy' && (state === 'active' || state === 'handed-off')) || super.alreadyThere(verb, state);
  }

  /** The store's rows plus the last Ironic state this engine saw (synchronous, no request). */
  override status(nodes?: string[]): IronicNodeStatus[] {
    return super.status(nodes).map((base) => {
      const ironic = this.seen.get(base.node);
      return ironic ? { ...base, ironic } : base;
    });
  }

  /** status() after asking Ironic for every node's provision/power state and last_error. */
  async refreshStatus(nodes?: string[]): Promise<IronicNodeStatus[]> {
    const names = nodes ?? this.o.site.nodes.map((n) => n.name);
    try {
      const all = await this.client.listNodes({ fields: ['uuid', 'name', 'provision_state', 'power_state', 'last_error'] });
      const byName = new Map(all.map((n) => [n.name, n]));
      for (const name of names) {
        const n = byName.get(name);
        if (n) this.seen.set(name, { uuid: n.uuid, provision_state: n.provision_state, power_state: n.power_state, last_error: n.last_error });
        else this.seen.set(name, { error: 'not in Ironic' });
      }
    } catch (err) {
      for (const name of names) this.seen.set(name, { error: `Ironic: ${errText(err)}` });
    }
    return this.status(names);
  }
}
