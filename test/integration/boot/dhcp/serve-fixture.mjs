// Runs kseed's DHCP server from dist/ inside a test's network namespace:
//   ip netns exec NS node serve-fixture.mjs CONFIG.json
// CONFIG is DhcpServerOptions plus `stateDir`: leases then live in the
// SQLite state store (src/engine/state.ts), so a restarted server finds
// them. Prints `READY` once listening,
// then one JSON line per DHCP event; exits 0 on SIGTERM.
import { readFileSync } from 'node:fs';

const dist = new URL('../../../../dist/', import.meta.url);
const { DhcpServer } = await import(new URL('boot/dhcp/index.js', dist).href);

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));

let leaseStore;
if (cfg.stateDir) {
  const { openState } = await import(new URL('engine/state.js', dist).href);
  const { StateLeaseStore } = await import(new URL('boot/dhcp/state-store.js', dist).href);
  leaseStore = new StateLeaseStore(openState(cfg.stateDir, { synchronous: 'normal' }));
}

const server = new DhcpServer({ ...cfg, leaseStore });
server.on('event', (e) => process.stdout.write(`${JSON.stringify(e)}\n`));
server.on('error', (e) => process.stderr.write(`error: ${e.message}\n`));
try {
  await server.start();
} catch (err) {
  process.stderr.write(`start failed: ${err.message}\n`);
  process.exit(1);
}
process.stdout.write('READY\n');
const quit = async () => {
  await server.stop();
  process.stdout.write(`STATS ${JSON.stringify({ ...server.stats, ra: server.routerAdvertisementsSent })}\n`);
  process.exit(0);
};
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
