/**
 * The worker-thread path of the TFTP server. Workers run compiled code, so this
 * test loads the server from dist/ (`npm test` builds first); without a build it skips.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inCI, needPeers, needRoot } from '../../../helpers/peers.js';

const PORT = 18111;
const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../dist/boot/tftp/index.js');
const built = existsSync(dist);
if (!built) {
  if (inCI) throw new Error(`${dist} missing: npm test builds before running vitest`);
  console.warn('SKIP: dist/ not built (npm run build)');
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) =>
    execFile(cmd, args, { timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: String(stdout) + String(stderr) })),
  );
}
const until = async (cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe.skipIf(!built || !needRoot() || !needPeers('curl', 'atftp'))('TFTP server with worker threads (dist build)', () => {
  let dir: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let server: any;
  const events: { type: string; ok?: boolean; reason?: string }[] = [];
  const data = randomBytes(5 * 1024 * 1024 + 99);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kst-tftpw-'));
    writeFileSync(path.join(dir, 'f.bin'), data);
    const { TftpServer } = await import(dist);
    server = new TftpServer({
      root: dir,
      address: '127.0.0.1',
      port: PORT,
      workers: 2,
      timeoutMs: 200,
      maxRetries: 2,
      generated: (rel: string) => (rel === 'gen.txt' ? 'generated in main, sent by a worker\n' : undefined),
      log: (e: { type: string }) => events.push(e),
    });
    await server.listen();
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('concurrent curl and atftp transfers are byte-identical', async () => {
    const outs = Array.from({ length: 6 }, (_, i) => path.join(dir, `o${i}`));
    const rs = await Promise.all(
      outs.map((o, i) =>
        i % 2 === 0
          ? run('curl', ['-sS', '--tftp-blksize', '1468', '-o', o, `tftp://127.0.0.1:${PORT}/f.bin`])
          : run('atftp', ['-g', '-r', 'f.bin', '-l', o, '--option', 'blksize 1468', '--option', 'windowsize 8', '127.0.0.1', String(PORT)]),
      ),
    );
    for (const [i, r] of rs.entries()) {
      expect(r.code, r.out).toBe(0);
      expect(sha(readFileSync(outs[i]!))).toBe(sha(data));
    }
    const g = await run('curl', ['-sS', `tftp://127.0.0.1:${PORT}/gen.txt`]);
    expect(g.out).toBe('generated in main, sent by a worker\n');
    await until(() => server.activeTransfers === 0);
  });

  it('a silent client times out in the worker and frees its slot', async () => {
    const sock = dgram.createSocket('udp4');
    const got: Buffer[] = [];
    sock.on('message', (m) => got.push(m));
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const before = events.length;
    sock.send(Buffer.from('\x00\x01f.bin\x00octet\x00', 'latin1'), PORT, '127.0.0.1');
    await until(() => events.slice(before).some((e) => e.type === 'end'));
    sock.close();
    expect(events.slice(before).find((e) => e.type === 'end')).toMatchObject({ ok: false, reason: 'timeout' });
    expect(got.map((b) => b.readUInt16BE(0))).toEqual([3, 3, 3, 5]);
    expect(server.activeTransfers).toBe(0);
  });
});
