// Runs kseed's TFTP server for bench/tftp/run.mjs: node kseed-tftpd.mjs ROOT ADDRESS PORT
import { TftpServer } from '../../dist/boot/tftp/index.js';

const [root, address, port] = process.argv.slice(2);
const s = new TftpServer({ root, address, port: Number(port), maxTransfers: 512 });
await s.listen();
process.stdout.write('ready\n');
process.on('SIGTERM', () => s.close().then(() => process.exit(0)));
