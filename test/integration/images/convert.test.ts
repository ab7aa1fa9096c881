/**
 * The seed's image conversion against the real qemu-img and zstd: a qcow2
 * (fetched over HTTP from 127.0.0.1, and from file://) becomes a raw.zst
 * whose content is the disk; a wrong checksum, a truncated qcow2, a VMDK
 * posing as qcow2 and a qcow2 with a backing file are each refused with a
 * reason naming the image and the cause, and leave nothing in the cache.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImagePreparer } from '../../../src/images/convert.js';
import { needPeers } from '../../helpers/peers.js';

const ok = needPeers('qemu-img', 'zstd');
const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { stdio: 'pipe' });

describe.skipIf(!ok)('ImagePreparer (qemu-img, zstd)', () => {
  let dir: string;
  let server: http.Server;
  let base: string;
  let disk: Buffer;
  const files: Record<string, Buffer> = {};

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kst-convert-'));
    // a 64 MiB disk: random data in the first and last MiB, zeros between
    disk = Buffer.alloc(64 * MiB);
    randomBytes(MiB).copy(disk, 0);
    randomBytes(MiB).copy(disk, 63 * MiB);
    writeFileSync(path.join(dir, 'disk.raw'), disk);
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', '-c', path.join(dir, 'disk.raw'), path.join(dir, 'disk.qcow2'));
    qemuImg('convert', '-f', 'raw', '-O', 'vmdk', path.join(dir, 'disk.raw'), path.join(dir, 'disk.vmdk'));
    qemuImg('create', '-f', 'qcow2', '-F', 'raw', '-b', path.join(dir, 'disk.raw'), path.join(dir, 'backed.qcow2'));
    for (const f of ['disk.qcow2', 'disk.vmdk', 'backed.qcow2']) files[f] = readFileSync(path.join(dir, f));
    // uncompressed, so cutting it drops data clusters the tables still point at
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', path.join(dir, 'disk.raw'), path.join(dir, 'full.qcow2'));
    const full = readFileSync(path.join(dir, 'full.qcow2'));
    files['truncated.qcow2'] = full.subarray(0, full.length - 512 * 1024);
    server = http.createServer((req, res) => {
      const b = files[(req.url ?? '/').slice(1)];
      if (!b) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'Content-Length': b.length }).end(b);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('converts a qcow2 over HTTP to a raw.zst holding exactly the disk; the second ask is the cache', async () => {
    const p = new ImagePreparer(path.join(dir, 'cache'));
    const img = { url: `${base}/disk.qcow2`, checksum: `sha256:${sha(files['disk.qcow2']!)}`, format: 'qcow2' };
    const r = await p.prepare(img);
    expect(r.virtualSize).toBe(64 * MiB);
    expect(r.compression).toBe('zstd');
    expect(r.name).toBe(`sha256-${sha(files['disk.qcow2']!)}.raw.zst`);
    const served = readFileSync(r.file);
    expect(sha(served)).toBe(r.sha256);
    expect(r.bytes).toBe(served.length);
    // the zeros cost nothing: well under the two random MiB plus a little
    expect(served.length).toBeLessThan(2.2 * MiB);
    const raw = execFileSync('zstd', ['-dc', r.file], { maxBuffer: 128 * MiB });
    expect(raw.equals(disk)).toBe(true);
    // the same checksum from another URL is the cached file
    const again = await p.prepare({ ...img, url: pathToFileURL(path.join(dir, 'disk.qcow2')).href });
    expect(again.file).toBe(r.file);
    expect(statSync(r.file).mtimeMs).toBe(statSync(again.file).mtimeMs);
  });

  it('status() is pending, then ready', async () => {
    const p = new ImagePreparer(path.join(dir, 'cache2'));
    const img = { url: pathToFileURL(path.join(dir, 'disk.qcow2')).href, checksum: `sha256:${sha(files['disk.qcow2']!)}`, format: 'qcow2' };
    expect(p.status(img)).toEqual({ state: 'pending' });
    for (let i = 0; i < 200 && p.status(img).state === 'pending'; i++) await new Promise((r) => setTimeout(r, 100));
    expect(p.status(img)).toMatchObject({ state: 'ready', image: { virtualSize: 64 * MiB } });
  });

  it.each([
    ['wrong checksum', 'disk.qcow2', (b: Buffer) => `sha256:${sha(Buffer.concat([b, Buffer.from('x')]))}`, /: checksum mismatch: got sha256:[0-9a-f]{64}, the site file says sha256:[0-9a-f]{64}$/],
    ['truncated qcow2', 'truncated.qcow2', (b: Buffer) => `sha256:${sha(b)}`, /: corrupt qcow2: qemu-img check found \d+ corruptions, 0 check errors \(truncated or damaged\)$/],
    ['unsupported format', 'disk.vmdk', (b: Buffer) => `sha256:${sha(b)}`, /: unsupported format: the site file says qcow2, the file is vmdk$/],
    ['backing file', 'backed.qcow2', (b: Buffer) => `sha256:${sha(b)}`, /: unsupported qcow2: it has a backing file \(.*disk\.raw\)$/],
  ])('%s: refused with the image and the cause, nothing cached', async (_what, file, sum, why) => {
    const cache = path.join(dir, `bad-${file}`);
    const p = new ImagePreparer(cache);
    const url = `${base}/${file}`;
    const err = await p.prepare({ url, checksum: sum(files[file]!), format: 'qcow2' }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message.startsWith(`image ${url}: `)).toBe(true);
    expect((err as Error).message).toMatch(why);
    expect(readdirSync(cache)).toEqual([]);
    // the backend's view says the same
    expect(p.status({ url, checksum: sum(files[file]!), format: 'qcow2' })).toEqual({ state: 'pending' });
    for (let i = 0; i < 100 && p.status({ url, checksum: sum(files[file]!), format: 'qcow2' }).state === 'pending'; i++) await new Promise((r) => setTimeout(r, 100));
    expect(p.status({ url, checksum: sum(files[file]!), format: 'qcow2' })).toEqual({ state: 'failed', reason: (err as Error).message });
  });

  it('a download that fails names the image and the HTTP status', async () => {
    const p = new ImagePreparer(path.join(dir, 'cache404'));
    await expect(p.prepare({ url: `${base}/nope.qcow2`, checksum: `sha256:${'0'.repeat(64)}`, format: 'qcow2' })).rejects.toThrow(`image ${base}/nope.qcow2: download failed: HTTP 404`);
  });
});
