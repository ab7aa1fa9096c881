/**
 * The BootBackend of `kseed boot serve` and the embedded engine: the site
 * file says which machines exist (MACs, image, root-device hint), the state
 * store says what each one should do now (its lifecycle state) and holds the
 * per-node agent tokens; everything a booting node posts becomes an event
 * in the state store, so `kseed` commands in other processes see it.
 *
 * boot/ must not import engine/ (dependencies point cli -> engine -> boot),
 * so the store is the structural NodeStateApi below and root-device choice
 * is passed in; `new StateBootBackend({ store: openState(dir), ... })`
 * type-checks without an import.
 *
 * Lifecycle transitions are NOT made here: the engine owns them (it knows
 * why a node deploys and what comes after). This backend only reads the
 * state and records what the node said.
 */
import { createHash } from 'node:crypto';
import { neighbourMac } from './http/peer.js';
// boot's own types (boot/nodes.ts) under the names this file has always used
import type { BootImage as ImageSpec, BootNodeSpec as NodeSpec, DiskHint as RootDeviceHint } from './nodes.js';
import {
  bootActionFor,
  type AgentProgress,
  type AgentResult,
  type AgentTask,
  type BootBackend,
  type BootNode,
  type Inventory,
  type NoCloudData,
  type NodeCallback,
  ResultRefused,
} from './http/types.js';

/** The subset of the state store (src/engine/state.ts) this backend uses. */
export interface NodeStateApi {
  getNode(name: string): { state: string; data: Record<string, unknown> } | undefined;
  updateNode(name: string, patch: { data?: Record<string, unknown> }): unknown;
  recordEvent(node: string | null, kind: string, detail?: Record<string, unknown>): unknown;
  listEvents(node: string, opts: { sinceId?: number; kind?: string }): { id: number; to_state: string | null; detail: Record<string, unknown> }[];
  issueNodeToken(node: string, purpose: string, ttlMs: number): string;
  verifyNodeToken(token: string, purpose: string): string | undefined;
  revokeNodeTokens(node: string, purpose?: string): number;
  /** The DHCP lease at an address (authoritative mode keeps them in the store). */
  leaseByIp?(ip: string): { mac: string; state: string; expires_at: number } | undefined;
}

/** What the backend needs of a disk to pick the root device (engine/rootdevice.ts Disk). */
export interface DiskInfo {
  name: string;
  size_bytes: number;
  model?: string;
  serial?: string;
  wwn?: string;
  hctl?: string;
  by_path?: string;
  rotational?: boolean;
}

export type RootDeviceChooser = (disks: DiskInfo[], hint: RootDeviceHint | undefined) => { ok: true; disk: DiskInfo } | { ok: false; reason: string };

export interface StateBootBackendOptions {
  store: NodeStateApi;
  /** The site file's nodes (defaults merged). Only these ever boot anything. */
  nodes: NodeSpec[];
  /** engine/rootdevice.ts chooseRootDevice: the one disk the node's hint selects. */
  chooseRootDevice: RootDeviceChooser;
  /** How long an agent token lives; default 4 h (a slow image write must not outlive it). */
  tokenTtlMs?: number;
  /** Extra cloud-init user-data; default a minimal #cloud-config with the host name. */
  userData?: (node: NodeSpec) => string;
  /** The node's cloud-init network-config, rendered by the engine; undefined = none (the image's default). */
  networkConfig?: (node: NodeSpec) => string | undefined;
  /** The node's root-device hint as the engine sees it (profile underneath); default the site file's. */
  rootDevice?: (node: NodeSpec) => RootDeviceHint | undefined;
  /** Makes qcow2 images streamable (images/convert.ts ImagePreparer); without it qcow2 deploys fail. */
  images?: ImageConverter;
  /** MAC behind a peer address on the provisioning segment; default the kernel's neighbour table. */
  neighbourMac?: (address: string) => string | undefined;
  /** Clock for lease expiry (tests); default Date.now. */
  now?: () => number;
}

/**
 * What the backend needs of the seed's image converter: a non-blocking view
 * that starts the work on first sight. A ready image is served at
 * /v1/images/<node>/<name> (the HTTP server's imagesDir).
 */
export interface ImageConverter {
  status(img: ImageSpec): { state: 'ready'; image: { name: string; sha256: string; bytes: number; compression: 'zstd'; virtualSize: number } } | { state: 'pending' } | { state: 'failed'; reason: string };
}

/** Purpose of the tokens handed to the deploy ramdisk (state store node_tokens.purpose). */
export const AGENT_TOKEN = 'agent';

const MAX_EVENT_TEXT = 1024;

/** The agent result stage that ends each busy state's work (templates/ramdisk/init). */
const RESULT_STAGE: Record<string, string> = { inspecting: 'inspect', deploying: 'deploy', deleting: 'wipe' };

/**
 * A short public name for a token: the first 12 hex digits of its SHA-256,
 * i.e. a prefix of the hash the state store keeps. Events carry it so one can
 * tell which boot's token a report came with; it cannot be used to authenticate.
 */
export function tokenId(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 12);
}

function clip(s: string): string {
  return s.length > MAX_EVENT_TEXT ? `${s.slice(0, MAX_EVENT_TEXT)}...` : s;
}

export class StateBootBackend implements BootBackend {
  private readonly byName = new Map<string, NodeSpec>();
  private readonly byMac = new Map<string, NodeSpec>();
  private readonly store: NodeStateApi;
  private readonly ttl: number;
  /** Token id of the last request each node authenticated with (reports name it). */
  private readonly lastToken = new Map<string, string>();
  /** Nodes told to wait while their image is converted (one `task` event each, see taskFor). */
  private readonly waitingImage = new Set<string>();
  /** Virtual-media CDs already recorded as fetched (a BMC reading by ranges asks many times). */
  private readonly fetchedCds = new Set<string>();
  /** When a refusal was last recorded, per node and address (admitsBoot). */
  private readonly refusedAt = new Map<string, number>();

  constructor(private readonly o: StateBootBackendOptions) {
    this.store = o.store;
    this.ttl = o.tokenTtlMs ?? 4 * 3600_000;
    for (const n of o.nodes) {
      this.byName.set(n.name, n);
      for (const m of n.macs) this.byMac.set(m.toLowerCase(), n);
    }
  }

  private view(n: NodeSpec | undefined): BootNode | undefined {
    if (!n) return undefined;
    // A node the state store has never seen is not enrolled: nothing to do.
    const rec = this.store.getNode(n.name);
    let action = bootActionFor(rec?.state ?? 'enroll');
    // The ramdisk reboots after writing the disk, possibly before the engine
    // has seen its result and moved the node to active: that boot must reach
    // the new OS, never a second write. A finished wipe or inspection boots nothing.
    if (rec && this.opDone(n.name, rec.state, rec.data)) action = rec.state === 'deploying' ? 'local' : 'none';
    return { name: n.name, macs: n.macs.map((m) => m.toLowerCase()), action };
  }

  /**
   * True when the ramdisk already reported success for the node's current
   * operation: the busy state's work after `data.op.since` (the event id the
   * engine started it at), or, before the engine wrote its intent, after the
   * transition into the state.
   */
  private opDone(node: string, state: string, data: Record<string, unknown>): boolean {
    const stage = RESULT_STAGE[state];
    if (!stage) return false;
    const op = data.op as { since?: unknown } | null | undefined;
    let since = typeof op?.since === 'number' ? op.since : undefined;
    if (since === undefined) since = this.store.listEvents(node, { kind: 'transition' }).filter((e) => e.to_state === state).at(-1)?.id ?? 0;
    return this.store.listEvents(node, { sinceId: since, kind: 'agent-result' }).some((e) => e.detail.status === 'ok' && e.detail.stage === stage);
  }

  nodeByMac(mac: string): BootNode | undefined {
    return this.view(this.byMac.get(mac.toLowerCase()));
  }

  nodeByName(name: string): BootNode | undefined {
    return this.view(this.byName.get(name));
  }

  verifyToken(node: string, token: string): boolean {
    // The store keeps only a hash and looks it up by hash: no secret-dependent comparison here.
    const ok = this.byName.has(node) && this.store.verifyNodeToken(token, AGENT_TOKEN) === node;
    // the HTTP server verifies, then reads the body, then reports: remember who it was
    if (ok) this.lastToken.set(node, tokenId(token));
    return ok;
  }

  private who(node: string): Record<string, string> {
    const id = this.lastToken.get(node);
    return id ? { token_id: id } : {};
  }

  /**
   * Whether `address` is the node itself (docs/AGENT-API.md "Agent token").
   * The kernel's neighbour table says which MAC answered for the address on
   * the seed's segment: one of another machine's MACs is refused whatever
   * else is true (a stranger that took the node's address). In authoritative
   * mode the address must also hold a live, bound lease of one of the node's
   * MACs in the state store (then a node behind a relay, with no neighbour
   * entry of its own, is known by its lease alone). Without a lease there
   * (proxy DHCP, DHCP off) the neighbour table must show one of its MACs.
   */
  private isNode(spec: NodeSpec, address: string): boolean {
    const ip = address.startsWith('::ffff:') ? address.slice(7) : address;
    const macs = new Set(spec.macs.map((m) => m.toLowerCase()));
    const neighbour = (this.o.neighbourMac ?? neighbourMac)(ip);
    if (neighbour !== undefined && !macs.has(neighbour)) return false;
    const lease = this.store.leaseByIp?.(ip);
    const now = (this.o.now ?? Date.now)();
    if (lease && lease.state === 'bound' && lease.expires_at > now) return macs.has(lease.mac.toLowerCase());
    return neighbour !== undefined;
  }

  /**
   * A fresh token each time the node itself fetches its boot script (a new
   * boot): the previous boot's ramdisk, if still around, loses its right to
   * report. A request from any other address gets nothing and revokes
   * nothing. Without `client` (an engine minting for its own use) no check.
   */
  agentToken(node: string, client?: { address: string }): string | undefined {
    const spec = this.byName.get(node);
    if (!spec) throw new Error(`unknown node ${node}`);
    if (client && !this.admitsBoot(node, client)) return undefined;
    this.store.revokeNodeTokens(node, AGENT_TOKEN);
    const token = this.store.issueNodeToken(node, AGENT_TOKEN, this.ttl);
    this.store.recordEvent(node, 'boot-script', { purpose: this.view(spec)?.action, token_id: tokenId(token) });
    return token;
  }

  /** Whether `client` is the node (isNode); a refusal is a `token-refused` event, one per address and node a minute. */
  admitsBoot(node: string, client: { address: string }): boolean {
    const spec = this.byName.get(node);
    if (!spec) return false;
    if (this.isNode(spec, client.address)) return true;
    const key = `${node} ${client.address}`;
    const now = (this.o.now ?? Date.now)();
    // a stranger asking in a loop must not grow the state store by an event per request
    if ((this.refusedAt.get(key) ?? -Infinity) <= now - 60_000) {
      if (this.refusedAt.size > 4096) this.refusedAt.clear();
      this.refusedAt.set(key, now);
      this.store.recordEvent(node, 'token-refused', { client: client.address.slice(0, 64), reason: 'not the address of this node' });
    }
    return false;
  }

  taskFor(node: string): AgentTask {
    const t = this.nextTask(node);
    // the engine reads this as "a ramdisk is alive and working on the op" (fast track)
    if (t.task !== 'none') this.store.recordEvent(node, 'task', { task: t.task, ...this.who(node) });
    return t;
  }

  private nextTask(node: string): AgentTask {
    const spec = this.byName.get(node);
    const rec = this.store.getNode(node);
    if (!spec || !rec) return { task: 'none', reboot: false };
    // Done already: a ramdisk that stays up (WAIT=1) waits for the engine's next step.
    if (this.opDone(node, rec.state, rec.data)) return { task: 'none', reboot: false };
    switch (rec.state) {
      case 'inspecting': {
        // Power off after inspection (the engine decides what boots next),
        // unless the engine deploys right after it: then the same boot takes the deploy task.
        const op = rec.data.op as { next?: unknown } | null | undefined;
        // the conversion runs while the node is inspected: off the deploy's critical path
        if (op?.next === 'deploy' && spec.image?.format === 'qcow2') this.o.images?.status(spec.image);
        return op?.next === 'deploy' ? { task: 'inspect', reboot: false, wait: true } : { task: 'inspect', reboot: false };
      }
      case 'deploying':
        return this.deployTask(spec, rec.data);
      case 'deleting':
        return this.wipeTask(spec, rec.data);
      default:
        return { task: 'none', reboot: false };
    }
  }

  /** The disk the node's root-device hint selects in its last posted inventory; undefined without one. */
  private targetDisk(spec: NodeSpec, data: Record<string, unknown>): { ok: true; dev: string; size: number } | { ok: false; reason: string } | undefined {
    const inv = data.inventory as Inventory | undefined;
    if (!inv) return undefined;
    const choice = this.o.chooseRootDevice(inv.disks, this.o.rootDevice ? this.o.rootDevice(spec) : spec.root_device);
    return choice.ok ? { ok: true, dev: `/dev/${choice.disk.name}`, size: choice.disk.size_bytes } : { ok: false, reason: choice.reason.replace(/[\r\n]+/g, ' ') };
  }

  /** Undeploy: erase the metadata of the disk deploy would write (the same choice), then power off. */
  private wipeTask(spec: NodeSpec, data: Record<string, unknown>): AgentTask {
    const t = this.targetDisk(spec, data);
    // Without an inventory the agent posts one first, then asks again; a wipe without TARGET_DISK is refused by the agent.
    if (!t) return { task: 'wipe', reboot: false };
    if (!t.ok) return { task: 'fail', reason: t.reason, reboot: false };
    return { task: 'wipe', targetDisk: t.dev, reboot: false };
  }

  private deployTask(spec: NodeSpec, data: Record<string, unknown>): AgentTask {
    const img: ImageSpec | undefined = spec.image;
    if (!img) return { task: 'fail', reason: `node ${spec.name} has no image in the site file`, reboot: false };
    if (!/^sha256:[0-9a-f]{64}$/i.test(img.checksum) && img.format !== 'qcow2') return { task: 'fail', reason: `image ${img.url}: the deploy agent verifies sha256 checksums only`, reboot: false };
    let task: Extract<AgentTask, { task: 'deploy' }> = {
      task: 'deploy',
      imageUrl: img.url,
      imageChecksum: img.checksum.toLowerCase(),
      imageFormat: 'raw',
      imageCompression: img.compression ?? 'none',
      reboot: true,
    };
    let virtualSize: number | undefined;
    if (img.format === 'qcow2') {
      // converted on the seed (checksum, qemu-img check, raw, zstd); the agent streams the result
      const st = this.o.images ? this.o.images.status(img) : { state: 'failed' as const, reason: `image ${img.url}: qcow2 needs the seed's image converter, which this server runs without` };
      if (st.state === 'failed') return { task: 'fail', reason: st.reason.replace(/[\r\n]+/g, ' '), reboot: false };
      if (st.state === 'pending') {
        // the ramdisk asks again every second; the engine's fast track reads the event as "taken"
        if (!this.waitingImage.has(spec.name)) {
          this.waitingImage.add(spec.name);
          this.store.recordEvent(spec.name, 'task', { task: 'none', waiting: `seed converting ${img.url}`, ...this.who(spec.name) });
        }
        return { task: 'none', reboot: false };
      }
      this.waitingImage.delete(spec.name);
      const p = st.image;
      virtualSize = p.virtualSize;
      task = { ...task, imageUrl: `/v1/images/${spec.name}/${p.name}`, imageChecksum: `sha256:${p.sha256}`, imageCompression: p.compression, imageSize: p.bytes };
    }
    const t = this.targetDisk(spec, data);
    // Without an inventory the agent posts one first, then asks again.
    if (!t) return task;
    if (!t.ok) return { task: 'fail', reason: t.reason, reboot: false };
    if (virtualSize !== undefined && virtualSize > t.size) {
      const gib = (n: number) => `${(n / 1024 ** 3).toFixed(1)} GiB`;
      return { task: 'fail', reason: `image ${img.url}: too large: its virtual size ${gib(virtualSize)} (${virtualSize} bytes) does not fit ${t.dev} (${gib(t.size)}); nothing written`, reboot: false };
    }
    return { ...task, targetDisk: t.dev };
  }

  onInventory(node: string, inventory: Inventory): void {
    this.store.updateNode(node, { data: { inventory } });
    this.store.recordEvent(node, 'inventory', {
      cpus: inventory.cpus,
      memory_mib: inventory.memory_mib,
      boot_mode: inventory.boot_mode,
      disks: inventory.disks.map((d) => ({ name: d.name, size_bytes: d.size_bytes, model: d.model, serial: d.serial, rotational: d.rotational })),
      macs: inventory.nics.map((n) => n.mac),
      ...this.who(node),
    });
  }

  onProgress(node: string, p: AgentProgress): void {
    this.store.recordEvent(node, 'agent-progress', { stage: p.stage, pct: p.pct, msg: clip(p.msg), ...this.who(node) });
  }

  /**
   * A deploy counts as done only with the digest of the image this seed
   * serves the node (docs/AGENT-API.md "What counts as done"): anything else
   * is refused and recorded as `result-refused`, never as `agent-result`, so
   * the node stays deploying and its real ramdisk can still report.
   */
  onResult(node: string, r: AgentResult): void {
    if (r.status === 'ok' && r.stage === 'deploy') {
      const spec = this.byName.get(node);
      const want = spec ? this.servedDigest(spec) : undefined;
      if (!want || r.digest !== want) {
        const why = !r.digest ? 'no digest' : !want ? 'no image is served to this node' : `digest ${r.digest} is not the served image's ${want}`;
        this.store.recordEvent(node, 'result-refused', { stage: r.stage, reason: why, ...this.who(node) });
        throw new ResultRefused(`deploy result refused: ${why}`);
      }
    }
    this.store.recordEvent(node, 'agent-result', { status: r.status, stage: r.stage, msg: clip(r.msg), ...(r.digest ? { digest: r.digest } : {}), ...this.who(node) });
  }

  /**
   * The sha256 of the bytes the node's deploy task points at: the site
   * file's checksum of a raw image, or of the seed's conversion of a qcow2
   * (the zstd-compressed raw it serves at /v1/images/...).
   */
  private servedDigest(spec: NodeSpec): string | undefined {
    const img = spec.image;
    if (!img) return undefined;
    if (img.format === 'qcow2') {
      const st = this.o.images?.status(img);
      return st?.state === 'ready' ? `sha256:${st.image.sha256.toLowerCase()}` : undefined;
    }
    return /^sha256:[0-9a-f]{64}$/i.test(img.checksum) ? img.checksum.toLowerCase() : undefined;
  }

  /**
   * The seed sees whether a node's BMC fetched its virtual-media CD
   * (engine/vmedia.ts names it vmedia/<node>-<hex>.iso): a deploy that then
   * times out says which side failed.
   */
  onArtifact(file: string, status: number): void {
    const m = /^vmedia\/(.+)-[0-9a-f]{32}\.iso$/.exec(file);
    if (!m || !this.byName.has(m[1]!) || this.fetchedCds.has(file)) return;
    if (this.fetchedCds.size > 4096) this.fetchedCds.clear();
    this.fetchedCds.add(file);
    this.store.recordEvent(m[1]!, 'vmedia-fetched', { file: file.slice('vmedia/'.length), status });
  }

  onCallback(node: string, cb: NodeCallback): void {
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(cb.fields)) fields[k] = clip(v);
    this.store.recordEvent(node, 'callback', { stage: cb.stage, ...(cb.hostname !== undefined ? { hostname: cb.hostname } : {}), fields, ...this.who(node) });
    // The token sits in the installed OS's kseed.env, readable by whoever gets
    // root there; once it has said "booted" it has no more to report, and the
    // next deploy or wipe boots with a fresh token.
    if (cb.stage === 'booted') this.store.revokeNodeTokens(node, AGENT_TOKEN);
  }

  nocloud(node: string): NoCloudData | undefined {
    const spec = this.byName.get(node);
    if (!spec) return undefined;
    const networkConfig = this.o.networkConfig?.(spec);
    return {
      metaData: `instance-id: kseed-${spec.name}\nlocal-hostname: ${spec.name}\n`,
      userData: this.o.userData ? this.o.userData(spec) : `#cloud-config\nhostname: ${spec.name}\npreserve_hostname: false\n`,
      ...(networkConfig !== undefined ? { networkConfig } : {}),
    };
  }
}
