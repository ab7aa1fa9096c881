/**
 * The rendered nginx.conf run by the real nginx in a private network
 * namespace holding the seed address: it serves Ironic's httpboot files,
 * answers 404 for missing ones and never lists directories, and passes
 * kseed's paths (/boot.ipxe, /boot/, /v1/, /artifacts/) to kseed's boot
 * service on 127.0.0.1 (a python http.server stands in for it).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStack } from '../../../src/render/index.js';
import { needPeers, needRoot } from '../../helpers/peers.js';
import { labSite } from '../../fixtures/compose/sites.js';

const ok = needPeers('nginx', 'curl', 'unshare', 'ip') && needRoot();

describe.skipIf(!ok)('rendered nginx.conf serves httpboot', () => {
  let work: string;
  let out = '';
  let err = '';

  beforeAll(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'kseedtest-http-'));
    const site = labSite(work);
    site.seed = { ...site.seed, ports: { ...site.seed.ports, http: 15081 } };
    await renderStack(site);
    // nginx workers are unprivileged: as in the stack (ironic's entrypoint), the tree is world-readable.
    chmodSync(work, 0o755);
    const root = path.join(work, 'httpboot');
    mkdirSync(path.join(root, 'node-1'), { recursive: true });
    // Ironic writes its own boot.ipxe into httpboot: nodes must never get it (it skips kseed's state check)
    writeFileSync(path.join(root, 'boot.ipxe'), '#!ipxe\nchain pxelinux.cfg/${mac:hexhyp}\n');
    writeFileSync(path.join(root, 'node-1', 'config'), '#!ipxe\nkernel deploy_kernel kseed.token=SECRET\n');
    writeFileSync(path.join(root, 'node-1', 'deploy_kernel'), 'k'.repeat(1000));
    const agent = path.join(work, 'agent');
    mkdirSync(path.join(agent, 'boot'), { recursive: true });
    mkdirSync(path.join(agent, 'artifacts'), { recursive: true });
    writeFileSync(path.join(agent, 'boot.ipxe'), '#!ipxe\necho from kseed\n');
    writeFileSync(path.join(agent, 'boot', '52-54-00-00-00-01.ipxe'), '#!ipxe\necho per-node from kseed\n');
    writeFileSync(path.join(agent, 'artifacts', 'vmlinuz'), 'k'.repeat(100_000));
    const prefix = path.join(work, 'prefix');
    mkdirSync(path.join(prefix, 'run'), { recursive: true });
    mkdirSync(path.join(prefix, 'tmp'), { recursive: true });
    const conf = path.join(work, 'nginx.conf');
    writeFileSync(
      conf,
      readFileSync(path.join(work, '.kseed', 'stack', 'http', 'nginx.conf'), 'utf8').replaceAll('/var/lib/ironic/httpboot', root),
    );
    const url = 'http://10.77.0.1:15081';
    const curl = (p: string) => `curl -s -o /dev/null -w "${p} %{http_code} %{content_type}\\n" ${url}${p}`;
    const script = [
      'set -e',
      'ip link set lo up',
      'ip addr add 10.77.0.1/24 dev lo',
      `nginx -p "${prefix}/" -c "${conf}"`,
      `python3 -m http.server 15081 --bind 127.0.0.1 --directory "${agent}" >/dev/null 2>&1 & echo $! > "${work}/agent.pid"`,
      'sleep 1',
      `curl -s ${url}/boot.ipxe`,
      curl('/boot.ipxe'),
      `curl -s ${url}/boot/52-54-00-00-00-01.ipxe`,
      curl('/artifacts/vmlinuz'),
      curl('/node-1/config'),
      curl('/node-1/deploy_kernel'),
      curl('/missing'),
      curl('/node-1/'),
      `kill $(cat "${prefix}/run/nginx.pid") $(cat "${work}/agent.pid")`,
    ].join('\n');
    // stdout to a file: access_log /dev/stdout cannot be opened on a socket.
    const outFile = path.join(work, 'out.txt');
    const r = spawnSync('sh', ['-c', `unshare -n sh -c '${script.replaceAll("'", "'\\''")}' >"${outFile}"`], { encoding: 'utf8', timeout: 30_000 });
    out = readFileSync(outFile, 'utf8');
    err = r.stderr;
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("serves Ironic's per-node files from httpboot, but never a per-node config (it carries the agent token) by its uuid path", () => {
    expect(out, err).toMatch(/\/node-1\/deploy_kernel 200 application\/octet-stream/);
    expect(out).toMatch(/\/node-1\/config 403/);
    expect(out).not.toContain('SECRET');
  });

  it("passes kseed's paths to kseed's boot service: its entry script, never Ironic's boot.ipxe", () => {
    expect(out, err).toContain('#!ipxe\necho from kseed\n');
    expect(out).not.toContain('chain pxelinux.cfg');
    expect(out).toContain('#!ipxe\necho per-node from kseed\n');
    expect(out).toMatch(/\/boot\.ipxe 200/);
    expect(out).toMatch(/\/artifacts\/vmlinuz 200/);
  });

  it('answers 404 for missing files and does not list directories', () => {
    expect(out).toContain('/missing 404');
    expect(out).toContain('/node-1/ 404');
  });
});
