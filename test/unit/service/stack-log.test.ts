/**
 * The Ironic stack's log lines as /metrics counts them (service/stack-log.ts),
 * on lines in the formats dnsmasq 2.90 (log-dhcp, log-facility=-) and nginx
 * (combined access log) write; the lines that are not traffic (dnsmasq's
 * option dumps and start-up, nginx's error log) count nothing. The real
 * programs' logs are counted in test/integration/compose/dnsmasq-dhcp.test.ts
 * and stack-run.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { countDnsmasqLine, countNginxLine, emptyStackSnapshot } from '../../../src/service/stack-log.js';

const dnsmasq = (lines: string) => {
  const c = emptyStackSnapshot();
  for (const l of lines.trim().split('\n')) countDnsmasqLine(c, l.trim());
  return c;
};

describe('stack log counters', () => {
  it('counts DHCP messages received and sent, and the ignored ones by reason; option dumps count nothing', () => {
    const c = dnsmasq(`
      dnsmasq-dhcp[1]: DHCP, IP range 10.77.0.100 -- 10.77.0.120, lease time 10m
      dnsmasq-dhcp[1]: 1655897152 available DHCP range: 10.77.0.100 -- 10.77.0.120
      dnsmasq-dhcp[1]: 1655897152 DHCPDISCOVER(br-prov) 52:54:00:77:00:01
      dnsmasq-dhcp[1]: 1655897152 tags: prov, known, br-prov
      dnsmasq-dhcp[1]: 1655897152 DHCPOFFER(br-prov) 10.77.0.109 52:54:00:77:00:01
      dnsmasq-dhcp[1]: 1655897152 sent size:  1 option: 53 message-type  2
      dnsmasq-dhcp[1]: 1655897152 DHCPREQUEST(br-prov) 10.77.0.109 52:54:00:77:00:01
      dnsmasq-dhcp[1]: 1655897152 DHCPACK(br-prov) 10.77.0.109 52:54:00:77:00:01 n1
      dnsmasq-dhcp[1]: 3548923248 DHCPDISCOVER(br-prov) 52:54:00:99:99:99 ignored
      dnsmasq-dhcp[1]: 77 DHCPDISCOVER(br-prov) 52:54:00:77:00:02 no address available
      dnsmasq-dhcp[1]: 78 DHCPREQUEST(br-prov) 10.77.0.5 52:54:00:77:00:03
      dnsmasq-dhcp[1]: 78 DHCPNAK(br-prov) 10.77.0.5 52:54:00:77:00:03 wrong network
      dnsmasq-dhcp[1]: 79 DHCPRELEASE(br-prov) 10.77.0.109 52:54:00:77:00:01
      dnsmasq-dhcp[1]: 80 BOOTP(br-prov) 52:54:00:99:99:98 ignored
      Dec  7 16:00:00 dnsmasq-dhcp[1]: 81 DHCPINFORM(br-prov) 10.77.0.9 52:54:00:77:00:04
    `);
    expect(c.dhcp).toEqual({
      received: { discover: 3, request: 2, release: 1, bootp: 1, inform: 1 },
      sent: { offer: 1, ack: 1, nak: 1 },
      ignored: { 'unknown-mac': 1, 'pool-exhausted': 1, bootp: 1 },
    });
  });

  it('counts proxyDHCP answers: a "proxy" line answers a DISCOVER, one with an address and boot file a REQUEST', () => {
    const c = dnsmasq(`
      dnsmasq-dhcp[1]: 2438522631 PXE(br-prov) 52:54:00:77:00:01 proxy
      dnsmasq-dhcp[1]: 2438522631 PXE(br-prov) 10.77.0.50 52:54:00:77:00:01 undionly.kpxe
    `);
    expect(c.dhcp).toEqual({ received: { discover: 1, request: 1 }, sent: { offer: 1, ack: 1 }, ignored: {} });
  });

  it('counts TFTP transfers when they end (sent, failed, the client aborted) and refusals; the start-up line counts nothing', () => {
    const c = dnsmasq(`
      dnsmasq-tftp[1]: TFTP root is /var/lib/ironic/tftpboot
      dnsmasq-tftp[1]: sent /var/lib/ironic/tftpboot/undionly.kpxe to 10.77.0.109
      dnsmasq-tftp[1]: error 0 Early terminate received from 10.77.0.109
      dnsmasq-tftp[1]: failed sending /var/lib/ironic/tftpboot/snponly.efi to 10.77.0.110
      dnsmasq-tftp[1]: file /var/lib/ironic/tftpboot/nope.efi not found for 10.77.0.109
      dnsmasq-tftp[1]: unsupported request from 10.77.0.111
    `);
    expect(c.tftp).toEqual({ started: 3, completed: 1, failed: { 'peer-error': 1, timeout: 1 }, refused: 2 });
  });

  it("counts nginx's access-log lines by status class with their body bytes; its error log counts nothing", () => {
    const c = emptyStackSnapshot();
    for (const l of [
      '10.77.0.109 - - [07/Dec/2026:16:00:00 +0000] "GET /boot.ipxe HTTP/1.1" 200 312 "-" "iPXE/1.21.1"',
      '10.77.0.109 - - [07/Dec/2026:16:00:01 +0000] "GET /x\\x22y HTTP/1.1" 404 153 "-" "curl/7.88.1"',
      '10.77.0.109 - - [07/Dec/2026:16:00:02 +0000] "GET /pxelinux.cfg/52-54-00-77-00-01 HTTP/1.1" 403 0 "-" "-"',
      '2026/12/07 16:00:03 [error] 7#7: *3 open() "/var/lib/ironic/httpboot/nope" failed (2: No such file or directory), client: 10.77.0.109',
    ])
      countNginxLine(c, l);
    expect(c.http).toEqual({ requests: { '2xx': 1, '4xx': 2 }, bytes: 465 });
  });
});
