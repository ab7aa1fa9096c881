import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, encodeAck, encodeData, encodeError, encodeOack, encodeRequest, ErrorCode } from '../../../../src/boot/tftp/packet.js';

describe('TFTP packet codec', () => {
  it('decodes an RRQ with options, names lower-cased, first duplicate wins', () => {
    const buf = Buffer.from('\x00\x01boot/x.kpxe\x00OCTET\x00BlkSize\x001468\x00tsize\x000\x00blksize\x00512\x00', 'latin1');
    const p = decode(buf);
    expect(p).toEqual({
      op: 'rrq',
      filename: 'boot/x.kpxe',
      mode: 'octet',
      options: new Map([
        ['blksize', '1468'],
        ['tsize', '0'],
      ]),
    });
  });

  it('round-trips requests, DATA, ACK, ERROR, OACK', () => {
    expect(decode(encodeRequest('wrq', 'a', 'netascii'))).toMatchObject({ op: 'wrq', filename: 'a', mode: 'netascii' });
    expect(decode(encodeData(70000, Buffer.from('hi')))).toEqual({ op: 'data', block: 70000 & 0xffff, data: Buffer.from('hi') });
    expect(decode(encodeAck(65535))).toEqual({ op: 'ack', block: 65535 });
    expect(decode(encodeError(ErrorCode.fileNotFound, 'nope'))).toEqual({ op: 'error', code: 1, message: 'nope' });
    expect(decode(encodeOack(new Map([['tsize', '42']])))).toEqual({ op: 'oack', options: new Map([['tsize', '42']]) });
  });

  it('rejects malformed packets without throwing', () => {
    const bad = [
      Buffer.alloc(0),
      Buffer.from([0, 1]),
      Buffer.from('\x00\x01file\x00octet', 'latin1'), // mode not terminated
      Buffer.from('\x00\x01\x00octet\x00', 'latin1'), // empty filename
      Buffer.from('\x00\x01f\x00binary\x00', 'latin1'), // unknown mode
      Buffer.from('\x00\x01f\x00octet\x00blksize\x00', 'latin1'), // option without value... tolerated only if empty
      Buffer.from([0, 9, 0, 0]),
    ];
    const kinds = bad.map((b) => decode(b).op);
    expect(kinds).toEqual(['invalid', 'invalid', 'invalid', 'invalid', 'invalid', 'invalid', 'invalid']);
  });

  it('keeps error messages printable ASCII', () => {
    const p = decode(encodeError(0, 'bad\nname\u00e9'));
    expect(p).toEqual({ op: 'error', code: 0, message: 'bad?name?' });
  });

  it('fuzz: decode never throws and every request it accepts re-encodes to the same request', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const p = decode(Buffer.from(bytes));
        if (p.op === 'rrq' || p.op === 'wrq') {
          const again = decode(encodeRequest(p.op, p.filename, p.mode, p.options));
          expect(again).toEqual(p);
        }
        if (p.op === 'ack' || p.op === 'data') expect(p.block).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 5000 },
    );
  });

  it('fuzz: mutated valid requests never throw', () => {
    const base = encodeRequest('rrq', 'pxelinux.0', 'octet', { blksize: '1468', tsize: '0', windowsize: '8' });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat(base.length), (muts, cut) => {
        const b = Buffer.from(base);
        for (const [i, v] of muts) b[i] = v;
        const p = decode(b.subarray(0, cut));
        expect(['rrq', 'wrq', 'data', 'ack', 'error', 'oack', 'invalid']).toContain(p.op);
      }),
      { numRuns: 3000 },
    );
  });
});
