// Runs kseed's DHCP server from dist/ inside a test's network namespace:
//   ip netns exec NS node serve-fixture.mjs CONFIG.json
// CONFIG is DhcpServerOptions plus `leaseFile` (a JSON lease store, so a
// restarted server finds its leases) and `stateDir` (use the SQLite state
// store when src/engine/state.ts is built). Prints `READY` once listening,
// then one JSON line per DHCP event; exits 0 on SIGTERM.
import { readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';

const dist = new URL('../../../dist/', import.meta.url);
const { DhcpServer } = await import(new URL('boot/dhcp/index.js', dist).href);

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));

class JsonFileLeaseStore {
  constructor(file) {
    this.file = file;
    this.map = new Map(existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).map((l) => [l.ip, l]) : []);
  }
  load() {
    return [...this.map.values()];
  }
  save(l) {
    this.map.set(l.ip, { ...l });
    this.flush();
  }
  remove(ip) {
    this.map.delete(ip);
    this.flush();
  }
  flush() {
    writeFileSync(`${this.file}.tmp`, JSON.stringify([...this.map.values()]));
    renameSync(`${this.file}.tmp`, this.file);
  }
}

let leaseStore;
if (cfg.stateDir) {
  const { stateLeaseStore } = await import(new URL('boot/dhcp/state-store.js', dist).href);
  leaseStore = await stateLeaseStore(cfg.stateDir);
} else if (cfg.leaseFile) {
  leaseStore = new JsonFileLeaseStore(cfg.leaseFile);
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
  process.stdout.write(`STATS ${JSON.stringify(server.stats)}\n`);
  process.exit(0);
};
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
