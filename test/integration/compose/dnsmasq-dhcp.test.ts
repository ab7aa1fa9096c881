/**
 * The rendered dnsmasq.conf run by the real dnsmasq, asked by busybox udhcpc,
 * both inside a private network namespace (`unshare -n`, a veth pair) that
 * vanishes with the test: inventory MACs get an address and the boot file
 * their firmware needs; unknown MACs get nothing (or, with the discovery
 * pool, an address but never a boot file). The seed service's counters of
 * the Ironic stack's DHCP, read from this log, match what the clients saw.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStack } from '../../../src/render/index.js';
import { bootLines } from '../../../src/service/metrics.js';
import { countDnsmasqLine, emptyStackSnapshot } from '../../../src/service/stack-log.js';
import type { Site } from '../../../src/site/types.js';
import { needPeers, needRoot } from '../../helpers/peers.js';
import { labSite } from '../../fixtures/compose/sites.js';

const ok = needPeers('dnsmasq', 'udhcpc', 'unshare', 'ip', 'promtool') && needRoot();
const KNOWN = '52:54:00:77:00:01';
const UNKNOWN = '52:54:00:99:99:99';

interface Answer {
  mac: string;
  leased: boolean;
  ip?: string;
  bootFile?: string;
  siaddr?: string;
}

/**
 * One dnsmasq, several udhcpc runs (one per client), in one throwaway
 * namespace. The container paths of the rendered config point at temp dirs.
 */
function ask(work: string, confText: string, clients: { mac: string; args: string[] }[]): { answers: Answer[]; log: string; clients: string; dnsmasq: string } {
  const tftp = path.join(work, 'tftp');
  const leases = path.join(work, 'leases');
  mkdirSync(tftp, { recursive: true });
  mkdirSync(leases, { recursive: true });
  const conf = path.join(work, 'dnsmasq.conf');
  writeFileSync(
    conf,
    confText.replaceAll('/var/lib/ironic/tftpboot', tftp).replaceAll('/var/lib/dnsmasq', leases).replace(/^user=.*$/m, 'user=root'),
  );
  const hook = path.join(work, 'hook.sh');
  // udhcpc exports the offer as environment variables; record, configure nothing.
  writeFileSync(hook, '#!/bin/sh\n[ "$1" = bound ] && echo "ANSWER ip=$ip boot_file=$boot_file siaddr=$siaddr"\nexit 0\n', { mode: 0o755 });
  const lines = [
    'set -u',
    'ip link set lo up',
    'ip link add ksrv0 type veth peer name ksrc0',
    'ip addr add 10.77.0.1/24 dev ksrv0',
    'ip link set ksrv0 up',
    `dnsmasq --keep-in-foreground --conf-file=${conf} 2>${work}/dnsmasq.log &`,
    'DNSMASQ=$!',
    'trap "kill $DNSMASQ 2>/dev/null" EXIT',
    'sleep 0.5',
  ];
  for (const c of clients) {
    lines.push(
      'ip link set ksrc0 down',
      `ip link set ksrc0 address ${c.mac}`,
      'ip link set ksrc0 up',
      `echo "CLIENT ${c.mac}"`,
      `udhcpc -f -q -n -t 3 -T 1 -i ksrc0 -s ${hook} ${c.args.join(' ')} 2>&1 || echo "NOLEASE"`,
    );
  }
  const r = spawnSync('unshare', ['-n', 'sh', '-c', lines.join('\n')], { encoding: 'utf8', timeout: 60_000 });
  const dnsmasq = readFileSync(path.join(work, 'dnsmasq.log'), 'utf8');
  const log = `${r.stdout}\n${r.stderr}\n${dnsmasq}`;
  const answers: Answer[] = [];
  for (const block of r.stdout.split('CLIENT ').slice(1)) {
    const mac = block.split('\n')[0]?.trim() ?? '';
    const m = /ANSWER ip=(\S*) boot_file=(\S*) siaddr=(\S*)/.exec(block);
    answers.push(
      m ? { mac, leased: true, ip: m[1], ...(m[2] ? { bootFile: m[2] } : {}), ...(m[3] ? { siaddr: m[3] } : {}) } : { mac, leased: false },
    );
  }
  return { answers, log, clients: r.stdout, dnsmasq };
}

// udhcpc -x sends raw options: 93 (client arch, RFC 4578 2.1) and 77 (user class).
const BIOS = ['-x', '0x5d:0000'];
const UEFI = ['-x', '0x5d:0007'];
const IPXE = ['-x', '0x5d:0000', '-x', '0x4d:69505845'];

describe.skipIf(!ok)('rendered dnsmasq.conf answers DHCP as intended', () => {
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(path.join(os.tmpdir(), 'kseedtest-dhcp-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  async function confFor(site: Site): Promise<string> {
    await renderStack(site);
    return readFileSync(path.join(site.dir, '.kseed', 'stack', 'dnsmasq', 'dnsmasq.conf'), 'utf8');
  }

  function labIn(name: string, over: (s: Site) => void = () => {}): Site {
    const d = path.join(work, name);
    mkdirSync(d, { recursive: true });
    const s = labSite(d);
    s.seed = { ...s.seed, interface: 'ksrv0' };
    over(s);
    return s;
  }

  it('authoritative: the inventory MAC gets its fixed address and the boot file for its firmware; unknown MACs get nothing', async () => {
    const conf = await confFor(labIn('auth'));
    const { answers, log, clients, dnsmasq } = ask(path.join(work, 'auth'), conf, [
      { mac: KNOWN, args: BIOS },
      { mac: KNOWN, args: UEFI },
      { mac: KNOWN, args: IPXE },
      { mac: UNKNOWN, args: BIOS },
      { mac: UNKNOWN, args: IPXE },
    ]);
    expect(answers, log).toEqual([
      { mac: KNOWN, leased: true, ip: '10.77.0.11', bootFile: 'undionly.kpxe', siaddr: '10.77.0.1' },
      { mac: KNOWN, leased: true, ip: '10.77.0.11', bootFile: 'snponly.efi', siaddr: '10.77.0.1' },
      { mac: KNOWN, leased: true, ip: '10.77.0.11', bootFile: 'http://10.77.0.1:8080/boot.ipxe', siaddr: '10.77.0.1' },
      { mac: UNKNOWN, leased: false },
      { mac: UNKNOWN, leased: false },
    ]);
    expect(log).toContain('ignored');

    // the seed service's /metrics counts the Ironic stack's DHCP from this log (service/stack-log.ts): as the clients saw it
    const counts = emptyStackSnapshot();
    for (const line of dnsmasq.split('\n')) countDnsmasqLine(counts, line);
    const said = (mac: string, what: RegExp) => clients.split('CLIENT ').filter((b) => b.startsWith(mac)).reduce((n, b) => n + b.split('\n').filter((l) => what.test(l)).length, 0);
    const discovers = { known: said(KNOWN, /^udhcpc: broadcasting discover$/), unknown: said(UNKNOWN, /^udhcpc: broadcasting discover$/) };
    const selects = said(KNOWN, /^udhcpc: broadcasting select for /);
    expect(discovers.unknown, clients).toBeGreaterThanOrEqual(2);
    expect(selects).toBe(3);
    expect(counts.dhcp).toEqual({
      received: { discover: discovers.known + discovers.unknown, request: selects },
      // udhcpc selects the offer it got, and a lease is an ack
      sent: { offer: selects, ack: said(KNOWN, /^udhcpc: lease of 10\.77\.0\.11 obtained/) },
      ignored: { 'unknown-mac': discovers.unknown },
    });
    const text = bootLines(undefined, { up: true, started_at: new Date().toISOString(), counts }).join('\n') + '\n';
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect({ code: check.status, out: `${check.stdout}${check.stderr}` }).toEqual({ code: 0, out: '' });
    expect(text).toContain(`kseed_dhcp_packets_ignored_total{reason="unknown-mac"} ${discovers.unknown}\n`);
    // dnsmasq logs no TFTP sizes: that series is left out, not made up
    expect(text).not.toContain('kseed_tftp_sent_bytes_total');
  });

  it('discovery pool: an unknown MAC may lease from the range but never gets a boot file', async () => {
    const conf = await confFor(labIn('pool', (s) => (s.seed = { ...s.seed, dhcp: { ...s.seed.dhcp, discovery_pool: true } })));
    const { answers, log } = ask(path.join(work, 'pool'), conf, [
      { mac: UNKNOWN, args: IPXE },
      { mac: KNOWN, args: IPXE },
    ]);
    const unknown = answers[0] as Answer;
    expect(unknown.leased, log).toBe(true);
    expect(unknown.bootFile).toBeUndefined();
    const n = Number(unknown.ip?.split('.')[3]);
    expect(n >= 100 && n <= 199, `${unknown.ip} in 10.77.0.100-199`).toBe(true);
    expect(answers[1]).toMatchObject({ leased: true, ip: '10.77.0.11', bootFile: 'http://10.77.0.1:8080/boot.ipxe' });
  });
});
