/**
 * `kseed doctor` inside namespace ksd-doc-s: bridge br0 carries the seed
 * address 10.95.0.1/24; dnsmasq (the site's DHCP server) runs in its own
 * namespace on the same bridge. The doctor must list dnsmasq's offer and
 * recommend proxy mode; then, with kseed's own DHCP holding port 67, say so.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, run } from '../../../helpers/netns.js';
import { needPeers, needRoot } from '../../../helpers/peers.js';
import { KseedProcess, repoRoot, tmpDir } from '../../../helpers/dhcp-services.js';

const ok = needRoot() && needPeers('dnsmasq', path.join(repoRoot, 'dist/cli/main.js'));
const kseedBin = path.join(repoRoot, 'bin/kseed.js');

describe.skipIf(!ok)('kseed doctor', () => {
  let lab: Lab;
  let dir: string;

  beforeAll(async () => {
    dir = tmpDir('doc');
    lab = await Lab.create('ksd-doc');
    await lab.bridge('br0', '10.95.0.1/24');
    await lab.bridge('br1');
  });

  afterAll(async () => {
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function doctor(...args: string[]) {
    const r = await lab.server.exec(process.execPath, [kseedBin, '--config', path.join(dir, 'none.yaml'), 'doctor', '--json', '--probe-seconds', '2', ...args], { timeoutMs: 30_000 });
    return { code: r.code, report: JSON.parse(r.stdout) as { checks: { check: string; status: string; detail: string }[]; dhcpOffers: { server: string; offeredAddress: string; proxy: boolean }[]; recommendation: string }, stderr: r.stderr };
  }

  it('on a quiet network: all ok, authoritative is safe', async () => {
    const { code, report } = await doctor('--interface', 'br0', '--address', '10.95.0.1/24');
    expect(code).toBe(0);
    expect(report.dhcpOffers).toEqual([]);
    expect(report.checks.find((c) => c.check === 'seed address')).toMatchObject({ status: 'ok', detail: 'br0 has 10.95.0.1/24' });
    expect(report.checks.find((c) => c.check === 'udp/67')?.status).toBe('ok');
    expect(report.checks.find((c) => c.check === 'udp/69')?.status).toBe('ok');
    // scripts/packages installs the boot-CD tools here, as on any seed set up by README's command
    expect(report.checks.find((c) => c.check === 'virtual-media CD tools')).toMatchObject({ status: 'ok', detail: '8 tools and files present' });
    expect(report.recommendation).toContain('authoritative is safe');
  });

  it('finds dnsmasq and recommends proxy mode', async () => {
    const site = await lab.client('dn', 'br0', '52:54:00:95:ff:01', { cidr: '10.95.0.2/24' });
    const conf = path.join(dir, 'dnsmasq.conf');
    writeFileSync(conf, ['port=0', 'interface=eth0', 'bind-interfaces', `dhcp-leasefile=${dir}/dnsmasq.leases`, 'dhcp-range=10.95.0.100,10.95.0.150,255.255.255.0,1h', 'no-ping', ''].join('\n'));
    const r = await site.exec('dnsmasq', [`--conf-file=${conf}`, `--pid-file=${dir}/dnsmasq.pid`]);
    expect(r.code, r.stderr).toBe(0);
    const { code, report } = await doctor('--interface', 'br0', '--address', '10.95.0.1/24');
    expect(code).toBe(0);
    expect(report.dhcpOffers).toContainEqual(expect.objectContaining({ server: '10.95.0.2', proxy: false }));
    expect(report.dhcpOffers[0]!.offeredAddress).toMatch(/^10\.95\.0\.1[0-5]\d$/);
    expect(report.checks.find((c) => c.check === 'DHCP servers')).toMatchObject({ status: 'warn', detail: 'answered by 10.95.0.2' });
    expect(report.recommendation).toContain('use seed.dhcp.mode: proxy');
  });

  it('enters the namespace named by --netns (started in the root namespace, as for seed.netns)', async () => {
    const r = await run(process.execPath, [kseedBin, '--config', path.join(dir, 'none.yaml'), 'doctor', '--json', '--probe-seconds', '2', '--netns', lab.server.name, '--interface', 'br0', '--address', '10.95.0.1/24'], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { netns: string; checks: { check: string; status: string }[]; dhcpOffers: { server: string }[] };
    expect(report.netns).toBe('ksd-doc-s');
    expect(report.checks.find((c) => c.check === 'seed address')?.status).toBe('ok');
    expect(report.dhcpOffers).toContainEqual(expect.objectContaining({ server: '10.95.0.2' }));
    const bad = await run(process.execPath, [kseedBin, '--config', path.join(dir, 'none.yaml'), 'doctor', '--netns', 'ksd-doc-nosuch', '--interface', 'br0']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('network namespace ksd-doc-nosuch does not exist');
  });

  it('reports the missing seed address and a taken port 67 as failures (exit 1)', async () => {
    const kseed = await KseedProcess.start(lab.server, dir, {
      interface: 'br0', seedAddress: '10.95.0.1', prefix: 24, mode: 'authoritative',
      range: { start: '10.95.0.200', end: '10.95.0.210' }, nodes: [], httpBase: 'http://10.95.0.1:8080',
    });
    try {
      const { code, report } = await doctor('--interface', 'br1', '--address', '10.95.0.1/24');
      expect(code).toBe(1);
      expect(report.checks.find((c) => c.check === 'seed address')).toMatchObject({ status: 'fail' });
      expect(report.checks.find((c) => c.check === 'seed address')!.detail).toContain('ip addr add 10.95.0.1/24 dev br1');
      expect(report.checks.find((c) => c.check === 'udp/67')).toMatchObject({ status: 'fail' });
    } finally {
      await kseed.stop();
    }
  });

  it('from a site file with TFTP off and a virtual-media node: no TFTP port check, the CD tools required', async () => {
    const site = path.join(dir, 'http-only.yaml');
    writeFileSync(
      site,
      [
        'site: doc', 'engine: embedded', 'seed:', '  interface: br0', '  address: 10.95.0.1/24', '  tftp: { enabled: false }',
        '  dhcp: { mode: authoritative, range: 10.95.0.100-10.95.0.150 }',
        'defaults:', '  bmc: { type: redfish, username: admin, password: { env: KSEED_BMC_PASSWORD } }', '  root_device: { name: /dev/vda }', '  boot_mode: uefi',
        `  image: { url: "http://10.95.0.1:8080/i.raw", checksum: "sha256:${'ab'.repeat(32)}" }`,
        'nodes:', '  - name: n1', '    bmc: { address: 127.0.0.1, port: 18443 }', '    macs: ["52:54:00:00:00:01"]', '    ip: 10.95.0.160', '    boot: virtual-media', '',
      ].join('\n'),
    );
    const r = await lab.server.exec(process.execPath, [kseedBin, '--config', site, 'doctor', '--json', '--probe-seconds', '1'], { timeoutMs: 30_000 });
    const report = JSON.parse(r.stdout) as { checks: { check: string; status: string; detail: string }[] };
    expect(report.checks.map((c) => c.check), r.stderr).toContain('udp/67');
    // with seed.tftp.enabled false kseed binds no TFTP port: whoever holds 69 is no conflict of its
    expect(report.checks.map((c) => c.check)).not.toContain('udp/69');
    expect(report.checks.find((c) => c.check === 'virtual-media CD tools')).toMatchObject({ status: 'ok' });
  });

  it('rejects bad input with exit 2', async () => {
    const r = await lab.server.exec(process.execPath, [kseedBin, '--config', path.join(dir, 'none.yaml'), 'doctor', '--address', 'nonsense', '--interface', 'br0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--address: not an IPv4 address: nonsense');
    const r2 = await lab.server.exec(process.execPath, [kseedBin, '--config', path.join(dir, 'none.yaml'), 'doctor']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('needs --interface');
  });
});
