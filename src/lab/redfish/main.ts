/**
 * The process that serves every Redfish BMC of one lab:
 * `node dist/lab/redfish/main.js <lab>/manifest.json`. Started detached by
 * `kseed lab up --bmc redfish` (run.ts), it outlives kseed like ipmi_sim
 * does, and stops on SIGTERM. One line per request goes to stdout (the
 * lab's redfish.log).
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:https';
import { parseManifest } from '../manifest.js';
import { requireTool } from '../../util/tools.js';
import { LabNodeBackend } from './backend.js';
import { labCertPaths } from './cert.js';
import { listen } from './server.js';
import { Accounts } from './sessions.js';
import { RedfishService } from './service.js';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return `kseed-lab-${pkg.version ?? '0'}`;
  } catch {
    return 'kseed-lab';
  }
}

async function main(argv: string[]): Promise<void> {
  const file = argv[0];
  if (!file) throw new Error('usage: main.js <lab manifest.json>');
  const m = parseManifest(readFileSync(file, 'utf8'), file);
  const password = readFileSync(m.passwordFile, 'utf8').trim();
  if (!password) throw new Error(`empty BMC password file ${m.passwordFile}`);
  const paths = labCertPaths(m.stateDir, m.name);
  const tls = { cert: readFileSync(paths.cert), key: readFileSync(paths.key) };
  const tools = { ip: requireTool('ip'), curl: requireTool('curl') };
  const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  const firmwareVersion = version();
  const servers: Server[] = [];
  for (const node of m.nodes) {
    const accounts = new Accounts(node.bmc.username, password);
    const backend = new LabNodeBackend({ lab: m.name, netns: m.netns, node, firmwareVersion, tools, log });
    const service = new RedfishService(backend, accounts, { lab: m.name, node: node.name });
    servers.push(await listen({ node: node.name, port: node.bmc.port, service }, tls, log));
  }
  log(`lab ${m.name}: ${servers.length} Redfish BMC(s) on 127.0.0.1:${m.nodes.map((n) => n.bmc.port).join(',')}`);
  const stop = () => {
    for (const s of servers) s.close();
    // keep-alive connections would hold the process open: they go too
    for (const s of servers) s.closeAllConnections();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`kseed lab redfish: ${(e as Error).message}\n`);
  process.exit(1);
});
