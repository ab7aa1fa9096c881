// Runs kseed's boot HTTP server for bench/http/run.mjs: node kseed-httpd.mjs ARTIFACTS_DIR PORT
import { HttpBootServer, MemoryBootBackend } from '../../dist/boot/http/index.js';

const [dir, port] = process.argv.slice(2);
const s = new HttpBootServer({
  backend: new MemoryBootBackend(),
  artifactsDir: dir,
  publicUrl: `http://127.0.0.1:${port}`,
  ramdisk: { kernel: 'vmlinuz', initrd: 'initrd' },
  address: '127.0.0.1',
  port: Number(port),
});
await s.listen();
process.stdout.write('ready\n');
process.on('SIGTERM', () => s.close().then(() => process.exit(0)));
