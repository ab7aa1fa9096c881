import { describe, expect, it } from 'vitest';
import { renderLanConf } from '../../../src/lab/bmc-config.js';
import { relayArgv, serialSocket, solWired } from '../../../src/lab/sol-relay.js';
import { renderVmScript } from '../../../src/lab/vm.js';

describe('lab SOL wiring', () => {
  const input = {
    name: 'ksl-t-node01',
    port: 18201,
    username: 'admin',
    password: 'pw',
    chassisScript: '/s/n/chassis.sh',
    lanctlScript: '/s/n/lanctl.sh',
  };

  it('gives ipmi_sim a SOL device over plain TCP (no telnet processing) on the node port, inside the MC block', () => {
    const lines = renderLanConf({ ...input, solPort: 18201 }).split('\n');
    const sol = lines.findIndex((l) => l.trim() === 'sol "tcp:127.0.0.1:18201" 115200');
    expect(sol).toBeGreaterThan(lines.findIndex((l) => l.trim() === 'endlan'));
    expect(sol).toBeGreaterThan(lines.findIndex((l) => l.startsWith('set_working_mc 0x20')));
    expect(renderLanConf(input)).not.toMatch(/^\s*sol /m);
  });

  it('serves the VM serial port on a UNIX socket and still logs every byte to serial.log', () => {
    const vm = renderVmScript({
      name: 'node01',
      nodeDir: '/s/n',
      netns: 'ksl-t',
      tap: 'ksl-t0',
      mac: '52:54:00:77:aa:01',
      firmware: 'bios',
      memoryMb: 512,
      diskSerial: 'KSL-T-01',
      ipPath: '/usr/sbin/ip',
      qemuPath: '/usr/bin/qemu-system-x86_64',
      serialSocket: true,
    });
    expect(vm).toContain('-chardev "socket,id=ser0,path=$d/serial.sock,server=on,wait=off,logfile=$d/serial.log,logappend=on" -serial chardev:ser0');
    expect(vm).not.toContain('file,id=ser0');
    // the power-on stamp goes to the same log
    expect(vm).toMatch(/bootdev=\$boot" >> "\$d\/serial.log"/);
  });

  it('relays TCP 127.0.0.1:<BMC port> to the socket, waiting for a powered-off VM', () => {
    expect(relayArgv({ dir: '/s/n', bmc: { address: '127.0.0.1', port: 18201, username: 'admin', mac: '' } })).toEqual([
      'socat',
      'TCP-LISTEN:18201,bind=127.0.0.1,reuseaddr,fork',
      'UNIX-CONNECT:/s/n/serial.sock,forever,interval=0.2',
    ]);
  });

  it('wires no SOL for a simulated node or a socket path longer than sun_path allows', () => {
    expect(solWired({ dir: '/s/n', sim: { netns: 'x' } })).toBe(false);
    const deep = `/s/${'d'.repeat(100)}`;
    expect(serialSocket(deep).length).toBeGreaterThan(100);
    expect(solWired({ dir: deep })).toBe(false);
  });
});
