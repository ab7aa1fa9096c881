#!/usr/bin/env bash
# The main job on the embedded default. Grows with the project: today it
# writes a lab site file and renders the seed stack from it.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${KSEED_TRY_DIR:-/tmp/kseed-try}"
mkdir -p "$work"
kseed() { node "$here/bin/kseed.js" "$@"; }
kseed --config "$work/kseed.yaml" init --lab --force
kseed --config "$work/kseed.yaml" validate
kseed --config "$work/kseed.yaml" render
