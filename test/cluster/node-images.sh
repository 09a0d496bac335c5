#!/usr/bin/env bash
# Images the real-kubelet test node needs besides ours (docs/adr/0071), built with buildah from
# scratch because no registry is reachable: the pod sandbox (test/cluster/tools/pause) and CoreDNS
# (the binary test/cluster/build-tools.sh --node builds). Cached in podman's store by content hash.
# Prints "<sandbox image> <coredns image>".
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../../scripts/images/lib.sh"
bin_dir="$(bash "$here/build-tools.sh" --node)"
bin_dir="$(echo "$bin_dir" | tail -1)"
pause_hash="$(sha256sum "$here/tools/pause/main.go" | cut -c1-12)"
pause_image="localhost/kv-store-pause:$pause_hash"
coredns_version="$("$bin_dir/coredns" -version | sed -n 's/^CoreDNS-\(.*\)$/\1/p')"
coredns_image="localhost/kv-store-coredns:$coredns_version-$(sha256sum "$bin_dir/coredns" | cut -c1-12)"

scratch_image() { # name binary [args...]: an image holding one static binary as its entrypoint
  local image="$1" binary="$2" c
  c="$(buildah from scratch)"
  buildah copy --quiet "$c" "$binary" "/$(basename "$binary")" >/dev/null
  buildah config --entrypoint "[\"/$(basename "$binary")\"]" --user 65534:65534 "$c"
  buildah commit --quiet "$c" "$image" >/dev/null
  buildah rm "$c" >/dev/null
}
exec 9>"$images_cache/.node-images.lock"
flock 9
if ! podman image exists "$pause_image"; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$here/tools" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags="-s -w" -o "$work/pause" ./pause)
  scratch_image "$pause_image" "$work/pause"
fi
podman image exists "$coredns_image" || scratch_image "$coredns_image" "$bin_dir/coredns"
echo "$pause_image $coredns_image"
