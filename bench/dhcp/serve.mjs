// kseed's DHCP server for the benchmark (no per-packet log): node serve.mjs CONFIG.json
import { readFileSync } from 'node:fs';

const { DhcpServer } = await import(new URL('../../dist/boot/dhcp/index.js', import.meta.url).href);
const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let leaseStore;
if (cfg.stateDir) {
  // the real persistence path: the SQLite state store (.kseed/state.db)
  const { openState } = await import(new URL('../../dist/engine/state.js', import.meta.url).href);
  const { StateLeaseStore } = await import(new URL('../../dist/boot/dhcp/index.js', import.meta.url).href);
  leaseStore = new StateLeaseStore(openState(cfg.stateDir, { synchronous: 'normal' }));
}
const server = new DhcpServer({ ...cfg, leaseStore });
server.on('error', (e) => process.stderr.write(`error: ${e.message}\n`));
await server.start();
process.stdout.write('READY\n');
process.on('SIGTERM', async () => {
  await server.stop();
  process.stdout.write(`STATS ${JSON.stringify(server.stats)}\n`);
  process.exit(0);
});
