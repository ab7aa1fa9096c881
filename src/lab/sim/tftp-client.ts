/**
 * The PXE ROM's TFTP read of the first stage (RFC 1350 lockstep, with the
 * RFC 2348 blksize and RFC 2349 tsize options PXE ROMs send), over the
 * packet codec of kseed's own server (src/boot/tftp/packet.ts).
 */
import { createHash } from 'node:crypto';
import { decode, encodeAck, encodeRequest } from '../../boot/tftp/packet.js';
import { udpSocketIn } from './netns-socket.js';

export interface TftpResult {
  bytes: number;
  sha256: string;
  ms: number;
  /** Datagrams sent (RRQ and ACKs). */
  sent: number;
}

export class TftpError extends Error {}

/**
 * Reads `file` from `server` into a hash (nothing is kept); `signal` aborts.
 * The transfer ID of the server is its first answer's port (RFC 1350 4).
 */
export async function tftpGet(o: { netns: string; localIp: string; server: string; file: string; blksize?: number; timeoutMs?: number; signal?: AbortSignal }): Promise<TftpResult> {
  const t0 = Date.now();
  const sock = await udpSocketIn(o.netns, { ip: o.localIp, port: 0 });
  const hash = createHash('sha256');
  const blksize = o.blksize ?? 1432;
  let sent = 0;
  let bytes = 0;
  const timeout = o.timeoutMs ?? 2000;
  try {
    return await new Promise<TftpResult>((resolve, reject) => {
      let tid: number | undefined;
      let expect = 1;
      let size = 512;
      let last: Buffer = encodeRequest('rrq', o.file, 'octet', { blksize: String(blksize), tsize: '0' });
      let lastPort = 69;
      let retries = 0;
      let timer: NodeJS.Timeout;
      const fail = (e: Error) => {
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        reject(e);
      };
      const onAbort = () => fail(o.signal!.reason as Error);
      const transmit = () => {
        sent++;
        sock.send(last, lastPort, o.server);
        clearTimeout(timer);
        timer = setTimeout(() => {
          // RFC 1350 2: on timeout the last packet is sent again
          if (++retries > 5) fail(new TftpError(`TFTP ${o.file} from ${o.server}: no answer after ${retries} tries`));
          else transmit();
        }, timeout);
      };
      o.signal?.addEventListener('abort', onAbort, { once: true });
      sock.on('message', (buf, rinfo) => {
        if (rinfo.address !== o.server) return;
        if (tid === undefined) tid = rinfo.port;
        else if (rinfo.port !== tid) return; // RFC 1350 4: another TID is not ours
        const p = decode(buf);
        if (p.op === 'error') return fail(new TftpError(`TFTP ${o.file}: error ${p.code} ${p.message}`));
        if (p.op === 'oack') {
          size = Number(p.options.get('blksize') ?? 512);
          // RFC 2347: an OACK is acknowledged with block 0
          last = encodeAck(0);
          lastPort = tid;
          retries = 0;
          return transmit();
        }
        if (p.op !== 'data') return;
        if (p.block !== (expect & 0xffff)) {
          // a duplicate of the previous block: our ACK was lost, ACK it again (no sorcerer's apprentice: only once per duplicate)
          if (p.block === ((expect - 1) & 0xffff)) transmit();
          return;
        }
        hash.update(p.data);
        bytes += p.data.length;
        last = encodeAck(p.block);
        lastPort = tid;
        retries = 0;
        expect++;
        if (p.data.length < size) {
          sent++;
          sock.send(last, lastPort, o.server);
          clearTimeout(timer);
          o.signal?.removeEventListener('abort', onAbort);
          resolve({ bytes, sha256: hash.digest('hex'), ms: Date.now() - t0, sent });
        } else transmit();
      });
      transmit();
    });
  } finally {
    sock.close();
  }
}
