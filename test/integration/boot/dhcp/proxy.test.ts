/**
 * Proxy mode beside the site's DHCP server. dnsmasq plays that server in its
 * own namespace (10.92.0.2); kseed's seed is 10.92.0.1 on bridge br0; clients
 * get their address from dnsmasq and their boot file from kseed.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, Lab } from '../../../helpers/netns.js';
import { needPeers, needRoot } from '../../../helpers/peers.js';
import { dhclient, KseedProcess, killPidFile, repoRoot, tmpDir, udhcpc, waitFor } from '../../../helpers/dhcp-services.js';

const ok = needRoot() && needPeers('udhcpc', 'dhclient', 'dnsmasq', 'tcpdump', path.join(repoRoot, 'dist/boot/dhcp/index.js'));
const NODE = '52:54:00:92:00:01';
const UEFI = '52:54:00:92:00:02';
const STRANGER = '52:54:00:92:99:99';

describe.skipIf(!ok)('proxyDHCP beside dnsmasq', () => {
  let lab: Lab;
  let kseed: KseedProcess;
  let dir: string;

  beforeAll(async () => {
    dir = tmpDir('prox');
    lab = await Lab.create('ksd-prox');
    await lab.bridge('br0', '10.92.0.1/24');
    const site = await lab.client('dn', 'br0', '52:54:00:92:ff:01', { cidr: '10.92.0.2/24' });
    const conf = path.join(dir, 'dnsmasq.conf');
    writeFileSync(
      conf,
      [
        'port=0',
        'interface=eth0',
        'bind-interfaces',
        `dhcp-leasefile=${dir}/dnsmasq.leases`,
        `pid-file=${dir}/dnsmasq.pid`,
        'dhcp-range=10.92.0.100,10.92.0.150,255.255.255.0,1h',
        'dhcp-authoritative',
        'no-ping',
        'log-dhcp',
        '',
      ].join('\n'),
    );
    const r = await site.exec('dnsmasq', [`--conf-file=${conf}`, `--log-facility=${dir}/dnsmasq.log`]);
    if (r.code !== 0) throw new Error(`dnsmasq: ${r.stderr}`);
    kseed = await KseedProcess.start(lab.server, dir, {
      interface: 'br0',
      seedAddress: '10.92.0.1',
      prefix: 24,
      mode: 'proxy',
      nodes: [
        { mac: NODE, name: 'ctl01' },
        { mac: UEFI, name: 'cmp01', uefiIpxe: 'ipxe' },
      ],
      httpBase: 'http://10.92.0.1:8080',
    });
  });

  afterAll(async () => {
    await kseed?.stop();
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** tcpdump in the client's namespace: what actually reached the client. */
  async function capture(c: Client, fn: () => Promise<void>, filter = 'udp and (port 67 or port 68 or port 4011)'): Promise<string> {
    const td = c.spawn('tcpdump', ['-i', 'eth0', '-n', '-l', '-vv', filter]);
    let out = '';
    td.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    td.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('listening on'));
    await fn();
    await new Promise((r) => setTimeout(r, 300));
    td.kill('SIGTERM');
    await new Promise((r) => td.once('exit', r));
    return out;
  }

  /**
   * The PXE ROM's second step (pxe-client.mjs), after dhclient (which holds
   * port 68) has exited. A client that gets no ACK fails with what would tell
   * why: the 4011 exchange on the client's wire, its address and neighbours,
   * and what kseed logged for the MAC.
   */
  async function askProxy(c: Client, ip: string, arch: number): Promise<unknown> {
    let r: Awaited<ReturnType<Client['exec']>> | undefined;
    const wire = await capture(c, async () => {
      r = await c.exec(process.execPath, [path.join(repoRoot, 'test/integration/boot/dhcp/pxe-client.mjs'), '10.92.0.1', c.mac, ip, String(arch)], { timeoutMs: 40_000 });
    }, 'arp or (udp and port 4011)');
    if (r!.code !== 0) {
      const addr = await c.exec('ip', ['-4', 'addr', 'show', 'dev', 'eth0']);
      const neigh = await c.exec('ip', ['neigh']);
      const seen = kseed.events.filter((e) => e.mac === c.mac);
      throw new Error(
        [`pxe-client exit ${r!.code}: ${r!.stderr}`, `client wire:\n${wire}`, `client addr:\n${addr.stdout}`, `client neigh:\n${neigh.stdout}`, `kseed events for ${c.mac}: ${JSON.stringify(seen)}`, `kseed stderr: ${kseed.stderr}`].join('\n'),
      );
    }
    return JSON.parse(r!.stdout);
  }

  /**
   * A PXE ROM merges the site server's address offer with the proxy's boot
   * offer; a plain client must instead ignore the proxy offer, which has no
   * address. dhclient does that when told which options a lease needs.
   */
  const pxeConf = (arch: number) =>
    [
      'option pxe-system-type code 93 = unsigned integer 16;',
      `send vendor-class-identifier "PXEClient:Arch:${String(arch).padStart(5, '0')}:UNDI:002001";`,
      `send pxe-system-type ${arch};`,
      'require subnet-mask, dhcp-lease-time;',
      '',
    ].join('\n');

  it('a PXE client: address from dnsmasq, boot file and next-server from kseed', async () => {
    const c = await lab.client('c1', 'br0', NODE);
    let lease: Awaited<ReturnType<typeof dhclient>> | undefined;
    const wire = await capture(c, async () => {
      lease = await dhclient(c, dir, pxeConf(0));
      await killPidFile(lease.pidFile);
    });
    // the lease is dnsmasq's, untouched by kseed
    expect(lease!.leases, wire).toContain('option dhcp-server-identifier 10.92.0.2;');
    const ip = /fixed-address (10\.92\.0\.\d+);/.exec(lease!.leases)?.[1];
    expect(ip).toMatch(/^10\.92\.0\.1[0-5]\d$/);
    // kseed's proxy offer reached the client: no address, boot file, next-server, PXEClient
    const offers = wire.split(/\n(?=\d\d:\d\d)/).filter((b) => b.includes('Server-ID (54), length 4: 10.92.0.1') && b.includes('Offer'));
    expect(offers.length, wire).toBeGreaterThan(0);
    expect(offers[0]).not.toContain('Your-IP');
    expect(offers[0]).toContain('Server-IP 10.92.0.1');
    expect(offers[0]).toContain('file "undionly.kpxe"');
    expect(offers[0]).toContain('"PXEClient"');
    expect(offers[0]).not.toContain('Lease-Time');
    // then, as a PXE ROM does, the client asks kseed on 4011 with its new address
    const r = await askProxy(c, ip!, 0);
    expect(r).toEqual({ type: 5, yiaddr: '0.0.0.0', siaddr: '10.92.0.1', file: 'undionly.kpxe', vendorClass: 'PXEClient' });
  });

  it('x86-64 UEFI with the ipxe.efi profile flag gets ipxe.efi', async () => {
    const c = await lab.client('c2', 'br0', UEFI);
    let lease: Awaited<ReturnType<typeof dhclient>> | undefined;
    const wire = await capture(c, async () => {
      lease = await dhclient(c, dir, pxeConf(7));
      await killPidFile(lease.pidFile);
    });
    expect(lease!.leases, wire).toContain('option dhcp-server-identifier 10.92.0.2;');
    expect(wire).toContain('file "ipxe.efi"');
    const ip = /fixed-address (10\.92\.0\.\d+);/.exec(lease!.leases)?.[1];
    const r = await askProxy(c, ip!, 7);
    expect(r).toMatchObject({ type: 5, file: 'ipxe.efi' });
  });

  it('non-PXE clients and unknown MACs get nothing from kseed', async () => {
    const plain = lab.clients.find((x) => x.mac === NODE)!;
    const wire = await capture(plain, async () => {
      const l = await udhcpc(plain, dir, []);
      expect(l!.env.serverid).toBe('10.92.0.2');
    });
    expect(wire).toContain('10.92.0.2');
    expect(wire).not.toContain('Server-ID (54), length 4: 10.92.0.1');
    const s = await lab.client('st', 'br0', STRANGER);
    const wire2 = await capture(s, async () => {
      const l = await udhcpc(s, dir, ['-V', 'PXEClient:Arch:00000:UNDI:002001']);
      expect(l!.env.serverid).toBe('10.92.0.2');
      expect(l!.env.boot_file).toBeUndefined();
    });
    expect(wire2).not.toContain('Server-ID (54), length 4: 10.92.0.1');
    await waitFor(() => kseed.events.find((e) => e.mac === STRANGER && e.type === 'ignored'));
  });
});
