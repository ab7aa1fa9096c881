/**
 * Types of the seed <-> deploy ramdisk contract (docs/AGENT-API.md v1) and the
 * BootBackend the HTTP server asks for every decision. The engine implements
 * BootBackend over the state store; MemoryBootBackend (memory-backend.ts)
 * implements it for tests and `kseed boot serve` without an engine.
 *
 * Root-device matching is NOT here: the backend turns an inventory plus the
 * node's hint into TARGET_DISK (or TASK=fail) in taskFor().
 */

export type Awaitable<T> = T | Promise<T>;
export type BootMode = 'uefi' | 'bios';

/**
 * What the next network boot of a node should do. `chain`: hand over to
 * another iPXE script at `BootNode.chainUrl` (the Ironic stack: Ironic's own
 * per-node config boots the deploy ramdisk).
 */
export type BootAction = 'deploy' | 'inspect' | 'local' | 'none' | 'chain';

export interface BootNode {
  name: string;
  /** Lower-case, colon-separated. */
  macs: string[];
  action: BootAction;
  /** action `chain` only: absolute URL of the script to chain to. */
  chainUrl?: string;
}

export interface InventoryDisk {
  name: string;
  size_bytes: number;
  model: string;
  serial: string;
  wwn: string;
  rotational: boolean;
  hctl: string;
  by_path: string;
}

export interface InventoryNic {
  name: string;
  mac: string;
  link: boolean;
}

export interface Inventory {
  cpus: number;
  memory_mib: number;
  disks: InventoryDisk[];
  nics: InventoryNic[];
  boot_mode: BootMode;
}

export type AgentTask =
  | {
      task: 'inspect';
      reboot?: boolean;
      /** WAIT=1: after the inspection, keep asking for the next task instead of powering off (fast track). */
      wait?: boolean;
    }
  | {
      task: 'deploy';
      imageUrl: string;
      /** `sha256:<hex>` */
      imageChecksum: string;
      imageFormat: 'raw';
      imageCompression: 'none' | 'gzip' | 'zstd' | 'xz';
      /** IMAGE_SIZE: bytes at imageUrl, for the agent's progress percentages. */
      imageSize?: number;
      /** Absent until the inventory is posted and a disk was chosen. */
      targetDisk?: string;
      reboot?: boolean;
    }
  | { task: 'wipe'; targetDisk?: string; reboot?: boolean }
  | { task: 'none'; reboot?: boolean }
  | { task: 'fail'; reason: string; reboot?: boolean };

export interface AgentProgress {
  stage: string;
  pct: number;
  msg: string;
}

export interface AgentResult {
  status: 'ok' | 'fail';
  stage: string;
  msg: string;
  /**
   * `sha256:<hex>` of the bytes the agent streamed from IMAGE_URL onto the
   * disk; a deploy's `ok` without the digest of the image the seed served is
   * refused (docs/AGENT-API.md "What counts as done").
   */
  digest?: string;
}

/** A result the seed refuses to count (HTTP 409): e.g. a deploy's digest that is not the served image's. */
export class ResultRefused extends Error {}

/** First boot of the installed OS (POST /v1/callback/<node>). */
export interface NodeCallback {
  hostname?: string;
  stage: string;
  /** Every field as posted (hostname and stage included). */
  fields: Record<string, string>;
}

export interface NoCloudData {
  metaData: string;
  userData: string;
  networkConfig?: string;
}

export interface BootBackend {
  /** `mac` lower-case with colons. Unknown MAC: undefined (it then never gets a deploy boot). */
  nodeByMac(mac: string): Awaitable<BootNode | undefined>;
  nodeByName(name: string): Awaitable<BootNode | undefined>;
  /**
   * True only if `token` is a live agent token of `node` (constant time). Over the
   * state store: `store.verifyNodeToken(token, 'agent') === node`.
   */
  verifyToken(node: string, token: string): Awaitable<boolean>;
  /**
   * The token put on the kernel command line of the node's deploy ramdisk, or
   * undefined when `client` (the address that asked for the boot script) is
   * not the node itself: docs/AGENT-API.md "Agent token" (issued per boot,
   * only to the address that holds the node's lease, never revoked by
   * someone else's request).
   */
  agentToken(node: string, client?: { address: string }): Awaitable<string | undefined>;
  /**
   * Whether `client` is the node itself, by the same rule as agentToken, for
   * boot files that carry its token but are not served by this server
   * (Ironic's per-node iPXE config, behind nginx's auth_request).
   */
  admitsBoot?(node: string, client: { address: string }): Awaitable<boolean>;
  taskFor(node: string): Awaitable<AgentTask>;
  onInventory(node: string, inventory: Inventory): Awaitable<void>;
  onProgress(node: string, progress: AgentProgress): Awaitable<void>;
  onResult(node: string, result: AgentResult): Awaitable<void>;
  onCallback(node: string, callback: NodeCallback): Awaitable<void>;
  nocloud(node: string): Awaitable<NoCloudData | undefined>;
  /** A file under /artifacts/ (its path there) went out with `status` 200 or 206: e.g. a BMC fetched a virtual-media CD. */
  onArtifact?(file: string, status: number): Awaitable<void>;
}

/** Ironic's lifecycle words to the action of the next network boot. */
export function bootActionFor(state: string): BootAction {
  switch (state) {
    case 'deploying':
    // Undeploy boots the same deploy ramdisk (as Ironic cleans with its deploy
    // ramdisk); the task it fetches (TASK=wipe) says what it does there.
    case 'deleting':
      return 'deploy';
    case 'inspecting':
      return 'inspect';
    case 'active':
    case 'handed-off':
      return 'local';
    default:
      // enroll, manageable, available, *failed ...: nothing to do, never deploy.
      return 'none';
  }
}

export class InventoryError extends Error {}

/** The `digest` form field of a result: sha256 in lower-case hex, as the agent's sha256sum prints it. */
export const RESULT_DIGEST = /^sha256:[0-9a-f]{64}$/;

/** A posted form (progress, result) with a bad field; the message names it. */
export class FormError extends Error {}

const STAGE = /^[A-Za-z0-9_.-]{1,64}$/;

/** POST .../progress: `stage pct msg` (docs/AGENT-API.md). */
export function parseProgress(f: URLSearchParams): AgentProgress {
  const stage = f.get('stage') ?? '';
  if (!STAGE.test(stage)) throw new FormError('progress: stage must be a word');
  const raw = f.get('pct') ?? '';
  // digits only: no "-0", "1e1" or " 5" (the agent sends a plain integer)
  const pct = /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
  if (!(pct >= 0 && pct <= 100)) throw new FormError('progress: pct must be 0-100');
  return { stage, pct, msg: (f.get('msg') ?? '').slice(0, 1024) };
}

/** POST .../result: `status stage msg [digest]` (docs/AGENT-API.md "What counts as done"). */
export function parseResult(f: URLSearchParams): AgentResult {
  const status = f.get('status');
  const stage = f.get('stage') ?? '';
  if (status !== 'ok' && status !== 'fail') throw new FormError('result: status must be ok or fail');
  if (!STAGE.test(stage)) throw new FormError('result: stage must be a word');
  const digest = f.get('digest');
  if (digest !== null && !RESULT_DIGEST.test(digest)) throw new FormError('result: digest must be sha256:<64 lower-case hex digits>');
  return { status, stage, msg: (f.get('msg') ?? '').slice(0, 4096), ...(digest !== null ? { digest } : {}) };
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function str(o: Record<string, unknown>, k: string, where: string, required = false): string {
  const v = o[k];
  if (v === undefined || v === null) {
    if (required) throw new InventoryError(`${where}.${k}: missing`);
    return '';
  }
  if (typeof v !== 'string') throw new InventoryError(`${where}.${k}: expected a string`);
  if (v.length > 512) throw new InventoryError(`${where}.${k}: longer than 512 characters`);
  return v;
}
function num(o: Record<string, unknown>, k: string, where: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || !Number.isInteger(v)) {
    throw new InventoryError(`${where}.${k}: expected a non-negative integer`);
  }
  return v;
}
function bool(o: Record<string, unknown>, k: string, where: string): boolean {
  const v = o[k];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new InventoryError(`${where}.${k}: expected true or false`);
  return v;
}

const DISK_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Validate a posted inventory (docs/AGENT-API.md); throws InventoryError naming the field. */
export function parseInventory(v: unknown): Inventory {
  if (!isObj(v)) throw new InventoryError('inventory: expected a JSON object');
  const cpus = num(v, 'cpus', 'inventory');
  const memory_mib = num(v, 'memory_mib', 'inventory');
  if (!Array.isArray(v.disks)) throw new InventoryError('inventory.disks: expected a list');
  if (!Array.isArray(v.nics)) throw new InventoryError('inventory.nics: expected a list');
  if (v.disks.length > 1024 || v.nics.length > 1024) throw new InventoryError('inventory: too many disks or nics');
  const disks = v.disks.map((d, i): InventoryDisk => {
    const w = `inventory.disks[${i}]`;
    if (!isObj(d)) throw new InventoryError(`${w}: expected an object`);
    const name = str(d, 'name', w, true);
    // The name becomes TARGET_DISK=/dev/<name>: no slashes, no shell metacharacters.
    if (!DISK_NAME.test(name)) throw new InventoryError(`${w}.name: not a block device name`);
    return {
      name,
      size_bytes: num(d, 'size_bytes', w),
      model: str(d, 'model', w),
      serial: str(d, 'serial', w),
      wwn: str(d, 'wwn', w),
      rotational: bool(d, 'rotational', w),
      hctl: str(d, 'hctl', w),
      by_path: str(d, 'by_path', w),
    };
  });
  const nics = v.nics.map((n, i): InventoryNic => {
    const w = `inventory.nics[${i}]`;
    if (!isObj(n)) throw new InventoryError(`${w}: expected an object`);
    const mac = str(n, 'mac', w, true).toLowerCase();
    if (!MAC.test(mac)) throw new InventoryError(`${w}.mac: not a MAC address`);
    return { name: str(n, 'name', w, true), mac, link: bool(n, 'link', w) };
  });
  const bm = v.boot_mode;
  if (bm !== 'uefi' && bm !== 'bios') throw new InventoryError('inventory.boot_mode: expected "uefi" or "bios"');
  return { cpus, memory_mib, disks, nics, boot_mode: bm };
}

/**
 * Render a task as the KEY=value lines of docs/AGENT-API.md. A value containing a
 * line break would let one value forge another key, so it is refused.
 */
export function formatTask(t: AgentTask): string {
  const kv: [string, string][] = [['TASK', t.task]];
  switch (t.task) {
    case 'deploy':
      kv.push(['IMAGE_URL', t.imageUrl], ['IMAGE_CHECKSUM', t.imageChecksum], ['IMAGE_FORMAT', t.imageFormat], ['IMAGE_COMPRESSION', t.imageCompression]);
      if (t.imageSize !== undefined) kv.push(['IMAGE_SIZE', String(t.imageSize)]);
      if (t.targetDisk !== undefined) kv.push(['TARGET_DISK', t.targetDisk]);
      break;
    case 'wipe':
      if (t.targetDisk !== undefined) kv.push(['TARGET_DISK', t.targetDisk]);
      break;
    case 'inspect':
      if (t.wait) kv.push(['WAIT', '1']);
      break;
    case 'fail':
      kv.push(['REASON', t.reason]);
      break;
    default:
      break;
  }
  kv.push(['REBOOT', t.reboot === false ? '0' : '1']);
  for (const [k, v] of kv) {
    if (/[\r\n\0]/.test(v)) throw new Error(`task value ${k} contains a line break`);
  }
  return kv.map(([k, v]) => `${k}=${v}\n`).join('');
}
