// Runs kseed's TFTP server for bench/tftp/run.mjs: node kseed-tftpd.mjs ROOT ADDRESS PORT [MAX_PER_CLIENT]
// MAX_PER_CLIENT: every bench client comes from 127.0.0.1, so the server's default
// per-address cap (16) would refuse all but 16 of a 50-client round; run.mjs raises
// it to the client count and says so. The server's default stays 16.
import { TftpServer } from '../../dist/boot/tftp/index.js';

const [root, address, port, perClient] = process.argv.slice(2);
const s = new TftpServer({ root, address, port: Number(port), maxTransfers: 512, ...(perClient ? { maxPerClient: Number(perClient) } : {}) });
await s.listen();
process.stdout.write('ready\n');
process.on('SIGTERM', () => s.close().then(() => process.exit(0)));
