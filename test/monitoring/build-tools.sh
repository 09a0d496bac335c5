#!/usr/bin/env bash
# Builds Grafana's dashboard linter (pinned in test/monitoring/tools/go.mod and go.sum, verified
# against go.sum) once into ~/.cache/kv-store-monitoring/<hash of go.mod+go.sum>/ and prints that
# directory. --print-dir prints it without building. Nothing is written into the checkout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
key="$(cat "$here/tools/go.mod" "$here/tools/go.sum" | sha256sum | cut -c1-16)"
dir="${KVSTORE_MONITORING_CACHE:-$HOME/.cache/kv-store-monitoring}/$key"
if [[ "${1:-}" == "--print-dir" || -x "$dir/dashboard-linter" ]]; then
  echo "$dir"
  exit 0
fi
command -v go >/dev/null || { echo "build-tools.sh: go is needed to build the dashboard linter" >&2; exit 1; }
mkdir -p "$dir"
staging="$(mktemp -d "$dir/.staging.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
echo "building the dashboard linter into $dir (once)" >&2
(cd "$here/tools" && GOFLAGS=-mod=readonly nice -n 10 go build -trimpath -o "$staging/dashboard-linter" github.com/grafana/dashboard-linter)
mv "$staging/dashboard-linter" "$dir/dashboard-linter"
echo "$dir"
