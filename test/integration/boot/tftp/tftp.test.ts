/**
 * The TFTP server against real clients: curl, tftp-hpa and atftp, over 127.0.0.1.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, encodeAck, encodeRequest, type Packet } from '../../../../src/boot/tftp/packet.js';
import { TftpServer, type TftpEvent } from '../../../../src/boot/tftp/server.js';
import { needPeers, needRoot } from '../../../helpers/peers.js';

const PORT = 18101;
const CAP_PORT = 18102;
const FUZZ_PORT = 18103;
const HOLD_PORT = 18104;
const HOLD2_PORT = 18105;

function run(cmd: string, args: string[], timeout = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A hand-driven client socket: sends what the test says, records every packet it gets. */
async function rawClient(address = '127.0.0.1') {
  const sock = dgram.createSocket('udp4');
  const got: { p: Packet; port: number }[] = [];
  sock.on('message', (m, r) => got.push({ p: decode(m), port: r.port }));
  await new Promise<void>((r) => sock.bind(0, address, () => r()));
  return {
    got,
    send: (buf: Buffer, port: number) => new Promise<void>((r) => sock.send(buf, port, '127.0.0.1', () => r())),
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}

const until = async (cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe.skipIf(!needRoot() || !needPeers('curl', 'tftp', 'atftp'))('TFTP server with real clients', () => {
  let dir: string;
  let root: string;
  let server: TftpServer;
  const events: TftpEvent[] = [];
  const files: Record<string, Buffer> = {};

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kst-tftp-'));
    root = path.join(dir, 'root');
    mkdirSync(path.join(root, 'sub', 'dir'), { recursive: true });
    files['small.txt'] = Buffer.from('hello from kseed\n');
    files['exact.bin'] = randomBytes(1468 * 4);
    files['f3m.bin'] = randomBytes(3 * 1024 * 1024 + 123);
    // > 32 MiB: with blksize 512 the block number wraps past 65535.
    files['big.bin'] = randomBytes(33 * 1024 * 1024 + 7);
    files['sub/dir/nested.bin'] = randomBytes(70_000);
    for (const [n, b] of Object.entries(files)) writeFileSync(path.join(root, n), b);
    writeFileSync(path.join(dir, 'secret.txt'), 'outside the root\n');
    symlinkSync(path.join(dir, 'secret.txt'), path.join(root, 'evil'));
    symlinkSync('small.txt', path.join(root, 'inside-link'));
    server = new TftpServer({
      root,
      address: '127.0.0.1',
      port: PORT,
      timeoutMs: 300,
      maxRetries: 2,
      generated: (rel) => (rel === 'nodes/52-54-00-00-00-01.ipxe' ? '#!ipxe\necho generated\n' : undefined),
      log: (e) => events.push(e),
    });
    await server.listen();
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const out = (n: string) => path.join(dir, `out-${n}`);

  it('curl fetches byte-identical files without options, with blksize and with tsize', async () => {
    const cases: [string, string[]][] = [
      ['small.txt', ['--tftp-no-options']],
      ['f3m.bin', ['--tftp-no-options']],
      ['f3m.bin', ['--tftp-blksize', '1468']],
      ['exact.bin', ['--tftp-blksize', '1468']],
      ['sub/dir/nested.bin', ['--tftp-blksize', '8']],
      ['f3m.bin', ['--tftp-blksize', '65464']],
    ];
    for (const [i, [f, opts]] of cases.entries()) {
      const o = out(`curl${i}`);
      const r = await run('curl', ['-sS', ...opts, '-o', o, `tftp://127.0.0.1:${PORT}/${f}`]);
      expect(r.code, r.stderr).toBe(0);
      expect(sha(readFileSync(o))).toBe(sha(files[f]!));
    }
  });

  it('tftp-hpa fetches byte-identical files (plain RFC 1350, no options)', async () => {
    for (const f of ['small.txt', 'f3m.bin', 'exact.bin']) {
      const o = out(`hpa-${path.basename(f)}`);
      const r = await run('tftp', ['-m', 'binary', '127.0.0.1', String(PORT), '-c', 'get', f, o]);
      expect(r.code, r.stderr).toBe(0);
      expect(sha(readFileSync(o))).toBe(sha(files[f]!));
    }
  });

  it('atftp fetches byte-identical files with blksize, tsize and windowsize', async () => {
    const cases: string[][] = [
      [],
      ['--option', 'blksize 1468', '--option', 'tsize enable'],
      ['--option', 'blksize 1468', '--option', 'windowsize 8'],
      ['--option', 'blksize 512', '--option', 'windowsize 32', '--option', 'timeout 2'],
    ];
    for (const [i, opts] of cases.entries()) {
      const o = out(`atftp${i}`);
      const r = await run('atftp', ['-g', '-r', 'f3m.bin', '-l', o, ...opts, '127.0.0.1', String(PORT)]);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(sha(readFileSync(o))).toBe(sha(files['f3m.bin']!));
    }
  });

  it('a 33 MiB file with blksize 512 crosses the block-number rollover (curl lockstep, atftp windowed)', async () => {
    const o1 = out('big-curl');
    const r1 = await run('curl', ['-sS', '--tftp-blksize', '512', '-o', o1, `tftp://127.0.0.1:${PORT}/big.bin`]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(sha(readFileSync(o1))).toBe(sha(files['big.bin']!));
    const o2 = out('big-atftp');
    const r2 = await run('atftp', ['-g', '-r', 'big.bin', '-l', o2, '--option', 'blksize 512', '--option', 'windowsize 16', '127.0.0.1', String(PORT)]);
    expect(r2.code, r2.stderr + r2.stdout).toBe(0);
    expect(sha(readFileSync(o2))).toBe(sha(files['big.bin']!));
    const ends = events.filter((e) => e.type === 'end' && e.file === 'big.bin' && e.ok);
    expect(ends.length).toBeGreaterThanOrEqual(2);
    expect(ends.every((e) => e.type === 'end' && e.blocks >= Math.floor(files['big.bin']!.length / 512) + 1)).toBe(true);
  }, 180_000);

  it('without UDP GSO (node:dgram path) transfers are byte-identical too', async () => {
    const s = new TftpServer({ root, address: '127.0.0.1', port: CAP_PORT, gso: false });
    await s.listen();
    try {
      const o = out('nogso');
      const r = await run('atftp', ['-g', '-r', 'f3m.bin', '-l', o, '--option', 'blksize 1468', '--option', 'windowsize 16', '127.0.0.1', String(CAP_PORT)]);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(sha(readFileSync(o))).toBe(sha(files['f3m.bin']!));
    } finally {
      await s.close();
    }
  });

  it('serves generated in-memory files and symlinks that stay inside the root', async () => {
    const r = await run('curl', ['-sS', `tftp://127.0.0.1:${PORT}/nodes/52-54-00-00-00-01.ipxe`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('#!ipxe\necho generated\n');
    const r2 = await run('curl', ['-sS', `tftp://127.0.0.1:${PORT}/inside-link`]);
    expect(r2.stdout).toBe('hello from kseed\n');
  });

  it('refuses traversal: "..", absolute paths and symlinks out of the root, with a TFTP error', async () => {
    // tftp-hpa sends the name verbatim.
    const o = out('trav');
    const r = await run('tftp', ['-m', 'binary', '127.0.0.1', String(PORT), '-c', 'get', '../secret.txt', o]);
    expect(r.stdout + r.stderr).toMatch(/Error code 2/);
    expect(existsSync(o) ? readFileSync(o, 'utf8') : '').not.toContain('outside');
    // curl: --path-as-is keeps the dot segments; an empty first segment makes the name absolute.
    for (const u of [`tftp://127.0.0.1:${PORT}/../secret.txt`, `tftp://127.0.0.1:${PORT}//etc/passwd`, `tftp://127.0.0.1:${PORT}/evil`]) {
      const c = await run('curl', ['-sS', '--path-as-is', u]);
      expect(c.code, u).not.toBe(0);
      expect(c.stdout).not.toContain('outside');
      expect(c.stdout).not.toContain('root:');
    }
    // The exact error codes, from a raw client.
    const want: [string, number][] = [
      ['../secret.txt', 2],
      ['sub/../../secret.txt', 2],
      ['..\\secret.txt', 2],
      ['/etc/passwd', 1],
      [path.join(dir, 'secret.txt'), 1],
      ['evil', 2],
      ['sub', 1],
    ];
    for (const [name, code] of want) {
      // One client (port) per request: a second RRQ from the same port is taken as a retransmission.
      const cl = await rawClient();
      await cl.send(encodeRequest('rrq', name, 'octet'), PORT);
      await until(() => cl.got.length >= 1);
      await cl.close();
      expect(cl.got[0]!.p, name).toMatchObject({ op: 'error', code });
    }
  });

  it('refuses writes (WRQ) with access violation', async () => {
    writeFileSync(out('up'), 'upload');
    const r = await run('tftp', ['-m', 'binary', '127.0.0.1', String(PORT), '-c', 'put', out('up'), 'up.txt']);
    expect(r.stdout + r.stderr).toMatch(/Error code 2/);
    expect(existsSync(path.join(root, 'up.txt'))).toBe(false);
  });

  it('a client that stops ACKing gets retransmissions, then an ERROR, and its slot is freed', async () => {
    const cl = await rawClient();
    const before = events.length;
    await cl.send(encodeRequest('rrq', 'f3m.bin', 'octet'), PORT);
    await until(() => events.slice(before).some((e) => e.type === 'end'));
    // The server emits 'end' as it hands the ERROR to the socket; the datagram
    // reaches the client a moment later, so wait for it before closing.
    await until(() => cl.got.some((g) => g.p.op === 'error'));
    await cl.close();
    const end = events.slice(before).find((e) => e.type === 'end');
    expect(end).toMatchObject({ ok: false, reason: 'timeout' });
    // 1 original + maxRetries (2) copies of DATA 1, then ERROR 0.
    expect(cl.got.map((g) => g.p.op)).toEqual(['data', 'data', 'data', 'error']);
    expect(cl.got.every((g) => g.p.op !== 'data' || g.p.block === 1)).toBe(true);
    expect(server.activeTransfers).toBe(0);
  });

  it('a killed client frees its slot (ICMP port unreachable or timeout)', async () => {
    const before = events.length;
    const o = out('killed');
    const p = execFile('atftp', ['-g', '-r', 'big.bin', '-l', o, '--option', 'blksize 512', '127.0.0.1', String(PORT)]);
    await until(() => events.slice(before).some((e) => e.type === 'start'));
    await new Promise((r) => setTimeout(r, 200));
    p.kill('SIGKILL');
    await until(() => events.slice(before).some((e) => e.type === 'end'), 15_000);
    expect(events.slice(before).find((e) => e.type === 'end')).toMatchObject({ ok: false });
    await until(() => server.activeTransfers === 0);
  });

  it('caps concurrent transfers: the extra client is told the server is busy', async () => {
    const s = new TftpServer({ root, address: '127.0.0.1', port: CAP_PORT, maxTransfers: 1, timeoutMs: 200, maxRetries: 1 });
    await s.listen();
    try {
      const a = await rawClient();
      const b = await rawClient();
      await a.send(encodeRequest('rrq', 'f3m.bin', 'octet'), CAP_PORT);
      await until(() => a.got.length > 0);
      await b.send(encodeRequest('rrq', 'small.txt', 'octet'), CAP_PORT);
      await until(() => b.got.length > 0);
      expect(b.got[0]!.p).toMatchObject({ op: 'error', code: 0, message: expect.stringMatching(/busy/) });
      // a never ACKs: after its timeout the slot is free again.
      await until(() => s.activeTransfers === 0);
      b.got.length = 0;
      await b.send(encodeRequest('rrq', 'small.txt', 'octet'), CAP_PORT);
      await until(() => b.got.length > 0);
      const first = b.got[0]!;
      expect(first.p).toMatchObject({ op: 'data', block: 1 });
      await b.send(encodeAck(1), first.port);
      await a.close();
      await b.close();
    } finally {
      await s.close();
    }
  });

  /** 256 read requests asking timeout=255 that never ACK (issue 14, hole 3), from `addressOf(i)`. */
  async function hold(port: number, addressOf: (i: number) => string) {
    const cls = [];
    for (let i = 0; i < 256; i++) {
      const c = await rawClient(addressOf(i));
      await c.send(encodeRequest('rrq', 'small.txt', 'octet', { timeout: '255', blksize: '1468' }), port);
      cls.push(c);
    }
    return cls;
  }

  it('256 never-ACKing requests with timeout=255 from one host leave room for a legitimate client, and free their slots in seconds', async () => {
    const s = new TftpServer({ root, address: '127.0.0.1', port: HOLD_PORT, workers: 0 });
    await s.listen();
    const cls = await hold(HOLD_PORT, () => '127.0.0.2');
    try {
      await until(() => cls.every((c) => c.got.length > 0));
      // the per-client bound: one host cannot take every slot
      expect(s.activeTransfers).toBeLessThanOrEqual(16);
      // a timeout of 255 s is above the server's bound: ignored (RFC 2349 lets it only accept or ignore)
      const oack = cls.map((c) => c.got[0]!.p).find((p) => p.op === 'oack');
      expect(oack).toBeDefined();
      expect(oack!.op === 'oack' && oack!.options.has('timeout')).toBe(false);
      const o = out('hold1');
      const r = await run('curl', ['-sS', '--max-time', '20', '-o', o, `tftp://127.0.0.1:${HOLD_PORT}/f3m.bin`]);
      expect(r.code, r.stderr).toBe(0);
      expect(sha(readFileSync(o))).toBe(sha(files['f3m.bin']!));
      // the held slots are given up after the server's own setup timeouts (1 + 2 + 4 s), not 6 x 255 s
      await until(() => s.activeTransfers === 0, 10_000);
    } finally {
      for (const c of cls) await c.close();
      await s.close();
    }
  });

  it('256 never-ACKing requests with timeout=255 from 256 hosts hold the server for seconds only: a legitimate transfer succeeds after', async () => {
    const s = new TftpServer({ root, address: '127.0.0.1', port: HOLD2_PORT, workers: 0 });
    await s.listen();
    const cls = await hold(HOLD2_PORT, (i) => `127.0.${3 + (i >> 7)}.${1 + (i & 127)}`);
    try {
      await until(() => cls.every((c) => c.got.length > 0));
      const t0 = Date.now();
      const o = out('hold2');
      let r = await run('curl', ['-sS', '-o', o, `tftp://127.0.0.1:${HOLD2_PORT}/small.txt`]);
      // every slot is taken for the moment: the client is told so, and tries again as a PXE ROM would
      while (r.code !== 0 && Date.now() - t0 < 15_000) {
        await new Promise((res) => setTimeout(res, 500));
        r = await run('curl', ['-sS', '-o', o, `tftp://127.0.0.1:${HOLD2_PORT}/small.txt`]);
      }
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(o, 'utf8')).toBe('hello from kseed\n');
    } finally {
      for (const c of cls) await c.close();
      await s.close();
    }
  });

  it('fuzz: random and mutated requests never crash the server, and every answer is a well-formed packet', async () => {
    const s = new TftpServer({ root, address: '127.0.0.1', port: FUZZ_PORT, timeoutMs: 100, maxRetries: 1 });
    await s.listen();
    const cl = await rawClient();
    try {
      const valid = encodeRequest('rrq', 'small.txt', 'octet', { blksize: '1468', tsize: '0', windowsize: '4', timeout: '1' });
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)),
            fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }).map((m) => {
              const b = Buffer.from(valid);
              for (const [i, v] of m) b[i] = v;
              return b;
            }),
          ),
          async (pkt) => {
            await cl.send(pkt, FUZZ_PORT);
          },
        ),
        { numRuns: 400 },
      );
      await new Promise((r) => setTimeout(r, 300));
      await until(() => s.activeTransfers === 0);
      for (const g of cl.got) {
        expect(['error', 'oack', 'data']).toContain(g.p.op);
        if (g.p.op === 'error') expect(g.p.message).toMatch(/^[\x20-\x7e]*$/);
      }
      // Still serving.
      const r = await run('curl', ['-sS', `tftp://127.0.0.1:${FUZZ_PORT}/small.txt`]);
      expect(r.stdout).toBe('hello from kseed\n');
    } finally {
      await cl.close();
      await s.close();
    }
  });
});
