/**
 * connectBmc dispatch. The IPMI side is checked only for its failure path
 * (a silent UDP port on 127.0.0.1, in the redfish port range 19900-19999);
 * the IPMI client's own tests run it against ipmi_sim.
 */
import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { connectBmc } from '../../../../src/bmc/index.js';
import { BmcError } from '../../../../src/bmc/errors.js';

describe('connectBmc', () => {
  it('dispatches ipmi targets to the IPMI client, which fails within its budget on a silent BMC', async () => {
    const sock = dgram.createSocket('udp4');
    // Bound but never answering: datagrams are swallowed, no ICMP unreachable.
    const port = await new Promise<number>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(19990, '127.0.0.1', () => resolve(sock.address().port));
    });
    try {
      const started = Date.now();
      const err = await connectBmc({ protocol: 'ipmi', address: '127.0.0.1', port, username: 'admin', password: 'ipmi-pw-1', timeoutMs: 1500 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BmcError);
      expect((err as BmcError).kind).toBe('timeout');
      expect((err as BmcError).message).not.toContain('ipmi-pw-1');
      expect(Date.now() - started).toBeLessThan(1500 + 1500);
    } finally {
      sock.close();
    }
  });
});
