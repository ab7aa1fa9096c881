/**
 * A lossy UDP link on 127.0.0.1 in front of a BMC (this kernel has no
 * netem), for the IPMI lossy tests and the fleet's fault runs (faults.ts):
 * every datagram, either way, is dropped with probability `loss` and
 * otherwise delivered after `delayMs`. Each client address:port gets its own upstream socket, so
 * the server sees one peer per client as it would on a real network.
 *
 * Drops come from a seeded PRNG (one stream per direction, consumed in
 * datagram order), so a run with the same seed and the same traffic drops
 * the same datagrams.
 */
import dgram from 'node:dgram';
import { prng } from '../../util/random.js';

/** The bad BMC link of issue 19 item 5 and the lossy tests: 30% loss each way, 200 ms one-way delay, and a seed. */
export const BAD_LINK = { loss: 0.3, delayMs: 200, seed: 20261206 } as const;

export interface LossyRelayOptions {
  target: { address: string; port: number };
  /** Probability 0..1 that one datagram is dropped, each way. */
  loss: number;
  /** One-way delay of every delivered datagram, ms. */
  delayMs: number;
  seed: number;
  /** Port to listen on (127.0.0.1); 0 = any free one. */
  port?: number;
  /**
   * The front socket (where clients send) made elsewhere, e.g. inside the
   * relay's own network namespace (relay-netns.ts); the relay owns it then.
   * Upstream sockets stay in the caller's namespace, where the target is.
   */
  front?: dgram.Socket;
}

export interface LossyRelay {
  address: string;
  port: number;
  stats(): { up: number; upDropped: number; down: number; downDropped: number };
  close(): Promise<void>;
}

function bound(sock: dgram.Socket, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, '127.0.0.1', () => {
      sock.off('error', reject);
      resolve();
    });
  });
}

export async function lossyRelay(o: LossyRelayOptions): Promise<LossyRelay> {
  const front = o.front ?? dgram.createSocket('udp4');
  const upRand = prng(o.seed);
  const downRand = prng(o.seed ^ 0x5bd1e995);
  const s = { up: 0, upDropped: 0, down: 0, downDropped: 0 };
  const timers = new Set<NodeJS.Timeout>();
  const uplinks = new Map<string, dgram.Socket>();
  let closed = false;

  const later = (fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!closed) fn();
    }, o.delayMs);
    timers.add(t);
  };

  const uplink = async (client: dgram.RemoteInfo): Promise<dgram.Socket> => {
    const key = `${client.address}:${client.port}`;
    let u = uplinks.get(key);
    if (u) return u;
    u = dgram.createSocket('udp4');
    uplinks.set(key, u);
    u.on('message', (msg) => {
      s.down += 1;
      if (downRand() < o.loss) {
        s.downDropped += 1;
        return;
      }
      later(() => front.send(msg, client.port, client.address));
    });
    u.on('error', () => undefined);
    await bound(u, 0);
    return u;
  };

  front.on('message', (msg, client) => {
    s.up += 1;
    if (upRand() < o.loss) {
      s.upDropped += 1;
      return;
    }
    later(() => {
      void uplink(client).then((u) => {
        if (!closed) u.send(msg, o.target.port, o.target.address);
      });
    });
  });
  front.on('error', () => undefined);
  if (!o.front) await bound(front, o.port ?? 0);

  return {
    address: front.address().address,
    port: front.address().port,
    stats: () => ({ ...s }),
    close: async () => {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const u of uplinks.values()) u.close();
      uplinks.clear();
      await new Promise<void>((resolve) => front.close(() => resolve()));
    },
  };
}
