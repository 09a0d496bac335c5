#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, etcd and helm from the Go module pinned in
# test/cluster/tools into a cache outside the checkout, once per pin set. Prints the bin dir.
# Usage: test/cluster/build-tools.sh [--print-dir]   (KVSTORE_TOOLS_CACHE overrides ~/.cache/kv-store-test)
set -euo pipefail

tools_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/tools" && pwd)"
pinned() { grep -oE "^\s*(require )?$1 v[^ ]+" "$tools_dir/go.mod" | awk '{print $NF}'; }
k8s_version="$(pinned k8s.io/kubernetes)"
etcd_version="$(pinned go.etcd.io/etcd/server/v3)"
helm_version="$(pinned helm.sh/helm/v3)"
k8s_minor="$(echo "$k8s_version" | cut -d. -f2)"
ldflags="-s -w"
# Without these the binaries report v0.0.0 and kubectl/helm complain about version skew.
ldflags+=" -X k8s.io/component-base/version.gitVersion=$k8s_version"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$k8s_minor"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version"
ldflags+=" -X helm.sh/helm/v3/internal/version.version=$helm_version"
# Any edit to the pins, the etcd main or the flags changes the hash, so a stale cache is never reused.
pin_hash="$( (cat "$tools_dir/go.mod" "$tools_dir/go.sum" "$tools_dir/etcd/main.go"; echo "$ldflags") | sha256sum | cut -c1-12)"
cache_root="${KVSTORE_TOOLS_CACHE:-$HOME/.cache/kv-store-test}"
bin_dir="$cache_root/k8s-$k8s_version-etcd-$etcd_version-helm-$helm_version-$pin_hash/bin"

if [[ "${1:-}" == "--print-dir" ]]; then
  echo "$bin_dir"
  exit 0
fi

binaries=(kube-apiserver kube-controller-manager etcd helm)
packages=(./etcd helm.sh/helm/v3/cmd/helm k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager)
# kubectl is usually on the machine; build the pinned one only where it is not (or when asked).
if [[ -n "${KVSTORE_BUILD_KUBECTL:-}" ]] || ! command -v kubectl >/dev/null; then
  binaries+=(kubectl)
  packages+=(k8s.io/kubernetes/cmd/kubectl)
fi
all_built() {
  for b in "${binaries[@]}"; do [[ -x "$bin_dir/$b" ]] || return 1; done
}
if all_built; then
  echo "$bin_dir"
  exit 0
fi

# Two test runs starting at once on a fresh machine build once: the second waits, then finds the result.
mkdir -p "$cache_root"
exec 9>"$cache_root/.build.lock"
flock 9
if all_built; then
  echo "$bin_dir"
  exit 0
fi

staging="$bin_dir.partial-$$"
trap 'rm -rf "$staging"' EXIT
rm -rf "$staging"
mkdir -p "$staging"
start=$SECONDS
echo "building ${binaries[*]} into $bin_dir (cold build takes many minutes; cached afterwards)" >&2
# One go build for all of them: shared dependencies are compiled once.
(
  cd "$tools_dir"
  GOFLAGS=-mod=readonly nice -n 19 go build -trimpath -ldflags="$ldflags" -o "$staging/" "${packages[@]}"
)
# Publish atomically so a concurrent or interrupted build never leaves a half-filled bin dir.
mkdir -p "$(dirname "$bin_dir")"
rm -rf "$bin_dir"
mv "$staging" "$bin_dir"
echo "built in $((SECONDS - start))s" >&2
echo "$bin_dir"
