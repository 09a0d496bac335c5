#!/usr/bin/env bash
# Builds the MinIO server (the real S3-compatible server the backup tests talk to) from the Go
# module proxy into a cache outside the checkout, once per pinned version. Prints the binary's path.
# Usage: test/s3/build-minio.sh [--print-path]   (KVSTORE_TOOLS_CACHE overrides ~/.cache/kv-store-test)
set -euo pipefail

# MinIO tags releases with names that are not semver, so the proxy serves pseudo-versions only;
# this one is the proxy's `latest` when it was pinned.
minio_version="v0.0.0-20260212201848-7aac2a2c5b7c"
ldflags="-s -w"
key="$( (echo "$minio_version $ldflags"; go env GOVERSION) | sha256sum | cut -c1-12)"
cache_root="${KVSTORE_TOOLS_CACHE:-$HOME/.cache/kv-store-test}"
bin_dir="$cache_root/minio-$minio_version-$key/bin"

if [[ "${1:-}" == "--print-path" ]]; then
  echo "$bin_dir/minio"
  exit 0
fi
if [[ -x "$bin_dir/minio" ]]; then
  echo "$bin_dir/minio"
  exit 0
fi

# Two test runs on a fresh machine build once: the second waits here, then finds the binary.
mkdir -p "$cache_root"
exec 9>"$cache_root/.minio-build.lock"
flock 9
if [[ -x "$bin_dir/minio" ]]; then
  echo "$bin_dir/minio"
  exit 0
fi

staging="$bin_dir.partial-$$"
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging"
start=$SECONDS
echo "building minio $minio_version into $bin_dir (a cold build takes minutes; cached afterwards)" >&2
# go install module@version builds with the module's own go.mod, outside any checkout.
GOBIN="$staging" GOFLAGS=-mod=mod nice -n 19 go install -trimpath -ldflags="$ldflags" "github.com/minio/minio@$minio_version"
mkdir -p "$(dirname "$bin_dir")"
rm -rf "$bin_dir"
mv "$staging" "$bin_dir"
echo "built minio in $((SECONDS - start)) s" >&2
echo "$bin_dir/minio"
