#!/usr/bin/env bash
# Called by .ci/run: builds (first run only, cached in ~/.cache/kv-store-test) the control-plane
# binaries, then runs the cluster test suite. Expects `npm ci` to have run.
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$SECONDS
test/cluster/build-tools.sh >/dev/null
echo "== cluster tools ready in $((SECONDS - start)) s: $(test/cluster/build-tools.sh --print-dir)"
npm run test:cluster
