#!/usr/bin/env bash
# One measurement, not a benchmark pair: the Debian node image of `kseed images os`
# booted directly under TCG (-cpu max, 2 vCPUs, 4 GiB, no provisioning: a raw copy
# with NoCloud data written into its CIDATA partition), then the hand-off's own
# load script (src/handoff/ceph-scripts.ts loadImageScript) fetching the Ceph
# archive from kseed's boot HTTP server on the host's loopback (the guest reaches
# it as 10.0.2.2 through QEMU's user network) and `docker load`ing it.
# Reference: last session's `docker pull` of the same image from the seed registry
# in the lab VM took 1610 s.
# usage: bench/ceph-archive/measure.sh ARTIFACTS_DIR (holding kseed-ceph_<v>.tar and its .json)
set -euo pipefail
cd "$(dirname "$0")/../.."
ART=$(readlink -f "$1")
W=$(mktemp -d /var/tmp/kseed-ceph-vm.XXXXXX)
SSH_PORT=22522
HTTP_PORT=22580
QPID=''
SPID=''
cleanup() {
  [ -n "$QPID" ] && kill "$QPID" 2>/dev/null || true
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
t0=$(date +%s)
rec=$(ls "$ART"/kseed-ceph_*.tar.json | head -1)
echo "archive: ${rec%.json} ($(stat -c %s "${rec%.json}") bytes)"

qemu-img convert -O raw cache/os/debian-bookworm.qcow2 "$W/disk.raw"
qemu-img resize -q -f raw "$W/disk.raw" 8G
start=$(sfdisk -J "$W/disk.raw" | python3 -c 'import json,sys; print([p["start"] for p in json.load(sys.stdin)["partitiontable"]["partitions"] if p.get("name") == "cidata"][0])')
ssh-keygen -q -t ed25519 -N '' -f "$W/id"
printf 'instance-id: ceph-load-1\nlocal-hostname: cephload\n' > "$W/meta-data"
printf '#cloud-config\ndisable_root: false\nusers:\n  - name: root\n    ssh_authorized_keys: ["%s"]\n' "$(cat "$W/id.pub")" > "$W/user-data"
printf 'version: 2\nethernets:\n  all:\n    match: { name: "e*" }\n    dhcp4: true\n' > "$W/network-config"
mcopy -o -i "$W/disk.raw@@$((start * 512))" "$W/meta-data" "$W/user-data" "$W/network-config" ::

node --input-type=module -e "
import { HttpBootServer, MemoryBootBackend } from './dist/boot/http/index.js';
const s = new HttpBootServer({ backend: new MemoryBootBackend([]), artifactsDir: '$ART', publicUrl: 'http://10.0.2.2:$HTTP_PORT', ramdisk: { kernel: 'k', initrd: 'i' }, address: '127.0.0.1', port: $HTTP_PORT });
await s.listen();
" &
SPID=$!

qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 4096 -display none -serial "file:$W/console.log" \
  -drive "file=$W/disk.raw,format=raw,if=virtio" \
  -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$SSH_PORT-:22" -device virtio-net-pci,netdev=n0 &
QPID=$!
ssh_() { ssh -i "$W/id" -p "$SSH_PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR root@127.0.0.1 "$@"; }
for _ in $(seq 1 90); do ssh_ true 2>/dev/null && break; sleep 5; done
ssh_ 'systemctl is-active docker' >/dev/null 2>&1 || { for _ in $(seq 1 30); do ssh_ 'systemctl is-active docker' >/dev/null 2>&1 && break; sleep 5; done; }
echo "VM up (ssh and docker) after $(( $(date +%s) - t0 )) s; host load: $(cut -d' ' -f1-3 /proc/loadavg)"

script=$(node --input-type=module -e "
import { readFileSync } from 'node:fs';
import { loadImageScript } from './dist/handoff/ceph-scripts.js';
const r = JSON.parse(readFileSync('$rec', 'utf8'));
const name = '$rec'.split('/').pop().replace(/\.json\$/, '');
process.stdout.write(loadImageScript({ url: 'http://10.0.2.2:$HTTP_PORT/artifacts/' + name, sha256: r.sha256, id: r.id, ref: '10.77.0.1:5000/' + r.image }));
")
l0=$(date +%s)
printf '%s\n' "$script" | ssh_ 'sh -s'
echo "load-image step (fetch + sha256 + docker load + tag): $(( $(date +%s) - l0 )) s; host load: $(cut -d' ' -f1-3 /proc/loadavg)"
l1=$(date +%s)
printf '%s\n' "$script" | ssh_ 'sh -s'
echo "again (image there): $(( $(date +%s) - l1 )) s"
ssh_ 'docker images --format "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}"; nproc; free -m | head -2'
echo "total $(( $(date +%s) - t0 )) s"
