#!/usr/bin/env bash
# kseed's main job on its embedded default, on one machine: a 2-node virtual
# rack (one BIOS, one UEFI node; QEMU VMs with ipmi_sim BMCs in a network
# namespace) provisioned from bare metal to an OS on disk, then the status
# table. Run as root after scripts/setup.sh, npm ci and npm run build.
# Re-running converges. Clean up with: scripts/try-it.sh --down
# The nodes get the Debian 12 cloud image (`kseed images os`); --testos deploys
# the small test OS instead.
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
# --testos: the 25 MB test OS instead of the Debian cloud image (minutes faster, no cloud-init)
os=debian; [ "${1:-}" = "--testos" ] && os=testos
echo "== deploy ramdisk and node OS image (Debian packages, cached in $work/.kseed/cache)"
ramdisk=$(kseed --json images ramdisk)
ln -f "$(field kernel <<<"$ramdisk")" "$work/artifacts/vmlinuz"
ln -f "$(field initramfs <<<"$ramdisk")" "$work/artifacts/initramfs.gz"
if [ "$os" = debian ]; then
  # Debian 12 cloud image (qcow2, 2 GiB virtual): the seed converts it once, the nodes grow it to their disk
  image=$(kseed --json images os)
  ln -f "$(field path <<<"$image")" "$work/artifacts/debian.qcow2"
  img=(--image-url http://10.77.0.1:8080/artifacts/debian.qcow2 --image-checksum "$(field checksum <<<"$image")" --image-format qcow2)
  disk=(--disk-gb 4 --memory-mb 1024)
else
  testos=$(kseed --json images testos)
  ln -f "$(field gz <<<"$testos")" "$work/artifacts/testos.raw.gz"
  img=(--image-url http://10.77.0.1:8080/artifacts/testos.raw.gz --image-checksum "sha256:$(field sha256.gz <<<"$testos")" --image-compression gzip)
  disk=(--disk-gb 1)
fi

echo "== virtual rack: 2 nodes (1 UEFI), BMCs on 127.0.0.1, seed 10.77.0.1/24 in netns ksl-$lab"
kseed lab up --name "$lab" --engine "$engine" --nodes 2 --uefi-nodes 1 "${disk[@]}" "${img[@]}"

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
kseed provision --all --wait --wait-booted --timeout 2400 || rc=$?
kseed status
exit $rc
