#!/usr/bin/env bash
# kseed's main job on its embedded default, on one machine: a 2-node virtual
# rack (one BIOS, one UEFI node; QEMU VMs with ipmi_sim BMCs in a network
# namespace) provisioned from bare metal to an OS on disk, then the status
# table. Run as root after scripts/setup.sh, npm ci and npm run build.
# Re-running converges. Clean up with: scripts/try-it.sh --down
# KSEED_ENGINE=ironic runs the same job through the seed Compose stack
# (real Ironic, dnsmasq, nginx, registry), building its images first.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${KSEED_TRY_DIR:-/tmp/kseed-try}"
cfg="$work/kseed.yaml"
lab=try
engine="${KSEED_ENGINE:-embedded}"
kseed() { node "$here/bin/kseed.js" --config "$cfg" "$@"; }
field() { node -e 'let v=JSON.parse(require("fs").readFileSync(0,"utf8"));for(const k of process.argv[1].split("."))v=v[k];console.log(v)' "$1"; }

if [ "${1:-}" = "--down" ]; then
  [ -f "$cfg" ] && kseed down || true
  kseed lab down --name "$lab" || true
  exit 0
fi

mkdir -p "$work/artifacts"
echo "== deploy ramdisk and test OS image (Debian packages, cached in $work/.kseed/cache)"
ramdisk=$(kseed --json images ramdisk)
testos=$(kseed --json images testos)
ln -f "$(field kernel <<<"$ramdisk")" "$work/artifacts/vmlinuz"
ln -f "$(field initramfs <<<"$ramdisk")" "$work/artifacts/initramfs.gz"
ln -f "$(field gz <<<"$testos")" "$work/artifacts/testos.raw.gz"
sum=$(field sha256.gz <<<"$testos")

echo "== virtual rack: 2 nodes (1 UEFI), BMCs on 127.0.0.1, seed 10.77.0.1/24 in netns ksl-$lab"
kseed lab up --name "$lab" --engine "$engine" --nodes 2 --uefi-nodes 1 --disk-gb 1 \
  --image-url http://10.77.0.1:8080/artifacts/testos.raw.gz --image-checksum "sha256:$sum" --image-compression gzip

if [ "$engine" = ironic ]; then
  echo "== seed images (debootstrap base + Debian packages; reused when nothing changed)"
  kseed images build
  echo "== seed up (the Compose stack: Ironic on loopback, dnsmasq/nginx/registry inside the lab namespace)"
else
  echo "== seed up (embedded DHCP/TFTP/HTTP inside the lab namespace)"
fi
kseed up --artifacts "$work/artifacts"

echo "== provision: enroll -> inspect -> deploy -> active, until each node calls back from its own disk"
rc=0
kseed provision --all --wait --wait-booted --timeout 1200 || rc=$?
kseed status
exit $rc
