/**
 * BootBackend kept in memory: for tests, benchmarks and `kseed boot serve`
 * without an engine. Records everything the agents post, per node.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
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
} from './types.js';

export interface MemoryNode {
  name: string;
  macs: string[];
  /** Lifecycle state (Ironic's words); decides the boot action. */
  state: string;
  /** Generated (128 bit+, base64url) when omitted. */
  token?: string;
  task?: AgentTask;
  nocloud?: NoCloudData;
}

export interface NodeRecord {
  inventories: Inventory[];
  progress: AgentProgress[];
  results: AgentResult[];
  callbacks: NodeCallback[];
}

/** 192 random bits, URL- and shell-safe. */
export function newAgentToken(): string {
  return randomBytes(24).toString('base64url');
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export class MemoryBootBackend implements BootBackend {
  private readonly nodes = new Map<string, MemoryNode & { token: string }>();
  private readonly byMac = new Map<string, string>();
  readonly records = new Map<string, NodeRecord>();

  constructor(nodes: MemoryNode[] = []) {
    for (const n of nodes) this.upsert(n);
  }

  upsert(n: MemoryNode): void {
    const old = this.nodes.get(n.name);
    if (old) for (const m of old.macs) this.byMac.delete(m.toLowerCase());
    const node = { ...n, macs: n.macs.map((m) => m.toLowerCase()), token: n.token ?? old?.token ?? newAgentToken() };
    this.nodes.set(n.name, node);
    for (const m of node.macs) this.byMac.set(m, n.name);
    if (!this.records.has(n.name)) this.records.set(n.name, { inventories: [], progress: [], results: [], callbacks: [] });
  }

  setState(name: string, state: string): void {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`unknown node ${name}`);
    n.state = state;
  }

  record(name: string): NodeRecord {
    const r = this.records.get(name);
    if (!r) throw new Error(`unknown node ${name}`);
    return r;
  }

  private view(n: MemoryNode | undefined): BootNode | undefined {
    return n && { name: n.name, macs: [...n.macs], action: bootActionFor(n.state) };
  }

  nodeByMac(mac: string): BootNode | undefined {
    const name = this.byMac.get(mac.toLowerCase());
    return this.view(name === undefined ? undefined : this.nodes.get(name));
  }

  nodeByName(name: string): BootNode | undefined {
    return this.view(this.nodes.get(name));
  }

  verifyToken(node: string, token: string): boolean {
    const n = this.nodes.get(node);
    // Compare digests so the comparison time depends on neither length nor content.
    const ok = timingSafeEqual(digest(n?.token ?? ''), digest(token));
    return n !== undefined && ok;
  }

  agentToken(node: string): string {
    const n = this.nodes.get(node);
    if (!n) throw new Error(`unknown node ${node}`);
    return n.token;
  }

  taskFor(node: string): AgentTask {
    return this.nodes.get(node)?.task ?? { task: 'none', reboot: false };
  }

  onInventory(node: string, inventory: Inventory): void {
    this.record(node).inventories.push(inventory);
  }
  onProgress(node: string, progress: AgentProgress): void {
    this.record(node).progress.push(progress);
  }
  onResult(node: string, result: AgentResult): void {
    this.record(node).results.push(result);
  }
  onCallback(node: string, callback: NodeCallback): void {
    this.record(node).callbacks.push(callback);
  }
  nocloud(node: string): NoCloudData | undefined {
    return this.nodes.get(node)?.nocloud;
  }
}
