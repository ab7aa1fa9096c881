/**
 * What an OpenIPMI `ipmi_sim` BMC of a lab node is made of: lan.conf, the
 * .emu command file, a FRU image, and the two helper programs ipmi_sim calls
 * (chassis_control for power and boot device, lan_config_program for
 * `lan print`). Pure text/bytes generation; starting the BMC is bmc.ts.
 * Facts these encode are measured in shared/reference/lab.md (section 1, 4, 5).
 */
import { createHash } from 'node:crypto';

/**
 * ipmi_sim's identity, as `mc info` and `fru print` show it (manufacturer
 * 4753 = MontaVista, OpenIPMI's own). hardware-profiles/qemu-lab.yaml matches
 * exactly these values: change both together.
 */
export const LAB_BMC_IDENTITY = {
  manufacturerId: 0x1291,
  productId: 0x0f02,
  fruManufacturer: 'KSLab',
  fruProduct: 'KSLab Virtual Server',
  fruBoard: 'KSLab Board',
} as const;

export interface LanConfInput {
  /** ipmi_sim instance name: its state lands in <state>/ipmi_sim/<name>/. */
  name: string;
  port: number;
  username: string;
  password: string;
  /** Absolute paths of the helper programs. */
  chassisScript: string;
  lanctlScript: string;
  /**
   * TCP port on 127.0.0.1 where the node's serial port is served (sol-relay.ts):
   * ipmi_sim's SOL connects there. Unset: no SOL.
   */
  solPort?: number;
}

/** 32 hex digits, stable per node so `mc guid` identifies the node across restarts. */
export function bmcGuid(seed: string): string {
  return createHash('md5').update(seed).digest('hex');
}

/**
 * Only MD5 for IPMI 1.5 sessions: with `none`/`straight` allowed, ipmitool
 * `-A NONE` was accepted with a wrong password (lab.md 1.4).
 */
export function renderLanConf(c: LanConfInput): string {
  return [
    `# kseed lab BMC ${c.name} (generated; secrets inside, mode 0600)`,
    `name "${c.name}"`,
    'set_working_mc 0x20',
    '  startlan 1',
    `    addr 127.0.0.1 ${c.port}`,
    '    priv_limit admin',
    '    allowed_auths_callback md5',
    '    allowed_auths_user md5',
    '    allowed_auths_operator md5',
    '    allowed_auths_admin md5',
    `    guid ${bmcGuid(c.name)}`,
    `    lan_config_program "${c.lanctlScript}"`,
    '  endlan',
    // chassis_control (not startcmd): only then does `chassis bootdev` reach us (lab.md 2, 5)
    `  chassis_control "${c.chassisScript}"`,
    // SOL on LAN channel 1 (ipmi_lan(5) "sol"): tcp: without telnet processing, so every byte passes as is
    ...(c.solPort ? [`  sol "tcp:127.0.0.1:${c.solPort}" 115200`] : []),
    '  user 1 false "" "" user 1 none',
    `  user 2 true "${c.username}" "${c.password}" admin 10 md5`,
    '',
  ].join('\n');
}

/**
 * The MC and its contents. `mc_enable 0x20` must be the LAST line: ipmi_sim
 * opens the LAN socket only when the MC is enabled, and any error earlier in
 * the file silently stops processing (lab.md 1.1). SDR bytes carry 0x because
 * bare digits are parsed as decimal. No persist_sdr: it duplicates the SDR on
 * every restart.
 */
export function renderEmu(fruFile: string): string {
  const sdr = [
    '0x00 0x00 0x51 0x01 0x2f 0x20 0x00 0x01 0x03 0x01 0x67 0x88 0x01 0x01 0xc0 0x0f',
    '0xc0 0x7f 0x38 0x38 0x00 0x01 0x00 0x00 0x01 0x00 0x00 0x00 0x00 0x00 0x03 0x60',
    '0xb0 0x00 0xb0 0x00 0xa0 0x90 0x70 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0xc4',
    '0x54 0x65 0x6d 0x70',
  ];
  return [
    '# kseed lab BMC (generated)',
    'mc_setbmc 0x20',
    `mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x${LAB_BMC_IDENTITY.manufacturerId.toString(16)} 0x${LAB_BMC_IDENTITY.productId.toString(16)}`,
    'sel_enable 0x20 1000 0x0a',
    `mc_add_fru_data 0x20 0 256 file 0 "${fruFile}"`,
    '# temperature sensor 1 "Temp"; scanning enabled, or `sdr list` shows it disabled',
    'sensor_add 0x20 0 1 0x01 0x01',
    'sensor_set_value 0x20 0 1 0x60 0',
    'sensor_set_threshold 0x20 0 1 settable 111000 0xa0 0x90 0x70 00 00 00',
    'sensor_set_event_support 0x20 0 1 enable scanning per-state \\',
    '  000111111000000 000111111000000 000111111000000 000111111000000',
    'main_sdr_add 0x20 \\',
    ...sdr.map((l, i) => `  ${l}${i < sdr.length - 1 ? ' \\' : ''}`),
    'mc_enable 0x20',
    '',
  ].join('\n');
}

// ---- FRU (IPMI Platform Management FRU Information Storage Definition v1.0) ----

/** Type/length byte 0xC0|len = 8-bit ASCII (FRU spec 13). */
function fruField(s: string): Buffer {
  const b = Buffer.from(s, 'ascii');
  if (b.length > 63) throw new Error(`FRU field too long: ${s}`);
  return Buffer.concat([Buffer.from([0xc0 | b.length]), b]);
}

/** An area: version, length in 8-byte units, fields, 0xC1 end marker, padding, zero checksum (FRU spec 10, 11, 12). */
function fruArea(head: number[], fields: Buffer[]): Buffer {
  const body = [...head, ...fields.flatMap((f) => [...f]), 0xc1];
  while ((body.length + 1) % 8 !== 0) body.push(0);
  body[1] = (body.length + 1) / 8;
  const sum = body.reduce((a, b) => a + b, 0);
  body.push((0x100 - (sum & 0xff)) & 0xff);
  return Buffer.from(body);
}

export interface FruInput {
  serial: string;
  product?: string;
  manufacturer?: string;
  /** Board manufacturing date; fixed in tests for byte-exact output. */
  date?: Date;
}

/** A 256-byte FRU image with chassis, board and product areas, for `fru print` and hardware-profile matching. */
export function buildFru(f: FruInput): Buffer {
  const mfg = f.manufacturer ?? LAB_BMC_IDENTITY.fruManufacturer;
  const product = f.product ?? LAB_BMC_IDENTITY.fruProduct;
  const date = f.date ?? new Date();
  // minutes since 1996-01-01 00:00 UTC (FRU spec 11, board area)
  const mins = Math.max(0, Math.floor((date.getTime() - Date.UTC(1996, 0, 1)) / 60000)) & 0xffffff;
  // chassis type 0x17 = rack mount chassis (SMBIOS chassis types)
  const chassis = fruArea([1, 0, 0x17], [fruField('KSL-CH-1'), fruField(`CH-${f.serial}`)]);
  const board = fruArea(
    [1, 0, 0, mins & 0xff, (mins >> 8) & 0xff, (mins >> 16) & 0xff],
    [fruField(mfg), fruField(LAB_BMC_IDENTITY.fruBoard), fruField(`BRD-${f.serial}`), fruField('KSL-BRD-1'), fruField('')],
  );
  const prod = fruArea(
    [1, 0, 0],
    [fruField(mfg), fruField(product), fruField('KSL-1'), fruField('1.0'), fruField(f.serial), fruField(`ASSET-${f.serial}`), fruField('')],
  );
  let off = 1;
  const chOff = off;
  off += chassis.length / 8;
  const bdOff = off;
  off += board.length / 8;
  const prOff = off;
  const hdr = [1, 0, chOff, bdOff, prOff, 0, 0];
  hdr.push((0x100 - (hdr.reduce((a, b) => a + b, 0) & 0xff)) & 0xff);
  const data = Buffer.concat([Buffer.from(hdr), chassis, board, prod]);
  if (data.length > 256) throw new Error('FRU image larger than 256 bytes');
  return Buffer.concat([data, Buffer.alloc(256 - data.length)]);
}

// ---- helper programs ipmi_sim runs via popen() ----

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The calling convention of ipmi_sim's chassis_control (get/set power, reset,
 * shutdown, boot, identify), over the shell functions power_get, power_on,
 * power_off and power_soft that each kind of node defines (a VM here, a
 * simulated node in sim/chassis.ts).
 */
export const CHASSIS_DISPATCH = `log "$op $*"
case "$op" in
get)
  for p in "$@"; do
    case "$p" in
      power) echo "power:$(power_get)";;
      boot) echo "boot:$(cat "$d/boot" 2>/dev/null || echo none)";;
      *) echo "Invalid parameter: $p"; exit 1;;
    esac
  done;;
set)
  while [ $# -ge 2 ]; do
    p="$1"; v="$2"; shift 2
    case "$p" in
      power) if [ "$v" = 1 ]; then power_on; else power_off; fi;;
      reset) if [ "$(power_get)" = 1 ]; then power_off; power_on; fi;;
      shutdown) power_soft;;
      boot) case "$v" in none|pxe|default|cdrom|bios) echo "$v" > "$d/boot";; *) echo "Invalid boot device: $v"; exit 1;; esac;;
      identify) ;;
      *) echo "Invalid parameter: $p"; exit 1;;
    esac
  done;;
check) exit 1;;
*) echo "Unknown operation: $op"; exit 1;;
esac
exit 0
`;

/**
 * chassis_control program of one node. ipmi_sim runs it through popen and
 * blocks until it exits; ipmitool retransmits after ~1 s and ipmi_sim then
 * runs the command again (lab.md gotcha 4): so it stays well under 1 s and
 * every operation is idempotent. The VM is started detached with its output
 * away from ipmi_sim's pipe, or ipmi_sim would wait for it forever.
 * Power state is the VM process (alive, not a zombie, still ours).
 * Boot device: ipmi_sim passes none|pxe|default|cdrom|bios; `default` is
 * `bootdev disk`. Kept until changed (ipmi_sim drops the persistent flag).
 */
export function renderChassisScript(nodeDir: string): string {
  return `#!/bin/sh
# kseed lab chassis_control program (generated). ipmi_sim calls:
#   chassis.sh get power|boot ...   -> "power:0|1", "boot:<dev>"
#   chassis.sh set power 0|1 | reset 1 | shutdown 1 | boot <dev> | identify "<interval> <force>"
d=${shq(nodeDir)}
# ipmi_sim passes on whatever PATH kseed had; setsid, kill and friends live here
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\${PATH:+:$PATH}
op="$1"; [ $# -gt 0 ] && shift
log() { echo "$(date +%s.%N) $*" >> "$d/chassis.log"; }
# alive: exists, not a zombie (init may reap late), and its command line names
# this node's directory (not a reused PID). In the middle of an exec (vm.sh -> ip -> qemu) the
# command line reads empty until the new image's arguments are set up (a CI run under load
# answered "off" right after "on" so): an empty one is read again, for at most 0.2 s
alive() {
  [ -n "$1" ] && [ -r "/proc/$1/status" ] || return 1
  grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null && return 1
  i=0
  while [ $i -lt 20 ]; do
    grep -aqF -- "$d/" "/proc/$1/cmdline" 2>/dev/null && return 0
    [ -n "$(head -c 1 "/proc/$1/cmdline" 2>/dev/null | tr -d '\\000')" ] && return 1
    [ -r "/proc/$1/status" ] || return 1
    sleep 0.01; i=$((i+1))
  done
  return 1
}
vm_pid() { p=$(cat "$d/vm.pid" 2>/dev/null) && alive "$p" && echo "$p"; }
power_get() { if [ -n "$(vm_pid)" ]; then echo 1; else echo 0; fi; }
power_on() {
  [ -n "$(vm_pid)" ] && return 0
  setsid "$d/vm.sh" </dev/null >>"$d/vm.out" 2>&1 &
  # rename, not truncate+write: a concurrent reader must never see an empty PID file
  echo $! > "$d/vm.pid.$$" && mv -f "$d/vm.pid.$$" "$d/vm.pid"
}
power_off() {
  p=$(vm_pid) || { rm -f "$d/vm.pid"; return 0; }
  kill -TERM "$p" 2>/dev/null
  i=0
  while alive "$p" && [ $i -lt 6 ]; do sleep 0.1; i=$((i+1)); done
  if alive "$p"; then
    kill -KILL "$p" 2>/dev/null
    # SIGKILL is not instant either: answer "off" only once it is really gone
    i=0
    while alive "$p" && [ $i -lt 2 ]; do sleep 0.05; i=$((i+1)); done
  fi
  rm -f "$d/vm.pid" "$d/qemu.pid"
}
# soft off = the ACPI power button, through QEMU's QMP socket; a guest without
# an OS ignores it, as real hardware does. No socket or no socat: hard off.
power_soft() {
  [ -n "$(vm_pid)" ] || return 0
  if [ -S "$d/qmp.sock" ] && command -v socat >/dev/null 2>&1; then
    printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"system_powerdown"}' |
      timeout 0.5 socat -t 0.2 - "UNIX-CONNECT:$d/qmp.sock" >/dev/null 2>&1 && return 0
  fi
  power_off
}
${CHASSIS_DISPATCH}`;
}

/** lan_config_program: `lan print` values from <node>/lanparms (name:value lines). */
export function renderLanctlScript(nodeDir: string): string {
  return `#!/bin/sh
# kseed lab lan_config_program (generated). ipmi_sim calls: lanctl.sh get|set|check <parm> [value] ...
d=${shq(nodeDir)}
op="$1"; [ $# -gt 0 ] && shift
case "$op" in
get)
  for p in "$@"; do
    v=$(grep "^$p:" "$d/lanparms" 2>/dev/null | cut -d: -f2-)
    case "$p" in *mac_addr) def=00:00:00:00:00:00;; ip_addr_src) def=static;; *) def=0.0.0.0;; esac
    echo "$p:\${v:-$def}"
  done;;
set)
  while [ $# -ge 2 ]; do
    grep -v "^$1:" "$d/lanparms" > "$d/lanparms.tmp" 2>/dev/null
    echo "$1:$2" >> "$d/lanparms.tmp"
    mv "$d/lanparms.tmp" "$d/lanparms"
    shift 2
  done;;
check) exit 0;;
*) exit 1;;
esac
exit 0
`;
}

export function renderLanparms(mac: string): string {
  return ['ip_addr:127.0.0.1', 'ip_addr_src:static', `mac_addr:${mac}`, 'subnet_mask:255.0.0.0', 'default_gw_ip_addr:0.0.0.0', ''].join('\n');
}
