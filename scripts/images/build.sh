#!/usr/bin/env bash
# `npm run images`: builds localhost/kv-store:<tag> and localhost/kv-store-operator:<tag> (tag
# "dev", plus the chart's appVersion tag so the README's commands find them) from
# operator/docker/*.Dockerfile with buildah. The build stage runs on a base made here from Debian
# packages (scripts/images/base.sh) unless KVSTORE_BASE_IMAGE names another (e.g. node:24-slim
# where a registry is reachable). Layers are cached by buildah, the base in ~/.cache/kv-store-images.
# Options: --tag T (instead of dev; repeatable), --containerd (also import into containerd's
# k8s.io namespace, as a kubelet sees them: docker.io/library/kv-store:<tag>).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$repo/scripts/images/lib.sh"
tags=()
to_containerd=""
while (($# > 0)); do
  case "$1" in
    --tag)
      tags+=("$2")
      shift 2
      ;;
    --containerd)
      to_containerd=1
      shift
      ;;
    *)
      echo "unknown argument $1" >&2
      exit 2
      ;;
  esac
done
app_version="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$repo/charts/kv-store-operator/Chart.yaml")"
((${#tags[@]} > 0)) || tags=(dev "$app_version")
need_tools podman buildah runc
start=$SECONDS
base_args=()
if [[ -n "${KVSTORE_BASE_IMAGE:-}" ]]; then
  base_args=(--build-arg "BASE_IMAGE=$KVSTORE_BASE_IMAGE")
else
  base="$(bash "$repo/scripts/images/base.sh")"
  base_args=(--build-arg "BASE_IMAGE=$base" --build-arg NODE_EXTRA_CA_CERTS=/etc/ssl/certs/build-ca.crt)
fi
echo "== base ready ($((SECONDS - start)) s)"
for image in kv-store kv-store-operator; do
  t0=$SECONDS
  dockerfile="$repo/operator/docker/node.Dockerfile"
  [[ "$image" == kv-store-operator ]] && dockerfile="$repo/operator/docker/operator.Dockerfile"
  tag_args=()
  for t in "${tags[@]}"; do tag_args+=(-t "localhost/$image:$t"); done
  buildah bud --quiet --layers --pull=never --network host "${base_args[@]}" -f "$dockerfile" "${tag_args[@]}" "$repo" >/dev/null
  echo "== localhost/$image:${tags[0]}: $(image_size_mb "localhost/$image:${tags[0]}") MB, built in $((SECONDS - t0)) s"
  if [[ -n "$to_containerd" ]]; then
    need_tools containerd
    archive="$(mktemp "$images_cache/export.XXXXXX.tar")"
    podman save --quiet -o "$archive" "localhost/$image:${tags[0]}"
    # ctr honours CONTAINERD_ADDRESS (default /run/containerd/containerd.sock).
    ctr -n k8s.io images import "$archive" >/dev/null
    rm -f "$archive"
    for t in "${tags[@]}"; do
      ctr -n k8s.io images tag --force "localhost/$image:${tags[0]}" "docker.io/library/$image:$t" >/dev/null
    done
    echo "   imported into containerd (k8s.io) as docker.io/library/$image:{${tags[*]}}"
  fi
done
echo "== images done in $((SECONDS - start)) s"
