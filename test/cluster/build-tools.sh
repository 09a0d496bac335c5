#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, etcd and helm from the Go module pinned in
# test/cluster/tools into a cache outside the checkout, once per pin set. Prints the bin dir.
# With --node (or KVSTORE_BUILD_NODE=1) it also builds what a real worker node needs (ADR 0071):
# kubelet, kube-proxy and kube-scheduler from the same k8s.io/kubernetes module, and CoreDNS (its own module,
# pinned below) for cluster DNS. Only missing binaries are built.
# Usage: test/cluster/build-tools.sh [--node] [--print-dir]   (KVSTORE_TOOLS_CACHE overrides ~/.cache/kv-store-test)
set -euo pipefail

tools_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/tools" && pwd)"
pinned() { grep -oE "^\s*(require )?$1 v[^ ]+" "$tools_dir/go.mod" | awk '{print $NF}'; }
k8s_version="$(pinned k8s.io/kubernetes)"
etcd_version="$(pinned go.etcd.io/etcd/server/v3)"
helm_version="$(pinned helm.sh/helm/v3)"
# The CoreDNS release kubeadm deploys with Kubernetes 1.33.
coredns_version="v1.12.0"
k8s_minor="$(echo "$k8s_version" | cut -d. -f2)"
ldflags="-s -w"
# Without these the binaries report v0.0.0 and kubectl/helm complain about version skew.
ldflags+=" -X k8s.io/component-base/version.gitVersion=$k8s_version"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$k8s_minor"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version"
ldflags+=" -X helm.sh/helm/v3/internal/version.version=$helm_version"
# Any edit to the pins, the etcd main or the flags changes the hash, so a stale cache is never reused.
pin_hash="$( (cat "$tools_dir/go.mod" "$tools_dir/go.sum" "$tools_dir/etcd/main.go"; echo "$ldflags $coredns_version") | sha256sum | cut -c1-12)"
cache_root="${KVSTORE_TOOLS_CACHE:-$HOME/.cache/kv-store-test}"
bin_dir="$cache_root/k8s-$k8s_version-etcd-$etcd_version-helm-$helm_version-$pin_hash/bin"

with_node="${KVSTORE_BUILD_NODE:-}"
for arg in "$@"; do
  case "$arg" in
    --node) with_node=1 ;;
    --print-dir)
      echo "$bin_dir"
      exit 0
      ;;
    *)
      echo "unknown argument $arg" >&2
      exit 2
      ;;
  esac
done

# binary name -> package in the tools module
declare -A packages=(
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
  [etcd]=./etcd
  [helm]=helm.sh/helm/v3/cmd/helm
)
# kubectl is usually on the machine; build the pinned one only where it is not (or when asked).
if [[ -n "${KVSTORE_BUILD_KUBECTL:-}" ]] || ! command -v kubectl >/dev/null; then
  packages[kubectl]=k8s.io/kubernetes/cmd/kubectl
fi
if [[ -n "$with_node" ]]; then
  packages[kubelet]=k8s.io/kubernetes/cmd/kubelet
  packages[kube-proxy]=k8s.io/kubernetes/cmd/kube-proxy
  # A real node needs a real scheduler too (the process-kubelet plays one itself).
  packages[kube-scheduler]=k8s.io/kubernetes/cmd/kube-scheduler
fi
missing() {
  local out=()
  for b in "${!packages[@]}"; do [[ -x "$bin_dir/$b" ]] || out+=("$b"); done
  [[ -n "$with_node" && ! -x "$bin_dir/coredns" ]] && out+=(coredns)
  echo "${out[@]}"
}
if [[ -z "$(missing)" ]]; then
  echo "$bin_dir"
  exit 0
fi

# Two test runs starting at once on a fresh machine build once: the second waits, then finds the result.
mkdir -p "$cache_root"
exec 9>"$cache_root/.build.lock"
flock 9
todo="$(missing)"
if [[ -z "$todo" ]]; then
  echo "$bin_dir"
  exit 0
fi

staging="$bin_dir.partial-$$"
trap 'rm -rf "$staging"' EXIT
rm -rf "$staging"
mkdir -p "$staging" "$bin_dir"
start=$SECONDS
echo "building $todo into $bin_dir (cold build takes many minutes; cached afterwards)" >&2
go_packages=()
for b in $todo; do [[ "$b" != coredns ]] && go_packages+=("${packages[$b]}"); done
if ((${#go_packages[@]} > 0)); then
  # One go build for all of them: shared dependencies are compiled once.
  (
    cd "$tools_dir"
    GOFLAGS=-mod=readonly nice -n 19 go build -trimpath -ldflags="$ldflags" -o "$staging/" "${go_packages[@]}"
  )
fi
if [[ " $todo " == *" coredns "* ]]; then
  # CoreDNS is its own module with its own dependency graph: go install at the pinned version.
  # Static (no cgo): it runs in a FROM-scratch image.
  CGO_ENABLED=0 GOBIN="$staging" GOFLAGS= nice -n 19 go install -trimpath -ldflags="-s -w" "github.com/coredns/coredns@$coredns_version"
fi
# Publish each binary atomically (rename), so a concurrent or interrupted build never leaves a
# half-written one; the checks above look at each binary.
for b in $todo; do mv "$staging/$b" "$bin_dir/$b"; done
echo "built in $((SECONDS - start))s" >&2
echo "$bin_dir"
