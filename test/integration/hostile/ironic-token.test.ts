/**
 * Issue 14 hole 1 on the Ironic engine's path: the deploy ramdisk's agent
 * token reaches the node inside Ironic's per-node iPXE config (the engine
 * puts it into ramdisk_kernel_arguments), which the stack's nginx serves
 * from Ironic's httpboot. The real pieces: the rendered nginx.conf run by
 * the real nginx and kseed's agent service (dist/service/agent-main.js) in
 * the seed's namespace kst-hi-s, the node and a stranger as two namespaces
 * on the same bridge. Ironic itself is not needed: the file it writes is.
 */
import { type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../../src/engine/state.js';
import { renderStack } from '../../../src/render/index.js';
import { loadSite } from '../../../src/site/load.js';
import { ensureBuilt, REPO } from '../../helpers/cli.js';
import { type Client, Lab, waitForLine } from '../../helpers/netns.js';
import { needPeers, needRoot } from '../../helpers/peers.js';

const ok = needRoot() && needPeers('nginx', 'curl', 'ip');
const MAC = '52:54:00:4b:00:01';
const DASHES = MAC.replace(/:/g, '-');
const SEED = '10.195.0.1';
const PORT = 18611;
const UUID = '2f0c1a56-7f8e-4c4e-9d1e-5b1a7c0e9f11';
const SECRET = 'kseed.token=Z9aQ3secretsecretsecretsecretsecretsecretse';

const SITE = `
site: ksthi
engine: ironic
seed:
  interface: br0
  netns: kst-hi-s
  address: ${SEED}/24
  dhcp: { mode: authoritative, range: 10.195.0.100-10.195.0.120 }
  ports: { http: ${PORT} }
ironic: { deploy_interface: ramdisk }
defaults:
  bmc: { type: ipmi, username: admin, password: { env: KST_HI_UNUSED } }
  image: { url: http://${SEED}:${PORT}/artifacts/os.raw, checksum: sha256:${'0'.repeat(64)}, format: raw }
  root_device: { size_gb: { min: 4 } }
nodes:
  - { name: n1, bmc: { address: 127.0.0.1, port: 18612 }, macs: ["${MAC}"], ip: 10.195.0.50 }
`;

async function http(c: Client, p: string): Promise<{ status: number; body: string }> {
  const r = await c.exec('curl', ['-sS', '-o', '-', '-w', '\n%{http_code}', `http://${SEED}:${PORT}${p}`]);
  const i = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
}

describe.skipIf(!ok)("Ironic engine: the ramdisk's token in Ironic's iPXE config goes to the node only", () => {
  let lab: Lab;
  let dir: string;
  let node: Client;
  let stranger: Client;
  const procs: ChildProcess[] = [];

  beforeAll(async () => {
    ensureBuilt();
    dir = mkdtempSync(path.join(os.tmpdir(), 'kst-hi-'));
    // nginx's workers are unprivileged: as in the stack, the tree they read is world-readable
    chmodSync(dir, 0o755);
    writeFileSync(path.join(dir, 'kseed.yaml'), SITE);
    await renderStack(await loadSite(path.join(dir, 'kseed.yaml')));
    // what Ironic's ipxe boot interface writes for a ramdisk deploy: the config, linked by MAC
    const root = path.join(dir, 'httpboot');
    const config = `#!ipxe\nkernel http://${SEED}:${PORT}/${UUID}/kernel ${SECRET} kseed.node=n1\ninitrd http://${SEED}:${PORT}/${UUID}/ramdisk\nboot\n`;
    mkdirSync(path.join(root, UUID), { recursive: true });
    mkdirSync(path.join(root, 'pxelinux.cfg'));
    writeFileSync(path.join(root, UUID, 'config'), config);
    writeFileSync(path.join(root, UUID, 'kernel'), 'k'.repeat(4096));
    writeFileSync(path.join(root, 'pxelinux.cfg', DASHES), config);
    const prefix = path.join(dir, 'prefix');
    mkdirSync(path.join(prefix, 'run'), { recursive: true });
    mkdirSync(path.join(prefix, 'tmp'));
    const conf = path.join(dir, 'nginx.conf');
    writeFileSync(
      conf,
      `daemon off;\n${readFileSync(path.join(dir, '.kseed', 'stack', 'http', 'nginx.conf'), 'utf8')
        .replaceAll('/var/lib/ironic/httpboot', root)
        .replace('access_log /dev/stdout;', `access_log ${prefix}/access.log;`)}`,
    );

    const store = openState(path.join(dir, '.kseed'));
    try {
      store.ensureNode('n1');
      store.transition('n1', 'manageable');
      store.transition('n1', 'available');
      store.transition('n1', 'deploying');
    } finally {
      store.close();
    }

    lab = await Lab.create('kst-hi');
    await lab.bridge('br0', `${SEED}/24`);
    node = await lab.client('c1', 'br0', MAC, { cidr: '10.195.0.50/24' });
    stranger = await lab.client('c2', 'br0', '52:54:00:4b:00:66', { cidr: '10.195.0.66/24' });
    await lab.server.ip('link', 'set', 'lo', 'up');

    const agent = lab.server.spawn(process.execPath, [path.join(REPO, 'dist/service/agent-main.js'), '--config', path.join(dir, 'kseed.yaml'), '--json', 'boot', 'serve'], { cwd: dir });
    procs.push(agent);
    await waitForLine(agent, /"type":"listening"/);
    const nginx = lab.server.spawn('nginx', ['-p', `${prefix}/`, '-c', conf]);
    procs.push(nginx);
    for (let i = 0; i < 50 && (await http(node, '/boot.ipxe')).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  }, 60_000);

  afterAll(async () => {
    for (const p of procs.reverse()) {
      if (p.exitCode === null) {
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      }
    }
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('a stranger gets 403 for the node\'s config by MAC and by uuid, and cannot ask kseed\'s gate directly', async () => {
    const byMac = await http(stranger, `/pxelinux.cfg/${DASHES}`);
    expect(byMac.status).toBe(403);
    expect(byMac.body).not.toContain(SECRET);
    const byUuid = await http(stranger, `/${UUID}/config`);
    expect(byUuid.status).toBe(403);
    expect(byUuid.body).not.toContain(SECRET);
    expect((await http(stranger, '/v1/boot-auth')).status).toBe(404);
    // the node's other files stay public: they hold no secret
    expect((await http(stranger, `/${UUID}/kernel`)).status).toBe(200);
    const store = openState(path.join(dir, '.kseed'));
    try {
      expect(store.listEvents('n1', { kind: 'token-refused' }).map((e) => e.detail.client)).toEqual(['10.195.0.66']);
    } finally {
      store.close();
    }
  });

  it('the node itself follows kseed\'s chain to its config and gets the token', async () => {
    const script = await http(node, `/boot/${DASHES}.ipxe`);
    expect(script.status, script.body).toBe(200);
    expect(script.body).toContain(`http://${SEED}:${PORT}/pxelinux.cfg/${DASHES}`);
    const own = await http(node, `/pxelinux.cfg/${DASHES}`);
    expect(own.status, own.body).toBe(200);
    expect(own.body).toContain(SECRET);
    // the stranger is still refused afterwards: the node's fetch opened nothing
    expect((await http(stranger, `/pxelinux.cfg/${DASHES}`)).status).toBe(403);
  });
});
