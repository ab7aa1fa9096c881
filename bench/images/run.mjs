#!/usr/bin/env node
/**
 * bench/images: build times and sizes of the deploy ramdisk and the test OS
 * image, and the direct-boot deploy time (QEMU -kernel/-initrd, no PXE, no
 * BMC): the floor that bench/e2e compares `kseed provision` against.
 *
 * Reference tool in the same run: the classic initramfs assembly
 * `find . | cpio -o -H newc | gzip -9` over the very same file tree, against
 * kseed's in-memory newc writer + zlib (the step that differs).
 *
 *   npm run build && node bench/images/run.mjs [--cache DIR] [--runs N]
 * Needs root, qemu-system-x86_64, busybox, cpio, and the image build tools.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, createReadStream, ftruncateSync, lstatSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const { buildRamdisk } = await import(path.join(root, 'dist/images/ramdisk.js'));
const { buildTestOs } = await import(path.join(root, 'dist/images/osimage.js'));
const { CpioArchive } = await import(path.join(root, 'dist/images/cpio.js'));

const arg = (k, d) => {
  const i = process.argv.indexOf(k);
  return i > 0 ? process.argv[i + 1] : d;
};
const cache = path.resolve(arg('--cache', path.join(root, 'cache')));
const runs = Number(arg('--runs', '1'));
const now = () => performance.now() / 1000;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ksr-bench-'));
const out = { load: os.loadavg()[0], cores: os.cpus().length };

try {
  // 1. ramdisk: full forced build (packages already cached), then the assembly step vs cpio|gzip
  let t = now();
  const rd = await buildRamdisk({ cacheDir: cache, force: true });
  out.ramdisk = { build_s: +(now() - t).toFixed(2), kernel_bytes: rd.kernelBytes, initramfs_bytes: rd.initramfsBytes };
  const tree = path.join(tmp, 'tree');
  execFileSync('sh', ['-c', `mkdir -p ${tree} && cd ${tree} && cpio -id --quiet`], { input: gunzipSync(readFileSync(rd.initramfs)) });
  const ours = [];
  const ref = [];
  for (let i = 0; i < Math.max(3, runs); i++) {
    t = now();
    execFileSync('sh', ['-c', `cd ${tree} && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9 > ${tmp}/ref.gz`]);
    ref.push(now() - t);
    t = now();
    // same tree through kseed's writer (reads the files like the builder does)
    const c = new CpioArchive();
    for (const name of readdirSync(tree, { recursive: true }).sort()) {
      const p = path.join(tree, name);
      const st = lstatSync(p);
      if (st.isDirectory()) c.dir(name, st.mode & 0o777);
      else if (st.isSymbolicLink()) c.symlink(name, readlinkSync(p));
      else if (st.isCharacterDevice()) c.charDev(name, (st.rdev >> 8) & 0xfff, st.rdev & 0xff, st.mode & 0o777);
      else c.file(name, readFileSync(p), st.mode & 0o777);
    }
    writeFileSync(path.join(tmp, 'ours.gz'), gzipSync(c.toBuffer(), { level: 9 }));
    ours.push(now() - t);
  }
  out.initramfs_assembly = {
    kseed_s: +median(ours).toFixed(3),
    cpio_gzip9_s: +median(ref).toFixed(3),
    ratio: +(median(ours) / median(ref)).toFixed(2),
    kseed_bytes: statSync(path.join(tmp, 'ours.gz')).size,
    cpio_gzip9_bytes: statSync(path.join(tmp, 'ref.gz')).size,
  };

  // 2. test OS image
  t = now();
  const os1 = await buildTestOs({ cacheDir: cache, force: true });
  out.testos = { build_s: +(now() - t).toFixed(2), raw_bytes: os1.rawBytes, gz_bytes: os1.gzBytes };

  // 3. direct-boot floor: inspect (boot + DHCP + inventory) and deploy of testos.raw.gz
  const token = 'bench-token-0123456789abcdef';
  const mac = '52:54:00:4b:53:99';
  let state;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const p = new URL(req.url, 'http://x').pathname;
      const art = { '/artifacts/testos.raw.gz': os1.gz, '/artifacts/testos.raw.zst': os1.zst, '/artifacts/testos.raw': os1.raw }[p];
      if (art) {
        res.writeHead(200, { 'content-length': statSync(art).size });
        return createReadStream(art).pipe(res);
      }
      if (req.headers.authorization !== `Bearer ${token}`) return res.writeHead(401).end();
      if (p.endsWith('/task')) return res.writeHead(200).end(state.task);
      if (p.startsWith('/v1/nocloud/')) return res.writeHead(200).end(p.endsWith('meta-data') ? 'instance-id: b\nlocal-hostname: bench\n' : '#cloud-config\n');
      if (p.endsWith('/result')) state.result = { at: now(), body: Buffer.concat(chunks).toString() };
      res.writeHead(p.endsWith('/inventory') ? 200 : 204).end();
    });
  });
  let port;
  for (;;) {
    port = 20000 + Math.floor(Math.random() * 1000);
    const ok = await new Promise((r) => server.once('error', () => r(false)).listen(port, '127.0.0.1', () => r(true)));
    if (ok) break;
  }
  const boot = async (task) => {
    state = { task };
    const disk = path.join(tmp, 'disk.raw');
    const fd = openSync(disk, 'w');
    ftruncateSync(fd, 64 * 1024 * 1024);
    closeSync(fd);
    const t0 = now();
    const q = spawn('qemu-system-x86_64', [
      '-accel', 'tcg', '-m', '512', '-nographic', '-nodefaults', '-no-user-config', '-monitor', 'none', '-no-reboot',
      '-serial', `file:${tmp}/serial.log`,
      '-kernel', rd.kernel, '-initrd', rd.initramfs,
      '-append', `console=ttyS0 quiet kseed.url=http://10.0.2.100 kseed.node=b kseed.token=${token} kseed.mac=${mac}`,
      '-drive', `file=${disk},format=raw,if=virtio`,
      '-netdev', `user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:80-cmd:busybox nc 127.0.0.1 ${port}`,
      '-device', `virtio-net-pci,netdev=n0,mac=${mac},romfile=`,
    ], { stdio: 'ignore' });
    const killer = setTimeout(() => q.kill('SIGKILL'), 300_000);
    await new Promise((r) => q.on('exit', r));
    clearTimeout(killer);
    if (!state.result || !state.result.body.includes('status=ok')) throw new Error(`boot failed: ${state.result?.body}\n${readFileSync(`${tmp}/serial.log`, 'utf8')}`);
    return { result_s: state.result.at - t0, exit_s: now() - t0 };
  };
  const insp = [];
  const dep = { gzip: [], zstd: [], none: [] };
  const file = { gzip: ['testos.raw.gz', os1.sha256.gz], zstd: ['testos.raw.zst', os1.sha256.zst], none: ['testos.raw', os1.sha256.raw] };
  for (let i = 0; i < runs; i++) {
    insp.push(await boot('TASK=inspect\nREBOOT=0\n'));
    for (const comp of Object.keys(dep)) {
      const [f, sum] = file[comp];
      dep[comp].push(
        await boot(`TASK=deploy\nIMAGE_URL=http://10.0.2.100/artifacts/${f}\nIMAGE_CHECKSUM=sha256:${sum}\nIMAGE_COMPRESSION=${comp}\nTARGET_DISK=/dev/vda\nREBOOT=1\n`),
      );
    }
  }
  server.close();
  const m = (xs, k) => +median(xs.map((x) => x[k])).toFixed(2);
  out.direct_boot = {
    runs,
    inspect_result_s: m(insp, 'result_s'),
    inspect_exit_s: m(insp, 'exit_s'),
    deploy_gzip_exit_s: m(dep.gzip, 'exit_s'),
    deploy_zstd_exit_s: m(dep.zstd, 'exit_s'),
    deploy_raw_exit_s: m(dep.none, 'exit_s'),
    image_gz_bytes: os1.gzBytes,
    image_zst_bytes: os1.zstBytes,
    image_raw_bytes: os1.rawBytes,
    note: 'QEMU TCG, slirp user networking; deploy_*_exit_s (QEMU start to exit after the reboot) is the floor for bench/e2e',
  };
  out.load_after = os.loadavg()[0];
  console.log(JSON.stringify(out, null, 2));
  console.log(
    `initramfs assembly: kseed ${out.initramfs_assembly.kseed_s}s vs cpio|gzip -9 ${out.initramfs_assembly.cpio_gzip9_s}s -> ratio ${out.initramfs_assembly.ratio}; ` +
      `direct-boot deploy floor gzip ${out.direct_boot.deploy_gzip_exit_s}s zstd ${out.direct_boot.deploy_zstd_exit_s}s raw ${out.direct_boot.deploy_raw_exit_s}s (inspect ${out.direct_boot.inspect_exit_s}s)`,
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
