// OpenIPMI ipmi_sim instances for tests and the benchmark (shared by
// test/integration/bmc/ipmi and bench/ipmi-fleet). Each BMC gets its own temp
// dir with lan.conf, bmc.emu, a FRU image, a chassis_control script (power
// and boot device kept in files, so ipmitool and kseed see the same state)
// and a lan_config_program. Processes are tracked and killed by PID only.
// Facts used (see /work/shared/reference/lab.md): `mc_enable 0x20` must come
// last or no UDP port opens; `-n` is required without a terminal; `-s` must
// point at a fresh state dir or old users/params come back.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync, readFileSync, rmSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import dgram from 'node:dgram';
import { createHash } from 'node:crypto';

function fruField(s) {
  const b = Buffer.from(s, 'ascii');
  if (b.length >= 64) throw new Error('FRU field too long');
  return Buffer.concat([Buffer.from([0xc0 | b.length]), b]);
}

// FRU area: version, length (x8), ..., 0xC1 end, zero pad, checksum (Platform Management FRU spec 1.0)
function fruArea(body) {
  let a = Buffer.concat([body, Buffer.from([0xc1])]);
  while ((a.length + 1) % 8) a = Buffer.concat([a, Buffer.from([0])]);
  a[1] = (a.length + 1) / 8;
  let sum = 0;
  for (const x of a) sum = (sum + x) & 0xff;
  return Buffer.concat([a, Buffer.from([(0x100 - sum) & 0xff])]);
}

/** A 256-byte FRU image with chassis, board and product areas. */
export function makeFru({ serial, product = 'KSLab Virtual Server', manufacturer = 'KSLab', part = 'MODEL-1' }) {
  const chassis = fruArea(Buffer.concat([Buffer.from([1, 0, 0x17]), fruField('CH-PN-001'), fruField(`CH-${serial}`)]));
  const board = fruArea(
    Buffer.concat([
      Buffer.from([1, 0, 0, 0x10, 0x20, 0x30]),
      fruField(manufacturer),
      fruField('KSLab Board'),
      fruField(`BRD-${serial}`),
      fruField('BRD-PN-001'),
      fruField(''),
    ]),
  );
  const prod = fruArea(
    Buffer.concat([
      Buffer.from([1, 0, 0]),
      fruField(manufacturer),
      fruField(product),
      fruField(part),
      fruField('1.0'),
      fruField(serial),
      fruField(`ASSET-${serial}`),
      fruField(''),
    ]),
  );
  const hdr = Buffer.from([1, 0, 1, 1 + chassis.length / 8, 1 + (chassis.length + board.length) / 8, 0, 0, 0]);
  let sum = 0;
  for (let i = 0; i < 7; i++) sum = (sum + hdr[i]) & 0xff;
  hdr[7] = (0x100 - sum) & 0xff;
  const out = Buffer.alloc(256);
  Buffer.concat([hdr, chassis, board, prod]).copy(out);
  return out;
}

const CHASSIS_SH = `#!/bin/sh
# ipmi_sim chassis_control program: state in files of DIR, answers in well under 1 s
# (ipmi_sim blocks while this runs; a slow script makes clients retransmit).
d="$1"; shift; op="$1"; shift
case "$op" in
get) for p in "$@"; do
       # shell builtins only: no fork per query, ipmi_sim waits for us
       case "$p" in
         power) v=0; [ -r "$d/power" ] && read -r v < "$d/power"; echo "power:$v";;
         boot) v=default; [ -r "$d/boot" ] && read -r v < "$d/boot"; echo "boot:$v";;
         *) echo "Invalid parameter: $p"; exit 1;;
       esac
     done;;
set) while [ $# -gt 0 ]; do
       p="$1"; v="$2"; shift 2
       echo "set $p $v" >> "$d/chassis.log"
       case "$p" in
         power) echo "$v" > "$d/power";;
         reset) ;;
         shutdown) echo 0 > "$d/power";;
         boot) echo "$v" > "$d/boot";;
         identify) ;;
         *) echo "Invalid parameter: $p"; exit 1;;
       esac
     done;;
check) exit 1;;
*) exit 1;;
esac
exit 0
`;

const LANCTL_SH = `#!/bin/sh
# ipmi_sim lan_config_program: fixed LAN parameters from DIR/lanparms
d="$1"; shift; op="$1"; shift
case "$op" in
get) for p in "$@"; do
       v=$(grep "^$p:" "$d/lanparms" 2>/dev/null | cut -d: -f2-)
       case "$p" in *mac_addr) def=00:00:00:00:00:00;; ip_addr_src) def=static;; *) def=0.0.0.0;; esac
       echo "$p:\${v:-$def}"
     done;;
check) exit 0;;
*) exit 0;;
esac
exit 0
`;

/**
 * Writes the config of one BMC into a new dir under `root`.
 * opts: { name, address='127.0.0.1', port, user='admin', password='password', mac, ip, serial, product,
 *         manufacturer, manufacturerId=0x1291, productId=0xf02, auths='md5', anonymous=false }
 */
export function writeBmc(root, opts) {
  const d = path.join(root, opts.name);
  mkdirSync(d, { recursive: true });
  const auths = opts.auths ?? 'md5';
  writeFileSync(path.join(d, 'fru.bin'), makeFru({ serial: opts.serial ?? `SN-${opts.name}`, product: opts.product, manufacturer: opts.manufacturer, part: opts.part }));
  writeFileSync(path.join(d, 'chassis.sh'), CHASSIS_SH);
  chmodSync(path.join(d, 'chassis.sh'), 0o755);
  writeFileSync(path.join(d, 'lanctl.sh'), LANCTL_SH);
  chmodSync(path.join(d, 'lanctl.sh'), 0o755);
  writeFileSync(
    path.join(d, 'lanparms'),
    `ip_addr:${opts.ip ?? '192.0.2.10'}\nip_addr_src:static\nmac_addr:${opts.mac ?? '52:54:00:00:00:01'}\nsubnet_mask:255.255.255.0\n`,
  );
  writeFileSync(path.join(d, 'power'), `${opts.power ?? 0}\n`);
  const guid = createHash('md5').update(opts.name).digest('hex');
  const user1 = opts.anonymous ? `user 1 true "" "" admin 10 ${auths}` : 'user 1 false "" "" user 1 none';
  writeFileSync(
    path.join(d, 'lan.conf'),
    [
      `name "${opts.name}"`,
      'set_working_mc 0x20',
      '  startlan 1',
      `    addr ${opts.address ?? '127.0.0.1'} ${opts.port}`,
      '    priv_limit admin',
      `    allowed_auths_callback ${auths}`,
      `    allowed_auths_user ${auths}`,
      `    allowed_auths_operator ${auths}`,
      `    allowed_auths_admin ${auths}`,
      `    guid ${guid}`,
      `    lan_config_program "${d}/lanctl.sh ${d}"`,
      '  endlan',
      // without it ipmi_sim answers power state itself but refuses power control
      opts.chassisControl === false ? '' : `  chassis_control "${d}/chassis.sh ${d}"`,
      `  ${user1}`,
      `  user 2 true "${opts.user ?? 'admin'}" "${opts.password ?? 'password'}" admin 10 ${auths}`,
      `  user 3 true "operator" "oppass" operator 10 ${auths}`,
      `  user 4 true "viewer" "viewpass" user 10 ${auths}`,
      '',
    ].join('\n'),
  );
  const mfr = opts.manufacturerId ?? 0x1291;
  const prod = opts.productId ?? 0xf02;
  writeFileSync(
    path.join(d, 'bmc.emu'),
    [
      'mc_setbmc 0x20',
      `mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x${mfr.toString(16)} 0x${prod.toString(16)}`,
      `mc_add_fru_data 0x20 0 256 file 0 "${d}/fru.bin"`,
      'mc_enable 0x20',
      '',
    ].join('\n'),
  );
  return { dir: d, guid, address: opts.address ?? '127.0.0.1', port: opts.port };
}

function probeOnce(address, port, timeoutMs) {
  // Get Channel Auth Caps in IPMI v1.5 framing: answers only once the LAN channel is up
  const pkt = Buffer.from([0x06, 0x00, 0xff, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x09, 0x20, 0x18, 0xc8, 0x81, 0x04, 0x38, 0x8e, 0x04, 0xb1]);
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      resolve(false);
    }, timeoutMs);
    s.on('message', () => {
      clearTimeout(t);
      s.close();
      resolve(true);
    });
    s.on('error', () => {
      clearTimeout(t);
      s.close();
      resolve(false);
    });
    s.send(pkt, port, address);
  });
}

export async function waitReady(address, port, budgetMs = 5000) {
  const end = Date.now() + budgetMs;
  while (Date.now() < end) {
    if (await probeOnce(address, port, 100)) return;
  }
  throw new Error(`ipmi_sim on ${address}:${port} did not answer within ${budgetMs} ms`);
}

/** Starts ipmi_sim for a dir from writeBmc; resolves once it answers. Returns { pid, stop() }. */
export async function startBmc(bmc) {
  const state = path.join(bmc.dir, 'state');
  rmSync(state, { recursive: true, force: true });
  mkdirSync(state, { recursive: true });
  const child = spawn('ipmi_sim', ['-c', 'lan.conf', '-f', 'bmc.emu', '-s', state, '-n'], {
    cwd: bmc.dir,
    stdio: ['ignore', 'ignore', 'ignore'],
    detached: true,
  });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    await waitReady(bmc.address, bmc.port);
  } catch (err) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {}
    throw err;
  }
  return {
    ...bmc,
    pid: child.pid,
    async stop() {
      try {
        process.kill(child.pid, 'SIGTERM');
      } catch {
        return;
      }
      const t = setTimeout(() => {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {}
      }, 2000);
      await exited;
      clearTimeout(t);
    },
    power() {
      return readFileSync(path.join(bmc.dir, 'power'), 'utf8').trim();
    },
    bootFile() {
      return existsSync(path.join(bmc.dir, 'boot')) ? readFileSync(path.join(bmc.dir, 'boot'), 'utf8').trim() : undefined;
    },
  };
}

/** Temp root for a test run; remove with rmSync(root, {recursive:true}). */
export function tempRoot(prefix = 'kseed-ipmi-') {
  return mkdtempSync(path.join(tmpdir(), prefix));
}
