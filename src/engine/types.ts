/**
 * The Provisioner interface: what the CLI asks of an engine. The embedded
 * engine (embedded.ts) and the Ironic engine implement it, so `kseed
 * provision/rebuild/undeploy/status` never know which one runs.
 */
import type { NodeState, Verb } from './lifecycle.js';
import type { PhaseTiming } from './state.js';

/** One node's outcome of a verb (or of a whole provision run). */
export interface NodeOutcome {
  node: string;
  ok: boolean;
  state: NodeState;
  /** The verbs that ran, in order. */
  verbs: Verb[];
  /** Why it failed (the node's last_error), or why nothing was done. */
  error?: string;
  /** Nothing to do: the node was already at the target. */
  skipped?: boolean;
  ms: number;
}

/** A lifecycle transition as it happens, for live progress lines. */
export interface ProgressEvent {
  node: string;
  ts: number;
  kind: 'transition' | 'step' | 'info';
  from?: NodeState;
  to?: NodeState;
  phase?: string;
  message?: string;
  error?: string;
}

export interface NodeStatus {
  node: string;
  state: NodeState;
  power: string | null;
  ip: string | null;
  profile: string | null;
  last_error: string | null;
  timings: PhaseTiming[];
  /** Host name the installed OS reported on first boot. */
  booted_hostname?: string;
  updated_at: number;
}

/** How long each phase may take, in ms. */
export interface PhaseTimeouts {
  enroll: number;
  inspect: number;
  deploy: number;
  undeploy: number;
  /** From active to the installed OS's first-boot callback (waitBooted). */
  boot: number;
  /**
   * Reading a node from Ironic. A BMC step of the engine is bounded by the
   * node's own BMC budget (timeout_ms), unless the engine is built with this set.
   */
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

export interface RunLimits {
  /**
   * Nodes booted into the deploy ramdisk at once (inspecting, deploying,
   * cleaning), counted from the network boot to the ramdisk's last result;
   * a fast-track inspection keeps its slot for the deploy of the same boot.
   * Each such node fetches the kernel and initramfs, then streams its image.
   */
  ramdisks: number;
  /** BMC conversations in flight at once, across all nodes. */
  bmc: number;
}

/**
 * Defaults that hold at 500 nodes on one seed: 20 ramdisks at once is
 * metal3's default provisioning limit; 32 BMC conversations at once is half
 * of `kseed bmc --all`'s 64, since a provision's conversations are longer
 * (boot device, power off, power on).
 */
export const DEFAULT_LIMITS: RunLimits = { ramdisks: 20, bmc: 32 };

export interface ProvisionOptions {
  /** Inspect nodes not yet provided (default true). */
  inspect?: boolean;
  /** Wait for the installed OS to call back after deploy. */
  waitBooted?: boolean;
}

export interface Provisioner {
  readonly engine: 'embedded' | 'ironic';
  enroll(node: string): Promise<NodeOutcome>;
  inspect(node: string): Promise<NodeOutcome>;
  provide(node: string): Promise<NodeOutcome>;
  deploy(node: string, opts?: ProvisionOptions): Promise<NodeOutcome>;
  rebuild(node: string, opts?: ProvisionOptions): Promise<NodeOutcome>;
  undeploy(node: string): Promise<NodeOutcome>;
  /** enroll -> inspect -> provide -> deploy for each node, concurrently (bounded); resumes busy nodes first. */
  provision(nodes: string[], opts?: ProvisionOptions): Promise<NodeOutcome[]>;
  status(nodes?: string[]): NodeStatus[];
  close(): Promise<void>;
}

/** URLs of kseed's own deploy ramdisk, as Ironic (kernel, ramdisk) and the ramdisk (agent) reach them. */
export interface KseedRamdisk {
  kernelUrl: string;
  ramdiskUrl: string;
  /** kseed's agent service (the boot HTTP server's /v1/agent/...), as `kseed.url=`. */
  agentUrl: string;
  /** Kernel arguments put before the kseed.* ones (e.g. console=ttyS0,115200); console=ttyS0 is added unless it has a console=. */
  extraArgs?: string;
}
