/**
 * The boot HTTP server against curl over 127.0.0.1: artifacts (Range, HEAD,
 * validators, traversal), iPXE scripts per lifecycle state, the token-guarded
 * agent API and callbacks, NoCloud.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBootBackend } from '../../../../src/boot/http/memory-backend.js';
import { HttpBootServer, type HttpEvent } from '../../../../src/boot/http/server.js';
import { needPeers, needRoot } from '../../../helpers/peers.js';

const PORT = 18201;
const BASE = `http://127.0.0.1:${PORT}`;

interface Res {
  code: number;
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** curl -i, parsed: status line, headers (lower-case), body bytes. */
function curl(args: string[]): Promise<Res> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '-i', '--path-as-is', ...args], { encoding: 'buffer', maxBuffer: 64 << 20 }, (err, stdout) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      let out = stdout as Buffer;
      // Skip interim 1xx responses (curl sends Expect: 100-continue for large bodies).
      while (/^HTTP\/1\.1 1\d\d /.test(out.subarray(0, 16).toString('latin1'))) out = out.subarray(out.indexOf('\r\n\r\n') + 4);
      const sep = out.indexOf('\r\n\r\n');
      const head = out.subarray(0, sep < 0 ? out.length : sep).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of head.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ code, status: Number(head[0]?.split(' ')[1] ?? 0), headers, body: sep < 0 ? Buffer.alloc(0) : out.subarray(sep + 4) });
    });
  });
}

// Debian's ipxe package: what DHCP hands UEFI HTTP-boot firmware as <base>/ipxe/<file>.
const IPXE_DIR = '/usr/lib/ipxe';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.skipIf(!needRoot() || !needPeers('curl'))('HTTP boot server with curl', () => {
  let dir: string;
  let server: HttpBootServer;
  let backend: MemoryBootBackend;
  const log: HttpEvent[] = [];
  const img = randomBytes(3 * 1024 * 1024 + 11);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kst-http-'));
    const art = path.join(dir, 'artifacts');
    mkdirSync(path.join(art, 'images'), { recursive: true });
    writeFileSync(path.join(art, 'vmlinuz'), 'kernel-bytes');
    writeFileSync(path.join(art, 'initramfs.gz'), 'initrd-bytes');
    writeFileSync(path.join(art, 'images', 'os.img'), img);
    writeFileSync(path.join(art, 'empty'), '');
    writeFileSync(path.join(dir, 'secret.txt'), 'outside the artifacts\n');
    symlinkSync(path.join(dir, 'secret.txt'), path.join(art, 'evil'));
    backend = new MemoryBootBackend([
      {
        name: 'ctl01',
        macs: ['52:54:00:00:00:01'],
        state: 'deploying',
        task: { task: 'deploy', imageUrl: `${BASE}/artifacts/images/os.img`, imageChecksum: `sha256:${sha(img)}`, imageFormat: 'raw', imageCompression: 'none', targetDisk: '/dev/vda' },
        nocloud: { metaData: 'instance-id: ctl01\nlocal-hostname: ctl01\n', userData: '#cloud-config\nhostname: ctl01\n' },
      },
      { name: 'cmp01', macs: ['52:54:00:00:00:02'], state: 'active' },
      { name: 'cmp02', macs: ['52:54:00:00:00:03'], state: 'available' },
      { name: 'cmp03', macs: ['52:54:00:00:00:04'], state: 'inspecting' },
    ]);
    server = new HttpBootServer({
      backend,
      artifactsDir: art,
      ipxeDir: IPXE_DIR,
      publicUrl: BASE,
      ramdisk: { kernel: 'vmlinuz', initrd: 'initramfs.gz' },
      address: '127.0.0.1',
      port: PORT,
      log: (e) => log.push(e),
    });
    await server.listen();
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('streams artifacts whole, with HEAD, and answers 304 to a matching validator', async () => {
    const r = await curl([`${BASE}/artifacts/images/os.img`]);
    expect(r.status).toBe(200);
    expect(sha(r.body)).toBe(sha(img));
    expect(r.headers['accept-ranges']).toBe('bytes');
    expect(r.headers['last-modified']).toMatch(/GMT$/);
    const etag = r.headers.etag!;
    expect(etag).toMatch(/^".+"$/);
    const h = await curl(['-I', `${BASE}/artifacts/images/os.img`]);
    expect(h.status).toBe(200);
    expect(h.headers['content-length']).toBe(String(img.length));
    expect(h.body.length).toBe(0);
    const c = await curl(['-H', `If-None-Match: ${etag}`, `${BASE}/artifacts/images/os.img`]);
    expect(c.status).toBe(304);
    expect(c.body.length).toBe(0);
    const e = await curl([`${BASE}/artifacts/empty`]);
    expect([e.status, e.body.length]).toEqual([200, 0]);
  });

  it('keeps the connection usable after a zero-copy body (two downloads on one connection)', async () => {
    const a = path.join(dir, 'ka1');
    const b = path.join(dir, 'ka2');
    const r = await new Promise<string>((res) =>
      execFile('curl', ['-sS', '-w', '%{num_connects} ', '-o', a, `${BASE}/artifacts/images/os.img`, '-o', b, `${BASE}/artifacts/images/os.img`], (_e, out) => res(String(out))),
    );
    expect(r.trim().split(' ')).toEqual(['1', '0']); // the second transfer reused the first connection
    expect(sha(readFileSync(a))).toBe(sha(img));
    expect(sha(readFileSync(b))).toBe(sha(img));
  });

  it('serves byte ranges (206), resumes a download, and answers 416 beyond the end', async () => {
    const r = await curl(['-r', '100-199', `${BASE}/artifacts/images/os.img`]);
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe(`bytes 100-199/${img.length}`);
    expect(r.body.equals(img.subarray(100, 200))).toBe(true);
    const tail = await curl(['-H', 'Range: bytes=-5', `${BASE}/artifacts/images/os.img`]);
    expect(tail.body.equals(img.subarray(img.length - 5))).toBe(true);
    // curl -C resumes a partial file with an open-ended range.
    const part = path.join(dir, 'partial.img');
    writeFileSync(part, img.subarray(0, 1_000_000));
    await new Promise<void>((res, rej) => execFile('curl', ['-sS', '-C', '-', '-o', part, `${BASE}/artifacts/images/os.img`], (e) => (e ? rej(e) : res())));
    expect(sha(readFileSync(part))).toBe(sha(img));
    const bad = await curl(['-r', `${img.length}-`, `${BASE}/artifacts/images/os.img`]);
    expect(bad.status).toBe(416);
    expect(bad.headers['content-range']).toBe(`bytes */${img.length}`);
    // If-Range with a stale validator: the whole file, not the range.
    const ir = await curl(['-r', '0-9', '-H', 'If-Range: "stale"', `${BASE}/artifacts/images/os.img`]);
    expect(ir.status).toBe(200);
    expect(ir.body.length).toBe(img.length);
  });

  it.skipIf(!needPeers(`${IPXE_DIR}/snponly.efi`))('serves the iPXE first stages under /ipxe/ for UEFI HTTP boot', async () => {
    const r = await curl([`${BASE}/ipxe/snponly.efi`]);
    expect(r.status).toBe(200);
    expect(sha(r.body)).toBe(sha(readFileSync(`${IPXE_DIR}/snponly.efi`)));
    const out = await curl([`${BASE}/ipxe/../../etc/passwd`]);
    expect(out.status).toBe(404);
  });

  it('refuses traversal: "..", encoded "..", symlinks out, absolute', async () => {
    for (const p of ['/artifacts/../secret.txt', '/artifacts/%2e%2e/secret.txt', '/artifacts/images/..%2f..%2fsecret.txt', '/artifacts/evil', '/artifacts//etc/passwd', '/artifacts/%00']) {
      const r = await curl([`${BASE}${p}`]);
      expect([r.status, p]).toEqual([404, p]);
      expect(r.body.toString()).not.toContain('outside');
    }
  });

  it('hands out the iPXE script chosen by lifecycle state; unknown MACs never deploy', async () => {
    const dep = await curl([`${BASE}/boot/52-54-00-00-00-01.ipxe`]);
    expect(dep.status).toBe(200);
    const text = dep.body.toString();
    expect(text).toMatch(/^#!ipxe\n/);
    expect(text).toContain(`kernel ${BASE}/artifacts/vmlinuz kseed.url=${BASE} kseed.node=ctl01 kseed.token=${backend.agentToken('ctl01')} kseed.mac=52:54:00:00:00:01 console=ttyS0 initrd=initramfs.gz`);
    expect(text).toContain(`initrd ${BASE}/artifacts/initramfs.gz`);
    const ins = (await curl([`${BASE}/boot/52-54-00-00-00-04.ipxe`])).body.toString();
    expect(ins).toContain('kseed.node=cmp03');
    expect(ins).toContain('inspect ramdisk');
    const local = (await curl([`${BASE}/boot/52-54-00-00-00-02.ipxe`])).body.toString();
    expect(local).toContain('sanboot --no-describe --drive 0x80');
    expect(local).not.toContain('kernel');
    for (const mac of ['52-54-00-00-00-03', '52-54-00-99-99-99']) {
      const s = (await curl([`${BASE}/boot/${mac}.ipxe`])).body.toString();
      expect(s).toMatch(/\nexit\n$/);
      expect(s).not.toMatch(/kernel|token|sanboot/);
    }
    // Upper-case MAC as iPXE may print it; a state change takes effect at once.
    backend.setState('ctl01', 'active');
    expect((await curl([`${BASE}/boot/52-54-00-00-00-01.ipxe`])).body.toString()).toContain('sanboot');
    backend.setState('ctl01', 'deploying');
    expect((await curl([`${BASE}/boot/52-54-00-00-00-01.IPXE`])).status).toBe(404);
    const chain = await curl([`${BASE}/boot.ipxe`]);
    expect(chain.body.toString()).toContain('${net0/mac:hexhyp}.ipxe && exit');
  });

  it('agent API: 401 without a token, 403 with another node token, 200 with its own', async () => {
    const own = backend.agentToken('ctl01');
    const other = backend.agentToken('cmp01');
    const none = await curl([`${BASE}/v1/agent/ctl01/task`]);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    const wrong = await curl(['-H', `Authorization: Bearer ${other}`, `${BASE}/v1/agent/ctl01/task`]);
    expect(wrong.status).toBe(403);
    const unknown = await curl(['-H', `Authorization: Bearer ${own}`, `${BASE}/v1/agent/nobody/task`]);
    expect(unknown.status).toBe(403);
    const ok = await curl(['-H', `Authorization: Bearer ${own}`, `${BASE}/v1/agent/ctl01/task`]);
    expect(ok.status).toBe(200);
    expect(ok.body.toString()).toBe(
      `TASK=deploy\nIMAGE_URL=${BASE}/artifacts/images/os.img\nIMAGE_CHECKSUM=sha256:${sha(img)}\nIMAGE_FORMAT=raw\nIMAGE_COMPRESSION=none\nTARGET_DISK=/dev/vda\nREBOOT=1\n`,
    );
    // Tokens never reach the log.
    expect(JSON.stringify(log)).not.toContain(own);
  });

  it('records inventory, progress and result per node; another node token changes nothing', async () => {
    const own = backend.agentToken('ctl01');
    const other = backend.agentToken('cmp01');
    const inv = JSON.stringify({
      cpus: 2,
      memory_mib: 512,
      disks: [{ name: 'vda', size_bytes: 68719476736, model: 'QEMU', serial: '', wwn: '', rotational: true, hctl: '', by_path: 'pci-0000:00:04.0' }],
      nics: [{ name: 'eth0', mac: '52:54:00:00:00:01', link: true }],
      boot_mode: 'bios',
    });
    const hdr = ['-H', 'Content-Type: application/json'];
    expect((await curl([...hdr, '-H', `Authorization: Bearer ${other}`, '--data-binary', inv, `${BASE}/v1/agent/ctl01/inventory`])).status).toBe(403);
    expect((await curl([...hdr, '--data-binary', inv, `${BASE}/v1/agent/ctl01/inventory`])).status).toBe(401);
    expect(backend.record('ctl01').inventories).toEqual([]);
    expect((await curl([...hdr, '-H', `Authorization: Bearer ${own}`, '--data-binary', inv, `${BASE}/v1/agent/ctl01/inventory`])).status).toBe(200);
    expect(backend.record('ctl01').inventories[0]!.disks[0]!.size_bytes).toBe(68719476736);
    const badInv = await curl([...hdr, '-H', `Authorization: Bearer ${own}`, '--data-binary', '{"cpus":1}', `${BASE}/v1/agent/ctl01/inventory`]);
    expect(badInv.status).toBe(400);
    expect(badInv.body.toString()).toMatch(/inventory\.memory_mib/);

    const auth = ['-H', `Authorization: Bearer ${own}`];
    expect((await curl([...auth, '--data', 'stage=write&pct=42&msg=writing%20image', `${BASE}/v1/agent/ctl01/progress`])).status).toBe(204);
    expect((await curl([...auth, '--data', 'stage=write&pct=420', `${BASE}/v1/agent/ctl01/progress`])).status).toBe(400);
    expect((await curl([...auth, '--data', 'status=ok&stage=done&msg=', `${BASE}/v1/agent/ctl01/result`])).status).toBe(204);
    expect((await curl(['-H', `Authorization: Bearer ${other}`, '--data', 'status=fail&stage=x', `${BASE}/v1/agent/ctl01/result`])).status).toBe(403);
    expect(backend.record('ctl01').progress).toEqual([{ stage: 'write', pct: 42, msg: 'writing image' }]);
    expect(backend.record('ctl01').results).toEqual([{ status: 'ok', stage: 'done', msg: '' }]);
    expect(backend.record('cmp01').results).toEqual([]);
    expect((await curl([...auth, `${BASE}/v1/agent/ctl01/result`])).status).toBe(405);
  });

  it('callbacks: recorded only for the node whose token was used', async () => {
    const a = backend.agentToken('cmp01');
    const b = backend.agentToken('cmp02');
    const r = await curl(['-H', `Authorization: Bearer ${a}`, '--data', 'hostname=cmp01&stage=booted&uptime=3.2', `${BASE}/v1/callback/cmp01`]);
    expect(r.status).toBe(204);
    // cmp02's token cannot post a callback for cmp01, and cmp01's cannot for cmp02.
    expect((await curl(['-H', `Authorization: Bearer ${b}`, '--data', 'hostname=evil&stage=booted', `${BASE}/v1/callback/cmp01`])).status).toBe(403);
    expect((await curl(['-H', `Authorization: Bearer ${a}`, '--data', 'hostname=evil&stage=booted', `${BASE}/v1/callback/cmp02`])).status).toBe(403);
    expect(backend.record('cmp01').callbacks).toEqual([{ hostname: 'cmp01', stage: 'booted', fields: { hostname: 'cmp01', stage: 'booted', uptime: '3.2' } }]);
    expect(backend.record('cmp02').callbacks).toEqual([]);
  });

  it('NoCloud data per node, behind the same token', async () => {
    const own = backend.agentToken('ctl01');
    expect((await curl([`${BASE}/v1/nocloud/ctl01/meta-data`])).status).toBe(401);
    expect((await curl(['-H', `Authorization: Bearer ${backend.agentToken('cmp01')}`, `${BASE}/v1/nocloud/ctl01/user-data`])).status).toBe(403);
    const md = await curl(['-H', `Authorization: Bearer ${own}`, `${BASE}/v1/nocloud/ctl01/meta-data`]);
    expect(md.body.toString()).toBe('instance-id: ctl01\nlocal-hostname: ctl01\n');
    const ud = await curl(['-H', `Authorization: Bearer ${own}`, `${BASE}/v1/nocloud/ctl01/user-data`]);
    expect(ud.body.toString()).toMatch(/^#cloud-config/);
    expect((await curl(['-H', `Authorization: Bearer ${own}`, `${BASE}/v1/nocloud/ctl01/network-config`])).status).toBe(404);
  });

  it('refuses oversized bodies and unknown paths', async () => {
    const own = backend.agentToken('ctl01');
    const big = path.join(dir, 'big.json');
    writeFileSync(big, Buffer.alloc(2 * 1024 * 1024, 0x20));
    const r = await curl(['-H', `Authorization: Bearer ${own}`, '--data-binary', `@${big}`, `${BASE}/v1/agent/ctl01/inventory`]);
    expect(r.status).toBe(413);
    expect((await curl([`${BASE}/v1/agent/ctl01/unknown`])).status).toBe(404);
    expect((await curl([`${BASE}/nothing`])).status).toBe(404);
  });
});
