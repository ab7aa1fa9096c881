/**
 * TFTP option negotiation, server side of a read request. Pure.
 *
 * RFC 2347: the server answers the options it understands and accepts in an
 * OACK; unknown options are silently left out; if it accepts none, it sends
 * no OACK and starts with DATA block 1 as in RFC 1350.
 */

export interface NegotiationLimits {
  /** Largest block size we agree to (RFC 2348 allows up to 65464). */
  maxBlksize: number;
  /** Largest window we agree to (RFC 7440 allows up to 65535). */
  maxWindowsize: number;
  /**
   * Largest retransmission timeout we accept, in seconds (RFC 2349 allows up
   * to 255). A larger request is ignored, not lowered: the RFC lets the server
   * only accept or ignore the value. Default 10.
   */
  maxTimeoutS?: number;
}

export interface Negotiated {
  blksize: number;
  windowsize: number;
  /** Retransmission timeout in ms, when the client asked for one (RFC 2349). */
  timeoutMs?: number;
  /** Options to put in the OACK, in the order the client sent them; empty = no OACK. */
  oack: Map<string, string>;
}

/** RFC 1350: 512-byte blocks unless negotiated. */
export const DEFAULT_BLKSIZE = 512;

function intValue(v: string): number | undefined {
  // Decimal digits only: RFC 2348/2349/7440 define the values as ASCII decimal numbers.
  if (!/^[0-9]{1,10}$/.test(v)) return undefined;
  return Number(v);
}

export function negotiate(requested: Map<string, string>, fileSize: number, limits: NegotiationLimits): Negotiated {
  const out: Negotiated = { blksize: DEFAULT_BLKSIZE, windowsize: 1, oack: new Map() };
  for (const [name, raw] of requested) {
    const v = intValue(raw);
    switch (name) {
      case 'blksize': {
        // RFC 2348: valid 8..65464; the server may answer a smaller value than asked.
        if (v === undefined || v < 8) break;
        out.blksize = Math.min(v, 65464, limits.maxBlksize);
        out.oack.set('blksize', String(out.blksize));
        break;
      }
      case 'tsize': {
        // RFC 2349 section "Transfer Size Option": in a RRQ the client sends 0 and
        // the server answers the size of the file.
        if (v === undefined) break;
        out.oack.set('tsize', String(fileSize));
        break;
      }
      case 'timeout': {
        // RFC 2349: 1..255 seconds; the server must not change it, only accept or ignore it.
        // Above our bound it is ignored: a client that never ACKs would otherwise
        // hold its transfer slot for 255 s per retry.
        if (v === undefined || v < 1 || v > Math.min(255, limits.maxTimeoutS ?? 10)) break;
        out.timeoutMs = v * 1000;
        out.oack.set('timeout', String(v));
        break;
      }
      case 'windowsize': {
        // RFC 7440 section 3: 1..65535; the server may answer a smaller value.
        if (v === undefined || v < 1 || v > 65535) break;
        out.windowsize = Math.min(v, limits.maxWindowsize);
        out.oack.set('windowsize', String(out.windowsize));
        break;
      }
      default:
        // RFC 2347: options the server does not support are ignored.
        break;
    }
  }
  return out;
}
