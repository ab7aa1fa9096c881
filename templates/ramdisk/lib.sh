# kseed deploy agent library (busybox sh). Sourced by /init; the functions
# that need no hardware (task parsing, encoding) are also run by the unit
# tests with the host's busybox. Protocol: docs/AGENT-API.md (contract v1).

CR=$(printf '\r')

log() { echo "kseed-agent: [$(cut -d' ' -f1 /proc/uptime 2>/dev/null)] $*"; }

# cmdline_arg NAME -> value of NAME=... on the kernel command line (KSEED_CMDLINE overrides, for tests)
cmdline_arg() {
  for w in ${KSEED_CMDLINE:-$(cat /proc/cmdline)}; do
    case "$w" in "$1="*) echo "${w#*=}"; return 0 ;; esac
  done
  return 1
}

# mask_prefix MASK -> prefix length of a dotted netmask (255.255.255.0 -> 24); a
# number 0-32 is taken as a prefix already; anything else (or holes in the mask) fails
mask_prefix() {
  case "$1" in
    *.*.*.*) ;;
    ''|*[!0-9]*) return 1 ;;
    *) [ "$1" -le 32 ] && echo "$1" && return 0; return 1 ;;
  esac
  _n=0; _end=0; _old=$IFS; IFS=.
  set -- $1
  IFS=$_old
  [ $# = 4 ] || return 1
  for _o in "$@"; do
    case "$_o" in ''|*[!0-9]*) return 1 ;; esac
    [ "$_o" -le 255 ] || return 1
    _b=128
    while [ $_b -gt 0 ]; do
      if [ $((_o & _b)) -ne 0 ]; then [ $_end = 1 ] && return 1; _n=$((_n + 1)); else _end=1; fi
      _b=$((_b / 2))
    done
  done
  echo $_n
}

# parse_ip_arg VALUE: the kernel's ip= argument (Documentation/admin-guide/nfs/nfsroot.rst,
# <client-ip>:<server-ip>:<gw-ip>:<netmask>:<hostname>:<device>:<autoconf>) -> IP_ADDR
# IP_PREFIX IP_GW IP_HOST. Returns 1 for DHCP (no value, dhcp/on/any, no client address),
# 2 for a value that is neither (IP_ERR says why).
parse_ip_arg() {
  IP_ADDR=; IP_PREFIX=; IP_GW=; IP_HOST=; IP_ERR=
  case "$1" in ''|dhcp|on|any|both|bootp|rarp) return 1 ;; esac
  _old=$IFS; IFS=:
  set -- $1
  IFS=$_old
  IP_ADDR=$1; IP_GW=$3; IP_HOST=$5
  [ -n "$IP_ADDR" ] || return 1
  is_ipv4 "$IP_ADDR" || { IP_ERR="client address $IP_ADDR is not an IPv4 address"; return 2; }
  [ -z "$IP_GW" ] || is_ipv4 "$IP_GW" || { IP_ERR="gateway $IP_GW is not an IPv4 address"; return 2; }
  IP_PREFIX=$(mask_prefix "${4:-255.255.255.0}") || { IP_ERR="netmask $4 is not a netmask"; return 2; }
  return 0
}

# is_ipv4 STR: four dot-separated numbers 0-255
is_ipv4() {
  case "$1" in *[!0-9.]*|.*|*.|*..*) return 1 ;; esac
  _old=$IFS; IFS=.
  set -- $1
  IFS=$_old
  [ $# = 4 ] || return 1
  for _o in "$@"; do [ "$_o" -le 255 ] || return 1; done
}

# parse_task FILE: KEY=value lines -> T_* variables. Only known keys are taken
# and never evaluated (the seed is trusted, but a value is data, not code).
parse_task() {
  T_TASK=; T_IMAGE_URL=; T_IMAGE_CHECKSUM=; T_IMAGE_FORMAT=raw; T_IMAGE_COMPRESSION=none
  T_IMAGE_SIZE=; T_TARGET_DISK=; T_REBOOT=; T_REASON=; T_WAIT=
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%"$CR"}
    case "$line" in *=*) ;; *) continue ;; esac
    k=${line%%=*}; v=${line#*=}
    case "$k" in
      TASK) T_TASK=$v ;;
      IMAGE_URL) T_IMAGE_URL=$v ;;
      IMAGE_CHECKSUM) T_IMAGE_CHECKSUM=$v ;;
      IMAGE_FORMAT) T_IMAGE_FORMAT=$v ;;
      IMAGE_COMPRESSION) T_IMAGE_COMPRESSION=$v ;;
      IMAGE_SIZE) T_IMAGE_SIZE=$v ;;
      TARGET_DISK) T_TARGET_DISK=$v ;;
      REBOOT) T_REBOOT=$v ;;
      REASON) T_REASON=$v ;;
      WAIT) T_WAIT=$v ;;
    esac
  done < "$1"
}

# validate_task: prints why the parsed task cannot be run (and returns 1), or nothing.
validate_task() {
  case "$T_TASK" in
    inspect|none|fail) ;;
    deploy|wipe)
      case "$T_TARGET_DISK" in
        '') echo "$T_TASK task without TARGET_DISK: refusing to write any disk"; return 1 ;;
        /dev/*/*|*[!a-zA-Z0-9/_.-]*) echo "TARGET_DISK '$T_TARGET_DISK' is not /dev/<name>"; return 1 ;;
        /dev/?*) ;;
        *) echo "TARGET_DISK '$T_TARGET_DISK' is not /dev/<name>"; return 1 ;;
      esac
      [ "$T_TASK" = wipe ] && { validate_reboot; return $?; }
      case "$T_IMAGE_URL" in
        http://?*|https://?*) ;;
        *) echo "IMAGE_URL '$T_IMAGE_URL' is not an http(s) URL"; return 1 ;;
      esac
      case "$T_IMAGE_URL" in *[[:space:]]*) echo "IMAGE_URL contains white space"; return 1 ;; esac
      case "${T_IMAGE_CHECKSUM#sha256:}" in
        *[!0-9a-fA-F]*) echo "IMAGE_CHECKSUM must be sha256:<64 hex digits>"; return 1 ;;
      esac
      if [ "${T_IMAGE_CHECKSUM#sha256:}" = "$T_IMAGE_CHECKSUM" ] || [ ${#T_IMAGE_CHECKSUM} -ne 71 ]; then
        echo "IMAGE_CHECKSUM must be sha256:<64 hex digits>"; return 1
      fi
      [ "$T_IMAGE_FORMAT" = raw ] || { echo "IMAGE_FORMAT '$T_IMAGE_FORMAT' unsupported (only raw)"; return 1; }
      case "$T_IMAGE_COMPRESSION" in
        none|gzip|xz) ;;
        zstd) command -v zstd >/dev/null 2>&1 || { echo "IMAGE_COMPRESSION zstd unsupported: no zstd in this ramdisk"; return 1; } ;;
        *) echo "IMAGE_COMPRESSION '$T_IMAGE_COMPRESSION' unsupported (none, gzip, zstd, xz)"; return 1 ;;
      esac
      case "$T_IMAGE_SIZE" in ''|*[!0-9]*) T_IMAGE_SIZE= ;; esac
      ;;
    '') echo "task answer has no TASK line"; return 1 ;;
    *) echo "unknown TASK '$T_TASK'"; return 1 ;;
  esac
  validate_reboot
}

validate_reboot() {
  case "$T_WAIT" in ''|0|1) ;; *) echo "WAIT must be 0 or 1"; return 1 ;; esac
  case "$T_REBOOT" in ''|0|1) return 0 ;; *) echo "REBOOT must be 0 or 1"; return 1 ;; esac
}

# urlencode STR: every byte as %XX except unreserved ones (RFC 3986 section 2.3)
urlencode() {
  printf %s "$1" | od -An -v -tx1 | tr -s ' \n' '\n\n' | while read -r h; do
    [ -n "$h" ] || continue
    case "$h" in
      3[0-9]|4[1-9a-f]|5[0-9a]|6[1-9a-f]|7[0-9a]|2d|2e|5f|7e) printf "\\$(printf %o 0x$h)" ;;
      *) printf %%%s "$h" ;;
    esac
  done
}

# json_str STR -> "STR" with JSON escapes; control bytes are dropped (RFC 8259 section 7)
json_str() {
  printf '"%s"' "$(printf %s "$1" | tr -d '\000-\037' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
}

# first line of a sysfs file with surrounding blanks removed, or empty
sysval() { [ -r "$1" ] && sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e q "$1" 2>/dev/null; }

# mem_available_kib -> MemAvailable of /proc/meminfo (what the kernel could give without swapping)
mem_available_kib() { sed -n 's/^MemAvailable: *\([0-9]*\).*/\1/p' /proc/meminfo; }

memory_mib() {
  bsz=$(sysval /sys/devices/system/memory/block_size_bytes)
  if [ -n "$bsz" ]; then
    n=$(cat /sys/devices/system/memory/memory*/state 2>/dev/null | grep -c '^online')
    [ "$n" -gt 0 ] && { echo $(( 0x$bsz * n / 1048576 )); return; }
  fi
  echo $(( $(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo) / 1024 ))
}

# inventory_json: the body of POST /v1/agent/<node>/inventory
inventory_json() {
  sep=
  printf '{"cpus":%s,"memory_mib":%s,"disks":[' "$(grep -c '^processor' /proc/cpuinfo)" "$(memory_mib)"
  for d in /sys/block/*; do
    n=${d##*/}
    case "$n" in loop*|ram*|zram*|sr*|fd*|md*|dm-*|nbd*) continue ;; esac
    [ -e "$d/device" ] || continue
    size=$(( $(sysval "$d/size") * 512 ))
    model=$(sysval "$d/device/model")
    serial=$(sysval "$d/device/serial"); [ -n "$serial" ] || serial=$(sysval "$d/serial")
    # SCSI/SATA: the unit serial number VPD page (SPC-4 section 7.8.15): 4-byte header, then ASCII
    [ -n "$serial" ] || serial=$(dd if="$d/device/vpd_pg80" bs=1 skip=4 2>/dev/null | tr -d '\000' | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')
    # WWN as udev's ID_WWN spells it (0x + NAA/EUI-64 hex); t10 vendor ids are no WWN
    wwn=$(sysval "$d/device/wwid"); [ -n "$wwn" ] || wwn=$(sysval "$d/wwid")
    case "$wwn" in naa.*|eui.*) wwn="0x${wwn#*.}" ;; *) wwn= ;; esac
    rot=false; [ "$(sysval "$d/queue/rotational")" = 1 ] && rot=true
    devpath=$(readlink -f "$d/device")
    hctl=; [ -d "$d/device/scsi_device" ] && hctl=${devpath##*/}
    pci=$(echo "$devpath" | grep -o '[0-9a-f]\{4\}:[0-9a-f]\{2\}:[0-9a-f]\{2\}\.[0-7]' | tail -n 1)
    bypath=
    if [ -n "$pci" ]; then
      case "$devpath" in */virtio*) bypath="virtio-pci-$pci" ;; *) bypath="pci-$pci" ;; esac
      [ -n "$hctl" ] && bypath="pci-$pci-scsi-$hctl"
    fi
    printf '%s{"name":%s,"size_bytes":%s,"model":%s,"serial":%s,"wwn":%s,"rotational":%s,"hctl":%s,"by_path":%s}' \
      "$sep" "$(json_str "$n")" "$size" "$(json_str "$model")" "$(json_str "$serial")" "$(json_str "$wwn")" \
      "$rot" "$(json_str "$hctl")" "$(json_str "$bypath")"
    sep=,
  done
  printf '],"nics":['
  sep=
  for i in /sys/class/net/*; do
    n=${i##*/}
    [ "$n" = lo ] && continue
    link=false; [ "$(cat "$i/carrier" 2>/dev/null)" = 1 ] && link=true
    printf '%s{"name":%s,"mac":%s,"link":%s}' "$sep" "$(json_str "$n")" "$(json_str "$(sysval "$i/address")")" "$link"
    sep=,
  done
  mode=bios; [ -d /sys/firmware/efi ] && mode=uefi
  printf '],"boot_mode":"%s"}\n' "$mode"
}

# fat_label DEV -> volume label of a FAT12/16/32 filesystem (boot sector
# fields, Microsoft FAT spec: BS_VolLab at 43 for FAT12/16, 71 for FAT32)
fat_label() {
  t16=$(dd if="$1" bs=1 skip=54 count=5 2>/dev/null)
  t32=$(dd if="$1" bs=1 skip=82 count=5 2>/dev/null)
  if [ "$t16" = FAT12 ] || [ "$t16" = FAT16 ]; then
    dd if="$1" bs=1 skip=43 count=11 2>/dev/null | sed 's/ *$//'
  elif [ "$t32" = FAT32 ]; then
    dd if="$1" bs=1 skip=71 count=11 2>/dev/null | sed 's/ *$//'
  fi
}

# zero_at DEV SECTOR COUNT: zero COUNT 512-byte sectors from SECTOR on
zero_at() { dd if=/dev/zero of="$1" bs=512 seek="$2" count="$3" conv=fsync 2>/dev/null; }

# wipe_disk DEV: erase what makes a disk bootable or recognisable, as Ironic's
# erase_devices_metadata does (busybox has no wipefs/sgdisk, so by offset):
# each partition's first MiB (FAT/ext*/XFS/btrfs/swap/LVM signatures) and last
# MiB (md 0.90/1.0 superblocks), then the disk's first MiB (MBR, GPT header and
# entries) and last MiB (backup GPT). The partitions come from the kernel's
# view of the table, read before the table is gone. Sets WIPED_PARTS.
wipe_disk() {
  dev=$1; name=${dev#/dev/}
  sectors=$(cat "/sys/block/$name/size")
  WIPED_PARTS=0
  for p in /sys/block/"$name"/"$name"*; do
    [ -e "$p/partition" ] || continue
    ps=$(cat "$p/start"); pn=$(cat "$p/size")
    n=2048; [ "$pn" -lt $n ] && n=$pn
    zero_at "$dev" "$ps" "$n"
    [ "$pn" -gt 4096 ] && zero_at "$dev" $((ps + pn - 2048)) 2048
    WIPED_PARTS=$((WIPED_PARTS + 1))
  done
  n=2048; [ "$sectors" -lt $n ] && n=$sectors
  zero_at "$dev" 0 "$n" || return 1
  [ "$sectors" -gt 4096 ] && { zero_at "$dev" $((sectors - 2048)) 2048 || return 1; }
  sync
  # drop the kernel's copy of the old table too
  blockdev --rereadpt "$dev" 2>/dev/null
  return 0
}
