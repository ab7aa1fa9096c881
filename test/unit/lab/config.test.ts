import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  bmcGuid,
  buildFru,
  renderChassisScript,
  renderEmu,
  renderLanConf,
  renderLanctlScript,
  renderLanparms,
} from '../../../src/lab/bmc-config.js';
import { directBootArgv, renderVmScript, type VmInput } from '../../../src/lab/vm.js';
import { labRoles, renderLabSite, siteMarker } from '../../../src/lab/site.js';
import type { LabManifest, LabNodeManifest } from '../../../src/lab/manifest.js';
import { sizedNode } from '../../../src/lab/node.js';

describe('lan.conf', () => {
  const conf = renderLanConf({
    name: 'ksl-t-node01',
    port: 17042,
    username: 'admin',
    password: 'Secr3tPassw0rdXy',
    chassisScript: '/s/lab/t/nodes/node01/chassis.sh',
    lanctlScript: '/s/lab/t/nodes/node01/lanctl.sh',
  });
  const lines = conf.split('\n').map((l) => l.trim());

  it('listens on loopback only, on the node port', () => {
    expect(lines).toContain('addr 127.0.0.1 17042');
    expect(conf).not.toMatch(/addr 0\.0\.0\.0/);
  });
  it('allows only MD5 for IPMI 1.5 sessions (NONE accepted wrong passwords in lab.md 1.4)', () => {
    for (const who of ['callback', 'user', 'operator', 'admin']) expect(lines).toContain(`allowed_auths_${who} md5`);
    expect(conf).not.toMatch(/allowed_auths_\w+ .*(none|straight|md2)/);
  });
  it('has one admin user with the generated password and a disabled anonymous user', () => {
    expect(lines).toContain('user 2 true "admin" "Secr3tPassw0rdXy" admin 10 md5');
    expect(lines).toContain('user 1 false "" "" user 1 none');
  });
  it('powers through chassis_control (bootdev needs it) and never startcmd', () => {
    expect(lines).toContain('chassis_control "/s/lab/t/nodes/node01/chassis.sh"');
    expect(lines).toContain('lan_config_program "/s/lab/t/nodes/node01/lanctl.sh"');
    expect(conf).not.toMatch(/startcmd/);
  });
  it('has a stable 32-hex-digit GUID per instance', () => {
    expect(lines).toContain(`guid ${bmcGuid('ksl-t-node01')}`);
    expect(bmcGuid('ksl-t-node01')).toMatch(/^[0-9a-f]{32}$/);
    expect(bmcGuid('ksl-t-node01')).not.toBe(bmcGuid('ksl-t-node02'));
  });
});

describe('bmc.emu', () => {
  const emu = renderEmu('/x/fru.bin');
  const cmds = emu.split('\n').filter((l) => l && !l.startsWith('#') && !l.startsWith(' '));
  it('enables the MC last: ipmi_sim opens the LAN socket only then', () => {
    expect(cmds.at(-1)).toBe('mc_enable 0x20');
    expect(cmds.filter((c) => c.startsWith('mc_enable'))).toHaveLength(1);
  });
  it('adds the MC before anything that refers to it, without persist_sdr', () => {
    expect(cmds[0]).toBe('mc_setbmc 0x20');
    expect(cmds[1]).toMatch(/^mc_add 0x20 0 no-device-sdrs .* 0x1291 0xf02$/);
    expect(emu).not.toMatch(/persist_sdr/);
    expect(emu).toContain('mc_add_fru_data 0x20 0 256 file 0 "/x/fru.bin"');
  });
  it('writes every SDR byte with 0x (bare digits are read as decimal)', () => {
    const sdr = emu.slice(emu.indexOf('main_sdr_add 0x20'), emu.indexOf('mc_enable'));
    const bytes = sdr.replace('main_sdr_add 0x20', '').replace(/\\\n/g, ' ').trim().split(/\s+/);
    expect(bytes.length).toBe(52);
    for (const b of bytes) expect(b).toMatch(/^0x[0-9a-f]{2}$/);
    // record length byte (index 4) = bytes after the 5-byte header
    expect(Number(bytes[4])).toBe(bytes.length - 5);
  });
  it('continues multi-line commands with a backslash on every line but the last', () => {
    const block = emu.split('\n');
    const start = block.findIndex((l) => l.startsWith('main_sdr_add'));
    const end = block.findIndex((l) => l.startsWith('mc_enable'));
    for (let i = start; i < end - 1; i++) expect(block[i]).toMatch(/\\$/);
    expect(block[end - 1]).not.toMatch(/\\$/);
  });
});

describe('FRU image', () => {
  const fru = buildFru({ serial: 'SN-t-node01', date: new Date(Date.UTC(2026, 0, 1)) });
  const sum = (b: Buffer) => b.reduce((a, x) => (a + x) & 0xff, 0);
  it('is 256 bytes with a zero-sum common header', () => {
    expect(fru.length).toBe(256);
    expect(fru[0]).toBe(1);
    expect(sum(fru.subarray(0, 8))).toBe(0);
  });
  it('has chassis, board and product areas that each sum to zero and end with 0xC1', () => {
    for (const off of [fru[2]!, fru[3]!, fru[4]!]) {
      const start = off * 8;
      const len = fru[start + 1]! * 8;
      const area = fru.subarray(start, start + len);
      expect(area[0]).toBe(1);
      expect(sum(area)).toBe(0);
      expect([...area]).toContain(0xc1);
    }
  });
  it('carries the serial and the product name in the product area', () => {
    const prod = fru.subarray(fru[4]! * 8).toString('latin1');
    expect(prod).toContain('KSLab Virtual Server');
    expect(prod).toContain('SN-t-node01');
  });
  it('encodes the board date as minutes since 1996-01-01', () => {
    const b = fru[3]! * 8;
    const mins = fru[b + 3]! | (fru[b + 4]! << 8) | (fru[b + 5]! << 16);
    expect(mins).toBe((Date.UTC(2026, 0, 1) - Date.UTC(1996, 0, 1)) / 60000);
  });
});

describe('chassis_control script', () => {
  const s = renderChassisScript("/s/lab/it's/nodes/node01");
  it('quotes the node directory for sh', () => {
    expect(s).toContain(`d='/s/lab/it'\\''s/nodes/node01'`);
  });
  it('starts the VM detached with output away from ipmi_sim\'s pipe', () => {
    expect(s).toContain('setsid "$d/vm.sh" </dev/null >>"$d/vm.out" 2>&1 &');
  });
  it('treats zombies and foreign PIDs as powered off', () => {
    expect(s).toMatch(/State:\[\[:space:\]\]\*Z/);
    expect(s).toContain('grep -aqF -- "$d/" "/proc/$1/cmdline"');
  });
  it('bounds power off well under ipmitool\'s 1 s retransmit', () => {
    const m = /while alive "\$p" && \[ \$i -lt (\d+) \]; do sleep 0\.(\d); /.exec(s);
    expect(m).not.toBeNull();
    expect(Number(m![1]) * Number(m![2]) * 100).toBeLessThanOrEqual(700);
  });
  it('soft off presses the ACPI power button over QMP, hard off only without it', () => {
    expect(s).toContain('shutdown) power_soft;;');
    expect(s).toContain(`'{"execute":"system_powerdown"}'`);
    expect(s).toMatch(/UNIX-CONNECT:\$d\/qmp\.sock" >\/dev\/null 2>&1 && return 0\n  fi\n  power_off/);
  });
  it('stores only the boot devices ipmi_sim passes', () => {
    expect(s).toContain('none|pxe|default|cdrom|bios) echo "$v" > "$d/boot"');
  });
});

describe('lanctl script and lanparms', () => {
  it('reports the loopback address and the BMC MAC', () => {
    expect(renderLanparms('02:00:00:77:aa:01')).toBe(
      'ip_addr:127.0.0.1\nip_addr_src:static\nmac_addr:02:00:00:77:aa:01\nsubnet_mask:255.0.0.0\ndefault_gw_ip_addr:0.0.0.0\n',
    );
    const s = renderLanctlScript('/n');
    expect(s).toContain(`d='/n'`);
    expect(s).toContain('echo "$p:${v:-$def}"');
  });
});

describe('vm.sh', () => {
  const base: VmInput = {
    name: 'node01',
    nodeDir: '/s/lab/t/nodes/node01',
    netns: 'ksl-t',
    tap: 'ksl-t0',
    mac: '52:54:00:77:aa:01',
    firmware: 'bios',
    memoryMb: 1024,
    diskSerial: 'KSL-T-01',
    ipPath: '/usr/sbin/ip',
    qemuPath: '/usr/bin/qemu-system-x86_64',
  };
  const bios = renderVmScript(base);
  const uefi = renderVmScript({ ...base, firmware: 'uefi' });

  it('runs QEMU inside the lab netns on the node tap, TCG', () => {
    expect(bios).toMatch(/^exec '\/usr\/sbin\/ip' netns exec 'ksl-t' '\/usr\/bin\/qemu-system-x86_64' \\$/m);
    expect(bios).toContain(`-netdev 'tap,id=n0,ifname=ksl-t0,script=no,downscript=no'`);
    expect(bios).toContain('-accel tcg');
    expect(bios).toContain('-m 1024');
  });
  it('one vCPU unless the node has more (a Ceph monitor: -smp 2)', () => {
    expect(bios).toContain('-cpu max -smp 1 -m 1024');
    expect(renderVmScript({ ...base, cpus: 2, memoryMb: 4096 })).toContain('-cpu max -smp 2 -m 4096');
  });
  it("nodeSize: one node's memory and vCPUs by its name, the others as the lab's; bad sizes name the node", () => {
    const node = { name: 'node05', memoryMb: 1024 } as LabNodeManifest;
    expect(sizedNode(node, undefined)).toBe(node);
    expect(sizedNode(node, { node01: { memoryMb: 4096 } })).toBe(node);
    expect(sizedNode(node, { node05: { memoryMb: 4096 } })).toEqual({ name: 'node05', memoryMb: 4096 });
    expect(sizedNode(node, { node05: { memoryMb: 4096, cpus: 2 } })).toEqual({ name: 'node05', memoryMb: 4096, cpus: 2 });
    expect(() => sizedNode(node, { node05: { cpus: 0 } })).toThrow(/bad cpus 0 for node05/);
    expect(() => sizedNode(node, { node05: { memoryMb: 64 } })).toThrow(/bad memoryMb 64 for node05/);
  });
  it('keeps the PID chassis.sh recorded (exec) and writes its own', () => {
    expect(bios).toContain('echo $$ > "$d/vm.pid.$$" && mv -f "$d/vm.pid.$$" "$d/vm.pid"');
    expect(bios.trim().split('\n').filter((l) => l.startsWith('exec ')).length).toBe(1);
  });
  it('boots network first unless the BMC set the disk (ipmi_sim says "default") or the CD', () => {
    expect(bios).toContain('case "$boot" in default) NET=2; DISK=1; CD=3;; cdrom) NET=2; DISK=3; CD=1;; *) NET=1; DISK=2; CD=3;; esac');
    // a one-time override (Redfish Once) is read instead of the kept device, and used up
    expect(bios).toContain('if [ -f "$d/boot.once" ]; then boot=$(cat "$d/boot.once"); rm -f "$d/boot.once"; fi');
    expect(bios).toContain('-device "ide-cd,drive=cdrom0,id=cd0,bootindex=$CD"');
    expect(bios).toContain('CDFILE=""; [ -f "$d/cd.img" ] && CDFILE=",file=$d/cd.img"');
    expect(bios).toContain('mac=52:54:00:77:aa:01,bootindex=$NET');
    expect(bios).toContain('serial=KSL-T-01,bootindex=$DISK');
  });
  it('logs the console to serial.log, appending, and stamps each power-on', () => {
    expect(bios).toContain('-chardev "$SER" -serial chardev:ser0');
    // QEMU logs it itself unless the node's SOL relay runs (sol-relay.ts), which then logs every byte
    expect(bios).toContain('SER="file,id=ser0,path=$d/serial.log,append=on"\n');
    expect(bios).toContain(
      'if [ -n "$r" ] && [ -S "$d/serial.sock" ] && grep -aqF -- "$d/serial.sock" "/proc/$r/cmdline" 2>/dev/null &&\n' +
        '  grep -aqF -- sol-relay-main.js "/proc/$r/cmdline" 2>/dev/null; then SER="socket,id=ser0,path=$d/serial.sock"; fi',
    );
    expect(bios).toContain('r=$(cat "$d/sol-relay.pid" 2>/dev/null)');
    // a client socket without reconnect: connected before the guest runs, or QEMU does not start
    expect(bios).not.toMatch(/serial\.sock,[^"]*(server=|reconnect=)/);
    expect(bios).toMatch(/=== kseed-lab power-on #\$n .* bootdev=\$boot" >> "\$d\/serial.log"/);
  });
  it('attaches data disks after the boot disk, without a bootindex', () => {
    const v = renderVmScript({ ...base, dataDisks: [{ file: 'data1.qcow2', serial: 'KSL-T-01D1' }] });
    expect(v).toContain('-drive "file=$d/data1.qcow2,format=qcow2,if=none,id=d1,discard=unmap"');
    expect(v).toContain('-device "virtio-blk-pci,drive=d1,serial=KSL-T-01D1"');
    expect(v.indexOf('id=d1')).toBeGreaterThan(v.indexOf('id=d0'));
  });
  it('BIOS: pc machine, no pflash; UEFI: q35 with OVMF code read-only and a per-node vars copy', () => {
    expect(bios).toContain('-machine pc');
    expect(bios).not.toContain('pflash');
    expect(uefi).toContain('-machine q35');
    expect(uefi).toContain(`-drive 'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd'`);
    expect(uefi).toContain('-drive "if=pflash,format=raw,unit=1,file=$d/OVMF_VARS.fd"');
  });
  it('UEFI HTTP boot: the first NIC has no option ROM and OVMF has its PXE and IPv6 boot turned off; ignored on BIOS', () => {
    const http = renderVmScript({ ...base, firmware: 'uefi', httpBoot: true });
    expect(http).toContain('-device "virtio-net-pci,netdev=n0,mac=52:54:00:77:aa:01,bootindex=$NET,romfile="');
    for (const k of ['IPv4PXESupport', 'IPv6PXESupport', 'IPv6Support']) expect(http).toContain(`-fw_cfg name=opt/org.tianocore/${k},string=no`);
    expect(uefi).not.toContain('romfile=');
    expect(uefi).not.toContain('-fw_cfg');
    expect(renderVmScript({ ...base, httpBoot: true })).toBe(bios);
  });
  it('opens a QMP socket in the node dir unless the path is too long for a unix socket', () => {
    expect(bios).toContain('-qmp "unix:$d/qmp.sock,server=on,wait=off"');
    expect(renderVmScript({ ...base, nodeDir: `/${'x'.repeat(100)}` })).not.toContain('-qmp');
  });
  it('continues every QEMU line but the last', () => {
    const lines = uefi.trim().split('\n');
    const start = lines.findIndex((l) => l.startsWith('exec '));
    for (let i = start; i < lines.length - 1; i++) expect(lines[i]).toMatch(/ \\$/);
    expect(lines.at(-1)).not.toMatch(/\\$/);
  });
});

describe('direct kernel boot (benchmark floor)', () => {
  const v: VmInput = {
    name: 'node02',
    nodeDir: '/s/n2',
    netns: 'ksl-t',
    tap: 'ksl-t1',
    mac: '52:54:00:77:aa:02',
    firmware: 'uefi',
    memoryMb: 768,
    diskSerial: 'KSL-T-02',
    dataDisks: [{ file: 'data1.qcow2', serial: 'KSL-T-02D1' }],
    ipPath: '/usr/sbin/ip',
    qemuPath: '/usr/bin/qemu-system-x86_64',
  };
  const argv = directBootArgv({ ...v, kernel: '/k/vmlinuz', initrd: '/k/initrd.gz', append: 'console=ttyS0 x=1' });
  const vmsh = renderVmScript(v);
  it('is the same machine as vm.sh: netns, tap, MAC, disks with their serials, firmware, memory', () => {
    expect(argv.slice(0, 4)).toEqual(['netns', 'exec', 'ksl-t', '/usr/bin/qemu-system-x86_64']);
    for (const frag of ['ifname=ksl-t1', 'mac=52:54:00:77:aa:02', 'serial=KSL-T-02', 'serial=KSL-T-02D1', 'OVMF_CODE_4M.fd', '/OVMF_VARS.fd', 'q35']) {
      expect(argv.some((a) => a.includes(frag)), frag).toBe(true);
      expect(vmsh).toContain(frag);
    }
    expect(argv[argv.indexOf('-m') + 1]).toBe('768');
  });
  it('boots the given kernel, initrd and command line as single arguments', () => {
    expect(argv.slice(-6)).toEqual(['-kernel', '/k/vmlinuz', '-initrd', '/k/initrd.gz', '-append', 'console=ttyS0 x=1']);
    expect(argv.join(' ')).not.toContain('bootindex');
  });
});

describe('lab site file', () => {
  const m: LabManifest = {
    version: 1,
    name: 't',
    netns: 'ksl-t',
    bridge: 'ksl-br0',
    network: { ipv4: '10.77.0.1', prefix: 24, ipv6: 'fd77::1', prefix6: 64, dhcpRange: { start: '10.77.0.100', end: '10.77.0.199' } },
    dir: '/s/lab/t',
    stateDir: '/s',
    passwordFile: '/s/secrets/lab-t.bmc-password',
    bmcPortBase: 17000,
    createdAt: 'x',
    updatedAt: 'x',
    nodes: [0, 1].map((i) => ({
      name: `node0${i + 1}`,
      index: i,
      dir: `/s/lab/t/nodes/node0${i + 1}`,
      firmware: i === 0 ? ('bios' as const) : ('uefi' as const),
      mac: `52:54:00:77:aa:0${i + 1}`,
      tap: `ksl-t${i}`,
      memoryMb: 1024,
      bmc: { address: '127.0.0.1' as const, port: 17000 + i, username: 'admin', mac: `02:00:00:77:aa:0${i + 1}` },
      disk: { path: `/s/lab/t/nodes/node0${i + 1}/disk.qcow2`, sizeGb: 10, serial: `KSL-T-0${i + 1}` },
      dataDisks: [],
      listed: true,
      serialLog: `/s/lab/t/nodes/node0${i + 1}/serial.log`,
    })),
  };
  const text = renderLabSite(m);
  const y = parse(text) as Record<string, any>;

  it('starts with the marker that lets lab up/down recognise it', () => {
    expect(text.split('\n')[0]).toBe(siteMarker('t'));
  });
  it('points the seed at the lab bridge inside the lab netns', () => {
    expect(y.seed).toEqual({
      interface: 'ksl-br0',
      netns: 'ksl-t',
      address: '10.77.0.1/24',
      dhcp: { mode: 'authoritative', range: '10.77.0.100-10.77.0.199' },
    });
  });
  it('references the BMC password by file, never inline', () => {
    expect(y.defaults.bmc).toEqual({ type: 'ipmi', username: 'admin', password: { file: '/s/secrets/lab-t.bmc-password' }, cipher_suite: 3 });
    expect(y.defaults.profile).toBe('qemu-lab');
  });
  it('lists each node with its BMC, MAC (a string, not a sexagesimal number), roles, firmware and disk', () => {
    expect(y.nodes).toEqual([
      {
        name: 'node01',
        bmc: { address: '127.0.0.1', port: 17000 },
        macs: ['52:54:00:77:aa:01'],
        roles: ['control', 'network', 'monitoring'],
        boot_mode: 'bios',
        root_device: { serial: 'KSL-T-01' },
      },
      {
        name: 'node02',
        bmc: { address: '127.0.0.1', port: 17001 },
        macs: ['52:54:00:77:aa:02'],
        roles: ['compute', 'storage'],
        boot_mode: 'uefi',
        root_device: { serial: 'KSL-T-02' },
      },
    ]);
  });
  it('leaves unlisted machines out, and gives roles by the listed ones', () => {
    const withStranger: LabManifest = {
      ...m,
      nodes: [m.nodes[0]!, { ...m.nodes[1]!, name: 'node02', listed: false }],
    };
    const y2 = parse(renderLabSite(withStranger)) as Record<string, any>;
    expect(y2.nodes.map((n: any) => n.name)).toEqual(['node01']);
    expect(y2.nodes[0].roles).toEqual(labRoles(0, 1));
  });
  it('writes defaults.image when the lab has one, and none otherwise', () => {
    expect(y.defaults.image).toBeUndefined();
    const img = { url: 'http://10.77.0.1:8080/images/test.raw.zst', checksum: `sha256:${'a'.repeat(64)}`, format: 'raw' as const, compression: 'zstd' as const };
    const y3 = parse(renderLabSite({ ...m, image: img })) as Record<string, any>;
    expect(y3.defaults.image).toEqual(img);
  });
  it('says engine embedded unless the lab was made for the Ironic stack', () => {
    expect(y.engine).toBe('embedded');
    expect(y.ironic).toBeUndefined();
    const yi = parse(renderLabSite({ ...m, engine: 'ironic' })) as Record<string, any>;
    expect(yi.engine).toBe('ironic');
    expect(yi.ironic).toEqual({ deploy_interface: 'ramdisk', min_command_interval: 1 });
  });
  it('turns the seed TFTP off only when every listed node boots by UEFI HTTP boot, on the embedded engine', () => {
    const uefiOnly = { ...m, uefiHttpBoot: true, nodes: m.nodes.map((n) => ({ ...n, firmware: 'uefi' as const })) };
    expect((parse(renderLabSite(uefiOnly)) as Record<string, any>).seed.tftp).toEqual({ enabled: false });
    // an unlisted BIOS stranger is not the seed's to boot
    const stranger = { ...uefiOnly, nodes: [...uefiOnly.nodes, { ...m.nodes[0]!, name: 'node03', index: 2, listed: false }] };
    expect((parse(renderLabSite(stranger)) as Record<string, any>).seed.tftp).toEqual({ enabled: false });
    expect((parse(renderLabSite({ ...m, uefiHttpBoot: true })) as Record<string, any>).seed.tftp).toBeUndefined();
    expect((parse(renderLabSite({ ...uefiOnly, engine: 'ironic' })) as Record<string, any>).seed.tftp).toBeUndefined();
    expect((parse(renderLabSite({ ...uefiOnly, uefiHttpBoot: undefined })) as Record<string, any>).seed.tftp).toBeUndefined();
  });
  it('gives a single node every role', () => {
    expect(labRoles(0, 1)).toEqual(['control', 'network', 'compute', 'storage', 'monitoring']);
  });
});
