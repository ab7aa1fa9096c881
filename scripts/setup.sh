#!/usr/bin/env bash
# Installs what kseed, its tests and the virtual lab need on a fresh
# Debian/Ubuntu machine (as root), and starts dockerd if none runs.
# Each step says what it does and where its log is; a long step shows its
# elapsed time and latest log line (one updating line on a terminal, a line
# every 15 s otherwise).
# --npm: then also `npm ci` and `npm run build`, as steps of their own (npm
# ci logs each download, so its step shows which package is coming).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  "" | --npm) ;;
  *) echo "usage: bash scripts/setup.sh [--npm]   (--npm: also npm ci and npm run build)" >&2; exit 2 ;;
esac
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

# kseed runs on Node.js (package.json engines); Debian's own nodejs is too old
need_node="20.19"
have_node=$(node -p 'process.versions.node' 2>/dev/null || echo none)
if [ "$have_node" = none ] || ! node -e 'const [a,b]=process.versions.node.split(".").map(Number),[c,d]=process.argv[1].split(".").map(Number);process.exit(a>c||(a===c&&b>=d)?0:1)' "$need_node"; then
  echo "kseed needs Node.js $need_node or newer; this machine has: $have_node." >&2
  echo "Install Node.js 20 or 22 (https://nodejs.org/en/download, or NodeSource's Debian packages), then run scripts/setup.sh again." >&2
  exit 2
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
if [ "${1:-}" = "--npm" ]; then
  step "npm ci: kseed's Node packages (package-lock.json)" /tmp/kseed-npm-ci.log npm ci --no-audit --no-fund --loglevel=http
  step "npm run build: TypeScript to dist/" /tmp/kseed-build.log npm run build
fi
echo "== setup done in $((SECONDS - t0)) s"
