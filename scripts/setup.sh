#!/usr/bin/env bash
# Installs what kseed, its tests and the virtual lab need on a fresh
# Debian/Ubuntu machine (as root), and starts dockerd if none runs.
# Each step says what it does and where its log is; a long step shows its
# elapsed time and latest log line (one updating line on a terminal, a line
# every 15 s otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
t0=$SECONDS

# shellcheck source=scripts/step.sh
source scripts/step.sh

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

mapfile -t packages < <(grep -v '^\s*#' scripts/packages | tr -s ' \t' '\n' | grep -v '^$')
step "apt-get update" /tmp/kseed-apt-update.log apt-get update
step "apt-get install: ${#packages[@]} packages of scripts/packages (a few minutes on a fresh machine)" /tmp/kseed-apt.log \
  apt-get install -y --no-install-recommends "${packages[@]}"

if ! docker info >/dev/null 2>&1; then
  echo "== starting dockerd (log: /tmp/kseed-dockerd.log)"
  nohup dockerd >/tmp/kseed-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info --format '   docker {{.ServerVersion}} storage={{.Driver}}' || { tail -30 /tmp/kseed-dockerd.log; exit 1; }
fi
echo "== setup done in $((SECONDS - t0)) s"
