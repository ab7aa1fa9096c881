// Runs kseed's TFTP + HTTP boot servers from dist/ inside a test's network namespace
// (node cannot enter a namespace itself). argv[2]: JSON config. Prints one JSON line per event.
import { TftpServer } from '../../../../dist/boot/tftp/index.js';
import { HttpBootServer, MemoryBootBackend } from '../../../../dist/boot/http/index.js';
import { chainScript } from '../../../../dist/boot/ipxe.js';

const cfg = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const backend = new MemoryBootBackend(cfg.nodes);
const publicUrl = `http://${cfg.address}:${cfg.httpPort}`;
const http = new HttpBootServer({
  backend,
  artifactsDir: cfg.artifacts,
  publicUrl,
  ramdisk: { kernel: 'vmlinuz', initrd: 'initrd.gz' },
  address: cfg.address,
  port: cfg.httpPort,
  log: (e) => out({ src: 'http', ...e }),
});
const tftp = new TftpServer({
  address: cfg.address,
  port: 69,
  generated: (rel) => (rel === 'boot.ipxe' ? chainScript(publicUrl) : undefined),
  log: (e) => out({ src: 'tftp', ...e }),
});
await http.listen();
await tftp.listen();
out({ src: 'runner', ready: true });
process.on('SIGTERM', async () => {
  await tftp.close();
  await http.close();
  process.exit(0);
});
