// Runs kseed's composed boot services (src/boot/serve.ts) from dist/ inside a
// test's network namespace, over the real site loader and state store:
//   ip netns exec NS node serve-fixture.mjs CONFIG.json
// CONFIG: { site, stateDir, artifactsDir, kernel, initrd, dhcpMode?, tftpWorkers? }.
// Prints `READY <info json>` once listening, then one JSON line per
// DHCP/TFTP/HTTP event; exits 0 on SIGTERM.
import { readFileSync } from 'node:fs';

const dist = new URL('../../../dist/', import.meta.url);
const imp = (p) => import(new URL(p, dist).href);
const { loadSite } = await imp('site/load.js');
const { openState } = await imp('engine/state.js');
const { chooseRootDevice } = await imp('engine/rootdevice.js');
const { StateBootBackend } = await imp('boot/backend.js');
const { StateLeaseStore } = await imp('boot/dhcp/state-store.js');
const { BootServices } = await imp('boot/serve.js');

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const site = await loadSite(cfg.site);
const store = openState(cfg.stateDir, { synchronous: 'normal' });
const services = new BootServices({
  site,
  backend: new StateBootBackend({ store, nodes: site.nodes, chooseRootDevice }),
  leaseStore: new StateLeaseStore(store),
  artifactsDir: cfg.artifactsDir,
  ramdisk: { kernel: cfg.kernel, initrd: cfg.initrd },
  ...(cfg.dhcpMode ? { dhcpMode: cfg.dhcpMode } : {}),
  ...(cfg.tftpWorkers !== undefined ? { tftpWorkers: cfg.tftpWorkers } : {}),
  log: (e) => process.stdout.write(`${JSON.stringify({ t: Date.now(), ...e })}\n`),
});
let info;
try {
  info = await services.start();
} catch (err) {
  process.stderr.write(`start failed: ${err.message}\n`);
  process.exit(1);
}
process.stdout.write(`READY ${JSON.stringify(info)}\n`);
const quit = async () => {
  await services.stop();
  store.close();
  process.exit(0);
};
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
