#!/usr/bin/env bash
# Builds etcd 3.6 (server) and etcd's gRPC `benchmark` tool from the modules pinned in
# bench/tools/go.mod into a cache outside the checkout, once per pin set, and prints the bin dir.
# Usage: bench/tools/build.sh [--print-dir]   (KVSTORE_BENCH_CACHE overrides ~/.cache/kv-store-bench)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
etcd_version="$(grep -oE '^\s*go\.etcd\.io/etcd/server/v3 v[^ ]+' "$here/go.mod" | awk '{print $NF}')"
ldflags="-s -w"
# The key covers everything that decides the bytes: pins, both mains, flags and the Go release.
key="$( (cat "$here/go.mod" "$here/go.sum" "$here/etcd/main.go" "$here/benchmark/main.go"; echo "$ldflags"; go env GOVERSION) | sha256sum | cut -c1-12)"
cache_root="${KVSTORE_BENCH_CACHE:-$HOME/.cache/kv-store-bench}"
bin_dir="$cache_root/etcd-$etcd_version-$key/bin"

if [[ "${1:-}" == "--print-dir" ]]; then
  echo "$bin_dir"
  exit 0
fi

built() { [[ -x "$bin_dir/etcd" && -x "$bin_dir/benchmark" ]]; }
if built; then
  echo "$bin_dir"
  exit 0
fi

# Two bench runs on a fresh machine build once: the second blocks here, then finds the binaries.
mkdir -p "$cache_root"
exec 9>"$cache_root/.build.lock"
flock 9
if built; then
  echo "$bin_dir"
  exit 0
fi

partial="$bin_dir.partial-$$"
trap 'rm -rf "$partial"' EXIT
mkdir -p "$partial"
start=$SECONDS
echo "bench: building etcd $etcd_version and its benchmark tool into $bin_dir (a cold build takes minutes; cached afterwards)" >&2
(
  cd "$here"
  # -mod=mod: go.sum is committed, nothing is vendored; one go build compiles shared packages once
  GOFLAGS=-mod=mod nice -n 10 go build -trimpath -ldflags="$ldflags" -o "$partial/" ./etcd ./benchmark
)
# publish atomically: an interrupted build never leaves a half-filled bin dir behind
rm -rf "$bin_dir"
mv "$partial" "$bin_dir"
echo "bench: built etcd $etcd_version + benchmark in $((SECONDS - start)) s" >&2
echo "$bin_dir"
