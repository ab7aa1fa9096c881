#!/usr/bin/env bash
# Installs what kseed, its tests and the virtual lab need on a fresh
# Debian/Ubuntu machine (as root), and starts dockerd if none runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

# Never let a package's maintainer script start a daemon (dnsmasq, tftpd-hpa,
# nginx) on the host network: kseed and its tests start their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
fi

# cloud-init is only a converter for the tests (network-config v2 checked by
# cloud-init and netplan themselves): when this machine did not have it, keep
# it from ever running at boot here (cloud-init's documented off switch).
if ! dpkg -s cloud-init >/dev/null 2>&1; then
  mkdir -p /etc/cloud && touch /etc/cloud/cloud-init.disabled
fi

apt-get update -q
grep -v '^\s*#' scripts/packages | xargs apt-get install -y -q --no-install-recommends >/tmp/kseed-apt.log 2>&1 \
  || { tail -50 /tmp/kseed-apt.log; exit 1; }

if ! docker info >/dev/null 2>&1; then
  nohup dockerd >/tmp/kseed-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info --format 'docker {{.ServerVersion}} storage={{.Driver}}' || { tail -30 /tmp/kseed-dockerd.log; exit 1; }
fi
