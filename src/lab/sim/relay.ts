/**
 * A lossy UDP relay in front of a lab BMC (issue 19 item 5): this kernel has
 * no netem (sch_netem), so loss and delay are made here. Each datagram, in
 * either direction, is dropped with probability `loss`, else delivered after
 * `delayMs`. One upstream socket per client address, as a NAT would, so the
 * BMC's replies find their way back to the client that asked.
 * It listens on 127.0.0.1 only.
 */
import dgram from 'node:dgram';

export interface RelayOptions {
  /** Port on 127.0.0.1 the clients send to (0: any free one). */
  listenPort: number;
  /** The BMC's port on 127.0.0.1. */
  targetPort: number;
  /** Share of datagrams dropped, each direction, 0..1. */
  loss: number;
  delayMs: number;
  /** Uniform [0,1) source; a seeded one makes a run repeatable. */
  random?: () => number;
}

export interface RelayStats {
  forwarded: number;
  dropped: number;
}

export interface Relay {
  port: number;
  stats: RelayStats;
  close(): Promise<void>;
}

/** mulberry32: a small seeded PRNG, enough to make the drops repeatable. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function startRelay(o: RelayOptions): Promise<Relay> {
  const random = o.random ?? Math.random;
  const stats: RelayStats = { forwarded: 0, dropped: 0 };
  const front = dgram.createSocket('udp4');
  const upstream = new Map<string, dgram.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;
  const pass = (send: () => void) => {
    if (random() < o.loss) {
      stats.dropped++;
      return;
    }
    const t = setTimeout(() => {
      timers.delete(t);
      if (closed) return;
      stats.forwarded++;
      send();
    }, o.delayMs);
    timers.add(t);
  };
  front.on('message', (msg, rinfo) => {
    const key = `${rinfo.address}:${rinfo.port}`;
    let up = upstream.get(key);
    if (!up) {
      up = dgram.createSocket('udp4');
      up.on('message', (reply) => pass(() => front.send(reply, rinfo.port, rinfo.address)));
      up.on('error', () => undefined);
      up.bind(0, '127.0.0.1');
      upstream.set(key, up);
    }
    const u = up;
    pass(() => u.send(msg, o.targetPort, '127.0.0.1'));
  });
  front.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.bind(o.listenPort, '127.0.0.1', () => {
      front.off('error', reject);
      resolve();
    });
  });
  return {
    port: front.address().port,
    stats,
    close: async () => {
      closed = true;
      for (const t of timers) clearTimeout(t);
      for (const s of upstream.values()) s.close();
      await new Promise<void>((r) => front.close(() => r()));
    },
  };
}
