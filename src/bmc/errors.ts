import { KseedError } from '../errors.js';
import type { BmcErrorKind } from './types.js';

/** A BMC failed: always one node's error, never the whole run's. */
export class BmcError extends KseedError {
  readonly kind: BmcErrorKind;
  /** `address:port` of the BMC; never the credentials. */
  readonly bmc: string;
  constructor(kind: BmcErrorKind, bmc: string, message: string, opts: { detail?: string; cause?: unknown } = {}) {
    super(`${bmc}: ${message}`, { code: `bmc-${kind}`, detail: opts.detail, cause: opts.cause });
    this.name = 'BmcError';
    this.kind = kind;
    this.bmc = bmc;
  }
}
