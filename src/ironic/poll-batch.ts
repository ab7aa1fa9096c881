/**
 * Node polls shared between the waits of one client. The engine drives many
 * nodes at once and each wait polls its node once a second; Ironic does a
 * request's authentication, a database read and (with several conductors)
 * nothing more for a node GET, so the cost is per request: 16 waits made 16
 * requests a second, and the fleet's wall time was the engine's queue behind
 * that limit (bench/fleet --engine ironic, 100 nodes). Polls that meet in a
 * short window become one `GET /v1/nodes?fields=...`, which answers every
 * node at once.
 *
 * A poll joins the batch that starts `windowMs` after its first member
 * joined, so its answer is never older than the poll itself (a wait polls
 * right after its verb's 202 and must see the verb's target). Waits that
 * got the same answer and sleep the same interval join the same batch again,
 * so batches merge: at most one list request per window, whatever the count
 * of nodes.
 */
import type { IronicNode } from './types.js';

interface Waiter {
  resolve: (n: IronicNode) => void;
  reject: (err: unknown) => void;
}

export class PollBatch {
  private next: Map<string, Waiter[]> | undefined;

  constructor(
    /** One node's poll (a batch of one, and a node the list did not carry: its own GET says why). */
    private readonly one: (id: string, signal?: AbortSignal) => Promise<IronicNode>,
    /** Every node, with the fields a poll reads. */
    private readonly all: () => Promise<IronicNode[]>,
    private readonly windowMs: number,
  ) {}

  poll(id: string, signal?: AbortSignal): Promise<IronicNode> {
    signal?.throwIfAborted();
    let batch = this.next;
    if (!batch) {
      const b = new Map<string, Waiter[]>();
      batch = this.next = b;
      setTimeout(() => void this.run(b), this.windowMs);
    }
    const members = batch;
    return new Promise<IronicNode>((resolve, reject) => {
      const onAbort = () => reject(signal!.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      const list = members.get(id) ?? [];
      list.push({
        resolve: (n) => (done(), resolve(n)),
        reject: (err) => (done(), reject(err)),
      });
      members.set(id, list);
    });
  }

  private async run(batch: Map<string, Waiter[]>): Promise<void> {
    if (this.next === batch) this.next = undefined;
    const entries = [...batch];
    const settle = (waiters: Waiter[], p: Promise<IronicNode>) =>
      p.then(
        (n) => waiters.forEach((w) => w.resolve(n)),
        (err: unknown) => waiters.forEach((w) => w.reject(err)),
      );
    if (entries.length === 1) {
      const [id, waiters] = entries[0]!;
      await settle(waiters, this.one(id));
      return;
    }
    let nodes: IronicNode[];
    try {
      nodes = await this.all();
    } catch (err) {
      for (const [, waiters] of entries) waiters.forEach((w) => w.reject(err));
      return;
    }
    const byId = new Map<string, IronicNode>();
    for (const n of nodes) {
      byId.set(n.uuid, n);
      if (n.name) byId.set(n.name, n);
    }
    await Promise.all(
      entries.map(([id, waiters]) => {
        const n = byId.get(id);
        return n ? (waiters.forEach((w) => w.resolve(n)), undefined) : settle(waiters, this.one(id));
      }),
    );
  }
}
