#!/usr/bin/env bash
# kseed's main job on its embedded default, on one machine: a 2-node virtual
# rack (one BIOS, one UEFI node; QEMU VMs with ipmi_sim BMCs in a network
# namespace) provisioned from bare metal to an OS on disk, then the status
# table. Run as root after scripts/setup.sh, npm ci and npm run build.
# Re-running converges. Clean up with: scripts/try-it.sh --down (stops the seed,
# removes the lab and then the try directory: site file, state, the hand-off
# SSH key and the built images).
# The nodes get the Debian 12 cloud image (`kseed images os`); --testos deploys
# the small test OS instead.
# KSEED_ENGINE=ironic runs the same job through the seed Compose stack
# (real Ironic, dnsmasq, nginx, registry), building its images first.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${KSEED_TRY_DIR:-/tmp/kseed-try}"
cfg="$work/kseed.yaml"
lab="${KSEED_TRY_LAB:-try}"
# what --down may remove: only a directory this script made
marker="$work/.made-by-try-it"
engine="${KSEED_ENGINE:-embedded}"
kseed() { node "$here/bin/kseed.js" --config "$cfg" "$@"; }
field() { node -e 'let v=JSON.parse(require("fs").readFileSync(0,"utf8"));for(const k of process.argv[1].split("."))v=v[k];console.log(v)' "$1"; }

if [ "${1:-}" = "--down" ]; then
  if [ -f "$cfg" ]; then kseed down || true; fi
  kseed lab down --name "$lab" || true
  if [ -f "$marker" ]; then
    size=$(du -sh "$work" | cut -f1)
    rm -rf "$work"
    echo "removed $work ($size: site file, state, the hand-off SSH key, built images)"
  elif [ -d "$work" ]; then
    echo "left $work in place: scripts/try-it.sh did not make it (no $(basename "$marker"))"
  fi
  exit 0
fi

mkdir -p "$work/artifacts"
touch "$marker"
# --testos: the 25 MB test OS instead of the Debian cloud image (minutes faster, no cloud-init)
os=debian; [ "${1:-}" = "--testos" ] && os=testos
# shellcheck source=scripts/step.sh
source "$here/scripts/step.sh"
# built NAME WHAT ARGS...: `kseed --json ARGS` as a step whose progress (stderr) goes to
# $work/NAME.log and is shown live with the elapsed time; its JSON result lands in $work/NAME.json
built() {
  local name=$1 what=$2
  shift 2
  step "$what" "$work/$name.log" sh -c 'out=$1; shift; "$@" >"$out"' sh "$work/$name.json" \
    node "$here/bin/kseed.js" --config "$cfg" --json --verbose "$@"
}
built ramdisk "deploy ramdisk (Debian's kernel + kseed's agent; cached in $work/.kseed/cache)" images ramdisk
ln -f "$(field kernel <"$work/ramdisk.json")" "$work/artifacts/vmlinuz"
ln -f "$(field initramfs <"$work/ramdisk.json")" "$work/artifacts/initramfs.gz"
if [ "$os" = debian ]; then
  # Debian 12 cloud image (qcow2, 2 GiB virtual): the seed converts it once, the nodes grow it to their disk
  built os "node OS: Debian 12 cloud image from Debian packages (about 5 min the first time)" images os
  ln -f "$(field path <"$work/os.json")" "$work/artifacts/debian.qcow2"
  img=(--image-url http://10.77.0.1:8080/artifacts/debian.qcow2 --image-checksum "$(field checksum <"$work/os.json")" --image-format qcow2)
  disk=(--disk-gb 4 --memory-mb 1024)
else
  built testos "node OS: kseed's 25 MB test OS" images testos
  ln -f "$(field gz <"$work/testos.json")" "$work/artifacts/testos.raw.gz"
  img=(--image-url http://10.77.0.1:8080/artifacts/testos.raw.gz --image-checksum "sha256:$(field sha256.gz <"$work/testos.json")" --image-compression gzip)
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
